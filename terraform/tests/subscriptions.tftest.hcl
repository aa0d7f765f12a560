# Subscriptions declared through var.subscriptions, with dead-lettering.

# Every mocked computed value that flows into an argument the real provider
# validates (IAM members, emails, resource names, URLs) looks like the real
# thing: the real hashicorp/google provider refuses, for example, a random
# string as an IAM member, and the schema-only stand-in now does too.
mock_provider "google" {
  mock_resource "google_service_account" {
    defaults = {
      email  = "geminihook-run@test-project.iam.gserviceaccount.com"
      member = "serviceAccount:geminihook-run@test-project.iam.gserviceaccount.com"
      name   = "projects/test-project/serviceAccounts/geminihook-run@test-project.iam.gserviceaccount.com"
      id     = "projects/test-project/serviceAccounts/geminihook-run@test-project.iam.gserviceaccount.com"
    }
  }
  mock_resource "google_secret_manager_secret" {
    defaults = {
      id   = "projects/test-project/secrets/gemini-webhook-secret"
      name = "projects/123456789012/secrets/gemini-webhook-secret"
    }
  }
  mock_resource "google_monitoring_notification_channel" {
    defaults = {
      id   = "projects/test-project/notificationChannels/1234567890"
      name = "projects/test-project/notificationChannels/1234567890"
    }
  }
  mock_resource "google_cloudfunctions2_function" {
    defaults = {
      url = "https://geminihook-123456789012.us-central1.run.app"
    }
  }
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
}

mock_provider "google-beta" {
  mock_resource "google_project_service_identity" {
    defaults = {
      email  = "service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
      member = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    }
  }
}

mock_provider "time" {}

# The build account is a second account: give it its own address.
override_resource {
  target = google_service_account.build
  values = {
    email  = "geminihook-build@test-project.iam.gserviceaccount.com"
    member = "serviceAccount:geminihook-build@test-project.iam.gserviceaccount.com"
    name   = "projects/test-project/serviceAccounts/geminihook-build@test-project.iam.gserviceaccount.com"
    id     = "projects/test-project/serviceAccounts/geminihook-build@test-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target = google_secret_manager_secret.api_key
  values = {
    id   = "projects/test-project/secrets/gemini-api-key"
    name = "projects/123456789012/secrets/gemini-api-key"
  }
}

mock_provider "archive" {}

variables {
  project_id     = "test-project"
  project_number = "123456789012"

  # Alerts without a channel fail check "alerts_notify_someone".
  notification_channels = ["projects/test-project/notificationChannels/42"]
  subscriptions = {
    batch-results = {
      family                       = "batch"
      filter                       = "attributes.outcome = \"succeeded\""
      enable_exactly_once_delivery = true
    }
    interaction-hook = {
      family        = "interaction"
      push_endpoint = "https://hooks.example.com/interaction"
    }
    video-worker = {
      family        = "video"
      push_endpoint = "https://worker.example.com/push"
      push_auth = {
        service_account_email = "pusher@test-project.iam.gserviceaccount.com"
        audience              = "https://worker.example.com"
      }
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
    condition     = toset(keys(google_pubsub_subscription.this)) == toset(["batch-results", "interaction-hook", "video-worker", "quarantine-review"])
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

run "push_subscriptions_carry_oidc_tokens" {
  command = plan

  assert {
    condition = (
      google_pubsub_subscription.this["video-worker"].push_config[0].oidc_token[0].service_account_email == "pusher@test-project.iam.gserviceaccount.com" &&
      google_pubsub_subscription.this["video-worker"].push_config[0].oidc_token[0].audience == "https://worker.example.com"
    )
    error_message = "push_auth must become the push subscription's OIDC token."
  }
  assert {
    condition     = length(google_pubsub_subscription.this["interaction-hook"].push_config[0].oidc_token) == 0
    error_message = "A push subscription without push_auth must carry no OIDC token."
  }
}

run "exactly_once_delivery_is_opt_in" {
  command = plan

  assert {
    condition = (
      google_pubsub_subscription.this["batch-results"].enable_exactly_once_delivery == true &&
      google_pubsub_subscription.this["quarantine-review"].enable_exactly_once_delivery == false
    )
    error_message = "enable_exactly_once_delivery must be passed through and default to false."
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
    condition     = length(google_project_service_identity.pubsub) == 1 && google_project_service_identity.pubsub[0].service == "pubsub.googleapis.com"
    error_message = "The Pub/Sub service agent must be made to exist before it is granted anything."
  }
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
