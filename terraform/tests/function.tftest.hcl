# The function's build, runtime settings, environment and source archive.

mock_provider "google" {
  mock_resource "google_secret_manager_secret" {
    defaults = {
      id = "projects/test-project/secrets/gemini-webhook-secret"
    }
  }
}

mock_provider "archive" {
  mock_data "archive_file" {
    defaults = {
      output_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      output_md5    = "098f6bcd4621d373cade4e832627b4f6"
    }
  }
}

variables {
  project_id = "test-project"
}

run "function_defaults" {
  command = plan

  assert {
    condition = (
      google_cloudfunctions2_function.webhook.name == "geminihook" &&
      google_cloudfunctions2_function.webhook.location == "us-central1" &&
      google_cloudfunctions2_function.webhook.build_config[0].runtime == "go126" &&
      google_cloudfunctions2_function.webhook.build_config[0].entry_point == "GeminiWebhook"
    )
    error_message = "The function must be geminihook in us-central1, runtime go126, entry point GeminiWebhook."
  }
  assert {
    condition = (
      google_cloudfunctions2_function.webhook.service_config[0].max_instance_count == 10 &&
      google_cloudfunctions2_function.webhook.service_config[0].min_instance_count == 0 &&
      google_cloudfunctions2_function.webhook.service_config[0].max_instance_request_concurrency == 80 &&
      google_cloudfunctions2_function.webhook.service_config[0].available_cpu == "1" &&
      google_cloudfunctions2_function.webhook.service_config[0].available_memory == "256Mi" &&
      google_cloudfunctions2_function.webhook.service_config[0].timeout_seconds == 60 &&
      google_cloudfunctions2_function.webhook.service_config[0].ingress_settings == "ALLOW_ALL"
    )
    error_message = "Runtime settings must have their documented defaults."
  }
  assert {
    condition = google_cloudfunctions2_function.webhook.service_config[0].environment_variables == tomap({
      GOOGLE_CLOUD_PROJECT       = "test-project"
      GEMINI_WEBHOOK_SECRET      = "projects/test-project/secrets/gemini-webhook-secret"
      GEMINI_TOPIC_PREFIX        = "gemini-"
      GEMINI_TIMESTAMP_TOLERANCE = "5m"
      GEMINI_DYNAMIC_WEBHOOKS    = "on"
    })
    error_message = "With defaults, the environment must hold exactly the required settings; unset optional ones must be omitted."
  }
  assert {
    condition     = output.secret_id == "projects/test-project/secrets/gemini-webhook-secret"
    error_message = "secret_id must be projects/P/secrets/S."
  }
  assert {
    condition     = output.webhook_url == google_cloudfunctions2_function.webhook.url
    error_message = "webhook_url must be the function's URL."
  }
}

run "environment_follows_variables" {
  command = plan

  variables {
    topic_prefix        = "prod-gemini-"
    jwt_audience        = "https://hooks.example.com/gemini,https://alt.example.com"
    jwt_issuer          = "https://generativelanguage.googleapis.com"
    jwks_url            = "https://keys.example.com/jwks.json"
    dynamic_webhooks    = false
    timestamp_tolerance = "90s"
    max_body_bytes      = 2097152
  }

  assert {
    condition = google_cloudfunctions2_function.webhook.service_config[0].environment_variables == tomap({
      GOOGLE_CLOUD_PROJECT       = "test-project"
      GEMINI_WEBHOOK_SECRET      = "projects/test-project/secrets/gemini-webhook-secret"
      GEMINI_TOPIC_PREFIX        = "prod-gemini-"
      GEMINI_TIMESTAMP_TOLERANCE = "90s"
      GEMINI_DYNAMIC_WEBHOOKS    = "off"
      GEMINI_JWT_AUDIENCE        = "https://hooks.example.com/gemini,https://alt.example.com"
      GEMINI_JWT_ISSUER          = "https://generativelanguage.googleapis.com"
      GEMINI_JWKS_URL            = "https://keys.example.com/jwks.json"
      GEMINI_MAX_BODY_BYTES      = "2097152"
    })
    error_message = "Every set variable must reach the function's environment under its documented name."
  }
}

