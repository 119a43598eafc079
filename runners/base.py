"""What every runner service shares, done once here: settings, torch threads, loading its models
from BentoML's store (the registry says which), tags, and a warm-up before it reports ready.

A runner file under ``runners/`` holds one ``@bentoml.service`` class on :class:`RunnerBase` and
nothing else: the model code it calls lives in ``mining/``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from mining.registry import ModelSpec, models_of
from mining.settings import Settings, settings

log = logging.getLogger("demand_mining")


# The loggers that write what a request carried: BentoML's HTTP and gRPC servers (a request's
# exception), its access log (the path holds ids: GET /users/bob@example.com/profile), uvicorn's
# fallback for an unhandled exception, and this project's own.
REDACTED_LOGGERS = (
    "bentoml.access",
    "bentoml.serve",
    "bentoml._internal.server.http_app",
    "bentoml._internal.server.grpc.servicer.v1",
    "uvicorn.error",
    "demand_mining",
)


class RedactedErrors(logging.Filter):
    """Keeps customer data out of the log lines a request writes: every line's message has
    e-mails, phones, cards and IDs masked (:func:`mining.text.mask_pii`; an access line's path
    too), and a failed request's lines are cut down as follows.

    BentoML logs every refused request with its traceback, and pydantic's message quotes the value
    that failed (``input_value='call 138...'``), so a text over the length limit would land in the
    log in the clear. A refusal (a validation error, or a BentoML error under 500) becomes one
    line naming each field and rule, without the value and without a traceback: the client's
    error, not the server's. Any other exception keeps its traceback, with e-mails, phones, cards
    and IDs masked (:func:`mining.text.mask_pii`) in it and in the message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from mining.text import mask_pii

        message = mask_pii(record.getMessage())
        refusal = _refusal(record.exc_info[1] if record.exc_info else None)
        if refusal is not None:
            record.msg, record.levelno, record.levelname = f"{message}: refused: {refusal}", logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        elif record.exc_info or record.exc_text:
            trace = record.exc_text or logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]
            record.msg, record.exc_info, record.exc_text = message, None, mask_pii(trace)
        else:
            record.msg = message
        record.args = ()
        return True


def _refusal(exc: BaseException | None) -> str | None:
    """The line a refused request is logged with (no input value), or ``None`` for a fault."""
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    from mining.text import mask_pii

    if isinstance(exc, ValidationError):
        errors = exc.errors(include_input=False, include_url=False)
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors)
    if isinstance(exc, BentoMLException) and int(exc.error_code) < 500:
        return f"{int(exc.error_code)} {mask_pii(str(exc))}"
    return None


def service_logging() -> None:
    """Let this project's INFO lines through in a server process: BentoML sets the root logger to
    WARNING, which would drop what an operator needs to see (what each model was loaded as, the
    gRPC port, retention). A level the user configured is left alone. The loggers that write what
    a request carried (:data:`REDACTED_LOGGERS`) get :class:`RedactedErrors`, once."""
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactedErrors) for f in logger.filters):
            logger.addFilter(RedactedErrors())


# Every dependency service gets this: BentoML's client otherwise recycles its connection pool (100 requests /
# 300 s) while requests still use it (docs/benchmarks.md#serving-layouts-and-knobs); max_age must be a float.
DEPENDENCY_CONFIG: dict[str, Any] = {
    "runner_connection": {"max_requests": 10**9, "max_age": 86400.0},
    "traffic": {"timeout": 60},
}


def batching(max_batch_size: int, max_latency_ms: int) -> dict[str, Any]:
    """Arguments of a runner's batchable ``@bentoml.api``: adaptive batching with these knobs, or
    none when the service is started with ``DEMAND_MINING_BATCHING=off`` (the benchmark serves
    both ways to measure what batching buys). BentoML fixes the knobs when the class is defined,
    so this setting is read when a runner module is imported."""
    if not settings().batching:
        return {"batchable": False}
    return {"batchable": True, "max_batch_size": max_batch_size, "max_latency_ms": max_latency_ms}


