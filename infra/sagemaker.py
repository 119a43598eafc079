"""Deploy the service image to a SageMaker real-time endpoint and call it.

    python -m infra.sagemaker deploy --name demand-mining-dev --image <ecr-uri>:<tag> --role <role-arn> \\
        [--instance-type ml.g5.xlarge] [--instance-count 1] [--model-data s3://bucket/models.tar.gz]
    python -m infra.sagemaker invoke --endpoint demand-mining-dev --route /mine --body '{"texts": ["..."]}'
    python -m infra.sagemaker invoke --local http://127.0.0.1:3000 --route /sentiment --body '{"texts": ["..."]}'

``deploy`` creates a new model and endpoint configuration per release (names carry a timestamp),
creates the endpoint or updates it in place (SageMaker shifts traffic when the new instances are
healthy), and waits until it is InService. Terraform (``infra/*.tf``) manages the same resources
declaratively with autoscaling and alarms; use one or the other for a given endpoint.

``invoke`` sends a body to one of the service's endpoints through ``/invocations``: the route
travels as the custom attribute ``route=<path>``. ``--local`` sends the same request, signed and
serialised by boto3, to a container on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from typing import Any

GPU_FAMILIES = ("ml.g4dn.", "ml.g5.", "ml.g6.", "ml.g6e.", "ml.p3.", "ml.p4d.", "ml.p5.")


class InvocationError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


def deploy(
    sm: Any,
    name: str,
    image: str,
    role_arn: str,
    instance_type: str = "ml.g5.xlarge",
    instance_count: int = 1,
    model_data: str | None = None,
    environment: dict[str, str] | None = None,
    events_url: str | None = None,
    events_secret_arn: str | None = None,
    vpc: dict[str, list[str]] | None = None,
    wait: bool = True,
    wait_delay_s: int = 30,
    wait_attempts: int = 60,
) -> dict[str, Any]:
    """Create or update endpoint ``name`` to serve ``image``. Returns ``{"endpoint", "model",
    "config", "action": "created" | "updated", "status"}``.

    Events: with ``events_url`` (a PostgreSQL URL; ``events_secret_arn`` for its credentials) every
    instance shares that store, and the model joins ``vpc`` (``{"Subnets": [...],
    "SecurityGroupIds": [...]}``) to reach it, so network isolation is off. Without one the
    service keeps no events (``DEMAND_MINING_EVENTS=off``) and stays network-isolated: instance
    disks are ephemeral, and events written to them would be lost on scale-in or an update."""
    from botocore.exceptions import ClientError

    if not instance_type.startswith(GPU_FAMILIES):
        raise ValueError(
            f"instance_type must be a GPU type ({', '.join(f + '*' for f in GPU_FAMILIES)}); got {instance_type!r}"
        )
    if instance_count < 1:
        raise ValueError(f"instance_count must be >= 1 (model-based endpoints cannot run on 0); got {instance_count}")
    if events_url is not None:
        if not events_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("events_url must be a postgresql:// URL")
        if not vpc or not vpc.get("Subnets") or not vpc.get("SecurityGroupIds"):
            raise ValueError(
                "events_url needs vpc with Subnets and SecurityGroupIds: the database is in a private network"
            )
    release = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    model, config = f"{name}-{release}", f"{name}-{release}"
    env = {"BENTOML_DO_NOT_TRACK": "true", "GRPC_PORT": "0", **(environment or {})}
    if events_url is None:
        env["DEMAND_MINING_EVENTS"] = "off"
    else:
        env["DEMAND_MINING_EVENTS_URL"] = events_url
        if events_secret_arn:
            env["DEMAND_MINING_EVENTS_SECRET_ARN"] = events_secret_arn
    container: dict[str, Any] = {"Image": image, "Environment": env}
    if model_data:
        container["ModelDataUrl"] = model_data
        env.setdefault("BENTOML_HOME", "/opt/ml/model")
    networking: dict[str, Any] = {"EnableNetworkIsolation": events_url is None}
    if events_url is not None:
        networking["VpcConfig"] = vpc
    sm.create_model(ModelName=model, ExecutionRoleArn=role_arn, PrimaryContainer=container, **networking)
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": model,
                "InstanceType": instance_type,
                "InitialInstanceCount": instance_count,
                "ContainerStartupHealthCheckTimeoutInSeconds": 900,
                "ModelDataDownloadTimeoutInSeconds": 1200,
            }
        ],
    )
    try:
        sm.describe_endpoint(EndpointName=name)
        sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
        action = "updated"
    except ClientError as e:
        if "Could not find endpoint" not in str(e) and e.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
        action = "created"
    if wait:
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": wait_delay_s, "MaxAttempts": wait_attempts}
        )
    status = sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
    return {"endpoint": name, "model": model, "config": config, "action": action, "status": status}


def local_runtime(url: str) -> Any:
    """A ``sagemaker-runtime`` client whose InvokeEndpoint requests go to ``url``/invocations (a
    container on this machine) instead of AWS: same serialisation and headers."""
    import boto3

    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )

    def to_container(request: Any, **_: Any) -> None:
        request.url = url.rstrip("/") + "/invocations"

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", to_container, unique_id="to-container")
    return client


def invoke(runtime: Any, endpoint: str, route: str, body: Any) -> Any:
    """POST ``body`` (JSON) to the service's ``route`` (e.g. ``/mine``) on ``endpoint``; returns the
    parsed answer. Raises :class:`InvocationError` with the service's status and message."""
    from botocore.exceptions import ClientError

    try:
        r = runtime.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/json",
            Accept="application/json",
            CustomAttributes=f"route={route}",
            Body=json.dumps(body).encode(),
        )
    except ClientError as e:
        err = e.response.get("Error", {})
        status = int(
            e.response.get("OriginalStatusCode") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
        )
        message = e.response.get("OriginalMessage") or err.get("Message", str(e))
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message = json.loads(message)["error"]
        raise InvocationError(status, message) from None
    return json.loads(r["Body"].read())


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deploy")
    d.add_argument("--name", required=True)
    d.add_argument("--image", required=True)
    d.add_argument("--role", required=True)
    d.add_argument("--instance-type", default="ml.g5.xlarge")
    d.add_argument("--instance-count", type=int, default=1)
    d.add_argument("--model-data", default=None)
    d.add_argument("--events-url", default=None, help="PostgreSQL URL of the shared event store (default: no events)")
    d.add_argument("--events-secret-arn", default=None, help="Secrets Manager secret with its username and password")
    d.add_argument("--subnets", default="", help="with --events-url: private subnet ids, comma-separated")
    d.add_argument("--security-groups", default="", help="with --events-url: security group ids, comma-separated")
    i = sub.add_parser("invoke")
    target = i.add_mutually_exclusive_group(required=True)
    target.add_argument("--endpoint")
    target.add_argument("--local", help="base URL of a local container, e.g. http://127.0.0.1:3000")
    i.add_argument("--route", required=True, help="the service endpoint, e.g. /mine")
    i.add_argument("--body", required=True, help="JSON body")
    args = parser.parse_args(argv)
    if args.cmd == "deploy":
        out: Any = deploy(
            boto3.client("sagemaker"),
            args.name,
            args.image,
            args.role,
            args.instance_type,
            args.instance_count,
            args.model_data,
            events_url=args.events_url,
            events_secret_arn=args.events_secret_arn,
            vpc={
                "Subnets": [s for s in args.subnets.split(",") if s],
                "SecurityGroupIds": [g for g in args.security_groups.split(",") if g],
            },
        )
    else:
        runtime = local_runtime(args.local) if args.local else boto3.client("sagemaker-runtime")
        out = invoke(runtime, args.endpoint or "local", args.route, json.loads(args.body))
    print(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
