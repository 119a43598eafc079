"""The README's Configuration and Layout tables agree with the settings object and the tree.

Configuration (``| variable | default | meaning |``):

- The variables :meth:`Settings.from_env` reads are recorded by handing it a mapping that logs every
  key asked (``get``, ``[]``, ``in``); nothing is parsed from source text. Each one has its own row,
  the variable in backticks in the first cell, except the per-model pins (``ModelSpec.env``), which
  the ``<NAME>_MODEL`` row lists, every one of them and no other, in backticks.
- Every variable row not marked ``(BentoML)`` (BentoML's own variables) is read by ``Settings``.
- A default cell that starts with a backticked literal (``8``, ``on``, ``var/events.sqlite3``) is
  checked by behaviour: setting the variable to that literal gives the same ``Settings`` as leaving it
  unset; and unset, every field equals the ``Settings()`` dataclass default but the per-core counts.
  Cells that start otherwise ("unset", "one per core") are prose and not checked.

Layout (``| entry | what it holds |``):

- Every backticked path in the table exists: a token with a ``/`` is relative to the repository root
  (a trailing ``/`` names a folder), a bare ``name.py`` is relative to its row's folder, and a token
  with ``*`` must match at least one file. Tokens starting with ``/`` (HTTP routes) or holding a
  space (commands) are not paths.
- Every top-level folder (not hidden, not a folder ``.gitignore`` ignores) and every top-level
  ``.py`` file has its own row, the entry in backticks (``gateway/``, ``service.py``).
- Every non-underscore module directly inside the code packages (:data:`PACKAGES`), and every
  sub-package there, is mentioned in the row of its top-level folder: as a backticked ``name.py``,
  ``pkg/name.py`` (path from the root), ``name`` (as in a list of model families), a glob matching it
  (``train_*.py``), or, for a sub-package, ``pkg/sub/``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from mining.registry import MODELS
from mining.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "runners", "mining", "mining/models", "mining/events", "training")
PIN_ROW = "<NAME>_MODEL"
BACKTICKED = re.compile(r"`([^`]+)`")


class RecordingEnv(Mapping[str, str]):
    """A read-only environment that records every variable name asked of it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self._values[key]

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("Settings.from_env iterates the environment: read variables by name, or revise this test")

    def __len__(self) -> int:
        return len(self._values)


def read_variables() -> set[str]:
    """Every variable name ``Settings.from_env`` asks for, under both layouts."""
    asked: set[str] = set()
    for values in ({}, {"DEMAND_MINING_LAYOUT": "separate"}):
        env = RecordingEnv(values)
        Settings.from_env(env)
        asked |= env.asked
    return asked


def section(title: str) -> str:
    """The README text under ``## title`` up to the next ``## `` heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def table_rows(text: str, header: list[str]) -> list[list[str]]:
    """The body rows (cells stripped) of the one table in ``text`` whose header is ``header``."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    assert rows and rows[0] == header, f"expected a table with header {header}, got {rows[:1]}"
    body = [row for row in rows[1:] if not set("".join(row)) <= set("-: ")]
    for row in body:
        assert len(row) == len(header), f"row has {len(row)} cells, not {len(header)} (a '|' inside a cell?): {row}"
    return body


def config_rows() -> dict[str, list[str]]:
    """Configuration rows by the backticked variable of their first cell."""
    rows: dict[str, list[str]] = {}
    for row in table_rows(section("Configuration"), ["variable", "default", "meaning"]):
        names = BACKTICKED.findall(row[0])
        assert len(names) == 1, f"a Configuration row names one variable in backticks: {row[0]!r}"
        assert names[0] not in rows, f"{names[0]} has two rows"
        rows[names[0]] = row
    return rows


def test_recording_env_sees_every_read() -> None:
    asked = read_variables()
    assert {"DEMAND_MINING_LAYOUT", "TORCH_THREADS", "BENTOML_HOME"} <= asked
    assert {m.env for m in MODELS} <= asked


def test_every_variable_settings_reads_has_a_row() -> None:
    rows = config_rows()
    pins = {m.env for m in MODELS}
    missing = sorted(read_variables() - pins - set(rows))
    assert not missing, f"read by Settings.from_env but not in README's Configuration table: {missing}"
    assert PIN_ROW in rows, f"README's Configuration table has no {PIN_ROW} row"
    listed = {name for name in BACKTICKED.findall(rows[PIN_ROW][2]) if re.fullmatch(r"[A-Z0-9_]+_MODEL", name)}
    assert listed == pins, f"{PIN_ROW} row: missing {sorted(pins - listed)}, not a model {sorted(listed - pins)}"


def test_every_row_is_read_by_settings() -> None:
    asked = read_variables()
    unread = sorted(
        name
        for name, row in config_rows().items()
        if name != PIN_ROW and "(BentoML)" not in row[0] and name not in asked
    )
    assert not unread, f"README's Configuration table lists variables Settings never reads: {unread}"


def documented_defaults() -> list[tuple[str, str]]:
    """(variable, literal) for each row read by Settings whose default cell starts with a backticked literal."""
    asked = read_variables()
    pairs = []
    for name, row in config_rows().items():
        match = re.match(r"`([^`]+)`", row[1])
        if match and name != PIN_ROW and name in asked:
            pairs.append((name, match.group(1)))
    return pairs


def test_literal_defaults_are_collected() -> None:
    pairs = dict(documented_defaults())
    assert pairs.get("DEMAND_MINING_EVENTS_POOL") == "8" and pairs.get("DEMAND_MINING_BATCHING") == "on"


