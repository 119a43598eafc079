"""Move models between the BentoML store and S3.

    python -m infra.artifacts export --bucket B sentiment-zh:latest ner-zh:latest ...
    python -m infra.artifacts import --bucket B models/sentiment-zh/<version>.bentomodel ...
    python -m infra.artifacts list --bucket B

Each model version is one object at ``<prefix>/<name>/<version>.bentomodel`` (a key per version,
never overwritten; bucket versioning keeps any overwrite recoverable). Uploads are multipart
with S3 checksums (SHA-256 per part); the whole file's SHA-256 travels as object metadata and is
recomputed after every download, so a corrupted or tampered object is refused before it reaches
the store. Credentials, region and endpoint come from the usual AWS settings
(``AWS_PROFILE``, ``AWS_ENDPOINT_URL`` for S3-compatible servers, ...).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

MIB = 1 << 20
SHA256_KEY = "sha256"  # object metadata: hex SHA-256 of the whole .bentomodel file


class ChecksumMismatch(RuntimeError):
    """The downloaded bytes are not the bytes that were exported."""


def _transfer() -> Any:
    from boto3.s3.transfer import TransferConfig

    # 8 MiB parts: multipart from the first MiB above 8, so every real model goes through it.
    return TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)


def sha256_file(path: Path, chunk: int = 4 * MIB) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_key(prefix: str, tag: str) -> str:
    name, version = tag.split(":", 1)
    return f"{prefix.strip('/')}/{name}/{version}.bentomodel"


def export_model(s3: Any, bucket: str, tag: str, prefix: str = "models") -> dict[str, Any]:
    """Upload one store model (``name:version`` or ``name:latest``). Returns ``{"tag", "key",
    "version_id", "sha256", "bytes"}``. An object already at the key with the same SHA-256 is
    left as it is (exports are idempotent)."""
    import bentoml
    from botocore.exceptions import ClientError

    model = bentoml.models.get(tag)
    key = model_key(prefix, str(model.tag))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp).resolve() / "model.bentomodel"  # absolute: BentoML resolves relative paths against /
        bentoml.models.export_model(str(model.tag), str(path))
        digest, size = sha256_file(path), path.stat().st_size
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
            if head.get("Metadata", {}).get(SHA256_KEY) == digest:
                return {
                    "tag": str(model.tag),
                    "key": key,
                    "version_id": head.get("VersionId"),
                    "sha256": digest,
                    "bytes": size,
                    "uploaded": False,
                }
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        s3.upload_file(
            str(path),
            bucket,
            key,
            Config=_transfer(),
            ExtraArgs={
                "Metadata": {SHA256_KEY: digest, "bentoml-tag": str(model.tag)},
                "ChecksumAlgorithm": "SHA256",
                "ContentType": "application/x-bentomodel",
            },
        )
        head = s3.head_object(Bucket=bucket, Key=key)
    return {
        "tag": str(model.tag),
        "key": key,
        "version_id": head.get("VersionId"),
        "sha256": digest,
        "bytes": size,
        "uploaded": True,
    }


def import_model(s3: Any, bucket: str, key: str, version_id: str | None = None) -> str:
    """Download one exported model, verify its SHA-256, and import it into the store (a model
    already there is kept). Returns the tag. Raises :class:`ChecksumMismatch` on corruption."""
    import bentoml
    from bentoml.exceptions import BentoMLException

    extra = {"VersionId": version_id} if version_id else {}
    head = s3.head_object(Bucket=bucket, Key=key, **extra)
    expected = head.get("Metadata", {}).get(SHA256_KEY)
    if not expected:
        raise ChecksumMismatch(f"s3://{bucket}/{key} has no {SHA256_KEY} metadata: not written by this exporter")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp).resolve() / "model.bentomodel"
        s3.download_file(bucket, key, str(path), ExtraArgs={**extra, "ChecksumMode": "ENABLED"}, Config=_transfer())
        actual = sha256_file(path)
        if actual != expected:
            raise ChecksumMismatch(
                f"s3://{bucket}/{key}: SHA-256 {actual} does not match the exported {expected}; "
                "the object is corrupted or was replaced; not imported"
            )
        try:
            return str(bentoml.models.import_model(str(path)).tag)
        except BentoMLException as e:
            if "already exists" not in str(e):
                raise
            return head.get("Metadata", {}).get("bentoml-tag", key)


def list_models(s3: Any, bucket: str, prefix: str = "models") -> list[dict[str, Any]]:
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.strip("/") + "/"):
        out += [
            {"key": o["Key"], "bytes": o["Size"], "modified": o["LastModified"].isoformat()}
            for o in page.get("Contents", [])
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("export", "import", "list"):
        p = sub.add_parser(name)
        p.add_argument("--bucket", required=True)
        p.add_argument("--prefix", default="models", help="key prefix (export, list)")
        if name != "list":
            p.add_argument("items", nargs="+", help="model tags (export) or object keys (import)")
    args = parser.parse_args(argv)
    s3 = boto3.client("s3")
    if args.cmd == "export":
        result: Any = [export_model(s3, args.bucket, tag, args.prefix) for tag in args.items]
    elif args.cmd == "import":
        result = [import_model(s3, args.bucket, key) for key in args.items]
    else:
        result = list_models(s3, args.bucket, args.prefix)
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
