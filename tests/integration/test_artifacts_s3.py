"""Model artifacts through a real S3 server (SeaweedFS on loopback): export a trained model,
import it into an empty store in another process, refuse a corrupted object and wrong credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.artifacts import ChecksumMismatch, export_model, import_model, list_models
from tests.integration.conftest import REPO
from tests.support.s3server import S3Server, start_s3

pytestmark = pytest.mark.integration
BUCKET = "demand-mining-artifacts"


@pytest.fixture(scope="module")
def s3server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.stop()


def client(server: S3Server, secret: str | None = None):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=secret or server.secret_key,
    )


@pytest.fixture(scope="module")
def s3(s3server: S3Server):  # type: ignore[no-untyped-def]
    c = client(s3server)
    for _ in range(40):  # the filer may need a moment after the gateway answers
        try:
            c.create_bucket(Bucket=BUCKET)
            break
        except ClientError:
            time.sleep(0.25)
    c.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return c


def test_round_trip_into_an_empty_store(s3, s3server: S3Server, trained_models: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = export_model(s3, BUCKET, trained_models["ner-en"])  # a MiniLM-CRF: ~90 MB, several multipart parts
    assert out["uploaded"] and out["key"] == f"models/{out['tag'].replace(':', '/')}.bentomodel"
    assert out["bytes"] > 16 << 20
    again = export_model(s3, BUCKET, trained_models["ner-en"])
    assert again["uploaded"] is False and again["sha256"] == out["sha256"]  # idempotent
    assert [m["key"] for m in list_models(s3, BUCKET)] == [out["key"]]
    env = {
        **os.environ,
        "BENTOML_HOME": str(tmp_path / "store"),
        "AWS_ENDPOINT_URL": s3server.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "infra.artifacts", "import", "--bucket", BUCKET, out["key"]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == [out["tag"]]
    # The imported model loads from the new store and tags text exactly as the original does.
    probe_code = (
        "import bentoml, json, sys; from pathlib import Path; from mining.models.ner import extract_entities, "
        "load_ner_artifact; m = load_ner_artifact(Path(bentoml.models.get(sys.argv[1]).path)); "
        "print(json.dumps(extract_entities(m, [sys.argv[2]])))"
    )
    text = "Samsung Galaxy S23 with 256GB storage, bought in Seattle"
    probes = [
        subprocess.run(
            [sys.executable, "-c", probe_code, out["tag"], text],
            cwd=REPO,
            env=e,
            capture_output=True,
            text=True,
            timeout=300,
        )
        for e in (env, os.environ)
    ]
    assert all(p.returncode == 0 for p in probes), probes[0].stderr[-2000:] + probes[1].stderr[-2000:]
    assert probes[0].stdout == probes[1].stdout


def test_corruption_is_refused(s3, trained_models: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    out = export_model(s3, BUCKET, trained_models["recall"])
    head = s3.head_object(Bucket=BUCKET, Key=out["key"])
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=out["key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF  # one flipped byte, the metadata still claiming the original digest
    s3.put_object(Bucket=BUCKET, Key=out["key"], Body=bytes(body), Metadata=head["Metadata"])
    with pytest.raises(ChecksumMismatch, match="does not match the exported"):
        import_model(s3, BUCKET, out["key"])
    # The bucket is versioned: the good version is still there and imports cleanly.
    assert import_model(s3, BUCKET, out["key"], version_id=out["version_id"]) == out["tag"]


def test_wrong_credentials_are_refused(s3server: S3Server, trained_models: dict[str, str]) -> None:
    with pytest.raises(ClientError) as err:
        export_model(client(s3server, secret="not-the-secret"), BUCKET, trained_models["keywords"])
    # HEAD answers a bare 403 (no body to carry a code); other calls name the signature failure.
    assert err.value.response["Error"]["Code"] in ("403", "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied")
    with pytest.raises(ClientError, match="SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied"):
        client(s3server, secret="not-the-secret").list_objects_v2(Bucket=BUCKET)
