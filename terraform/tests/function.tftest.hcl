# The function's build, runtime settings, environment and source archive.

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

mock_provider "archive" {
  mock_data "archive_file" {
    defaults = {
      output_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      output_md5    = "098f6bcd4621d373cade4e832627b4f6"
    }
  }
}

variables {
  project_id     = "test-project"
  project_number = "123456789012"

  # Alerts without a channel fail check "alerts_notify_someone".
  notification_channels = ["projects/test-project/notificationChannels/42"]
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
      GOOGLE_CLOUD_PROJECT        = "test-project"
      GEMINI_WEBHOOK_SECRET       = "projects/test-project/secrets/gemini-webhook-secret"
      GEMINI_TOPIC_PREFIX         = "gemini-"
      GEMINI_TIMESTAMP_TOLERANCE  = "5m"
      GEMINI_DYNAMIC_WEBHOOKS     = "auto"
      GEMINI_JWT_AUDIENCE         = "https://us-central1-test-project.cloudfunctions.net/geminihook,https://geminihook-123456789012.us-central1.run.app"
      GEMINI_DEDUPE               = "firestore"
      GEMINI_FIRESTORE_DATABASE   = "(default)"
      GEMINI_FIRESTORE_COLLECTION = "geminihook-deliveries"
    })
    error_message = "With defaults, the environment must hold exactly the required settings, the function's own two URLs as JWT audience and the Firestore store; unset optional ones must be omitted."
  }
  assert {
    condition     = output.jwt_audience == tolist(["https://us-central1-test-project.cloudfunctions.net/geminihook", "https://geminihook-123456789012.us-central1.run.app"])
    error_message = "jwt_audience must report the audience the function accepts."
  }
  assert {
    condition     = length(google_secret_manager_secret.api_key) == 0 && length(google_secret_manager_secret_iam_member.runtime_api_key_accessor) == 0 && output.api_key_secret_id == null
    error_message = "No API-key secret by default."
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
    topic_prefix          = "prod-gemini-"
    jwt_audience          = ["https://hooks.example.com/gemini", "https://alt.example.com"]
    jwt_issuer            = "https://generativelanguage.googleapis.com"
    jwks_url              = "https://keys.example.com/jwks.json"
    dynamic_webhooks      = "on"
    timestamp_tolerance   = "90s"
    max_body_bytes        = 2097152
    available_memory      = "512Mi"
    dedupe                = "firestore"
    firestore_database    = "hooks-db"
    firestore_collection  = "deliveries"
    create_api_key_secret = true
    confirm               = "all"
    log_level             = "warn"
  }

  assert {
    condition = google_cloudfunctions2_function.webhook.service_config[0].environment_variables == tomap({
      GOOGLE_CLOUD_PROJECT        = "test-project"
      GEMINI_WEBHOOK_SECRET       = "projects/test-project/secrets/gemini-webhook-secret"
      GEMINI_TOPIC_PREFIX         = "prod-gemini-"
      GEMINI_TIMESTAMP_TOLERANCE  = "90s"
      GEMINI_DYNAMIC_WEBHOOKS     = "on"
      GEMINI_JWT_AUDIENCE         = "https://hooks.example.com/gemini,https://alt.example.com"
      GEMINI_JWT_ISSUER           = "https://generativelanguage.googleapis.com"
      GEMINI_JWKS_URL             = "https://keys.example.com/jwks.json"
      GEMINI_MAX_BODY_BYTES       = "2097152"
      GEMINI_DEDUPE               = "firestore"
      GEMINI_FIRESTORE_DATABASE   = "hooks-db"
      GEMINI_FIRESTORE_COLLECTION = "deliveries"
      GEMINI_API_KEY_SECRET       = "projects/test-project/secrets/gemini-api-key"
      GEMINI_CONFIRM              = "all"
      GEMINI_LOG_LEVEL            = "warn"
    })
    error_message = "Every set variable must reach the function's environment under its documented name."
  }
  assert {
    condition = (
      google_secret_manager_secret.api_key[0].secret_id == "gemini-api-key" &&
      output.api_key_secret_id == "projects/test-project/secrets/gemini-api-key"
    )
    error_message = "create_api_key_secret must create the gemini-api-key secret and report it."
  }
  assert {
    condition = (
      google_secret_manager_secret_iam_member.runtime_api_key_accessor[0].role == "roles/secretmanager.secretAccessor" &&
      google_secret_manager_secret_iam_member.runtime_api_key_accessor[0].secret_id == google_secret_manager_secret.api_key[0].secret_id &&
      google_secret_manager_secret_iam_member.runtime_api_key_accessor[0].member == google_service_account.runtime.member
    )
    error_message = "The runtime account must be secretAccessor on the API-key secret, and only there."
  }
}

