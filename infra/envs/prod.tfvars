region                          = "us-east-1"
stage                           = "prod"
image_tag                       = "0.1.0"
instance_type                   = "ml.g5.xlarge"
min_capacity                    = 2
max_capacity                    = 8
target_invocations_per_instance = 600
latency_alarm_us                = 1500000
# The event store's network: your VPC and private subnets in different availability zones.
vpc_id               = "vpc-0123456789abcdef0"
private_subnet_ids   = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210", "subnet-0aaaabbbbccccdddd"]
db_instances         = 2
db_max_acu           = 32
event_retention_days = 400