def model_path(tag: str) -> tuple[Path, str, dict[str, Any]]:
    """(artifact directory, resolved ``name:version``, metadata) of a store tag such as
    ``sentiment-zh:latest``.

    Raises ``RuntimeError`` naming the training command when the store lacks the model.
    """
    import os

    import bentoml
    from bentoml.exceptions import NotFound

    try:
        model = bentoml.models.get(tag)
    except NotFound as e:
        raise RuntimeError(
            f"model {tag!r} is not in the BentoML store ({os.environ.get('BENTOML_HOME', '~/bentoml')}); "
            "train it with `python -m training.bootstrap`"
        ) from e
    return Path(model.path), str(model.tag), dict(model.info.metadata)


class RunnerBase:
    """Base of every runner service.

    Subclasses set :attr:`RUNNER` (their key in :data:`mining.registry.RUNNERS`) and implement
    :meth:`load` (artifact directory -> model) and :meth:`warm_up`. After construction,
    ``self.models`` maps each loaded store name to its model and ``self.tags`` to its resolved
    tag; required models that the store lacks fail the start, optional ones are skipped.
    """

    RUNNER: ClassVar[str]
    # Colocated layout: one batch per core at once. Only for models whose time is spent in torch
    # (which releases the GIL) and that are read-only at inference.
    PARALLEL_BATCHES: ClassVar[bool] = False

    def __init__(self, config: Settings | None = None) -> None:
        import torch

        from mining.artifacts import pick_device
        from runners.dispatch import patch_dispatcher

        patch_dispatcher()  # see runners/dispatch.py: no cork after a burst
        service_logging()
        self.settings = config or settings()
        torch.set_num_threads(self.settings.torch_threads)
        self.device = pick_device()
        self.models: dict[str, Any] = {}
        self.tags: dict[str, str] = {}
        self.specs: dict[str, ModelSpec] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        for spec in models_of(self.RUNNER):
            try:
                path, tag, metadata = model_path(self.settings.model_tags[spec.name])
            except RuntimeError:
                if spec.required:
                    raise
                continue
            self._install(spec, self.optimise(self.load(path), metadata, tag), tag, metadata)
        self.setup()
        self.warm_up()
        if self.settings.model_watch_seconds:
            import threading

            threading.Thread(target=self._watch, name=f"{self.RUNNER}-model-watch", daemon=True).start()

    def _install(self, spec: ModelSpec, model: Any, tag: str, metadata: dict[str, Any]) -> None:
        """Serve ``model`` as ``spec.name``. Each mapping is replaced, never changed in place, so a
        batch running meanwhile keeps iterating over the one it started with."""
        self.prepare(spec.name, model, metadata)
        self.metadata = {**self.metadata, spec.name: metadata}
        self.specs = {**self.specs, spec.name: spec}
        self.tags = {**self.tags, spec.name: tag}
        self.models = {**self.models, spec.name: model}

    def refresh(self) -> list[str]:
        """Swap in a newer ``latest`` version of every model served unpinned (an optional model
        the store lacked at start counts too); returns the tags swapped in.

        The new version is loaded and warmed beside the old one, which serves until the swap; a
        version that fails to load or warm up is logged and the old one stays."""
        swapped = []
        for spec in models_of(self.RUNNER):
            wanted = self.settings.model_tags[spec.name]
            if not wanted.endswith(":latest"):
                continue  # pinned: an operator chose this version
            try:
                path, tag, metadata = model_path(wanted)
            except RuntimeError:
                continue
            if tag == self.tags.get(spec.name):
                continue
            old = (self.models.get(spec.name), self.tags.get(spec.name), self.metadata.get(spec.name))
            try:
                self._install(spec, self.optimise(self.load(path), metadata, tag), tag, metadata)
                self.warm_up()
            except Exception:
                log.exception("%s: could not swap in %s; %s keeps serving", spec.name, tag, old[1] or "nothing")
                self._restore(spec, *old)
                continue
            log.info("%s: swapped in %s (was %s)", spec.name, tag, old[1] or "not served")
            swapped.append(tag)
        return swapped

    def _restore(self, spec: ModelSpec, model: Any, tag: str | None, metadata: dict[str, Any] | None) -> None:
        if model is not None and tag is not None and metadata is not None:
            self._install(spec, model, tag, metadata)
            return
        self.models = {k: v for k, v in self.models.items() if k != spec.name}
        self.tags = {k: v for k, v in self.tags.items() if k != spec.name}

    def _watch(self) -> None:
        import time

        while True:
            time.sleep(self.settings.model_watch_seconds)
            try:
                self.refresh()
            except Exception:  # the watcher must outlive a store that is briefly unreadable
                log.exception("%s runner: looking for newer models failed", self.RUNNER)

    def load(self, path: Path) -> Any:
        """Read one artifact directory onto ``self.device``."""
        raise NotImplementedError

    def optimise(self, model: Any, metadata: dict[str, Any], tag: str = "") -> Any:
        """Share frozen encoder bottoms with the other models of this process and quantise them
        as settings say (``bottom_quantization``: one choice for every head above a bottom), then
        quantise the rest as the store metadata chose (``quantization.mode``), each unless
        switched off in settings; logs what was done for ``tag``, so an operator can see it.

        A model with ``float_bottom`` (the reply ranker, whose stored vectors the float bottom
        computed) keeps a float bottom of its own when the shared one is quantised."""
        from mining.artifacts import frozen_encoders, quantize, quantize_bottom, served_quantization
        from mining.models.bert import share_bottom

        mode, float_parts = served_quantization(metadata) if self.settings.quantize else ("none", [])
        bottom_mode = self.settings.bottom_quantization
        own_copy = bool(getattr(model, "float_bottom", False)) and bottom_mode != "none"
        if own_copy:
            bottom_mode = "none"
        share = self.settings.share_encoder and not own_copy
        shared = []
        for encoder in frozen_encoders(model):
            bottom = share_bottom(encoder) if share else None
            quantize_bottom(encoder, bottom_mode)
            where = f" {bottom.digest[:12]}" if bottom is not None else " (own copy)"
            shared.append(f"{encoder.frozen_layers} frozen layers{where}, {bottom_mode}")
        if tag:
            # Equal digests in one process are one copy, run once per text for all their heads.
            kept = f" ({', '.join(float_parts)} float32)" if float_parts and mode != "none" else ""
            log.info("%s: %s%s, encoder bottom: %s", tag, mode, kept, ", ".join(shared) or "none")
        return quantize(model, mode, float_parts)

    def prepare(self, name: str, model: Any, metadata: dict[str, Any]) -> None:
        """Set up one loaded model from its metadata before it serves (at start and on a swap)."""

    def setup(self) -> None:
        """Load what the runner needs besides its models (e.g. tables), before the warm-up."""

    def warm_up(self) -> None:
        """One small call, so the first request does not pay lazy initialisation."""
        raise NotImplementedError


