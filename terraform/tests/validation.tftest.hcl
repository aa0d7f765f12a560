# Invalid variable values are rejected before anything is planned.

mock_provider "google" {}
mock_provider "archive" {}

variables {
  project_id = "test-project"
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
