"""The Locust scenario against the real server: a short headless run must pass its own verdict
(every body validated, p95 and failure ratio under target), and a wrong body must fail it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration


def locust(host: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        "loadtests/locustfile.py",
        "--config",
        "loadtests/locust.conf",
        "--host",
        host,
        "--users",
        "4",
        "--spawn-rate",
        "4",
        "--step-users",
        "2",
        "--step-seconds",
        "2",
        "--run-time",
        "12s",
        "--max-p95-ms",
        "10000",
        "--csv",
        str(out / "run"),
        "--html",
        str(out / "report.html"),
        *extra,
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_mixed_traffic_passes(server: str, tmp_path: Path) -> None:
    run = locust(server, tmp_path, "MixedTraffic")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "[verdict]" in run.stdout + run.stderr and "pass" in (run.stdout + run.stderr).split("[verdict]")[-1]
    stats = (tmp_path / "run_stats.csv").read_text()
    for name in ("/recommend", "/sentiment", "/events"):
        assert name in stats
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_verdict_fails_on_a_tight_p95(server: str, tmp_path: Path) -> None:
    run = locust(server, tmp_path, "--max-p95-ms", "0.001", "SentimentUser")
    assert run.returncode == 1
    assert "FAIL (p95" in run.stdout + run.stderr