class LabelRunner(RunnerBase):
    """A runner of per-language text classifiers (sentiment, category): each text goes to the
    model of its language; one without a model goes to the first model loaded."""

    def load(self, path: Path) -> Any:
        from mining.models.textclf import load_artifact

        return load_artifact(path, self.device)

    def classify(self, items: list[Any]) -> list[Any]:
        """``TextItem`` list -> ``LabelResult`` list, same order: each text by its language's model,
        ``null`` with a reason where there is none or the model is not sure."""
        from mining.models.textclf import Abstention, predict_routed, served_note

        # Only the runner's own task labels (the intent runner also serves the reply ranking).
        names = [n for n in self.models if self.specs[n].task == self.RUNNER]
        # A model without a language (the service intents) reads both.
        langs: dict[str, tuple[str, ...]] = {
            n: (lang,) if (lang := self.specs[n].lang) else ("zh", "en") for n in names
        }
        return predict_routed(
            {lang: self.models[n] for n in names for lang in langs[n]},
            {lang: self.tags[n] for n in names for lang in langs[n]},
            items,
            task=self.RUNNER,
            abstention={lang: Abstention.from_metadata(self.metadata[n], lang) for n in names for lang in langs[n]},
            served={lang: served_note(self.metadata[n]) for n in names for lang in langs[n]},
        )
