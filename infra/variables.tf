variable "region" {
  type        = string
  description = "AWS region for every resource, e.g. us-east-1."
}

variable "stage" {
  type        = string
  description = "Deployment stage, used in resource names (dev, staging, prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.stage))
    error_message = "stage must be 2-16 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "image_tag" {
  type        = string
  description = "Tag of the service image in the ECR repository this module creates (tags are immutable: push a new tag per release)."
}

variable "model_artifact_key" {
  type        = string
  default     = ""
  description = "Optional S3 key (in the artifact bucket) of a model-store archive to mount at /opt/ml/model; empty when the models are baked into the image."
}

variable "inference_mode" {
  type        = string
  default     = "gpu"
  description = "gpu: a real-time endpoint on GPU instances with autoscaling (min_capacity to max_capacity); serverless: SageMaker Serverless Inference, CPU only, scales to zero, sized by serverless_memory_mb and serverless_max_concurrency (see README: serverless trade-offs)."

  validation {
    condition     = contains(["gpu", "serverless"], var.inference_mode)
    error_message = "inference_mode must be gpu or serverless."
  }
}

variable "serverless_memory_mb" {
  type        = number
  default     = 6144
  description = "serverless only: memory per concurrent invocation, 1024-6144 MB in 1 GB steps (the models need about 3 GB)."

  validation {
    condition     = contains([1024, 2048, 3072, 4096, 5120, 6144], var.serverless_memory_mb)
    error_message = "serverless_memory_mb must be one of 1024, 2048, 3072, 4096, 5120, 6144."
  }
}

variable "serverless_max_concurrency" {
  type        = number
  default     = 20
  description = "serverless only: most invocations served at once (1-200); more are throttled by SageMaker."

  validation {
    condition     = contains(range(1, 201), var.serverless_max_concurrency)
    error_message = "serverless_max_concurrency must be a whole number from 1 to 200."
  }
}

variable "events_store" {
  type        = string
  default     = "aurora"
  description = "aurora: an Aurora PostgreSQL Serverless v2 cluster every instance shares (needs vpc_id and private_subnet_ids); off: the service keeps no events (event routes answer 501), required with inference_mode = serverless."

  validation {
    condition     = contains(["aurora", "off"], var.events_store)
    error_message = "events_store must be aurora or off."
  }
}

variable "vpc_id" {
  type        = string
  default     = ""
  description = "events_store = aurora: the VPC the event store and the model containers live in."
}

variable "private_subnet_ids" {
  type        = list(string)
  default     = []
  description = "events_store = aurora: two or more private subnets (different availability zones) for the cluster and the model containers."
}

variable "create_secrets_endpoint" {
  type        = bool
  default     = true
  description = "Create a Secrets Manager interface endpoint in the VPC (false where the VPC already has one)."
}

variable "db_engine_version" {
  type        = string
  default     = "16.4"
  description = "Aurora PostgreSQL engine version (Serverless v2 capable: 13.6 or newer)."
}

variable "db_min_acu" {
  type        = number
  default     = 0.5
  description = "Fewest Aurora capacity units (1 ACU ~ 2 GiB memory); 0.5 is the Serverless v2 floor."
}

variable "db_max_acu" {
  type        = number
  default     = 8
  description = "Most Aurora capacity units the cluster may scale to (up to 256)."
}

variable "db_instances" {
  type        = number
  default     = 1
  description = "Aurora Serverless v2 instances: 1 writer, plus readers for failover (use 2 or more in prod)."

  validation {
    condition     = contains(range(1, 16), var.db_instances)
    error_message = "db_instances must be a whole number from 1 to 15."
  }
}

variable "db_backup_retention_days" {
  type        = number
  default     = 7
  description = "Days of automated backups (point-in-time recovery) kept, 1-35."

  validation {
    condition     = contains(range(1, 36), var.db_backup_retention_days)
    error_message = "db_backup_retention_days must be a whole number from 1 to 35."
  }
}

variable "event_retention_days" {
  type        = number
  default     = 0
  description = "Events older than this many days are deleted, with what was derived from them (0: kept for ever)."
}

variable "instance_type" {
  type        = string
  default     = "ml.g5.xlarge"
  description = "SageMaker instance type for the endpoint; must be a GPU family (g4dn, g5, g6, g6e, p3, p4d, p5)."

  validation {
    condition     = can(regex("^ml\\.(g4dn|g5|g6|g6e|p3|p4d|p5)\\.", var.instance_type))
    error_message = "instance_type must be a GPU instance type such as ml.g5.xlarge."
  }
}

variable "min_capacity" {
  type        = number
  default     = 1
  description = "Fewest instances behind the endpoint. Model-based real-time endpoints cannot go below 1 (see README: scale to zero)."

  validation {
    condition     = contains(range(1, 21), var.min_capacity)
    error_message = "min_capacity must be a whole number from 1 to 20."
  }
}

variable "max_capacity" {
  type        = number
  default     = 4
  description = "Most instances the autoscaler may run."

  validation {
    condition     = contains(range(var.min_capacity, 21), var.max_capacity)
    error_message = "max_capacity must be a whole number from min_capacity to 20."
  }
}

variable "target_invocations_per_instance" {
  type        = number
  default     = 600
  description = "Target-tracking set point: invocations per instance per minute (SageMakerVariantInvocationsPerInstance). Size it from the load-test throughput of one instance, with headroom."

  validation {
    condition     = contains(range(1, 100001), var.target_invocations_per_instance)
    error_message = "target_invocations_per_instance must be a whole number from 1 to 100000."
  }
}

variable "scale_in_cooldown_s" {
  type        = number
  default     = 600
  description = "Seconds after a scale-in before another; GPU instances take minutes to start, so scale in slowly."
}

variable "scale_out_cooldown_s" {
  type        = number
  default     = 120
  description = "Seconds after a scale-out before another."
}

variable "latency_alarm_us" {
  type        = number
  default     = 2000000
  description = "Alarm when the p95 ModelLatency stays above this many microseconds (the metric's unit; 2000000 = 2 s)."
}

variable "error_alarm_threshold" {
  type        = number
  default     = 5
  description = "Alarm when the endpoint returns more than this many 5xx errors in each of the evaluation periods."
}

variable "alarm_topic_arn" {
  type        = string
  default     = ""
  description = "Optional SNS topic ARN notified by the alarms; empty for none."
}

variable "artifact_retention_days" {
  type        = number
  default     = 90
  description = "Days a superseded (noncurrent) artifact version is kept before it expires."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Extra tags on every resource."
}
