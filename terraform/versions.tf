terraform {
  required_version = ">= 1.5"

  # The lower bounds are the versions the module is tested against
  # (terraform/README.md, "Provider versions and the lock file"); the upper
  # bounds keep a user's first `init` off the next major version, whose
  # breaking changes this module has not been checked against.
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.45, < 8.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 7.45, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.8, < 3.0"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.13, < 1.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

# Only for google_project_service_identity, which the GA provider lacks.
provider "google-beta" {
  project = var.project_id
  region  = var.region
}
