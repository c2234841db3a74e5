variable "project_id" {
  type        = string
  description = "Google Cloud project that holds everything."
}

variable "region" {
  type        = string
  description = "Region of Cloud Run, Cloud Functions, Cloud SQL and the bucket."
  default     = "europe-west1"
}

variable "image" {
  type        = string
  description = "Container image built from deploy/gcp/Dockerfile and pushed to the Artifact Registry repository this configuration creates (REGION-docker.pkg.dev/PROJECT/speedrun/speedrun:TAG)."
}

variable "database_tier" {
  type        = string
  description = "Cloud SQL machine tier of the data-point and prediction tables."
  default     = "db-f1-micro"
}

variable "database_password" {
  type        = string
  description = "Password of the Cloud SQL user `speedrun` (stored in Secret Manager, never in the image)."
  sensitive   = true
}

variable "cassandra_hosts" {
  type        = string
  description = "Comma-separated contact points of a Cassandra cluster reachable from the VPC; empty when Astra DB is used."
  default     = ""
}

variable "cassandra_keyspace" {
  type        = string
  description = "Keyspace of the Feast online store."
  default     = "speedrun"
}

variable "cassandra_username" {
  type        = string
  description = "Cassandra user name (Astra DB: token)."
  default     = ""
}

variable "cassandra_password" {
  type        = string
  description = "Cassandra password (Astra DB: the AstraCS:... token)."
  sensitive   = true
  default     = ""
}

variable "astra_secure_bundle_path" {
  type        = string
  description = "Local path of the Astra DB secure-connect bundle (zip); empty for a Cassandra cluster given by cassandra_hosts."
  default     = ""
}

variable "model_server_max_instances" {
  type        = number
  description = "Upper bound of model-server instances (each loads the model once, about 100 MB of memory)."
  default     = 3
}