@pytest.mark.parametrize(("name", "literal"), documented_defaults())
def test_documented_default_is_the_default(name: str, literal: str) -> None:
    assert Settings.from_env({name: literal}) == Settings.from_env({}), (
        f"README says {name} defaults to {literal!r}, but setting it to that changes the settings"
    )


def test_unset_environment_gives_the_dataclass_defaults() -> None:
    # The table documents from_env's defaults; they are Settings()'s too, but for the per-core counts.
    by_cores = {"workers", "torch_threads", "lone_threads"}
    unset, plain = Settings.from_env({}), Settings()
    differ = [f.name for f in dataclasses.fields(Settings) if getattr(unset, f.name) != getattr(plain, f.name)]
    assert set(differ) <= by_cores, f"Settings() and Settings.from_env({{}}) disagree on {differ}"


def test_pin_default_is_the_default() -> None:
    literal = re.match(r"`([^`]+)`", config_rows()[PIN_ROW][1])
    assert literal and "<name>" in literal.group(1)
    for m in MODELS:
        assert Settings.from_env({m.env: literal.group(1).replace("<name>", m.name)}) == Settings.from_env({})


def layout_rows() -> dict[str, str]:
    """Layout rows: backticked entry (``gateway/``, ``service.py``) -> the whole row's text."""
    rows: dict[str, str] = {}
    for entry, holds in table_rows(section("Layout"), ["entry", "what it holds"]):
        names = BACKTICKED.findall(entry)
        assert len(names) == 1, f"a Layout row names one entry in backticks: {entry!r}"
        rows[names[0]] = f"{entry} | {holds}"
    return rows


def ignored_dir_patterns() -> list[str]:
    """``.gitignore``'s folder patterns (lines ending in ``/``), without the slash."""
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip().endswith("/")]


def top_level_entries() -> set[str]:
    """Top-level folders (``name/``) and ``.py`` files the Layout table must have rows for."""
    ignored = ignored_dir_patterns()
    entries = set()
    for path in ROOT.iterdir():
        if path.name.startswith((".", "_")):
            continue
        if path.is_dir() and not any(fnmatch.fnmatch(path.name, p) for p in ignored):
            entries.add(f"{path.name}/")
        elif path.is_file() and path.suffix == ".py":
            entries.add(path.name)
    return entries


def test_every_top_level_entry_has_a_row() -> None:
    entries = top_level_entries()
    assert {"gateway/", "mining/", "tests/", "service.py"} <= entries
    assert not any(e.endswith(".egg-info/") for e in entries)
    missing = sorted(entries - set(layout_rows()))
    assert not missing, f"README's Layout table has no row for: {missing}"


def path_tokens(entry: str, row: str) -> Iterator[str]:
    """Backticked tokens of a row that name paths, resolved to paths from the repository root."""
    folder = entry if entry.endswith("/") else ""
    for token in BACKTICKED.findall(row):
        if token.startswith("/") or " " in token or not re.fullmatch(r"[\w./*-]+", token):
            continue
        if "/" in token:
            yield token
        elif token.endswith(".py"):
            yield folder + token


def test_every_path_the_layout_names_exists() -> None:
    absent = []
    for entry, row in layout_rows().items():
        for token in path_tokens(entry, row):
            found = any(ROOT.glob(token.rstrip("/"))) if "*" in token else (ROOT / token).exists()
            if not found or (token.endswith("/") and not (ROOT / token).is_dir()):
                absent.append(token)
    assert not absent, f"README's Layout table names paths that do not exist: {absent}"


def mentioned(row: str, relpath: str) -> bool:
    """Whether ``row`` mentions module or sub-package ``relpath`` (``mining/models/ner.py``, ``gateway/proto/``)."""
    tokens = BACKTICKED.findall(row)
    if relpath.endswith("/"):
        return relpath in tokens
    name = relpath.rsplit("/", 1)[-1]
    accepted = {name, relpath, name.removesuffix(".py")}
    return any(t in accepted or ("*" in t and fnmatch.fnmatch(name, t.rsplit("/", 1)[-1])) for t in tokens)


def package_members() -> list[str]:
    """Non-underscore modules and sub-packages directly inside :data:`PACKAGES`, as paths from the root."""
    members = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).iterdir()):
            if path.name.startswith("_"):
                continue
            if path.suffix == ".py":
                members.append(f"{package}/{path.name}")
            elif (path / "__init__.py").is_file():
                members.append(f"{package}/{path.name}/")
    return members


def test_every_module_is_mentioned_in_its_row() -> None:
    members = package_members()
    assert {"mining/settings.py", "mining/models/ner.py", "mining/events/", "gateway/proto/"} <= set(members)
    rows = layout_rows()
    unmentioned = [m for m in members if not mentioned(rows.get(m.split("/", 1)[0] + "/", ""), m)]
    assert not unmentioned, f"README's Layout table does not mention: {unmentioned}"


def test_mention_rules() -> None:
    row = "`mining/` | `mining/text.py`, `mining/models/` (`textclf`, `ner`), `train_*.py`"
    assert mentioned(row, "mining/text.py") and mentioned(row, "mining/models/textclf.py")
    assert mentioned(row, "training/train_ner.py") and mentioned(row, "mining/models/")
    assert not mentioned(row, "mining/routing.py") and not mentioned(row, "mining/events/")
