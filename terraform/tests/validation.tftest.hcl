# Invalid variable values are rejected before anything is planned.

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

run "bad_project_id" {
  command = plan
  variables {
    project_id = "Test_Project"
  }
  expect_failures = [var.project_id]
}

run "bad_topic_prefix" {
  command = plan
  variables {
    topic_prefix = "goog-"
  }
  expect_failures = [var.topic_prefix]
}

run "topic_prefix_must_start_with_a_letter" {
  command = plan
  variables {
    topic_prefix = "1gemini-"
  }
  expect_failures = [var.topic_prefix]
}

run "retention_too_short" {
  command = plan
  variables {
    message_retention_duration = "60s"
  }
  expect_failures = [var.message_retention_duration]
}

run "retention_not_seconds" {
  command = plan
  variables {
    message_retention_duration = "7d"
  }
  expect_failures = [var.message_retention_duration]
}

run "unknown_family" {
  command = plan
  variables {
    subscriptions = {
      s1 = { family = "batches" }
    }
  }
  expect_failures = [var.subscriptions]
}

run "dead_letter_attempts_out_of_range" {
  command = plan
  variables {
    subscriptions = {
      s1 = { family = "batch", dead_letter = { max_delivery_attempts = 3 } }
    }
  }
  expect_failures = [var.subscriptions]
}

run "ack_deadline_out_of_range" {
  command = plan
  variables {
    subscriptions = {
      s1 = { family = "batch", ack_deadline_seconds = 601 }
    }
  }
  expect_failures = [var.subscriptions]
}

run "backoff_reversed" {
  command = plan
  variables {
    subscriptions = {
      s1 = { family = "batch", retry_policy = { minimum_backoff = "60s", maximum_backoff = "10s" } }
    }
  }
  expect_failures = [var.subscriptions]
}

run "push_endpoint_not_https" {
  command = plan
  variables {
    subscriptions = {
      s1 = { family = "batch", push_endpoint = "http://worker.example.com/push" }
    }
  }
  expect_failures = [var.subscriptions]
}

run "bad_cpu" {
  command = plan
  variables {
    available_cpu = "3"
  }
  expect_failures = [var.available_cpu]
}

run "bad_memory" {
  command = plan
  variables {
    available_memory = "256MB"
  }
  expect_failures = [var.available_memory]
}

run "zero_max_instances" {
  command = plan
  variables {
    max_instance_count = 0
  }
  expect_failures = [var.max_instance_count]
}

run "concurrency_too_high" {
  command = plan
  variables {
    max_instance_request_concurrency = 1001
  }
  expect_failures = [var.max_instance_request_concurrency]
}

run "timeout_too_long" {
  command = plan
  variables {
    timeout_seconds = 3601
  }
  expect_failures = [var.timeout_seconds]
}

run "bad_tolerance" {
  command = plan
  variables {
    timestamp_tolerance = "five minutes"
  }
  expect_failures = [var.timestamp_tolerance]
}

run "jwks_url_not_https" {
  command = plan
  variables {
    jwks_url = "http://keys.example.com/jwks.json"
  }
  expect_failures = [var.jwks_url]
}

run "bad_ingress" {
  command = plan
  variables {
    ingress_settings = "ALLOW_SOME"
  }
  expect_failures = [var.ingress_settings]
}

run "name_too_long" {
  command = plan
  variables {
    name = "a-function-name-far-too-long"
  }
  expect_failures = [var.name]
}

run "bad_notification_channel" {
  command = plan
  variables {
    notification_channels = ["42"]
  }
  expect_failures = [var.notification_channels]
}

run "bad_secret_id" {
  command = plan
  variables {
    secret_id = "gemini/secret"
  }
  expect_failures = [var.secret_id]
}

run "dynamic_webhooks_not_a_mode" {
  command = plan

  variables {
    dynamic_webhooks = "yes"
  }

  expect_failures = [var.dynamic_webhooks]
}

run "dedupe_unknown_store" {
  command = plan

  variables {
    dedupe = "redis"
  }

  expect_failures = [var.dedupe]
}

run "firestore_database_bad_name" {
  command = plan

  variables {
    firestore_database = "Hooks_DB"
  }

  expect_failures = [var.firestore_database]
}

run "firestore_collection_reserved" {
  command = plan

  variables {
    firestore_collection = "__deliveries__"
  }

  expect_failures = [var.firestore_collection]
}

run "confirm_unknown_mode" {
  command = plan

  variables {
    confirm = "some"
  }

  expect_failures = [var.confirm]
}

run "log_level_unknown" {
  command = plan

  variables {
    log_level = "verbose"
  }

  expect_failures = [var.log_level]
}

run "project_number_not_digits" {
  command = plan

  variables {
    project_number = "test-project"
  }

  expect_failures = [var.project_number]
}

run "deployer_member_not_a_principal" {
  command = plan

  variables {
    deployer_member = "deployer@test-project.iam.gserviceaccount.com"
  }

  expect_failures = [var.deployer_member]
}

run "alert_email_not_an_address" {
  command = plan

  variables {
    alert_emails = ["oncall"]
  }

  expect_failures = [var.alert_emails]
}

run "jwt_audience_with_comma" {
  command = plan

  variables {
    jwt_audience = ["https://a.example.com,https://b.example.com"]
  }

  expect_failures = [var.jwt_audience]
}

run "iam_wait_not_seconds" {
  command = plan

  variables {
    iam_propagation_wait = "1m"
  }

  expect_failures = [var.iam_propagation_wait]
}

run "metric_wait_not_seconds" {
  command = plan

  variables {
    log_metric_propagation_wait = "10m"
  }

  expect_failures = [var.log_metric_propagation_wait]
}

run "source_retention_zero" {
  command = plan

  variables {
    source_retention_days = 0
  }

  expect_failures = [var.source_retention_days]
}

run "api_key_secret_id_bad" {
  command = plan

  variables {
    api_key_secret_id = "gemini/api-key"
  }

  expect_failures = [var.api_key_secret_id]
}

run "push_auth_without_push" {
  command = plan

  variables {
    subscriptions = {
      s1 = { family = "batch", push_auth = { service_account_email = "pusher@test-project.iam.gserviceaccount.com" } }
    }
  }

  expect_failures = [var.subscriptions]
}

run "push_auth_not_a_service_account" {
  command = plan

  variables {
    subscriptions = {
      s1 = { family = "batch", push_endpoint = "https://w.example.com", push_auth = { service_account_email = "alice@example.com" } }
    }
  }

  expect_failures = [var.subscriptions]
}

run "exactly_once_on_push" {
  command = plan

  variables {
    subscriptions = {
      s1 = { family = "batch", push_endpoint = "https://w.example.com", enable_exactly_once_delivery = true }
    }
  }

  expect_failures = [var.subscriptions]
}

run "filter_too_long" {
  command = plan

  variables {
    subscriptions = {
      s1 = { family = "batch", filter = "attributes.reason = \"${join("", [for i in range(250) : "x"])}\"" }
    }
  }

  expect_failures = [var.subscriptions]
}

run "unavailable_alert_duration_not_whole_minutes" {
  command = plan
  variables {
    unavailable_alert_duration = "90s"
  }
  expect_failures = [var.unavailable_alert_duration]
}

run "unavailable_alert_threshold_negative" {
  command = plan
  variables {
    unavailable_alert_threshold = -1
  }
  expect_failures = [var.unavailable_alert_threshold]
}
