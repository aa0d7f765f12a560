# The secret that holds Gemini's signing secret (whsec_...). Terraform creates
# the secret only: no version, so the value never enters Terraform state. Add
# it with `geminihook register` or `gcloud secrets versions add` (README.md).
resource "google_secret_manager_secret" "webhook" {
  project   = var.project_id
  secret_id = var.secret_id
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

# The Gemini API key the function uses to confirm deliveries against the
# API (GEMINI_API_KEY_SECRET). Created empty, like the signing secret: add
# the key with `gcloud secrets versions add` (terraform/README.md).
resource "google_secret_manager_secret" "api_key" {
  count = var.create_api_key_secret ? 1 : 0

  project   = var.project_id
  secret_id = var.api_key_secret_id
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}
