output "ml_api_url" {
  description = "GET {ml_api_url}/predict/{id}"
  value       = google_cloud_run_v2_service.ml_api.uri
}

output "model_server_url" {
  description = "The model server (private: callable by the services' account only)."
  value       = google_cloud_run_v2_service.model_server.uri
}

output "input_queue_topic" {
  description = "Publish {\"id\": \"1\"} here (python -m speedrun.gcp.publish with PUBSUB_EMULATOR_HOST empty)."
  value       = google_pubsub_topic.input_queue.id
}

output "dead_letter_subscription" {
  value = google_pubsub_subscription.dead_letter.id
}

output "database_instance" {
  value = google_sql_database_instance.data.connection_name
}

output "feature_registry" {
  value = local.common_environment["SPEEDRUN_GCP_FEATURE_REGISTRY"]
}
