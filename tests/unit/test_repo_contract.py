"""The README's test command is what CI runs, and the import direction holds."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n\s*```", readme, flags=re.S)
    commands = [b.strip() for b in blocks if "pytest" in b]
    assert len(commands) == 1, commands
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in ln]
    assert ci == [commands[0]]


def test_runners_never_import_training() -> None:
    for path in (ROOT / "runners").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n == "training" or n.startswith("training.") for n in names), path


def test_grpc_stubs_are_generated_from_the_proto() -> None:
    from gateway.proto import generate

    assert generate.main(["--check"]) == 0, "stale stubs: run python -m gateway.proto.generate"


def test_bentofile_serving_packages_match_the_core_dependencies() -> None:
    import tomllib

    import yaml

    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    bento = yaml.safe_load((ROOT / "bentofile.yaml").read_text())["python"]["packages"]
    # bentoml itself comes with the Bento's own runtime; every other serving dependency must be pinned alike.
    assert sorted(bento) == sorted(d for d in core if not d.startswith("bentoml"))
