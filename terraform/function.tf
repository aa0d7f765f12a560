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

  # Test-support and CLI packages below the kept ones: the function never
  # imports them (.ci/terraform.sh checks this against `go list -deps`), so
  # editing them neither uploads nor redeploys anything.
  source_skip_dirs = [
    "internal/devstack",
    "internal/firestoretest",
    "internal/geminiapi",
    "internal/geminijobs",
    "internal/grpcfault",
    "internal/httpserver",
    "internal/leaktest",
    "internal/samples",
    "internal/smtest",
    "internal/soak",
    "internal/syncbuf",
    "internal/testclock",
    "verify/verifytest",
  ]

  source_all = fileset(local.source_root, "**")

  source_files = toset(concat(
    [for f in ["go.mod", "go.sum"] : f if contains(local.source_all, f)],
    [for f in fileset(local.source_root, "*.go") : f if !endswith(f, "_test.go")],
    flatten([
      for pkg in local.source_packages : [
        for f in fileset(local.source_root, "${pkg}/**") : f
        if !contains(split("/", f), "testdata") &&
        alltrue([for suffix in local.source_skip : !endswith(f, suffix)]) &&
        alltrue([for dir in local.source_skip_dirs : !startswith(f, "${dir}/")])
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

  # Gemini signs a dynamic webhook's JWT for the URL it was registered
  # with; both URLs of the function are known before it exists.
  default_jwt_audience = [
    "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.name}",
    "https://${var.name}-${local.project_number}.${var.region}.run.app",
  ]
  jwt_audience = var.jwt_audience != null ? var.jwt_audience : local.default_jwt_audience

  environment = merge(
    {
      GOOGLE_CLOUD_PROJECT       = var.project_id
      GEMINI_WEBHOOK_SECRET      = google_secret_manager_secret.webhook.id
      GEMINI_TOPIC_PREFIX        = var.topic_prefix
      GEMINI_TIMESTAMP_TOLERANCE = var.timestamp_tolerance
      GEMINI_DYNAMIC_WEBHOOKS    = var.dynamic_webhooks
      GEMINI_DEDUPE              = var.dedupe
    },
    var.dedupe == "firestore" ? {
      GEMINI_FIRESTORE_DATABASE   = var.firestore_database
      GEMINI_FIRESTORE_COLLECTION = var.firestore_collection
    } : {},
    {
      for k, v in {
        GEMINI_JWT_AUDIENCE   = length(local.jwt_audience) == 0 ? null : join(",", local.jwt_audience)
        GEMINI_JWT_ISSUER     = var.jwt_issuer
        GEMINI_JWKS_URL       = var.jwks_url
        GEMINI_MAX_BODY_BYTES = var.max_body_bytes == null ? null : tostring(var.max_body_bytes)
        GEMINI_API_KEY_SECRET = var.create_api_key_secret ? google_secret_manager_secret.api_key[0].id : null
        GEMINI_CONFIRM        = var.confirm
        GEMINI_LOG_LEVEL      = var.log_level
      } : k => v if v != null
    },
  )

  # A request holds its body (up to max_body_bytes, 1 MiB when unset) and,
  # while publishing, the message built from it (as large as the body for a
  # quarantined delivery, which is published raw). Every concurrent request
  # doing so must fit in the instance's memory.
  body_limit_bytes = var.max_body_bytes == null ? 1048576 : var.max_body_bytes
  memory_units     = { Mi = 1048576, Gi = 1073741824, M = 1000000, G = 1000000000 }
  memory_parts     = regex("^([0-9]+)(Mi|Gi|M|G)$", var.available_memory)
  memory_bytes     = tonumber(local.memory_parts[0]) * local.memory_units[local.memory_parts[1]]
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

  # Archives are rebuilt from the repository at will; keeping deleted ones
  # (7 days by default) only costs storage.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  # Cloud Functions copies the archive into its own gcf-v2-sources bucket
  # at deploy time, so an archive is needed only while its deploy runs.
  # Terraform deletes each superseded one; this rule removes what a failed
  # or abandoned apply leaves behind. The live archive goes too after the
  # same age: the next apply uploads it again under the same name, which
  # does not redeploy the function.
  lifecycle_rule {
    condition {
      age = var.source_retention_days
    }
    action {
      type = "Delete"
    }
  }

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
    precondition {
      condition     = local.body_limit_bytes * var.max_instance_request_concurrency * 2 <= local.memory_bytes
      error_message = "max_body_bytes (1 MiB when unset) times max_instance_request_concurrency, times 2 (the body and the message published from it), must fit in available_memory: raise available_memory, or lower max_body_bytes or max_instance_request_concurrency."
    }
  }

  # The build and the first instance need their grants in place and
  # propagated (iam.tf, time_sleep.iam_propagation).
  depends_on = [time_sleep.iam_propagation]
}
