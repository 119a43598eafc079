"""``bentoml build`` offline over the session's models, and the container file it leads to: a CUDA
base, the serve entry point, and the SageMaker port (no Docker engine here to run it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bento_tag(trained_models: dict[str, str]) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "--output", "tag"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BENTOML_DO_NOT_TRACK": "true"},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    match = re.search(r"__tag__:(\S+)", run.stdout) or re.search(r"(demand_mining:\w+)", run.stdout + run.stderr)
    assert match, run.stdout[-2000:]
    return match.group(1)


def test_bento_holds_serving_code_and_models_only(bento_tag: str, trained_models: dict[str, str]) -> None:
    import bentoml

    bento = bentoml.get(bento_tag)
    root = Path(bento.path)
    src = {p.relative_to(root / "src").as_posix() for p in (root / "src").rglob("*") if p.is_file()}
    assert {"service.py", "runners/sentiment.py", "gateway/proto/demand_mining_pb2.py"} <= src
    assert not any(p.startswith(("training/", "tests/", "loadtests/", "infra/", "bench/")) for p in src)
    assert {str(m.tag) for m in bento.info.models} == set(trained_models.values())
    requirements = (root / "env" / "python" / "requirements.txt").read_text()
    assert "torch==2.13.0" in requirements and "locust" not in requirements and "pandas" not in requirements


def test_containerfile_cuda_base_and_entry_point(bento_tag: str, tmp_path: Path) -> None:
    import bentoml

    bentoml.container.get_containerfile(bento_tag, output_path=str(tmp_path))
    (dockerfile,) = tmp_path.glob("*.dockerfile")
    text = dockerfile.read_text()
    assert re.search(r"^FROM nvidia/cuda:12\.8\.1-cudnn-runtime-ubuntu\S+", text, re.M), text[:300]
    # SageMaker runs `docker run <image> serve` and calls port 8080.
    assert "ARG BENTOML_PORT=8080" in text and "ENV BENTOML_PORT=$BENTOML_PORT" in text
    assert re.search(r'^ENTRYPOINT \[ "/home/bentoml/bento/env/docker/entrypoint\.sh" \]', text, re.M)
    entrypoint = (Path(bentoml.get(bento_tag).path) / "env" / "docker" / "entrypoint.sh").read_text()
    assert "[ \"${1}\" = 'serve' ]" in entrypoint and "bentoml serve" in entrypoint
