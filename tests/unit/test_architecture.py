"""The codebase's shape: packages by role, imports one way
(training -> mining <- runners <- gateway <- service.py), and the model list in one place."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from mining.registry import MODELS, PROFILES, RUNNERS

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("mining", "runners", "gateway", "training", "service", "bench", "infra", "loadtests", "tests")

# package -> project packages it must never import (directly or inside a function)
FORBIDDEN: dict[str, set[str]] = {
    "mining": {
        "bentoml",
        "_bentoml_sdk",
        "_bentoml_impl",
        "runners",
        "gateway",
        "training",
        "service",
        "bench",
        "infra",
        "tests",
    },
    "training": {"runners", "gateway", "service", "bench", "tests"},
    "runners": {"gateway", "training", "service", "bench", "tests"},
    "gateway": {"training", "service", "bench", "tests"},
    "loadtests": set(PROJECT) - {"loadtests"},  # load tests drive the API from outside, like a client
    "bench": {"tests"},  # benchmarks may build payloads from the training data step
    "service.py": {"training", "bench", "tests"},
    "infra": {"mining", "runners", "gateway", "training", "service", "tests"},
}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at module level or in a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import os\n\ndef f():\n    from bentoml.exceptions import NotFound\n    import runners.base\n")
    assert imported_modules(src) == {"os", "bentoml", "runners"}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package: str) -> None:
    files = [ROOT / package] if package.endswith(".py") else sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    bad = {str(p.relative_to(ROOT)): sorted(imported_modules(p) & FORBIDDEN[package]) for p in files}
    assert not {k: v for k, v in bad.items() if v}


def test_runners_folder_holds_runner_services_only() -> None:
    """One file per registry runner, plus the shared base and the dispatcher fix."""
    files = {p.name for p in (ROOT / "runners").glob("*.py")}
    per_runner = {spec.service.split(":")[0].split(".")[1] + ".py" for spec in RUNNERS}
    assert files == per_runner | {"__init__.py", "base.py", "dispatch.py"}


def test_every_model_has_a_runner_and_a_trainer_whose_flags_parse(capsys: pytest.CaptureFixture[str]) -> None:
    from training.common import parse_config

    runners = {r.key for r in RUNNERS}
    for spec in MODELS:
        assert spec.runner in runners, spec.name
        module = importlib.import_module(f"training.{spec.trainer}")
        assert callable(module.main), spec.trainer
        configs = [
            v
            for v in vars(module).values()
            if dataclasses.is_dataclass(v)
            and isinstance(v, type)
            and v.__module__ == module.__name__
            and v.__name__.endswith("Config")
        ]
        assert len(configs) == 1, (spec.trainer, configs)
        for profile in PROFILES:
            parse_config(configs[0], spec.flags(profile))  # an unknown flag exits the parser
        # --help renders every flag's help (a literal % in one, "70%", once broke argparse's formatting).
        with pytest.raises(SystemExit) as done:
            parse_config(configs[0], ["--help"])
        assert done.value.code == 0 and "--report-dir" in capsys.readouterr().out, spec.trainer


def test_store_names_and_settings_variables_are_unique() -> None:
    names = [m.name for m in MODELS]
    assert len(set(names)) == len(names)
    assert len({m.env for m in MODELS}) == len(names)
    assert {m for r in RUNNERS for m in r.models} == set(names)


def test_bentofile_ships_exactly_the_registry_models() -> None:
    import yaml

    bento = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    assert bento["models"] == [f"{m.name}:latest" for m in MODELS]
