# The event store every instance shares: Aurora PostgreSQL Serverless v2 in private subnets.
#
# Why: each SageMaker instance has its own ephemeral disk. With the embedded SQLite store a user's
# events would be split across instances, idempotency would hold per instance only, and every
# event would be lost on scale-in or an endpoint update. With events_store = "aurora" all instances
# read and write one database, and an event the API acknowledged is committed there.
#
# Network: the model joins the VPC (vpc_config) to reach the cluster, so SageMaker network
# isolation is off for it: the container may open connections inside the VPC. The security groups
# allow exactly two: PostgreSQL to the cluster and HTTPS to the Secrets Manager endpoint. With
# events_store = "off" (required for serverless inference, which cannot join a VPC) the model keeps
# network isolation and the service keeps no events (event routes answer 501).
#
# Credentials: Aurora manages the master password in Secrets Manager (rotated, KMS-encrypted); the
# container reads it through a VPC interface endpoint for each new connection, so rotation needs no
# redeploy. TLS is required (sslmode=require in the URL).

locals {
  aurora              = lookup({ aurora = 1, off = 0 }, var.events_store)
  db_instance_count   = lookup({ aurora = var.db_instances, off = 0 }, var.events_store)
  vpc_configs         = lookup({ aurora = [1], off = [] }, var.events_store)
  network_isolation   = lookup({ aurora = false, off = true }, var.events_store)
  deletion_protection = lookup({ prod = true }, var.stage, false)
  db_user             = "demand"
  db_name             = "events"
  db_endpoint         = join("", aws_rds_cluster.events[*].endpoint)
  db_secret_arn       = join("", aws_rds_cluster.events[*].master_user_secret[0].secret_arn)
  events_environment = lookup({
    aurora = {
      DEMAND_MINING_EVENTS_URL        = "postgresql://${local.db_user}@${local.db_endpoint}:5432/${local.db_name}?sslmode=require"
      DEMAND_MINING_EVENTS_SECRET_ARN = local.db_secret_arn
    }
    off = { DEMAND_MINING_EVENTS = "off" }
  }, var.events_store)
}

# --- network: who may talk to whom --------------------------------------------------------------------
resource "aws_security_group" "model" {
  count       = local.aurora
  name        = "${local.name}-model"
  description = "SageMaker containers of ${local.name}: out to the event store and Secrets Manager only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "database" {
  count       = local.aurora
  name        = "${local.name}-events-db"
  description = "Event store of ${local.name}: PostgreSQL from the model containers only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "endpoints" {
  count       = local.aurora
  name        = "${local.name}-endpoints"
  description = "VPC interface endpoints of ${local.name}: HTTPS from the model containers only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "model_to_database" {
  count                        = local.aurora
  security_group_id            = aws_security_group.model[0].id
  referenced_security_group_id = aws_security_group.database[0].id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "PostgreSQL to the event store"
}

resource "aws_vpc_security_group_egress_rule" "model_to_endpoints" {
  count                        = local.aurora
  security_group_id            = aws_security_group.model[0].id
  referenced_security_group_id = aws_security_group.endpoints[0].id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS to Secrets Manager through its VPC endpoint"
}

resource "aws_vpc_security_group_ingress_rule" "database_from_model" {
  count                        = local.aurora
  security_group_id            = aws_security_group.database[0].id
  referenced_security_group_id = aws_security_group.model[0].id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "PostgreSQL from the model containers"
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_model" {
  count                        = local.aurora
  security_group_id            = aws_security_group.endpoints[0].id
  referenced_security_group_id = aws_security_group.model[0].id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS from the model containers"
}

# Private subnets have no route to the internet: Secrets Manager is reached through an interface
# endpoint (set create_secrets_endpoint = false where the VPC already has one).
resource "aws_vpc_endpoint" "secrets" {
  count               = lookup({ true = local.aurora, false = 0 }, tostring(var.create_secrets_endpoint))
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.secretsmanager"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true
}

