output "ecr_repository_url" {
  description = "Push the service image here (tag = var.image_tag)."
  value       = aws_ecr_repository.service.repository_url
}

output "artifact_bucket" {
  description = "S3 bucket for model-store archives (versioned, KMS-encrypted)."
  value       = aws_s3_bucket.artifacts.bucket
}

output "kms_key_arn" {
  description = "KMS key encrypting artifacts, images and endpoint volumes; uploads must use it."
  value       = aws_kms_key.artifacts.arn
}

output "endpoint_name" {
  description = "SageMaker endpoint to invoke (POST /invocations through sagemaker-runtime)."
  value       = aws_sagemaker_endpoint.service.name
}

output "execution_role_arn" {
  description = "Role SageMaker assumes to pull the image and read artifacts."
  value       = aws_iam_role.sagemaker.arn
}

output "events_cluster_endpoint" {
  description = "Writer endpoint of the Aurora event store (empty with events_store = off)."
  value       = local.db_endpoint
}

output "events_secret_arn" {
  description = "Secrets Manager secret with the event store's credentials, managed and rotated by Aurora (empty with events_store = off)."
  value       = local.db_secret_arn
}
