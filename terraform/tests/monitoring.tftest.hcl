# Log-based metrics and alert policies, each switchable.

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
}

run "metrics_and_alerts_by_default" {
  command = plan

  variables {
    notification_channels = ["projects/test-project/notificationChannels/42"]
  }

  assert {
    condition     = length(google_logging_metric.rejected) == 1 && length(google_logging_metric.quarantined) == 1 && length(google_logging_metric.unavailable) == 1
    error_message = "All three log-based metrics must exist by default."
  }
  assert {
    condition = (
      strcontains(google_logging_metric.rejected[0].filter, "jsonPayload.message=\"delivery\"") &&
      strcontains(google_logging_metric.rejected[0].filter, "jsonPayload.result=\"rejected\"") &&
      strcontains(google_logging_metric.rejected[0].filter, "resource.labels.service_name=\"geminihook\"") &&
      google_logging_metric.rejected[0].label_extractors["reason"] == "EXTRACT(jsonPayload.reason)"
    )
    error_message = "The rejected metric must count the function's rejected delivery lines, labelled by reason."
  }
  assert {
    condition     = strcontains(google_logging_metric.quarantined[0].filter, "jsonPayload.result=\"quarantined\"")
    error_message = "The quarantined metric must count quarantined delivery lines."
  }
  assert {
    condition = (
      google_logging_metric.unavailable[0].name == "geminihook_unavailable_deliveries" &&
      strcontains(google_logging_metric.unavailable[0].filter, "jsonPayload.message=\"delivery\"") &&
      strcontains(google_logging_metric.unavailable[0].filter, "jsonPayload.result=\"unavailable\"") &&
      strcontains(google_logging_metric.unavailable[0].filter, "resource.labels.service_name=\"geminihook\"") &&
      google_logging_metric.unavailable[0].label_extractors["reason"] == "EXTRACT(jsonPayload.reason)" &&
      [for l in google_logging_metric.unavailable[0].metric_descriptor[0].labels : l.key] == ["reason"]
    )
    error_message = "The unavailable metric must count the function's 503 delivery lines, labelled by reason."
  }
  assert {
    condition = (
      length(google_monitoring_alert_policy.not_ready) == 1 &&
      google_monitoring_alert_policy.not_ready[0].severity == "CRITICAL" &&
      google_monitoring_alert_policy.not_ready[0].conditions[0].condition_threshold[0].threshold_value == 0 &&
      google_monitoring_alert_policy.not_ready[0].conditions[0].condition_threshold[0].duration == "0s" &&
      google_monitoring_alert_policy.not_ready[0].conditions[0].condition_threshold[0].comparison == "COMPARISON_GT" &&
      strcontains(google_monitoring_alert_policy.not_ready[0].conditions[0].condition_threshold[0].filter, "metric.type = \"logging.googleapis.com/user/geminihook_unavailable_deliveries\"") &&
      strcontains(google_monitoring_alert_policy.not_ready[0].conditions[0].condition_threshold[0].filter, "metric.label.reason = \"not_ready\"")
    )
    error_message = "The not-ready alert must fire on any delivery answered 503 not_ready."
  }
  assert {
    condition = (
      length(google_monitoring_alert_policy.unavailable) == 1 &&
      google_monitoring_alert_policy.unavailable[0].conditions[0].condition_threshold[0].threshold_value == 0 &&
      google_monitoring_alert_policy.unavailable[0].conditions[0].condition_threshold[0].duration == "1800s" &&
      google_monitoring_alert_policy.unavailable[0].conditions[0].condition_threshold[0].aggregations[0].alignment_period == "900s" &&
      strcontains(google_monitoring_alert_policy.unavailable[0].conditions[0].condition_threshold[0].filter, "metric.type = \"logging.googleapis.com/user/geminihook_unavailable_deliveries\"") &&
      strcontains(google_monitoring_alert_policy.unavailable[0].conditions[0].condition_threshold[0].filter, "metric.label.reason != \"not_ready\"") &&
      strcontains(google_monitoring_alert_policy.unavailable[0].conditions[0].condition_threshold[0].filter, "metric.label.reason != \"key_refresh_pending\"")
    )
    error_message = "The unavailability alert must watch every other 503 reason but key_refresh_pending (anyone can cause it), sustained for 30 minutes."
  }
  assert {
    condition = (
      length(google_monitoring_alert_policy.rejections) == 1 &&
      google_monitoring_alert_policy.rejections[0].conditions[0].condition_threshold[0].duration == "900s" &&
      google_monitoring_alert_policy.rejections[0].conditions[0].condition_threshold[0].threshold_value == 10 &&
      strcontains(google_monitoring_alert_policy.rejections[0].conditions[0].condition_threshold[0].filter, "logging.googleapis.com/user/geminihook_rejected_deliveries")
    )
    error_message = "The rejection alert must watch the rejected metric, sustained for 15 minutes."
  }
  assert {
    condition = (
      length(google_monitoring_alert_policy.quarantine) == 1 &&
      google_monitoring_alert_policy.quarantine[0].conditions[0].condition_threshold[0].threshold_value == 0 &&
      google_monitoring_alert_policy.quarantine[0].conditions[0].condition_threshold[0].comparison == "COMPARISON_GT"
    )
    error_message = "The quarantine alert must fire on any quarantined delivery."
  }
  assert {
    condition = (
      google_monitoring_alert_policy.rejections[0].notification_channels == tolist(["projects/test-project/notificationChannels/42"]) &&
      google_monitoring_alert_policy.quarantine[0].notification_channels == tolist(["projects/test-project/notificationChannels/42"]) &&
      google_monitoring_alert_policy.not_ready[0].notification_channels == tolist(["projects/test-project/notificationChannels/42"]) &&
      google_monitoring_alert_policy.unavailable[0].notification_channels == tolist(["projects/test-project/notificationChannels/42"])
    )
    error_message = "Alerts must notify the given channels."
  }
  assert {
    condition     = length(time_sleep.log_metrics) == 1 && time_sleep.log_metrics[0].create_duration == "600s"
    error_message = "The alert policies must wait for their new log-based metrics (600s by default)."
  }
}

