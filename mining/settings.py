"""Every setting of the served system, read from the environment once, in one place.

:func:`settings` parses the environment on first use and caches the result; components get the
:class:`Settings` object (or the fields they need) passed in and never read the environment
themselves. The README's configuration table lists the same variables.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mining.events import is_postgres
from mining.registry import MODELS

LAYOUTS = ("colocated", "separate")
# The modes of mining.artifacts.quantize_bottom (that module loads torch; settings does not).
BOTTOM_QUANTIZATIONS = ("none", "int8", "int8-channel", "bf16")
BUILTIN_BRANDS = Path(__file__).resolve().parents[1] / "data" / "brands" / "brands.csv"
BUILTIN_REPLIES = Path(__file__).resolve().parents[1] / "data" / "customer_service" / "replies_kb.csv"


def cores() -> int:
    """CPU cores this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


def parse_api_keys(value: str | None) -> frozenset[str]:
    """Keys from a comma-separated setting; empty or unset means authentication is off."""
    return frozenset(k.strip() for k in (value or "").split(",") if k.strip())


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _readable(name: str, path: Path) -> Path:
    # A mistyped path stops the start with the variable's name, not a runner's traceback later.
    if not path.is_file():
        raise ValueError(f"{name} names {str(path)!r}, which is not a file")
    return path


def _user_files(env: Mapping[str, str], name: str) -> tuple[Path, ...]:
    """The files a user lists in ``name`` (paths joined by ``:``), each checked to exist."""
    return tuple(_readable(name, Path(p.strip()).expanduser()) for p in env.get(name, "").split(":") if p.strip())


def _user_file(env: Mapping[str, str], name: str) -> Path | None:
    """The one file a user names in ``name``, checked to exist; None where the variable is unset."""
    raw = env.get(name, "").strip()
    return _readable(name, Path(raw).expanduser()) if raw else None


def _events_url(value: str) -> str:
    if value and not is_postgres(value):
        scheme = value.split("://", 1)[0] if "://" in value else "no scheme"
        raise ValueError(f"DEMAND_MINING_EVENTS_URL must be a postgresql:// URL (or unset for SQLite); got {scheme}")
    return value


