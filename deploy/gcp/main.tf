# The GCP chapters on Google Cloud: the same package and settings as on a laptop, other values.
# Data points and predictions: Cloud SQL (PostgreSQL). Feature store: Feast, its registry in a
# bucket, its online store Cassandra or Astra DB. Model server and ML API: Cloud Run, one image.
# Batch path: the input-queue topic triggering a Cloud Function (2nd gen), with a dead-letter topic.

locals {
  services = ["run.googleapis.com", "cloudfunctions.googleapis.com", "cloudbuild.googleapis.com", "eventarc.googleapis.com",
    "pubsub.googleapis.com", "sqladmin.googleapis.com", "secretmanager.googleapis.com", "artifactregistry.googleapis.com",
  "vpcaccess.googleapis.com", "servicenetworking.googleapis.com", "storage.googleapis.com"]
  use_astra    = var.astra_secure_bundle_path != ""
  bundle_mount = "/secrets/astra"
  secret_names = toset(concat(["database-url", "cassandra-password"], local.use_astra ? ["astra-secure-bundle"] : []))
  database_url = "postgresql+psycopg://speedrun:${var.database_password}@${google_sql_database_instance.data.private_ip_address}/speedrun"
  common_environment = {
    SPEEDRUN_ONLINE_STORE_BACKEND         = "cassandra"
    SPEEDRUN_CASSANDRA_HOSTS              = var.cassandra_hosts
    SPEEDRUN_CASSANDRA_KEYSPACE           = var.cassandra_keyspace
    SPEEDRUN_CASSANDRA_USERNAME           = var.cassandra_username
    SPEEDRUN_CASSANDRA_SECURE_BUNDLE_PATH = local.use_astra ? "${local.bundle_mount}/secure-connect.zip" : ""
    SPEEDRUN_GCP_FEATURE_REGISTRY         = "gs://${google_storage_bucket.feature_store.name}/gcp_inference/registry.db"
    SPEEDRUN_REMOTE_ZERO_SHOT_SERVER_URL  = google_cloud_run_v2_service.model_server.uri
    SPEEDRUN_ZERO_SHOT_SERVER_ID_TOKEN    = "true"
    PUBSUB_EMULATOR_HOST                  = ""
    PUBSUB_PROJECT_ID                     = var.project_id
    SPEEDRUN_BUILD_DIR                    = "/tmp/speedrun-build"
  }
}

resource "google_project_service" "apis" {
  for_each           = toset(local.services)
  service            = each.value
  disable_on_destroy = false
}

# ---- network: Cloud SQL on a private address, reached through a Serverless VPC connector ----

resource "google_compute_network" "speedrun" {
  name                    = "speedrun"
  auto_create_subnetworks = true
}

resource "google_compute_global_address" "sql_range" {
  name          = "speedrun-sql-range"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 16
  network       = google_compute_network.speedrun.id
}

resource "google_service_networking_connection" "sql" {
  network                 = google_compute_network.speedrun.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.sql_range.name]
  depends_on              = [google_project_service.apis]
}

resource "google_vpc_access_connector" "speedrun" {
  name          = "speedrun"
  region        = var.region
  network       = google_compute_network.speedrun.name
  ip_cidr_range = "10.8.0.0/28"
  depends_on    = [google_project_service.apis]
}

# ---- data points and predictions: Cloud SQL for PostgreSQL ----

resource "google_sql_database_instance" "data" {
  name             = "speedrun-data"
  database_version = "POSTGRES_16"
  region           = var.region
  settings {
    tier = var.database_tier
    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.speedrun.id
    }
  }
  deletion_protection = false
  depends_on          = [google_service_networking_connection.sql]
}

resource "google_sql_database" "speedrun" {
  name     = "speedrun"
  instance = google_sql_database_instance.data.name
}

resource "google_sql_user" "speedrun" {
  name     = "speedrun"
  instance = google_sql_database_instance.data.name
  password = var.database_password
}

# ---- secrets: the database URL (it holds the password), the Cassandra password, the Astra bundle ----

resource "google_secret_manager_secret" "speedrun" {
  for_each  = local.secret_names
  secret_id = "speedrun-${each.key}"
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "database_url" {
  secret      = google_secret_manager_secret.speedrun["database-url"].id
  secret_data = local.database_url
}

resource "google_secret_manager_secret_version" "cassandra_password" {
  secret      = google_secret_manager_secret.speedrun["cassandra-password"].id
  secret_data = var.cassandra_password
}

resource "google_secret_manager_secret_version" "astra_bundle" {
  count                  = local.use_astra ? 1 : 0
  secret                 = google_secret_manager_secret.speedrun["astra-secure-bundle"].id
  secret_data_wo         = filebase64(var.astra_secure_bundle_path)
  is_secret_data_base64  = true
  secret_data_wo_version = 1
}

# ---- identities: one service account for the services and the function ----

resource "google_service_account" "speedrun" {
  account_id   = "speedrun-services"
  display_name = "MLOps speedrun: model server, ML API, batch function"
}

resource "google_secret_manager_secret_iam_member" "speedrun" {
  for_each  = local.secret_names
  secret_id = google_secret_manager_secret.speedrun[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.speedrun.email}"
}

resource "google_project_iam_member" "pubsub_publisher" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.speedrun.email}"
}

resource "google_storage_bucket_iam_member" "feature_store" {
  bucket = google_storage_bucket.feature_store.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.speedrun.email}"
}