run "runtime_settings_follow_variables" {
  command = plan

  variables {
    name                             = "hooks-prod"
    region                           = "europe-west1"
    max_instance_count               = 50
    min_instance_count               = 1
    max_instance_request_concurrency = 200
    available_cpu                    = "2"
    available_memory                 = "512Mi"
    timeout_seconds                  = 30
  }

  assert {
    condition = (
      google_cloudfunctions2_function.webhook.name == "hooks-prod" &&
      google_cloudfunctions2_function.webhook.location == "europe-west1" &&
      google_cloudfunctions2_function.webhook.service_config[0].max_instance_count == 50 &&
      google_cloudfunctions2_function.webhook.service_config[0].min_instance_count == 1 &&
      google_cloudfunctions2_function.webhook.service_config[0].max_instance_request_concurrency == 200 &&
      google_cloudfunctions2_function.webhook.service_config[0].available_cpu == "2" &&
      google_cloudfunctions2_function.webhook.service_config[0].available_memory == "512Mi" &&
      google_cloudfunctions2_function.webhook.service_config[0].timeout_seconds == 30
    )
    error_message = "Runtime settings must follow their variables."
  }
  assert {
    condition     = google_service_account.runtime.account_id == "hooks-prod-run" && google_service_account.build.account_id == "hooks-prod-build"
    error_message = "Service account IDs must derive from name."
  }
}

run "source_is_stored_under_its_hash" {
  command = plan

  assert {
    condition     = google_storage_bucket_object.source.name == "source-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.zip"
    error_message = "The source object must be named by the archive's hash so a change redeploys."
  }
  assert {
    condition = (
      google_cloudfunctions2_function.webhook.build_config[0].source[0].storage_source[0].bucket == google_storage_bucket.source.name &&
      google_cloudfunctions2_function.webhook.build_config[0].source[0].storage_source[0].object == google_storage_bucket_object.source.name
    )
    error_message = "The function must build from the uploaded archive."
  }
  assert {
    condition     = google_storage_bucket.source.uniform_bucket_level_access && google_storage_bucket.source.public_access_prevention == "enforced"
    error_message = "The source bucket must be private with uniform access."
  }
}

run "source_holds_only_what_the_build_needs" {
  command = plan

  assert {
    condition     = contains(output.source_files, "go.mod") && contains(output.source_files, "go.sum")
    error_message = "The archive must hold go.mod and go.sum."
  }
  assert {
    condition = alltrue([
      for f in output.source_files :
      contains(["go.mod", "go.sum"], f) || (length(split("/", f)) == 1 && endswith(f, ".go") && !endswith(f, "_test.go"))
      if length(split("/", f)) == 1
    ])
    error_message = "At the top level the archive may hold only go.mod, go.sum and non-test .go files."
  }
  assert {
    condition = alltrue([
      for f in output.source_files :
      contains(["verify", "events", "internal"], split("/", f)[0]) &&
      !endswith(f, "_test.go") && !endswith(f, ".md") && !contains(split("/", f), "testdata")
      if length(split("/", f)) > 1
    ])
    error_message = "Below the top level the archive may hold only the verify, events and internal packages, without tests, testdata or docs."
  }
  assert {
    condition     = length([for f in output.source_files : f if endswith(f, ".go") && length(split("/", f)) > 1]) > 0 || length(fileset("${path.module}/..", "{verify,events,internal}/**/*.go")) == 0
    error_message = "The packages' Go files must be packaged."
  }
  assert {
    condition = alltrue([
      for d in ["cmd", "tools", "terraform", ".ci", ".git"] :
      contains(data.archive_file.source.excludes, d) if length(fileset("${path.module}/..", "${d}/**")) > 0
    ])
    error_message = "cmd/, tools/, terraform/, .ci/ and .git/ must be excluded from the archive whole."
  }
  assert {
    condition     = length(setintersection(data.archive_file.source.excludes, output.source_files)) == 0
    error_message = "No packaged file may also be excluded."
  }
  assert {
    condition     = data.archive_file.source.source_dir == abspath("${path.module}/..")
    error_message = "The archive must be built from the repository root."
  }
}

run "concurrency_needs_a_whole_cpu" {
  command = plan

  variables {
    available_cpu                    = "0.5"
    max_instance_request_concurrency = 80
  }

  expect_failures = [google_cloudfunctions2_function.webhook]
}

run "fractional_cpu_serves_one_request_at_a_time" {
  command = plan

  variables {
    available_cpu                    = "0.5"
    max_instance_request_concurrency = 1
  }

  assert {
    condition     = google_cloudfunctions2_function.webhook.service_config[0].available_cpu == "0.5"
    error_message = "A fractional CPU with concurrency 1 must be accepted."
  }
}
