# Subscriptions declared through var.subscriptions, with dead-lettering.

mock_provider "google" {
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
}

mock_provider "archive" {}

variables {
  project_id = "test-project"
  subscriptions = {
    batch-results = {
      family = "batch"
      filter = "attributes.outcome = \"succeeded\""
    }
    video-worker = {
      family               = "video"
      push_endpoint        = "https://worker.example.com/push"
      ack_deadline_seconds = 60
      retry_policy = {
        minimum_backoff = "5s"
        maximum_backoff = "300s"
      }
      dead_letter = {
        max_delivery_attempts = 10
      }
    }
    quarantine-review = {
      family      = "quarantine"
      dead_letter = {}
    }
  }
}

run "subscriptions_follow_the_variable" {
  command = plan

  assert {
    condition     = toset(keys(google_pubsub_subscription.this)) == toset(["batch-results", "video-worker", "quarantine-review"])
    error_message = "Exactly the declared subscriptions must exist."
  }
  assert {
    condition = (
      google_pubsub_subscription.this["batch-results"].topic == google_pubsub_topic.family["batch"].id &&
      google_pubsub_subscription.this["video-worker"].topic == google_pubsub_topic.family["video"].id &&
      google_pubsub_subscription.this["quarantine-review"].topic == google_pubsub_topic.family["quarantine"].id
    )
    error_message = "Each subscription must read its family's topic."
  }
  assert {
    condition     = google_pubsub_subscription.this["batch-results"].filter == "attributes.outcome = \"succeeded\""
    error_message = "The filter must be passed through."
  }
  assert {
    condition = (
      length(google_pubsub_subscription.this["batch-results"].push_config) == 0 &&
      google_pubsub_subscription.this["video-worker"].push_config[0].push_endpoint == "https://worker.example.com/push"
    )
    error_message = "push_endpoint must make a push subscription, and only when set."
  }
  assert {
    condition = (
      google_pubsub_subscription.this["video-worker"].ack_deadline_seconds == 60 &&
      google_pubsub_subscription.this["video-worker"].retry_policy[0].minimum_backoff == "5s" &&
      google_pubsub_subscription.this["video-worker"].retry_policy[0].maximum_backoff == "300s" &&
      length(google_pubsub_subscription.this["batch-results"].retry_policy) == 0
    )
    error_message = "ack_deadline_seconds and retry_policy must be passed through."
  }
  assert {
    condition     = alltrue([for s in google_pubsub_subscription.this : s.expiration_policy[0].ttl == ""])
    error_message = "Subscriptions must never expire for inactivity."
  }
  assert {
    condition     = output.subscription_ids["video-worker"] == google_pubsub_subscription.this["video-worker"].id
    error_message = "subscription_ids must map names to subscription ids."
  }
}

run "dead_letter_policies" {
  command = plan

  assert {
    condition     = toset(keys(google_pubsub_topic.dead_letter)) == toset(["video-worker", "quarantine-review"])
    error_message = "A dead-letter topic must exist for exactly the subscriptions that ask for one."
  }
  assert {
    condition = (
      google_pubsub_topic.dead_letter["video-worker"].name == "video-worker-dead-letter" &&
      google_pubsub_subscription.this["video-worker"].dead_letter_policy[0].dead_letter_topic == google_pubsub_topic.dead_letter["video-worker"].id &&
      google_pubsub_subscription.this["video-worker"].dead_letter_policy[0].max_delivery_attempts == 10
    )
    error_message = "video-worker must dead-letter to its own topic after 10 attempts."
  }
  assert {
    condition     = google_pubsub_subscription.this["quarantine-review"].dead_letter_policy[0].max_delivery_attempts == 5
    error_message = "max_delivery_attempts must default to 5."
  }
  assert {
    condition     = length(google_pubsub_subscription.this["batch-results"].dead_letter_policy) == 0
    error_message = "A subscription that does not ask for dead-lettering must not have a policy."
  }
  assert {
    condition     = toset(keys(google_pubsub_subscription.dead_letter)) == toset(["video-worker", "quarantine-review"])
    error_message = "Each dead-letter topic must have a subscription, or Pub/Sub drops what lands there."
  }
}

run "pubsub_agent_can_dead_letter" {
  command = plan

  assert {
    condition = alltrue([
      for name, m in google_pubsub_topic_iam_member.dead_letter_publisher :
      m.role == "roles/pubsub.publisher" &&
      m.topic == google_pubsub_topic.dead_letter[name].name &&
      m.member == "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    ]) && length(google_pubsub_topic_iam_member.dead_letter_publisher) == 2
    error_message = "The Pub/Sub service agent must be publisher on each dead-letter topic."
  }
  assert {
    condition = alltrue([
      for name, m in google_pubsub_subscription_iam_member.dead_letter_subscriber :
      m.role == "roles/pubsub.subscriber" &&
      m.subscription == google_pubsub_subscription.this[name].name &&
      m.member == "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    ]) && toset(keys(google_pubsub_subscription_iam_member.dead_letter_subscriber)) == toset(["video-worker", "quarantine-review"])
    error_message = "The Pub/Sub service agent must be subscriber on each source subscription that dead-letters, and only those."
  }
}
