locals {
  families = toset(["batch", "interaction", "video", "other", "quarantine"])

  dead_letter_subscriptions = {
    for name, s in var.subscriptions : name => s if s.dead_letter != null
  }
}

# One topic per event family; the function publishes each delivery to its
# family's topic, and authentic deliveries it cannot understand to quarantine.
resource "google_pubsub_topic" "family" {
  for_each = local.families

  project                    = var.project_id
  name                       = "${var.topic_prefix}${each.key}"
  message_retention_duration = var.message_retention_duration
  labels                     = merge(var.labels, { event_family = each.key })

  depends_on = [google_project_service.this]
}

# Dead-letter topics: one per subscription that asks for dead-lettering.
resource "google_pubsub_topic" "dead_letter" {
  for_each = local.dead_letter_subscriptions

  project                    = var.project_id
  name                       = "${each.key}-dead-letter"
  message_retention_duration = var.message_retention_duration
  labels                     = var.labels

  depends_on = [google_project_service.this]
}

# A pull subscription on each dead-letter topic keeps what lands there:
# Pub/Sub drops messages published to a topic that has no subscription.
resource "google_pubsub_subscription" "dead_letter" {
  for_each = local.dead_letter_subscriptions

  project                    = var.project_id
  name                       = "${each.key}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  message_retention_duration = "604800s"
  retain_acked_messages      = false
  labels                     = var.labels

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "this" {
  for_each = var.subscriptions

  project              = var.project_id
  name                 = each.key
  topic                = google_pubsub_topic.family[each.value.family].id
  filter               = each.value.filter
  ack_deadline_seconds = each.value.ack_deadline_seconds
  labels               = merge(var.labels, { event_family = each.value.family })

  enable_exactly_once_delivery = each.value.enable_exactly_once_delivery

  # Consumers of completion events are long-lived: never expire for
  # inactivity (the default would delete an idle subscription after 31 days).
  expiration_policy {
    ttl = ""
  }

  dynamic "push_config" {
    for_each = each.value.push_endpoint == null ? [] : [each.value.push_endpoint]
    content {
      push_endpoint = push_config.value

      # Pub/Sub signs each push with a Google OIDC token for this account,
      # so the endpoint can tell Pub/Sub from anyone else.
      dynamic "oidc_token" {
        for_each = each.value.push_auth == null ? [] : [each.value.push_auth]
        content {
          service_account_email = oidc_token.value.service_account_email
          audience              = oidc_token.value.audience
        }
      }
    }
  }

  dynamic "retry_policy" {
    for_each = each.value.retry_policy == null ? [] : [each.value.retry_policy]
    content {
      minimum_backoff = retry_policy.value.minimum_backoff
      maximum_backoff = retry_policy.value.maximum_backoff
    }
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.dead_letter == null ? [] : [each.value.dead_letter]
    content {
      dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
      max_delivery_attempts = dead_letter_policy.value.max_delivery_attempts
    }
  }
}
