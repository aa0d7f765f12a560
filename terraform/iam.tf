locals {
  # Pub/Sub's service agent forwards undeliverable messages to dead-letter
  # topics; it needs to publish there and to acknowledge on the source.
  pubsub_service_agent = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # Cloud Functions copies the source archive into this bucket, and the
  # build reads it from there (it exists only after the first deploy).
  gcf_sources_bucket = "gcf-v2-sources-${local.project_number}-${var.region}"
}

# A brand-new project has no Pub/Sub service agent until something asks for
# it; granting it a role before it exists fails. Creating its identity makes
# sure it does. Only the beta provider has this resource.
resource "google_project_service_identity" "pubsub" {
  count    = length(local.dead_letter_subscriptions) > 0 ? 1 : 0
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [google_project_service.this]
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

# The idempotency store reads and writes its records in one Firestore
# database. Firestore has no database-level IAM policy, but its IAM
# conditions can name a database: the role holds there only.
resource "google_project_iam_member" "runtime_firestore_user" {
  count = var.dedupe == "firestore" ? 1 : 0

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.runtime.member

  condition {
    title       = "${var.name}-firestore-${var.firestore_database}"
    description = "Only the Firestore database of the ${var.name} idempotency store."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${var.firestore_database}\""
  }
}

# Confirmation against the Gemini API reads the key's latest version.
resource "google_secret_manager_secret_iam_member" "runtime_api_key_accessor" {
  count = var.create_api_key_secret ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.api_key[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
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

# The build fetches the copy of the archive that Cloud Functions makes in its
# gcf-v2-sources-<number>-<region> bucket, which does not exist before the
# first deploy, so it cannot carry a bucket-level grant yet: the role is
# granted on the project, conditioned to that bucket and its objects.
resource "google_project_iam_member" "build_gcf_sources_reader" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title       = "${var.name}-gcf-v2-sources"
    description = "Only the bucket where Cloud Functions stages the ${var.name} source."
    expression  = "resource.name == \"projects/_/buckets/${local.gcf_sources_bucket}\" || resource.name.startsWith(\"projects/_/buckets/${local.gcf_sources_bucket}/\")"
  }
}

# ----------------------------------------------------------------- deployer

# Deploying a function that runs or builds as a service account needs
# iam.serviceAccounts.actAs on it. A deployer that is not a project owner
# cannot hold it on accounts that do not exist yet, so the module grants it
# on the two accounts it creates (terraform/README.md, "Bootstrap").
resource "google_service_account_iam_member" "deployer_act_as" {
  for_each = var.deployer_member == null ? {} : {
    runtime = google_service_account.runtime.name
    build   = google_service_account.build.name
  }

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = var.deployer_member
}

# -------------------------------------------------------------- propagation

# IAM grants take effect seconds to minutes after they are made; the
# function's build starts right after them and fails if they have not
# propagated. Wait once after the grants are (re)made, not on every apply.
resource "time_sleep" "iam_propagation" {
  create_duration = var.iam_propagation_wait

  triggers = {
    runtime  = google_service_account.runtime.member
    build    = google_service_account.build.member
    deployer = coalesce(var.deployer_member, "-")
  }

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_source_reader,
    google_project_iam_member.build_gcf_sources_reader,
    google_pubsub_topic_iam_member.runtime_publisher,
    google_secret_manager_secret_iam_member.runtime_accessor,
    google_secret_manager_secret_iam_member.runtime_viewer,
    google_secret_manager_secret_iam_member.runtime_api_key_accessor,
    google_project_iam_member.runtime_log_writer,
    google_project_iam_member.runtime_firestore_user,
    google_service_account_iam_member.deployer_act_as,
  ]
}

# ------------------------------------------------------------- dead letters

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = google_pubsub_topic.dead_letter

  project = var.project_id
  topic   = each.value.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.dead_letter_subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.this[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}

# ---------------------------------------------------------------- invoking

# Gemini cannot present Google credentials, so the function's Cloud Run
# service must admit unauthenticated calls; the webhook signature is the
# authentication. Gen2 functions are served by Cloud Run, so run.invoker on
# that service is what governs invocation (README.md, "Security"). Where the
# organization restricts IAM members to its own domains this grant fails;
# terraform/README.md ("Domain-restricted sharing") gives the alternative.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  count = var.public_invoker ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.webhook.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
