"""BentoML runner services, one file per runner (see :data:`mining.registry.RUNNERS`)."""

from __future__ import annotations

import importlib
from typing import Any

from mining.registry import runner


def service_of(key: str) -> Any:
    """The ``@bentoml.service`` class of registry runner ``key`` (imports its module)."""
    spec = runner(key)
    module, name = spec.service.split(":")
    return getattr(importlib.import_module(module), name)
