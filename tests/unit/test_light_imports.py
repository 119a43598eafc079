"""Modules that must stay light: the HTTP schema and the routing helper import no model library.
Each check runs in a fresh interpreter, so what other tests imported cannot hide an import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["gateway.schemas", "mining.limits", "mining.routing"])
def test_module_imports_without_torch_or_sklearn(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


def test_the_models_enforce_the_limits_the_schema_advertises() -> None:
    import gateway.schemas as schemas
    import mining.limits as limits
    from mining.models import demand, keywords

    assert demand.MAX_HISTORY is limits.MAX_HISTORY is schemas.MAX_HISTORY == 520
    assert keywords.MAX_KEYWORDS is limits.MAX_KEYWORDS is schemas.MAX_KEYWORDS == 50
