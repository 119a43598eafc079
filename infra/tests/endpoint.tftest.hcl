# Plan-time checks with a mocked AWS provider (Terraform >= 1.7). Needs the provider plugin, so it
# runs where `terraform init` can download hashicorp/aws:  terraform -chdir=infra test

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  region             = "us-east-1"
  stage              = "test"
  image_tag          = "0.1.0"
  vpc_id             = "vpc-0123456789abcdef0"
  private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
}

run "gpu_endpoint_with_bounded_autoscaling" {
  command = plan

  assert {
    condition     = aws_sagemaker_endpoint_configuration.service.production_variant[0].instance_type == "ml.g5.xlarge"
    error_message = "default instance type must be ml.g5.xlarge"
  }
  assert {
    condition     = aws_appautoscaling_target.endpoint[0].scalable_dimension == "sagemaker:variant:DesiredInstanceCount"
    error_message = "autoscaling must scale the variant's instance count"
  }
  assert {
    condition     = aws_appautoscaling_target.endpoint[0].min_capacity == 1 && aws_appautoscaling_target.endpoint[0].max_capacity == 4
    error_message = "autoscaling bounds must come from min_capacity / max_capacity"
  }
  assert {
    condition     = aws_ecr_repository.service.image_tag_mutability == "IMMUTABLE"
    error_message = "image tags must be immutable"
  }
}

run "rejects_cpu_instances" {
  command = plan
  variables {
    instance_type = "ml.m5.xlarge"
  }
  expect_failures = [var.instance_type]
}

run "rejects_zero_minimum" {
  command = plan
  variables {
    min_capacity = 0
  }
  expect_failures = [var.min_capacity]
}

run "serverless_scales_to_zero_without_instances" {
  command = plan
  variables {
    inference_mode             = "serverless"
    serverless_memory_mb       = 4096
    serverless_max_concurrency = 10
    events_store               = "off"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.service.production_variant[0].serverless_config[0].memory_size_in_mb == 4096
    error_message = "serverless memory must come from serverless_memory_mb"
  }
  assert {
    condition     = aws_sagemaker_endpoint_configuration.service.production_variant[0].serverless_config[0].max_concurrency == 10
    error_message = "serverless concurrency must come from serverless_max_concurrency"
  }
  assert {
    condition     = aws_sagemaker_endpoint_configuration.service.production_variant[0].instance_type == null
    error_message = "a serverless variant has no instance type"
  }
  assert {
    condition     = length(aws_appautoscaling_target.endpoint) == 0
    error_message = "serverless endpoints scale themselves: no instance autoscaling"
  }
}

run "rejects_unknown_mode_and_memory" {
  command = plan
  variables {
    inference_mode       = "spot"
    serverless_memory_mb = 1500
  }
  expect_failures = [var.inference_mode, var.serverless_memory_mb]
}

run "aurora_event_store_in_the_vpc" {
  command = plan

  assert {
    condition     = aws_rds_cluster.events[0].engine == "aurora-postgresql" && aws_rds_cluster.events[0].storage_encrypted
    error_message = "the event store must be encrypted Aurora PostgreSQL"
  }
  assert {
    condition     = aws_rds_cluster.events[0].serverlessv2_scaling_configuration[0].min_capacity == 0.5
    error_message = "Serverless v2 capacity must come from db_min_acu"
  }
  assert {
    condition     = aws_rds_cluster.events[0].deletion_protection == false
    error_message = "deletion protection is for prod only"
  }
  assert {
    condition     = aws_sagemaker_model.service.enable_network_isolation == false && length(aws_sagemaker_model.service.vpc_config) == 1
    error_message = "the model must join the VPC to reach the event store"
  }
  assert {
    condition     = !contains(keys(aws_sagemaker_model.service.primary_container[0].environment), "DEMAND_MINING_EVENTS")
    error_message = "events must be on with aurora"
  }
}

run "prod_protects_the_event_store" {
  command = plan
  variables {
    stage = "prod"
  }
  assert {
    condition     = aws_rds_cluster.events[0].deletion_protection == true
    error_message = "prod's event store must have deletion protection"
  }
}

run "aurora_needs_private_subnets" {
  command = plan
  variables {
    private_subnet_ids = []
  }
  expect_failures = [aws_db_subnet_group.events]
}

run "serverless_cannot_reach_the_event_store" {
  command = plan
  variables {
    inference_mode = "serverless"
  }
  expect_failures = [aws_sagemaker_model.service]
}
