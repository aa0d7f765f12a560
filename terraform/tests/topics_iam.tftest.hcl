# Topics follow the prefix, and the grants are exactly the least-privilege set.

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

run "topics_follow_the_default_prefix" {
  command = plan

  assert {
    condition     = toset(keys(google_pubsub_topic.family)) == toset(["batch", "interaction", "video", "other", "quarantine"])
    error_message = "There must be exactly one topic per family."
  }
  assert {
    condition     = alltrue([for f, t in google_pubsub_topic.family : t.name == "gemini-${f}"])
    error_message = "Topic names must be gemini-<family>."
  }
  assert {
    condition     = alltrue([for t in google_pubsub_topic.family : t.message_retention_duration == "604800s"])
    error_message = "Topics must retain messages for 7 days by default."
  }
  assert {
    condition     = output.topic_ids["quarantine"] == google_pubsub_topic.family["quarantine"].id
    error_message = "topic_ids must map each family to its topic's id."
  }
}

run "topics_follow_a_custom_prefix" {
  command = plan

  variables {
    topic_prefix               = "acme.gemini-"
    message_retention_duration = "86400s"
  }

  assert {
    condition     = sort([for t in google_pubsub_topic.family : t.name]) == tolist(["acme.gemini-batch", "acme.gemini-interaction", "acme.gemini-other", "acme.gemini-quarantine", "acme.gemini-video"])
    error_message = "Topic names must follow topic_prefix."
  }
  assert {
    condition     = google_cloudfunctions2_function.webhook.service_config[0].environment_variables["GEMINI_TOPIC_PREFIX"] == "acme.gemini-"
    error_message = "The function must be told the topic prefix."
  }
  assert {
    condition     = alltrue([for t in google_pubsub_topic.family : t.message_retention_duration == "86400s"])
    error_message = "Topics must use message_retention_duration."
  }
}

run "runtime_account_has_only_its_grants" {
  command = plan

  # Publisher on each of its five topics, and nothing else on Pub/Sub.
  assert {
    condition     = length(google_pubsub_topic_iam_member.runtime_publisher) == 5
    error_message = "The runtime account must be publisher on exactly the five topics."
  }
  assert {
    condition = alltrue([
      for f, m in google_pubsub_topic_iam_member.runtime_publisher :
      m.role == "roles/pubsub.publisher" && m.topic == google_pubsub_topic.family[f].name && m.member == google_service_account.runtime.member
    ])
    error_message = "Each topic grant must be roles/pubsub.publisher on that family's topic for the runtime account."
  }

  # Accessor and viewer (versions.list) on its one secret.
  assert {
    condition = (
      google_secret_manager_secret_iam_member.runtime_accessor.role == "roles/secretmanager.secretAccessor" &&
      google_secret_manager_secret_iam_member.runtime_viewer.role == "roles/secretmanager.viewer"
    )
    error_message = "The runtime account must hold exactly secretAccessor and viewer on the secret."
  }
  assert {
    condition = alltrue([
      for m in [google_secret_manager_secret_iam_member.runtime_accessor, google_secret_manager_secret_iam_member.runtime_viewer] :
      m.secret_id == google_secret_manager_secret.webhook.secret_id && m.member == google_service_account.runtime.member
    ])
    error_message = "Secret grants must be on the webhook secret, for the runtime account."
  }

  # Log writing is the only unconditioned project-level grant.
  assert {
    condition = (
      google_project_iam_member.runtime_log_writer.role == "roles/logging.logWriter" &&
      google_project_iam_member.runtime_log_writer.member == google_service_account.runtime.member &&
      google_project_iam_member.runtime_log_writer.project == "test-project"
    )
    error_message = "The runtime account's only project-level role must be roles/logging.logWriter."
  }

  # Firestore: datastore.user, conditioned to the store's database.
  assert {
    condition = (
      google_project_iam_member.runtime_firestore_user[0].role == "roles/datastore.user" &&
      google_project_iam_member.runtime_firestore_user[0].member == google_service_account.runtime.member &&
      google_project_iam_member.runtime_firestore_user[0].condition[0].expression == "resource.name == \"projects/test-project/databases/(default)\""
    )
    error_message = "The runtime account must be datastore.user on the store's Firestore database only."
  }

  assert {
    condition     = google_cloudfunctions2_function.webhook.service_config[0].service_account_email == google_service_account.runtime.email
    error_message = "The function must run as the dedicated runtime account."
  }
  assert {
    condition     = output.service_account_email == google_service_account.runtime.email
    error_message = "service_account_email must be the runtime account."
  }
}

