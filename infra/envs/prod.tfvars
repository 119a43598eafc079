region                          = "us-east-1"
stage                           = "prod"
image_tag                       = "0.1.0"
instance_type                   = "ml.g5.xlarge"
min_capacity                    = 2
max_capacity                    = 8
target_invocations_per_instance = 600
latency_alarm_us                = 1500000
