# The idempotency store (GEMINI_DEDUPE=firestore) keeps one record per
# delivery in var.firestore_collection of var.firestore_database, with an
# expire_at field set to claim time + 72 h: records outlive Gemini's 24 h of
# retries by at least 48 h, and Firestore's TTL policy deletes them after.

# The database, unless it exists already (create_firestore_database =
# false): a project has at most one "(default)" database, and creating it
# twice fails. Destroying the module leaves the database and its data.
resource "google_firestore_database" "this" {
  count = var.dedupe == "firestore" && var.create_firestore_database ? 1 : 0

  project                 = var.project_id
  name                    = var.firestore_database
  location_id             = coalesce(var.firestore_location, var.region)
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"

  depends_on = [google_project_service.this]
}

# TTL on expire_at. The store reads records by document ID only, so the
# field needs no single-field index: an empty index_config drops them and
# their write cost.
resource "google_firestore_field" "expire_at" {
  count = var.dedupe == "firestore" ? 1 : 0

  project    = var.project_id
  database   = var.create_firestore_database ? google_firestore_database.this[0].name : var.firestore_database
  collection = var.firestore_collection
  field      = "expire_at"

  ttl_config {}
  index_config {}

  depends_on = [google_project_service.this]
}