run "build_account_has_only_its_grants" {
  command = plan

  assert {
    condition = (
      google_project_iam_member.build_log_writer.role == "roles/logging.logWriter" &&
      google_project_iam_member.build_log_writer.member == google_service_account.build.member
    )
    error_message = "The build account must be able to write logs."
  }
  assert {
    condition = (
      google_artifact_registry_repository_iam_member.build_writer.role == "roles/artifactregistry.writer" &&
      google_artifact_registry_repository_iam_member.build_writer.repository == google_artifact_registry_repository.images.name &&
      google_artifact_registry_repository_iam_member.build_writer.member == google_service_account.build.member
    )
    error_message = "The build account must be artifactregistry.writer on the function's repository only."
  }
  assert {
    condition = (
      google_storage_bucket_iam_member.build_source_reader.role == "roles/storage.objectViewer" &&
      google_storage_bucket_iam_member.build_source_reader.bucket == google_storage_bucket.source.name &&
      google_storage_bucket_iam_member.build_source_reader.member == google_service_account.build.member
    )
    error_message = "The build account must be storage.objectViewer on the source bucket only."
  }
  assert {
    condition = (
      google_project_iam_member.build_gcf_sources_reader.role == "roles/storage.objectViewer" &&
      google_project_iam_member.build_gcf_sources_reader.member == google_service_account.build.member &&
      google_project_iam_member.build_gcf_sources_reader.condition[0].expression == "resource.name == \"projects/_/buckets/gcf-v2-sources-123456789012-us-central1\" || resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-123456789012-us-central1/\")"
    )
    error_message = "The build account must read the gcf-v2-sources-<number>-<region> bucket, and only that bucket."
  }
  assert {
    condition     = google_service_account.runtime.member != google_service_account.build.member
    error_message = "The mocks must give the two accounts distinct members, or the grant checks above prove nothing."
  }
  assert {
    condition     = google_cloudfunctions2_function.webhook.build_config[0].service_account == google_service_account.build.id
    error_message = "The function must build as the dedicated build account."
  }
  assert {
    condition     = google_cloudfunctions2_function.webhook.build_config[0].docker_repository == google_artifact_registry_repository.images.id
    error_message = "The build must push to the repository the build account may write to."
  }
  assert {
    condition     = google_service_account.runtime.account_id != google_service_account.build.account_id
    error_message = "Runtime and build must be separate accounts."
  }
}

run "public_invoker_by_default" {
  command = plan

  assert {
    condition     = length(google_cloud_run_v2_service_iam_member.public_invoker) == 1
    error_message = "The function's Cloud Run service must be invocable by default."
  }
  assert {
    condition = (
      google_cloud_run_v2_service_iam_member.public_invoker[0].role == "roles/run.invoker" &&
      google_cloud_run_v2_service_iam_member.public_invoker[0].member == "allUsers" &&
      google_cloud_run_v2_service_iam_member.public_invoker[0].name == google_cloudfunctions2_function.webhook.service_config[0].service
    )
    error_message = "allUsers must hold roles/run.invoker on the function's own Cloud Run service."
  }
}

run "public_invoker_can_be_turned_off" {
  command = plan

  variables {
    public_invoker = false
  }

  assert {
    condition     = length(google_cloud_run_v2_service_iam_member.public_invoker) == 0
    error_message = "public_invoker = false must not grant allUsers anything."
  }
}

run "no_dead_letter_grants_without_subscriptions" {
  command = plan

  assert {
    condition = (
      length(google_project_service_identity.pubsub) == 0 &&
      length(google_pubsub_subscription.this) == 0 &&
      length(google_pubsub_topic.dead_letter) == 0 &&
      length(google_pubsub_topic_iam_member.dead_letter_publisher) == 0 &&
      length(google_pubsub_subscription_iam_member.dead_letter_subscriber) == 0
    )
    error_message = "With no subscriptions declared there must be no subscriptions, dead-letter topics or Pub/Sub agent grants."
  }
}

run "apis_stay_enabled_on_destroy" {
  command = plan

  assert {
    condition     = alltrue([for s in google_project_service.this : s.disable_on_destroy == false])
    error_message = "APIs must not be disabled on destroy."
  }
  assert {
    condition = length(setsubtract(
      ["cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com", "pubsub.googleapis.com", "secretmanager.googleapis.com", "logging.googleapis.com", "monitoring.googleapis.com"],
      keys(google_project_service.this),
    )) == 0
    error_message = "Every API the deployment uses must be enabled."
  }
  assert {
    condition     = contains(keys(google_project_service.this), "firestore.googleapis.com")
    error_message = "The Firestore store needs the Firestore API."
  }
}

run "no_deployer_grants_by_default" {
  command = plan

  assert {
    condition     = length(google_service_account_iam_member.deployer_act_as) == 0
    error_message = "Without deployer_member the module must grant nothing on its accounts."
  }
  assert {
    condition     = time_sleep.iam_propagation.create_duration == "90s"
    error_message = "The function must wait 90s for new grants to propagate by default."
  }
}

run "deployer_can_act_as_the_accounts" {
  command = plan

  variables {
    deployer_member      = "serviceAccount:deployer@test-project.iam.gserviceaccount.com"
    iam_propagation_wait = "120s"
  }

  assert {
    condition = (
      toset(keys(google_service_account_iam_member.deployer_act_as)) == toset(["runtime", "build"]) &&
      google_service_account_iam_member.deployer_act_as["runtime"].service_account_id == google_service_account.runtime.name &&
      google_service_account_iam_member.deployer_act_as["build"].service_account_id == google_service_account.build.name &&
      alltrue([
        for m in google_service_account_iam_member.deployer_act_as :
        m.role == "roles/iam.serviceAccountUser" && m.member == "serviceAccount:deployer@test-project.iam.gserviceaccount.com"
      ])
    )
    error_message = "deployer_member must get roles/iam.serviceAccountUser on the runtime and build accounts, and nothing else."
  }
  assert {
    condition     = time_sleep.iam_propagation.create_duration == "120s"
    error_message = "iam_propagation_wait must set the wait."
  }
}