run "memory_store_and_no_audience" {
  command = plan

  variables {
    dedupe           = "memory"
    jwt_audience     = []
    dynamic_webhooks = "off"
  }

  assert {
    condition = google_cloudfunctions2_function.webhook.service_config[0].environment_variables == tomap({
      GOOGLE_CLOUD_PROJECT       = "test-project"
      GEMINI_WEBHOOK_SECRET      = "projects/test-project/secrets/gemini-webhook-secret"
      GEMINI_TOPIC_PREFIX        = "gemini-"
      GEMINI_TIMESTAMP_TOLERANCE = "5m"
      GEMINI_DYNAMIC_WEBHOOKS    = "off"
      GEMINI_DEDUPE              = "memory"
    })
    error_message = "With the memory store and an empty audience list, neither Firestore settings nor GEMINI_JWT_AUDIENCE may be set."
  }
  assert {
    condition = (
      length(google_firestore_database.this) == 0 &&
      length(google_firestore_field.expire_at) == 0 &&
      length(google_project_iam_member.runtime_firestore_user) == 0 &&
      !contains(keys(google_project_service.this), "firestore.googleapis.com")
    )
    error_message = "The memory store needs no Firestore database, TTL policy, grant or API."
  }
}

run "audience_follows_name_and_region" {
  command = plan

  variables {
    name           = "hooks-prod"
    region         = "europe-west1"
    project_number = "987654321098"
  }

  assert {
    condition     = google_cloudfunctions2_function.webhook.service_config[0].environment_variables["GEMINI_JWT_AUDIENCE"] == "https://europe-west1-test-project.cloudfunctions.net/hooks-prod,https://hooks-prod-987654321098.europe-west1.run.app"
    error_message = "The default audience must be the function's own cloudfunctions.net and run.app URLs."
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
  assert {
    condition = (
      google_storage_bucket.source.soft_delete_policy[0].retention_duration_seconds == 0 &&
      length(google_storage_bucket.source.lifecycle_rule) == 1 &&
      one(google_storage_bucket.source.lifecycle_rule[0].condition).age == 30 &&
      one(google_storage_bucket.source.lifecycle_rule[0].action).type == "Delete"
    )
    error_message = "The source bucket must keep no soft-deleted archives and delete archives after source_retention_days (30)."
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
    condition = alltrue([
      for f in output.source_files : !anytrue([
        for d in [
          "internal/devstack", "internal/firestoretest", "internal/geminiapi", "internal/geminijobs", "internal/grpcfault",
          "internal/httpserver", "internal/leaktest", "internal/samples", "internal/smtest", "internal/soak",
          "internal/syncbuf", "internal/testclock", "verify/verifytest",
        ] :
        startswith(f, "${d}/")
      ])
    ])
    error_message = "Test-support and CLI packages (devstack, firestoretest, geminiapi, geminijobs, grpcfault, httpserver, leaktest, samples, smtest, soak, syncbuf, testclock, verifytest) must stay out of the archive."
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

run "a_large_body_limit_needs_memory" {
  command = plan

  variables {
    max_body_bytes = 33554432
  }

  expect_failures = [google_cloudfunctions2_function.webhook]
}

run "a_large_body_limit_fits_with_fewer_requests_and_more_memory" {
  command = plan

  variables {
    max_body_bytes                   = 33554432
    max_instance_request_concurrency = 8
    available_memory                 = "1Gi"
  }

  assert {
    condition     = google_cloudfunctions2_function.webhook.service_config[0].environment_variables["GEMINI_MAX_BODY_BYTES"] == "33554432"
    error_message = "32 MiB bodies with 8 concurrent requests fit in 1 GiB and must be accepted."
  }
}

run "project_number_is_read_only_when_not_given" {
  command = plan

  variables {
    project_number = null
  }

  assert {
    condition     = length(data.google_project.this) == 1
    error_message = "Without project_number the module must read it from the project."
  }
}

run "project_number_given_skips_the_read" {
  command = plan

  assert {
    condition     = length(data.google_project.this) == 0
    error_message = "With project_number set the module must not read the project (Cloud Resource Manager may not be enabled yet)."
  }
}
