output "webhook_url" {
  description = "URL to register with Gemini as the webhook endpoint."
  value       = google_cloudfunctions2_function.webhook.url
}

output "secret_id" {
  description = "Secret Manager secret that holds the signing secret, as projects/P/secrets/S. Add its value with `geminihook register` or `gcloud secrets versions add`."
  value       = google_secret_manager_secret.webhook.id
}

output "topic_ids" {
  description = "Topic ID (projects/P/topics/T) of each event family: batch, interaction, video, other and quarantine."
  value       = { for family, topic in google_pubsub_topic.family : family => topic.id }
}

output "service_account_email" {
  description = "Email of the function's runtime service account."
  value       = google_service_account.runtime.email
}

output "build_service_account_email" {
  description = "Email of the service account that builds the function."
  value       = google_service_account.build.email
}

output "function_name" {
  description = "Name of the function and of its Cloud Run service."
  value       = google_cloudfunctions2_function.webhook.name
}

output "subscription_ids" {
  description = "Subscription ID (projects/P/subscriptions/S) of each subscription declared in var.subscriptions."
  value       = { for name, sub in google_pubsub_subscription.this : name => sub.id }
}

output "dead_letter_topic_ids" {
  description = "Dead-letter topic ID of each subscription that has dead-lettering enabled."
  value       = { for name, topic in google_pubsub_topic.dead_letter : name => topic.id }
}

output "source_files" {
  description = "Files, relative to the repository root, packaged into the function's source archive."
  value       = sort(tolist(local.source_files))
}

output "api_key_secret_id" {
  description = "Secret Manager secret for the Gemini API key (projects/P/secrets/S), when create_api_key_secret is true; null otherwise. Add the key with `gcloud secrets versions add`."
  value       = var.create_api_key_secret ? google_secret_manager_secret.api_key[0].id : null
}

output "firestore_database" {
  description = "Firestore database of the idempotency store, when dedupe is firestore; null otherwise."
  value       = var.dedupe == "firestore" ? var.firestore_database : null
}

output "jwt_audience" {
  description = "The aud values the function accepts on dynamic-webhook JWTs."
  value       = local.jwt_audience
}

output "notification_channels" {
  description = "Notification channels the alerts notify."
  value       = local.notification_channels
}
