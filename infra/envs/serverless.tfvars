# A scale-to-zero deployment for low or bursty traffic: SageMaker Serverless Inference on CPU.
# Build the image for CPU (see README: serverless trade-offs): the GPU image is over the 10 GB
# limit of serverless containers.
region                     = "us-east-1"
stage                      = "lite"
image_tag                  = "0.1.0-cpu"
inference_mode             = "serverless"
serverless_memory_mb       = 6144
serverless_max_concurrency = 10
# Serverless endpoints cannot join a VPC: no event store, event routes answer 501.
events_store = "off"
