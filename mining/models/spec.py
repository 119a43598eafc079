"""The ``model.json`` every artifact folder starts with (no torch here: light models load through it too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_spec(path: Path | str, kind: str) -> dict[str, Any]:
    """``path/model.json`` as a dict; raises ValueError naming the folder when its ``kind`` is not ``kind``."""
    spec = json.loads((Path(path) / "model.json").read_text())
    if spec.get("kind") != kind:
        raise ValueError(f"{path} holds a {spec.get('kind')!r} artifact, not {kind!r}")
    return dict(spec)
