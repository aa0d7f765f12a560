locals {
  # Pub/Sub's service agent forwards undeliverable messages to dead-letter
  # topics; it needs to publish there and to acknowledge on the source.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# ------------------------------------------------------------------ runtime

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = "${var.name}-run"
  display_name = "${var.name} webhook runtime"
  description  = "Identity of the ${var.name} function: publishes to its topics and reads its signing secret."

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic_iam_member" "runtime_publisher" {
  for_each = google_pubsub_topic.family

  project = var.project_id
  topic   = each.value.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.runtime.member
}

resource "google_secret_manager_secret_iam_member" "runtime_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}

# secretAccessor reads a version's payload but cannot list versions; the
# function accepts every ENABLED version during rotation, so it needs
# secretmanager.versions.list, which roles/secretmanager.viewer grants on
# this one secret (metadata only, no payloads).
resource "google_secret_manager_secret_iam_member" "runtime_viewer" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook.secret_id
  role      = "roles/secretmanager.viewer"
  member    = google_service_account.runtime.member
}

# Log writing has no resource-level grant: it is project-wide by nature.
resource "google_project_iam_member" "runtime_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.runtime.member
}

# -------------------------------------------------------------------- build

# Cloud Functions gen2 builds the source with Cloud Build under this account
# instead of the project's default (and broad) Compute or Cloud Build one.
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name}-build"
  display_name = "${var.name} function build"
  description  = "Builds the ${var.name} function image from its source archive."

  depends_on = [google_project_service.this]
}

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# ------------------------------------------------------------- dead letters

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = google_pubsub_topic.dead_letter

  project = var.project_id
  topic   = each.value.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.dead_letter_subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.this[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# ---------------------------------------------------------------- invoking

# Gemini cannot present Google credentials, so the function's Cloud Run
# service must admit unauthenticated calls; the webhook signature is the
# authentication. Gen2 functions are served by Cloud Run, so run.invoker on
# that service is what governs invocation (README.md, "Security").
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  count = var.public_invoker ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.webhook.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
