# APIs the deployment uses. They stay enabled on destroy: other workloads in
# the project may rely on them, and disabling an API is disruptive.
locals {
  services = setunion(
    [
      "artifactregistry.googleapis.com",
      "cloudbuild.googleapis.com",
      "cloudfunctions.googleapis.com",
      "cloudresourcemanager.googleapis.com",
      "iam.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "pubsub.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    var.dedupe == "firestore" ? ["firestore.googleapis.com"] : [],
  )
}

resource "google_project_service" "this" {
  for_each = var.enable_apis ? local.services : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# The project number names the Pub/Sub service agent's neighbours, the
# gcf-v2-sources bucket and the function's run.app URL. Reading it needs the
# Cloud Resource Manager API, which a brand-new project has not enabled yet:
# the read waits for the APIs above (so on a first apply it happens during
# apply, and what depends on it is known only then), and is skipped entirely
# when var.project_number is given.
data "google_project" "this" {
  count = var.project_number == null ? 1 : 0

  project_id = var.project_id

  depends_on = [google_project_service.this]
}

locals {
  project_number = var.project_number != null ? var.project_number : data.google_project.this[0].number
}