run "alert_emails_become_channels" {
  command = plan

  variables {
    alert_emails          = ["oncall@example.com"]
    notification_channels = ["projects/test-project/notificationChannels/42"]
  }

  assert {
    condition = (
      toset(keys(google_monitoring_notification_channel.email)) == toset(["oncall@example.com"]) &&
      google_monitoring_notification_channel.email["oncall@example.com"].type == "email" &&
      google_monitoring_notification_channel.email["oncall@example.com"].labels["email_address"] == "oncall@example.com"
    )
    error_message = "Each alert email must get an email notification channel."
  }
  assert {
    condition = (
      google_monitoring_alert_policy.rejections[0].notification_channels == tolist(["projects/test-project/notificationChannels/42", "projects/test-project/notificationChannels/1234567890"]) &&
      google_monitoring_alert_policy.quarantine[0].notification_channels == google_monitoring_alert_policy.rejections[0].notification_channels &&
      google_monitoring_alert_policy.not_ready[0].notification_channels == google_monitoring_alert_policy.rejections[0].notification_channels &&
      google_monitoring_alert_policy.unavailable[0].notification_channels == google_monitoring_alert_policy.rejections[0].notification_channels &&
      output.notification_channels == google_monitoring_alert_policy.rejections[0].notification_channels
    )
    error_message = "Alerts must notify both the given channels and the email channels."
  }
}

run "alerts_without_channels_warn" {
  command = plan

  variables {
    notification_channels = []
  }

  expect_failures = [check.alerts_notify_someone]
}

