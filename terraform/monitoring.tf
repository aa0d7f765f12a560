# The function logs one JSON line per delivery: jsonPayload.message
# "delivery", jsonPayload.result (published, duplicate, quarantined,
# rejected or unavailable) and jsonPayload.reason (a stable code such as
# no_matching_signature or timestamp_too_old; for unavailable, the 503's
# code such as not_ready or publish_failed). The metrics below count the
# three results that need a person's attention.
locals {
  delivery_log_filter = join("\n", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${var.name}\"",
    "jsonPayload.message=\"delivery\"",
  ])

  create_rejected_metric    = var.create_log_metrics || var.alert_on_rejections
  create_quarantined_metric = var.create_log_metrics || var.alert_on_quarantine
  create_unavailable_metric = var.create_log_metrics || var.alert_on_not_ready || var.alert_on_unavailable

  notification_channels = tolist(concat(
    var.notification_channels,
    [for c in google_monitoring_notification_channel.email : c.name],
  ))
}

# One email channel per address in var.alert_emails.
resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_emails)

  project      = var.project_id
  display_name = "${var.name} alerts: ${each.value}"
  type         = "email"
  user_labels  = var.labels

  labels = {
    email_address = each.value
  }

  depends_on = [google_project_service.this]
}

# Alerts that notify nobody are easy to create by accident.
check "alerts_notify_someone" {
  assert {
    condition     = length(local.notification_channels) > 0 || !(var.alert_on_rejections || var.alert_on_quarantine || var.alert_on_not_ready || var.alert_on_unavailable || var.alert_on_dead_letters)
    error_message = "The alert policies have no notification channel: set alert_emails or notification_channels, or nobody is told when they fire."
  }
}

resource "google_logging_metric" "rejected" {
  count = local.create_rejected_metric ? 1 : 0

  project     = var.project_id
  name        = "${var.name}_rejected_deliveries"
  description = "Webhook deliveries the ${var.name} function rejected (4xx), by reason."
  filter      = "${local.delivery_log_filter}\njsonPayload.result=\"rejected\""

  label_extractors = {
    reason = "EXTRACT(jsonPayload.reason)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name} rejected deliveries"

    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "Why the delivery was rejected, e.g. no_matching_signature or timestamp_too_old."
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_logging_metric" "quarantined" {
  count = local.create_quarantined_metric ? 1 : 0

  project     = var.project_id
  name        = "${var.name}_quarantined_deliveries"
  description = "Authentic webhook deliveries the ${var.name} function could not understand and published to the quarantine topic."
  filter      = "${local.delivery_log_filter}\njsonPayload.result=\"quarantined\""

  label_extractors = {
    reason = "EXTRACT(jsonPayload.reason)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name} quarantined deliveries"

    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "Why the delivery was quarantined."
    }
  }

  depends_on = [google_project_service.this]
}

# Deliveries answered 503: Gemini retries them for 24 hours, so each one is
# at risk until the cause goes away. The reason label tells not_ready (the
# function cannot work: a configuration error, or a Gemini API key the API
# refuses) from passing trouble such as publish_failed or busy.
resource "google_logging_metric" "unavailable" {
  count = local.create_unavailable_metric ? 1 : 0

  project     = var.project_id
  name        = "${var.name}_unavailable_deliveries"
  description = "Webhook deliveries the ${var.name} function could not take and answered 503 (Gemini retries them), by reason."
  filter      = "${local.delivery_log_filter}\njsonPayload.result=\"unavailable\""

  label_extractors = {
    reason = "EXTRACT(jsonPayload.reason)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name} unavailable deliveries"

    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "Why the delivery was answered 503, e.g. not_ready, key_set_unavailable, publish_failed or gemini_unavailable."
    }
  }

  depends_on = [google_project_service.this]
}

# Monitoring answers 404 "Cannot find metric(s)" to an alert policy on a
# log-based metric created moments before, for up to about ten minutes
# (hashicorp/terraform-provider-google#11102). Wait once, when the metrics
# are created; the function's build runs meanwhile.
resource "time_sleep" "log_metrics" {
  count = local.create_rejected_metric || local.create_quarantined_metric || local.create_unavailable_metric ? 1 : 0

  create_duration = var.log_metric_propagation_wait

  triggers = {
    rejected    = join(",", google_logging_metric.rejected[*].id)
    quarantined = join(",", google_logging_metric.quarantined[*].id)
    unavailable = join(",", google_logging_metric.unavailable[*].id)
  }
}