@dataclass(frozen=True)
class Settings:
    """The served system's configuration (see :meth:`from_env` for the variable of each field).

    Attributes:
        events_db: the SQLite file of the event store (one machine; used when ``events_url`` is empty).
        events_url: a PostgreSQL URL (``postgresql://user@host:5432/db``): the event store every
            instance shares; empty: the SQLite file.
        events_secret_arn: a Secrets Manager secret with the database's ``username`` and
            ``password`` (JSON), read for each new connection; empty: credentials from the URL or
            libpq's environment.
        events_pool: database connections per worker process (PostgreSQL).
        events_enabled: False (``DEMAND_MINING_EVENTS=off``): no event store; event intake,
            profiles and trends answer 501, everything else works.
        retention_days: events older than this many days are deleted, with what was derived from
            them, at start and every hour after (0: kept for ever).
        api_keys: accepted API keys; empty: authentication off.
        max_body_bytes: request body limit (HTTP 413 over it).
        max_in_flight: requests one gateway worker serves at once; more get 503 with Retry-After
            (0: no limit).
        layout: ``colocated`` (every runner inside each gateway worker, batched in process) or
            ``separate`` (each runner its own BentoML service and processes).
        workers: gateway worker processes.
        batching: adaptive batching on (False: every request runs alone; the benchmark's switch).
        torch_threads: intra-op threads per process that runs models.
        lone_threads: intra-op threads for a model call that is the only work of the service (no
            other call in this worker or any other): a lone request uses the idle cores (0: never
            more than ``torch_threads``).
        quantize: run models with the quantisation their store metadata chose (int8 Linear
            layers on CPU, each input row scaled alone); False (``DEMAND_MINING_QUANTIZE=off``): every model in float32.
        share_encoder: heads fine-tuned above the same frozen encoder bottom share one copy of it
            and one pass per text; False (``DEMAND_MINING_SHARED_ENCODER=off``): each model runs
            its whole encoder.
        bottom_quantization: how the frozen encoder bottoms serve
            (``DEMAND_MINING_BOTTOM_QUANTIZATION``: ``none``, ``bf16``, ``int8`` or ``int8-channel``; one
            choice for every head above a bottom, see :func:`mining.artifacts.quantize_bottom`);
            off with ``DEMAND_MINING_QUANTIZE=off``.
        grpc_port: the gRPC port (0: gRPC off); grpc_host: the address it binds.
        model_tags: store name -> tag to serve (``name:latest`` unless pinned).
        model_store: BentoML's home (``BENTOML_HOME``), where the store and the staged start's
            record (``upgrades.json``) live.
        baseline_store: the BentoML home a trainer reads stored models from that it compares
            with (the aspect models' whole-text sentiment baseline): ``model_store`` unless
            ``DEMAND_MINING_BASELINE_STORE`` names another; the staged start trains its candidates
            in a staging home and points this at the served store.
        model_watch_seconds: how often a runner looks for a newer ``latest`` version of each model
            it serves unpinned and swaps it in (the staged start's encoder heads); 0: never.
        data_dir: where the training data step caches what it fetches.
        brands: brands tables (CSV) read in order, later rows overriding earlier ones: the built-in
            table, then the user's (``DEMAND_MINING_BRANDS``, paths separated by ``:``).
        product_types: the user's product-type word lists (``DEMAND_MINING_PRODUCT_TYPES``, paths
            separated by ``:``), which add words to the built-in lists of :mod:`mining.products`.
        replies: the reply knowledge base ``/reply`` suggests from (CSV: intent, lang, text, request),
            the built-in one unless ``DEMAND_MINING_REPLIES`` names the user's.
        shop_values: the shop's own placeholder values (CSV: placeholder, value, lang;
            ``DEMAND_MINING_SHOP_VALUES``), None: those placeholders are left for the agent.
    """

    events_db: Path = Path("var/events.sqlite3")
    # repr=False: a URL may hold a password, and settings get printed.
    events_url: str = field(default="", repr=False)
    events_secret_arn: str = ""
    events_pool: int = 8
    events_enabled: bool = True
    retention_days: int = 0
    api_keys: frozenset[str] = frozenset()
    max_body_bytes: int = 4 << 20
    max_in_flight: int = 256
    layout: str = "colocated"
    workers: int = 1
    batching: bool = True
    torch_threads: int = 1
    lone_threads: int = 0
    quantize: bool = True
    share_encoder: bool = True
    bottom_quantization: str = "none"
    grpc_port: int = 3001
    grpc_host: str = "127.0.0.1"
    model_tags: Mapping[str, str] = field(default_factory=lambda: {m.name: f"{m.name}:latest" for m in MODELS})
    model_store: Path = Path.home() / "bentoml"
    baseline_store: Path = Path.home() / "bentoml"
    model_watch_seconds: int = 30
    data_dir: Path = Path.home() / ".cache" / "demand-mining"
    brands: tuple[Path, ...] = (BUILTIN_BRANDS,)
    product_types: tuple[Path, ...] = ()
    replies: Path = BUILTIN_REPLIES
    shop_values: Path | None = None

    def events_location(self) -> str | Path:
        """Where the event store is: the PostgreSQL URL when set, else the SQLite file."""
        return self.events_url or self.events_db

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse ``env`` (default ``os.environ``); raises ``ValueError`` naming a bad variable."""
        env = os.environ if env is None else env
        layout = env.get("DEMAND_MINING_LAYOUT", "colocated")
        if layout not in LAYOUTS:
            raise ValueError(f"DEMAND_MINING_LAYOUT must be one of {', '.join(LAYOUTS)}; got {layout!r}")
        events = env.get("DEMAND_MINING_EVENTS", "on")
        if events not in ("on", "off"):
            raise ValueError(f"DEMAND_MINING_EVENTS must be on or off; got {events!r}")
        store = Path(env.get("BENTOML_HOME") or Path.home() / "bentoml").expanduser()
        batching = env.get("DEMAND_MINING_BATCHING", "on")
        if batching not in ("on", "off"):
            raise ValueError(f"DEMAND_MINING_BATCHING must be on or off; got {batching!r}")
        switches = {}
        for name, var in (("quantize", "DEMAND_MINING_QUANTIZE"), ("share_encoder", "DEMAND_MINING_SHARED_ENCODER")):
            value = env.get(var, "on")
            if value not in ("on", "off"):
                raise ValueError(f"{var} must be on or off; got {value!r}")
            switches[name] = value == "on"
        bottom = env.get("DEMAND_MINING_BOTTOM_QUANTIZATION", "none")
        if bottom not in BOTTOM_QUANTIZATIONS:
            raise ValueError(
                f"DEMAND_MINING_BOTTOM_QUANTIZATION must be one of {', '.join(BOTTOM_QUANTIZATIONS)}; got {bottom!r}"
            )
        # Colocated: one gateway worker per core, each running every model with its share of the
        # cores (on 2 cores two workers served more than one worker with two threads, because
        # request parsing and the models' Python code hold the GIL). Separate: one gateway worker;
        # each runner process uses all cores.
        workers = _int(env, "DEMAND_MINING_WORKERS", cores() if layout == "colocated" else 1, minimum=1)
        threads = _int(
            env, "TORCH_THREADS", max(1, cores() // workers) if layout == "colocated" else cores(), minimum=1
        )
        return cls(
            events_db=Path(env.get("DEMAND_MINING_EVENTS_DB", "var/events.sqlite3")),
            events_url=_events_url(env.get("DEMAND_MINING_EVENTS_URL", "")),
            events_secret_arn=env.get("DEMAND_MINING_EVENTS_SECRET_ARN", ""),
            events_pool=_int(env, "DEMAND_MINING_EVENTS_POOL", 8, minimum=1),
            events_enabled=events == "on",
            api_keys=parse_api_keys(env.get("DEMAND_MINING_API_KEYS")),
            max_body_bytes=_int(env, "DEMAND_MINING_MAX_BODY_BYTES", 4 << 20, minimum=1),
            retention_days=_int(env, "DEMAND_MINING_RETENTION_DAYS", 0, minimum=0),
            max_in_flight=_int(env, "DEMAND_MINING_MAX_IN_FLIGHT", 256, minimum=0),
            layout=layout,
            workers=workers,
            batching=batching == "on",
            torch_threads=threads,
            lone_threads=_int(env, "DEMAND_MINING_LONE_THREADS", cores() if layout == "colocated" else 0, minimum=0),
            **switches,
            bottom_quantization=bottom if switches["quantize"] else "none",
            grpc_port=_int(env, "GRPC_PORT", 3001),
            grpc_host=env.get("GRPC_HOST", "127.0.0.1"),
            model_tags={m.name: env.get(m.env) or f"{m.name}:latest" for m in MODELS},
            model_store=store,
            baseline_store=Path(env.get("DEMAND_MINING_BASELINE_STORE") or store).expanduser(),
            model_watch_seconds=_int(env, "DEMAND_MINING_MODEL_WATCH_SECONDS", 30, minimum=0),
            data_dir=Path(env.get("DEMAND_MINING_DATA_DIR") or Path.home() / ".cache" / "demand-mining").expanduser(),
            brands=(BUILTIN_BRANDS, *_user_files(env, "DEMAND_MINING_BRANDS")),
            product_types=_user_files(env, "DEMAND_MINING_PRODUCT_TYPES"),
            replies=_user_file(env, "DEMAND_MINING_REPLIES") or BUILTIN_REPLIES,
            shop_values=_user_file(env, "DEMAND_MINING_SHOP_VALUES"),
        )


@functools.cache
def settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()
