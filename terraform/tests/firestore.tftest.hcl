# The Firestore idempotency store: database, TTL policy and grant.

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

run "firestore_store_by_default" {
  command = plan

  assert {
    condition = (
      google_firestore_database.this[0].name == "(default)" &&
      google_firestore_database.this[0].type == "FIRESTORE_NATIVE" &&
      google_firestore_database.this[0].location_id == "us-central1" &&
      google_firestore_database.this[0].deletion_policy == "ABANDON" &&
      google_firestore_database.this[0].delete_protection_state == "DELETE_PROTECTION_ENABLED"
    )
    error_message = "The module must create the (default) native-mode database in the function's region, and never delete it."
  }
  assert {
    condition = (
      google_firestore_field.expire_at[0].database == "(default)" &&
      google_firestore_field.expire_at[0].collection == "geminihook-deliveries" &&
      google_firestore_field.expire_at[0].field == "expire_at" &&
      length(google_firestore_field.expire_at[0].ttl_config) == 1
    )
    error_message = "expire_at of the store's collection must carry a TTL policy."
  }
  assert {
    condition     = output.firestore_database == "(default)"
    error_message = "firestore_database must report the store's database."
  }
}

run "existing_named_database" {
  command = plan

  variables {
    firestore_database        = "hooks-db"
    create_firestore_database = false
    firestore_collection      = "deliveries"
  }

  assert {
    condition     = length(google_firestore_database.this) == 0
    error_message = "create_firestore_database = false must not create a database."
  }
  assert {
    condition = (
      google_firestore_field.expire_at[0].database == "hooks-db" &&
      google_firestore_field.expire_at[0].collection == "deliveries"
    )
    error_message = "The TTL policy must go on the reused database's collection."
  }
  assert {
    condition     = google_project_iam_member.runtime_firestore_user[0].condition[0].expression == "resource.name == \"projects/test-project/databases/hooks-db\""
    error_message = "The grant must be conditioned to the reused database."
  }
}

run "database_location_can_be_a_multi_region" {
  command = plan

  variables {
    firestore_database = "hooks-db"
    firestore_location = "nam5"
  }

  assert {
    condition     = google_firestore_database.this[0].location_id == "nam5" && google_firestore_database.this[0].name == "hooks-db"
    error_message = "firestore_location must place the created database."
  }
}