resource "google_monitoring_alert_policy" "rejections" {
  count = var.alert_on_rejections ? 1 : 0

  project               = var.project_id
  display_name          = "${var.name}: sustained webhook rejections"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "More than ${var.rejection_alert_threshold} rejected deliveries per 5 minutes"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.rejected[0].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.rejection_alert_threshold
      duration        = var.rejection_alert_duration

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  depends_on = [time_sleep.log_metrics]

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The ${var.name} function keeps rejecting webhook deliveries. Break the
      metric down by its `reason` label: `no_matching_signature` after a
      rotation usually means the new secret version is missing or disabled;
      `timestamp_too_old` / `timestamp_too_new` point at clock skew or replays;
      a burst of `missing_header` or `method_not_allowed` is usually a scanner
      hitting the public URL and can be ignored.
    EOT
  }
}

resource "google_monitoring_alert_policy" "quarantine" {
  count = var.alert_on_quarantine ? 1 : 0

  project               = var.project_id
  display_name          = "${var.name}: deliveries quarantined"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "Any quarantined delivery"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.quarantined[0].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  depends_on = [time_sleep.log_metrics]

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      An authentic Gemini delivery could not be understood (bad JSON or an
      unknown payload version) and was published raw to the
      `${var.topic_prefix}quarantine` topic. Nothing was lost: inspect the
      message there, upgrade geminihook if needed, then run
      `geminihook replay` on a standing quarantine subscription.
    EOT
  }
}

# A function answering 503 not_ready delivers nothing until a person fixes
# its configuration or its Gemini API key: alert on the first one.
resource "google_monitoring_alert_policy" "not_ready" {
  count = var.alert_on_not_ready ? 1 : 0

  project               = var.project_id
  display_name          = "${var.name}: function not ready"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "Any delivery answered 503 not_ready"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.unavailable[0].name}\" AND metric.label.reason = \"not_ready\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  depends_on = [time_sleep.log_metrics]

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The ${var.name} function answers every delivery 503 `not_ready`: it
      cannot work, and Gemini's retries stop 24 hours after each event. The
      `error` field of the delivery log lines names the cause: a missing or
      malformed environment variable (fix the Terraform variables and
      apply), a secret the runtime account cannot read, or a Gemini API key
      the API refuses (add a working version to the `${var.api_key_secret_id}`
      secret; the function reads it again).
    EOT
  }
}

# Other 503s (Secret Manager, the JWKS, Pub/Sub or the Gemini API out of
# reach, deadlines, shutting down) pass on their own; sustained, they mean
# deliveries whose 24 hours of retries are running out.
# key_refresh_pending is left out: any client can cause it, unsigned, with
# a token naming an unknown kid (the answer must be 503, since Google may
# have just added that key), so counting it would let anyone hold the
# alert open. A key Google really added is fetched within a minute.
resource "google_monitoring_alert_policy" "unavailable" {
  count = var.alert_on_unavailable ? 1 : 0

  project               = var.project_id
  display_name          = "${var.name}: sustained 503 answers"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "More than ${var.unavailable_alert_threshold} deliveries answered 503 per 15 minutes, for ${var.unavailable_alert_duration}"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.unavailable[0].name}\" AND metric.label.reason != \"not_ready\" AND metric.label.reason != \"key_refresh_pending\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.unavailable_alert_threshold
      duration        = var.unavailable_alert_duration

      # Gemini backs off between retries: a 15-minute sum stays above zero
      # while a failing delivery keeps coming back.
      aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  depends_on = [time_sleep.log_metrics]

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The ${var.name} function keeps answering 503, so Gemini keeps retrying
      and gives up 24 hours after each event. Break the metric down by its
      `reason` label: `publish_failed` (Pub/Sub), `key_set_unavailable` or
      `key_refresh_pending` (Gemini's JWKS), `gemini_unavailable` (the
      Gemini API, for confirmation), `busy` (another instance holds the
      delivery), `deadline` or `shutting_down`. The delivery lines' `error`
      field names the failed call.
    EOT
  }
}

# Messages on a dead-letter subscription failed every delivery attempt to
# their consumer; any of them needs a person.
resource "google_monitoring_alert_policy" "dead_letters" {
  for_each = var.alert_on_dead_letters ? local.dead_letter_subscriptions : {}

  project               = var.project_id
  display_name          = "${var.name}: messages dead-lettered from ${each.key}"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "Undelivered messages on ${google_pubsub_subscription.dead_letter[each.key].name}"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter[each.key].name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Messages of subscription `${each.key}` failed
      ${each.value.dead_letter.max_delivery_attempts} delivery attempts and
      were moved to `${google_pubsub_subscription.dead_letter[each.key].name}`.
      Pull them from there to see why, fix the consumer, then publish them
      again to the family's topic.
    EOT
  }
}
