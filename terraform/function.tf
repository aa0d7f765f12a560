locals {
  # The function is built from the repository root, but only from what the
  # build needs: go.mod, go.sum, the root package's non-test .go files and
  # the non-test files of the packages below (non-Go files too, so that a
  # go:embed keeps working), without testdata, docs or build leftovers.
  # Everything else (cmd/, tools/, terraform/, .ci/, .git/, docs, tests)
  # stays out, so that editing it neither uploads it nor redeploys.
  source_root     = abspath("${path.module}/..")
  source_packages = ["verify", "events", "internal"]
  source_skip     = ["_test.go", ".md", ".test", ".prof", ".out"]

  source_all = fileset(local.source_root, "**")

  source_files = toset(concat(
    [for f in ["go.mod", "go.sum"] : f if contains(local.source_all, f)],
    [for f in fileset(local.source_root, "*.go") : f if !endswith(f, "_test.go")],
    flatten([
      for pkg in local.source_packages : [
        for f in fileset(local.source_root, "${pkg}/**") : f
        if !contains(split("/", f), "testdata") && alltrue([for suffix in local.source_skip : !endswith(f, suffix)])
      ]
    ]),
  ))

  # archive_file takes exclusions, not inclusions: exclude every top-level
  # entry that is not kept (a directory named here is skipped whole) and
  # every file inside the kept packages that is not kept.
  source_excludes = setunion(
    [
      for e in toset([for f in local.source_all : split("/", f)[0]]) : e
      if !contains(local.source_packages, e) && !contains(local.source_files, e)
    ],
    [
      for f in local.source_all : f
      if contains(local.source_packages, split("/", f)[0]) && !contains(local.source_files, f)
    ],
  )

  source_bucket_name = coalesce(var.source_bucket_name, "${var.project_id}-${var.name}-source")

  environment = merge(
    {
      GOOGLE_CLOUD_PROJECT       = var.project_id
      GEMINI_WEBHOOK_SECRET      = google_secret_manager_secret.webhook.id
      GEMINI_TOPIC_PREFIX        = var.topic_prefix
      GEMINI_TIMESTAMP_TOLERANCE = var.timestamp_tolerance
      GEMINI_DYNAMIC_WEBHOOKS    = var.dynamic_webhooks ? "on" : "off"
    },
    {
      for k, v in {
        GEMINI_JWT_AUDIENCE   = var.jwt_audience
        GEMINI_JWT_ISSUER     = var.jwt_issuer
        GEMINI_JWKS_URL       = var.jwks_url
        GEMINI_MAX_BODY_BYTES = var.max_body_bytes == null ? null : tostring(var.max_body_bytes)
      } : k => v if v != null
    },
  )
}

data "archive_file" "source" {
  type             = "zip"
  source_dir       = local.source_root
  excludes         = local.source_excludes
  output_path      = "${path.module}/.terraform/${var.name}-source.zip"
  output_file_mode = "0644"
}

# Build input only: objects are replaced (and the old one deleted) whenever
# the source hash changes.
resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = local.source_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels

  depends_on = [google_project_service.this]
}

# Named by the archive's hash, so any change to the source redeploys.
resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "source-${data.archive_file.source.output_sha256}.zip"
  source = data.archive_file.source.output_path
}

# The function's images, in a repository the build account may write to
# (rather than the shared gcf-artifacts one), trimmed to recent versions.
resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = var.name
  format        = "DOCKER"
  description   = "Images of the ${var.name} function."
  labels        = var.labels

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_cloudfunctions2_function" "webhook" {
  project     = var.project_id
  name        = var.name
  location    = var.region
  description = "Verifies Gemini API webhook deliveries and publishes them to Pub/Sub."
  labels      = var.labels

  build_config {
    runtime           = "go126"
    entry_point       = "GeminiWebhook"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.images.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.runtime.email
    max_instance_count               = var.max_instance_count
    min_instance_count               = var.min_instance_count
    max_instance_request_concurrency = var.max_instance_request_concurrency
    available_cpu                    = var.available_cpu
    available_memory                 = var.available_memory
    timeout_seconds                  = var.timeout_seconds
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true
    environment_variables            = local.environment
  }

  lifecycle {
    precondition {
      condition     = var.max_instance_request_concurrency == 1 || tonumber(var.available_cpu) >= 1
      error_message = "max_instance_request_concurrency above 1 needs available_cpu of at least \"1\"."
    }
  }

  # The build and the first instance need their grants in place.
  depends_on = [
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_source_reader,
    google_pubsub_topic_iam_member.runtime_publisher,
    google_secret_manager_secret_iam_member.runtime_accessor,
    google_secret_manager_secret_iam_member.runtime_viewer,
    google_project_iam_member.runtime_log_writer,
  ]
}
