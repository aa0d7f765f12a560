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