# ---- feature store registry and function source: buckets ----

resource "google_storage_bucket" "feature_store" {
  name                        = "${var.project_id}-speedrun-feature-store"
  location                    = var.region
  uniform_bucket_level_access = true
  force_destroy               = true
}

resource "google_storage_bucket" "function_source" {
  name                        = "${var.project_id}-speedrun-function-source"
  location                    = var.region
  uniform_bucket_level_access = true
  force_destroy               = true
}

data "archive_file" "batch_function" {
  type        = "zip"
  source_dir  = "${path.module}/batch_function"
  output_path = "${path.module}/.terraform/batch_function.zip"
}

resource "google_storage_bucket_object" "batch_function" {
  name   = "batch_function-${data.archive_file.batch_function.output_md5}.zip"
  bucket = google_storage_bucket.function_source.name
  source = data.archive_file.batch_function.output_path
}

# ---- images: one Artifact Registry repository ----

resource "google_artifact_registry_repository" "speedrun" {
  location      = var.region
  repository_id = "speedrun"
  format        = "DOCKER"
  depends_on    = [google_project_service.apis]
}

# ---- model server: Cloud Run, private (only the service account may call it) ----

resource "google_cloud_run_v2_service" "model_server" {
  name     = "speedrun-model-server"
  location = var.region
  ingress  = "INGRESS_TRAFFIC_ALL"
  template {
    service_account = google_service_account.speedrun.email
    scaling {
      max_instance_count = var.model_server_max_instances
    }
    containers {
      image = var.image
      env {
        name  = "SPEEDRUN_APP"
        value = "speedrun.gcp.zero_shot_server:create_zero_shot_server_app"
      }
      resources {
        limits = {
          cpu    = "1"
          memory = "1Gi"
        }
      }
      startup_probe {
        http_get {
          path = "/health"
        }
      }
    }
  }
  depends_on = [google_project_service.apis]
}

resource "google_cloud_run_v2_service_iam_member" "model_server_invoker" {
  name     = google_cloud_run_v2_service.model_server.name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.speedrun.email}"
}

# ---- ML API: Cloud Run, public GET /predict/{id} ----

resource "google_cloud_run_v2_service" "ml_api" {
  name     = "speedrun-ml-api"
  location = var.region
  template {
    service_account = google_service_account.speedrun.email
    vpc_access {
      connector = google_vpc_access_connector.speedrun.id
      egress    = "PRIVATE_RANGES_ONLY"
    }
    containers {
      image = var.image
      env {
        name  = "SPEEDRUN_APP"
        value = "speedrun.gcp.ml_api:create_ml_api_app"
      }
      dynamic "env" {
        for_each = local.common_environment
        content {
          name  = env.key
          value = env.value
        }
      }
      env {
        name = "SPEEDRUN_CASSANDRA_PASSWORD"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.speedrun["cassandra-password"].secret_id
            version = "latest"
          }
        }
      }
      dynamic "volume_mounts" {
        for_each = local.use_astra ? [1] : []
        content {
          name       = "astra"
          mount_path = local.bundle_mount
        }
      }
      startup_probe {
        http_get {
          path = "/health"
        }
      }
    }
    dynamic "volumes" {
      for_each = local.use_astra ? [1] : []
      content {
        name = "astra"
        secret {
          secret = google_secret_manager_secret.speedrun["astra-secure-bundle"].secret_id
          items {
            version = "latest"
            path    = "secure-connect.zip"
          }
        }
      }
    }
  }
  depends_on = [google_secret_manager_secret_iam_member.speedrun]
}

resource "google_cloud_run_v2_service_iam_member" "ml_api_public" {
  name     = google_cloud_run_v2_service.ml_api.name
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# ---- batch path: the input queue, its dead letters, and the function `process` ----

resource "google_pubsub_topic" "input_queue" {
  name       = "input-queue"
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  name       = "input-queue-dead-letter"
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "dead_letter" {
  name                       = "input-queue-dead-letter-sub"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"
}

resource "google_cloudfunctions2_function" "batch" {
  name     = "speedrun-batch-predictions"
  location = var.region
  build_config {
    runtime     = "python311"
    entry_point = "process"
    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.batch_function.name
      }
    }
  }
  service_config {
    service_account_email         = google_service_account.speedrun.email
    available_memory              = "1Gi"
    timeout_seconds               = 60
    max_instance_count            = 10
    vpc_connector                 = google_vpc_access_connector.speedrun.id
    vpc_connector_egress_settings = "PRIVATE_RANGES_ONLY"
    environment_variables         = local.common_environment
    secret_environment_variables {
      key        = "SPEEDRUN_REMOTE_GCP_DATABASE_URL"
      project_id = var.project_id
      secret     = google_secret_manager_secret.speedrun["database-url"].secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "SPEEDRUN_CASSANDRA_PASSWORD"
      project_id = var.project_id
      secret     = google_secret_manager_secret.speedrun["cassandra-password"].secret_id
      version    = "latest"
    }
    dynamic "secret_volumes" {
      for_each = local.use_astra ? [1] : []
      content {
        mount_path = local.bundle_mount
        project_id = var.project_id
        secret     = google_secret_manager_secret.speedrun["astra-secure-bundle"].secret_id
        versions {
          version = "latest"
          path    = "secure-connect.zip"
        }
      }
    }
  }
  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.input_queue.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.speedrun.email
  }
  depends_on = [google_secret_manager_secret_iam_member.speedrun]
}
