"""SageMaker control-plane calls against moto: create, then update in place; GPU-only types.
moto's instance-type list has no g5, so the tests deploy ml.g4dn.xlarge through the same argument."""

from __future__ import annotations

import boto3
import pytest

moto = pytest.importorskip("moto")

from infra.sagemaker import deploy  # noqa: E402

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/demand-mining-dev:0.1.0"
ROLE = "arn:aws:iam::123456789012:role/demand-mining-dev-sagemaker"


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        yield boto3.client("sagemaker", region_name="us-east-1")


def test_create_then_update(sm, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    first = deploy(sm, "demand-mining-dev", IMAGE, ROLE, instance_type="ml.g4dn.xlarge", wait_delay_s=1)
    assert first["action"] == "created" and first["status"] == "InService"
    model = sm.describe_model(ModelName=first["model"])
    assert model["PrimaryContainer"]["Image"] == IMAGE  # (moto does not keep EnableNetworkIsolation)
    assert model["PrimaryContainer"]["Environment"]["GRPC_PORT"] == "0"
    # No shared store given: no events rather than events on an instance's ephemeral disk.
    assert model["PrimaryContainer"]["Environment"]["DEMAND_MINING_EVENTS"] == "off"
    variant = sm.describe_endpoint_config(EndpointConfigName=first["config"])["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.g4dn.xlarge" and variant["InitialInstanceCount"] == 1

    import infra.sagemaker as mod

    monkeypatch.setattr(mod.time, "strftime", lambda *_: "20990101000000")  # a later release name
    updates: list[dict] = []

    def update_endpoint(**kwargs: str) -> dict:  # moto has no UpdateEndpoint: emulate its effect
        updates.append(kwargs)
        sm.delete_endpoint(EndpointName=kwargs["EndpointName"])
        return sm.create_endpoint(**kwargs)

    monkeypatch.setattr(sm, "update_endpoint", update_endpoint)
    second = deploy(
        sm,
        "demand-mining-dev",
        IMAGE.replace("0.1.0", "0.2.0"),
        ROLE,
        instance_type="ml.g4dn.xlarge",
        model_data="s3://artifacts/models.tar.gz",
        wait_delay_s=1,
    )
    assert second["action"] == "updated" and second["config"] != first["config"]
    assert updates == [{"EndpointName": "demand-mining-dev", "EndpointConfigName": second["config"]}]
    assert sm.describe_endpoint(EndpointName="demand-mining-dev")["EndpointConfigName"] == second["config"]
    env = sm.describe_model(ModelName=second["model"])["PrimaryContainer"]["Environment"]
    assert env["BENTOML_HOME"] == "/opt/ml/model"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"instance_type": "ml.m5.xlarge"}, "GPU type"),
        ({"instance_type": "ml.g4dn.xlarge", "instance_count": 0}, "cannot run on 0"),
    ],
)
def test_refuses_cpu_and_zero(sm, kwargs: dict, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        deploy(sm, "x", IMAGE, ROLE, **kwargs)
    assert sm.list_models()["Models"] == []


def test_a_shared_event_store_puts_the_model_in_its_vpc(sm) -> None:  # type: ignore[no-untyped-def]
    url = "postgresql://demand@events.cluster-x.us-east-1.rds.amazonaws.com:5432/events?sslmode=require"
    with pytest.raises(ValueError, match="events_url needs vpc with Subnets and SecurityGroupIds"):
        deploy(sm, "demand-mining-dev", IMAGE, ROLE, instance_type="ml.g4dn.xlarge", events_url=url, wait=False)
    calls: list[dict] = []
    create_model = sm.create_model

    def spy(**kwargs: object) -> object:
        calls.append(kwargs)
        return create_model(**kwargs)

    sm.create_model = spy
    vpc = {"Subnets": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}
    out = deploy(
        sm,
        "demand-mining-dev",
        IMAGE,
        ROLE,
        instance_type="ml.g4dn.xlarge",
        events_url=url,
        events_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
        vpc=vpc,
        wait=False,
    )
    (call,) = calls
    assert call["EnableNetworkIsolation"] is False and call["VpcConfig"] == vpc
    env = sm.describe_model(ModelName=out["model"])["PrimaryContainer"]["Environment"]
    assert env["DEMAND_MINING_EVENTS_URL"] == url and env["DEMAND_MINING_EVENTS_SECRET_ARN"].endswith(":secret:db")
    assert "DEMAND_MINING_EVENTS" not in env
