region       = "us-east-1"
stage        = "dev"
image_tag    = "0.1.0"
min_capacity = 1
max_capacity = 2
# The event store's network: your VPC and two private subnets in different availability zones.
vpc_id             = "vpc-0123456789abcdef0"
private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