run "dead_letter_backlog_alerts" {
  command = plan

  variables {
    alert_emails = ["oncall@example.com"]
    subscriptions = {
      video-worker = { family = "video", dead_letter = {} }
      batch-pull   = { family = "batch" }
    }
  }

  assert {
    condition     = toset(keys(google_monitoring_alert_policy.dead_letters)) == toset(["video-worker"])
    error_message = "Exactly the subscriptions that dead-letter must get a backlog alert."
  }
  assert {
    condition = (
      strcontains(google_monitoring_alert_policy.dead_letters["video-worker"].conditions[0].condition_threshold[0].filter, "resource.labels.subscription_id = \"video-worker-dead-letter\"") &&
      strcontains(google_monitoring_alert_policy.dead_letters["video-worker"].conditions[0].condition_threshold[0].filter, "pubsub.googleapis.com/subscription/num_undelivered_messages") &&
      google_monitoring_alert_policy.dead_letters["video-worker"].conditions[0].condition_threshold[0].threshold_value == 0 &&
      google_monitoring_alert_policy.dead_letters["video-worker"].notification_channels == tolist(["projects/test-project/notificationChannels/42", "projects/test-project/notificationChannels/1234567890"])
    )
    error_message = "The backlog alert must fire on any message waiting on the dead-letter subscription and notify the channels."
  }
}

run "dead_letter_alerts_can_be_turned_off" {
  command = plan

  variables {
    alert_on_dead_letters = false
    subscriptions = {
      video-worker = { family = "video", dead_letter = {} }
    }
  }

  assert {
    condition     = length(google_monitoring_alert_policy.dead_letters) == 0
    error_message = "alert_on_dead_letters = false must create no backlog alert."
  }
}

run "everything_switched_off" {
  command = plan

  variables {
    create_log_metrics    = false
    alert_on_rejections   = false
    alert_on_quarantine   = false
    alert_on_not_ready    = false
    alert_on_unavailable  = false
    alert_on_dead_letters = false
    notification_channels = []
  }

  assert {
    condition = (
      length(google_logging_metric.rejected) == 0 && length(google_logging_metric.quarantined) == 0 && length(google_logging_metric.unavailable) == 0 &&
      length(google_monitoring_alert_policy.rejections) == 0 && length(google_monitoring_alert_policy.quarantine) == 0 &&
      length(google_monitoring_alert_policy.not_ready) == 0 && length(google_monitoring_alert_policy.unavailable) == 0 &&
      length(time_sleep.log_metrics) == 0
    )
    error_message = "Metrics and alerts must be switchable off, and nothing waits for metrics that do not exist."
  }
}

run "an_alert_brings_its_metric" {
  command = plan

  variables {
    create_log_metrics  = false
    alert_on_rejections = false
    alert_on_quarantine = true
  }

  assert {
    condition     = length(google_logging_metric.quarantined) == 1 && length(google_logging_metric.rejected) == 0
    error_message = "An alert must create the metric it watches, and only that one."
  }
}

run "a_not_ready_alert_brings_the_unavailable_metric" {
  command = plan

  variables {
    create_log_metrics   = false
    alert_on_rejections  = false
    alert_on_quarantine  = false
    alert_on_unavailable = false
    alert_on_not_ready   = true
  }

  assert {
    condition = (
      length(google_logging_metric.unavailable) == 1 && length(google_logging_metric.rejected) == 0 && length(google_logging_metric.quarantined) == 0 &&
      length(google_monitoring_alert_policy.not_ready) == 1 && length(google_monitoring_alert_policy.unavailable) == 0 &&
      length(time_sleep.log_metrics) == 1
    )
    error_message = "The not-ready alert must create the unavailable metric, and wait for it."
  }
}

run "unavailable_alert_threshold_and_duration" {
  command = plan

  variables {
    unavailable_alert_threshold = 3
    unavailable_alert_duration  = "3600s"
  }

  assert {
    condition = (
      google_monitoring_alert_policy.unavailable[0].conditions[0].condition_threshold[0].threshold_value == 3 &&
      google_monitoring_alert_policy.unavailable[0].conditions[0].condition_threshold[0].duration == "3600s"
    )
    error_message = "The unavailability alert must use the given threshold and duration."
  }
}