# --- the cluster ---------------------------------------------------------------------------------------
resource "aws_db_subnet_group" "events" {
  count       = local.aurora
  name        = "${local.name}-events"
  description = "Private subnets of the ${local.name} event store"
  subnet_ids  = var.private_subnet_ids

  lifecycle {
    precondition {
      condition     = contains(range(2, 100), length(var.private_subnet_ids))
      error_message = "events_store = aurora needs private_subnet_ids: at least two private subnets, in different availability zones."
    }
    precondition {
      condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
      error_message = "events_store = aurora needs vpc_id, the VPC of private_subnet_ids."
    }
  }
}

resource "aws_rds_cluster" "events" {
  count                               = local.aurora
  cluster_identifier                  = "${local.name}-events"
  engine                              = "aurora-postgresql"
  engine_mode                         = "provisioned"
  engine_version                      = var.db_engine_version
  database_name                       = local.db_name
  master_username                     = local.db_user
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = aws_kms_key.artifacts.arn
  iam_database_authentication_enabled = true
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.artifacts.arn
  db_subnet_group_name                = aws_db_subnet_group.events[0].name
  vpc_security_group_ids              = [aws_security_group.database[0].id]
  deletion_protection                 = local.deletion_protection
  backup_retention_period             = var.db_backup_retention_days
  preferred_backup_window             = "03:00-04:00"
  copy_tags_to_snapshot               = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.name}-events-final"
  enabled_cloudwatch_logs_exports     = ["postgresql"]
  db_cluster_parameter_group_name     = aws_rds_cluster_parameter_group.events[0].name

  serverlessv2_scaling_configuration {
    min_capacity = var.db_min_acu
    max_capacity = var.db_max_acu
  }
}

# Slow statements and schema changes are logged (to CloudWatch), never their parameters: those hold
# customer text and ids.
resource "aws_rds_cluster_parameter_group" "events" {
  count       = local.aurora
  name        = "${local.name}-events"
  family      = "aurora-postgresql${split(".", var.db_engine_version)[0]}"
  description = "Event store of ${local.name}: query logging without parameters"

  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "log_parameter_max_length"
    value = "0"
  }
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
}

data "aws_iam_policy_document" "assume_rds_monitoring" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  count              = local.aurora
  name               = "${local.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.assume_rds_monitoring.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  count      = local.aurora
  role       = aws_iam_role.rds_monitoring[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_rds_cluster_instance" "events" {
  count                           = local.db_instance_count
  identifier                      = "${local.name}-events-${count.index}"
  cluster_identifier              = aws_rds_cluster.events[0].id
  instance_class                  = "db.serverless"
  engine                          = aws_rds_cluster.events[0].engine
  engine_version                  = aws_rds_cluster.events[0].engine_version
  publicly_accessible             = false
  auto_minor_version_upgrade      = true
  performance_insights_enabled    = true
  performance_insights_kms_key_id = aws_kms_key.artifacts.arn
  monitoring_interval             = 60
  monitoring_role_arn             = aws_iam_role.rds_monitoring[0].arn
}

# --- what the model's role may do for the event store ----------------------------------------------------
data "aws_iam_policy_document" "sagemaker_events" {
  count = local.aurora
  statement {
    sid       = "ReadDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [local.db_secret_arn]
  }
  statement {
    # SageMaker attaches the containers to the VPC with network interfaces in the role's name.
    sid = "VpcInterfaces"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:CreateNetworkInterfacePermission",
      "ec2:DeleteNetworkInterface",
      "ec2:DeleteNetworkInterfacePermission",
    ]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ec2:Vpc"
      values   = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:vpc/${var.vpc_id}"]
    }
  }
  statement {
    # Describe calls have no resource-level permissions.
    sid = "VpcDescribe"
    actions = [
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeVpcs",
      "ec2:DescribeDhcpOptions",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "sagemaker_events" {
  count  = local.aurora
  name   = "${local.name}-sagemaker-events"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker_events[0].json
}
