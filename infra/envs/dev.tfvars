region       = "us-east-1"
stage        = "dev"
image_tag    = "0.1.0"
min_capacity = 1
max_capacity = 2
