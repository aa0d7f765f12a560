# Log-based metrics and alert policies, each switchable.

mock_provider "google" {}
mock_provider "archive" {}

variables {
  project_id = "test-project"
}

run "metrics_and_alerts_by_default" {
  command = plan

  variables {
    notification_channels = ["projects/test-project/notificationChannels/42"]
  }

  assert {
    condition     = length(google_logging_metric.rejected) == 1 && length(google_logging_metric.quarantined) == 1
    error_message = "Both log-based metrics must exist by default."
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
      google_monitoring_alert_policy.quarantine[0].notification_channels == tolist(["projects/test-project/notificationChannels/42"])
    )
    error_message = "Alerts must notify the given channels."
  }
}

run "everything_switched_off" {
  command = plan

  variables {
    create_log_metrics  = false
    alert_on_rejections = false
    alert_on_quarantine = false
  }

  assert {
    condition = (
      length(google_logging_metric.rejected) == 0 && length(google_logging_metric.quarantined) == 0 &&
      length(google_monitoring_alert_policy.rejections) == 0 && length(google_monitoring_alert_policy.quarantine) == 0
    )
    error_message = "Metrics and alerts must be switchable off."
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
