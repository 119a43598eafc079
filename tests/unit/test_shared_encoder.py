"""Frozen encoder bottoms shared by several heads, and dynamic int8 quantisation."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from mining.artifacts import RowInt8Linear, load_encoder, quantize, torch_modules
from mining.models.bert import cached_bottom, share_bottom
from mining.models.ner import EncoderCRF, EncoderCRFModel, load_ner_artifact
from mining.models.textclf import EncoderClassifier, EncoderModel, load_artifact
from tests.support.fakes import tiny_encoder_folder

TEXTS = ["the coffee was great", "stale", "i hate it, it was awful and the taste was bad", "i love it"]


def two_heads(tmp_path: Path, frozen: int = 1) -> tuple[EncoderModel, EncoderCRFModel]:
    """A sentiment head and an NER head fine-tuned above the same frozen bottom, saved and loaded."""
    folder = tiny_encoder_folder(tmp_path / "enc")
    torch.manual_seed(3)
    enc_a, tok = load_encoder(folder)
    clf = EncoderModel(EncoderClassifier(enc_a.freeze_bottom(frozen), 2), tok, ["neg", "pos"], max_tokens=16)
    enc_b, tok_b = load_encoder(folder)
    ner = EncoderCRFModel(EncoderCRF(enc_b.freeze_bottom(frozen), 3), tok_b, ["O", "B-X", "I-X"])
    # the heads above the bottom differ, as after fine-tuning
    with torch.no_grad():
        for p in clf.net.encoder.encoder.layer[frozen:].parameters():
            p.add_(0.05 * torch.randn_like(p))
    clf.save(tmp_path / "clf")
    ner.save(tmp_path / "ner")
    return load_artifact(tmp_path / "clf", torch.device("cpu")), load_ner_artifact(
        tmp_path / "ner", torch.device("cpu")
    )


def test_frozen_bottom_gets_no_gradient_and_no_dropout(tmp_path: Path) -> None:
    encoder, _ = load_encoder(tiny_encoder_folder(tmp_path / "enc"))
    encoder.freeze_bottom(1).train()
    assert not encoder.embeddings.training and not encoder.encoder.layer[0].training
    assert encoder.encoder.layer[1].training
    ids = torch.randint(5, 40, (2, 6))
    encoder(ids).last_hidden_state.sum().backward()
    assert all(p.grad is None for p in encoder.embeddings.parameters())
    assert all(p.grad is None for p in encoder.encoder.layer[0].parameters())
    assert all(p.grad is not None for p in encoder.encoder.layer[1].parameters())
    with pytest.raises(ValueError, match="frozen layers must be in 0..2"):
        encoder.freeze_bottom(3)


def test_heads_share_one_bottom_with_unchanged_outputs(tmp_path: Path) -> None:
    clf, ner = two_heads(tmp_path)
    assert clf.net.encoder.frozen_layers == ner.net.encoder.frozen_layers == 1
    probs = clf.predict_proba(TEXTS)
    tags = ner.tag_tokens([t.split() for t in TEXTS])
    a, b = share_bottom(clf.net.encoder), share_bottom(ner.net.encoder)
    assert a is b is not None
    assert clf.net.encoder.embeddings is ner.net.encoder.embeddings  # one copy of the weights
    assert clf.net.encoder.encoder.layer[1] is not ner.net.encoder.encoder.layer[1]
    np.testing.assert_allclose(clf.predict_proba(TEXTS), probs, atol=1e-5)
    misses = a.misses
    np.testing.assert_allclose(clf.predict_proba(TEXTS), probs, atol=1e-5)
    assert a.misses == misses and a.hits >= len(TEXTS)  # the second pass read the cache
    assert ner.tag_tokens([t.split() for t in TEXTS]) == tags
    # the state dict is unchanged by sharing: the artifact saves and loads as before
    assert set(clf.net.state_dict()) == set(load_artifact(tmp_path / "clf", torch.device("cpu")).net.state_dict())


def test_unfrozen_encoders_are_not_shared(tmp_path: Path) -> None:
    encoder, _ = load_encoder(tiny_encoder_folder(tmp_path / "enc"))
    assert share_bottom(encoder) is None and encoder.shared is None


def test_different_bottom_weights_are_not_shared(tmp_path: Path) -> None:
    folder = tiny_encoder_folder(tmp_path / "enc")
    a, _ = load_encoder(folder)
    b, _ = load_encoder(folder)
    with torch.no_grad():
        b.encoder.layer[0].attention.self.query.weight.add_(0.01)
    assert share_bottom(a.freeze_bottom(1)) is not share_bottom(b.freeze_bottom(1))


def test_concurrent_batches_compute_each_text_once(tmp_path: Path) -> None:
    clf, _ = two_heads(tmp_path)
    shared = share_bottom(clf.net.encoder)
    assert shared is not None
    calls: list[int] = []
    compute = shared.compute

    def counted(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        calls.append(ids.shape[0])
        threading.Event().wait(0.05)  # long enough for the other thread to find the texts pending
        return compute(ids, mask)

    shared.compute = counted  # type: ignore[method-assign]
    texts = [f"the {w} coffee was great" for w in ("good", "bad", "awful", "stale", "not", "taste")]
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(clf.predict_proba(texts))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(calls) == len(texts)  # each text through the bottom once, for three batches
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)
    np.testing.assert_allclose(results[0], results[2], atol=1e-6)


def test_int8_quantisation_is_close_and_reaches_nested_models(tmp_path: Path) -> None:
    clf, ner = two_heads(tmp_path)
    before = clf.predict_proba(TEXTS)
    assert quantize(clf, "none") is clf
    quantize(clf, "int8")
    # every Linear replaced by its dynamic int8 version, except in the frozen bottom (float: shared)
    bottom = {id(m) for part in clf.net.encoder.bottom() for m in part.modules()}
    linear = [m for m in clf.net.modules() if type(m) is torch.nn.Linear]
    assert linear and all(id(m) in bottom for m in linear)
    assert any(type(m) is not torch.nn.Linear and "Linear" in type(m).__name__ for m in clf.net.modules())
    np.testing.assert_allclose(clf.predict_proba(TEXTS), before, atol=0.05)
    assert len(torch_modules({"parts": [clf, ner]})) == 0  # a dict is not walked: only objects and lists
    assert torch_modules([clf, ner]) == [clf.net, ner.net]
    # an aspect model's polarity ensemble: aspect model -> ensemble -> members -> member -> net
    aspect = SimpleNamespace(extractor=ner, polarity=SimpleNamespace(members=[clf], weights=[1.0]))
    assert torch_modules(aspect) == [ner.net, clf.net]
    with pytest.raises(ValueError, match="quantization must be one of none, int8, int8-channel; got 'fp16'"):
        quantize(clf, "fp16")


def test_int8_channel_gives_each_output_row_its_own_scale(tmp_path: Path) -> None:
    clf, _ = two_heads(tmp_path)
    before = clf.predict_proba(TEXTS)
    quantize(clf, "int8-channel")
    quantised = [m for m in clf.net.modules() if isinstance(m, RowInt8Linear)]
    assert quantised
    for m in quantised:
        assert m.weight_int8.dtype == torch.int8 and m.weight_scale.numel() == m.out_features
        assert len(set(m.weight_scale.tolist())) > 1  # a scale of its own per output row
    np.testing.assert_allclose(clf.predict_proba(TEXTS), before, atol=0.05)


@pytest.mark.parametrize("per_channel", [False, True])
def test_an_int8_linear_reads_each_row_alone_whatever_it_is_batched_with(per_channel: bool) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 8)
    layer = RowInt8Linear(linear, per_channel)
    x = torch.randn(1, 3, 16)
    loud = 1000 * torch.randn(2, 3, 16)  # texts whose activations are a thousand times larger
    alone = layer(x)
    assert alone.shape == (1, 3, 8) and alone.dtype == torch.float32
    assert torch.equal(layer(torch.cat([x, loud]))[:1], alone)  # not a bit changed by its neighbours
    assert torch.equal(layer(torch.cat([loud, x]))[2:], alone)
    with torch.no_grad():
        assert (alone - linear(x)).abs().max() < 0.05  # and near the float layer
    # PyTorch's dynamic quantisation, which this replaces, scales a whole batch at once.
    dynamic = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear}, torch.qint8)
    assert not torch.equal(dynamic(torch.cat([x, loud]))[:1], dynamic(x))


def test_int8_leaves_a_bilstm_float_so_each_text_is_read_alone() -> None:
    lstm = torch.nn.LSTM(8, 6, batch_first=True, bidirectional=True)
    holder = type("Holder", (), {})()
    holder.net = torch.nn.Sequential(lstm, torch.nn.Linear(12, 3))
    x = torch.randn(3, 5, 8)
    quantize(holder, "int8")
    assert type(holder.net[0]) is torch.nn.LSTM and isinstance(holder.net[1], RowInt8Linear)
    with torch.inference_mode():
        alone = holder.net[1](holder.net[0](x[:1])[0])
        batched = holder.net[1](holder.net[0](torch.cat([x[:1], 100 * x[1:]]))[0])[:1]
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=0)


def test_a_part_named_float_stays_float_and_the_rest_is_quantised() -> None:
    # An aspect model whose polarity classifier lost accuracy to int8 serves it float32, the extractor int8.
    aspect = SimpleNamespace(
        extractor=SimpleNamespace(net=torch.nn.Sequential(torch.nn.Linear(4, 4))),
        polarity=SimpleNamespace(members=[SimpleNamespace(net=torch.nn.Sequential(torch.nn.Linear(4, 3)))]),
    )
    quantize(aspect, "int8", ["polarity"])
    assert type(aspect.polarity.members[0].net[0]) is torch.nn.Linear
    assert type(aspect.extractor.net[0]) is not torch.nn.Linear
    with pytest.raises(AttributeError):
        quantize(aspect, "int8", ["opinions"])  # a part the model does not have is an error, not a no-op


def test_an_int8_head_and_a_float_head_share_one_float_bottom(tmp_path: Path) -> None:
    clf, ner = two_heads(tmp_path)
    tags = ner.tag_tokens([t.split() for t in TEXTS])
    shared = share_bottom(clf.net.encoder)
    quantize(clf, "int8")  # as the runner does: share, then quantise as each model's metadata says
    assert share_bottom(ner.net.encoder) is shared
    assert all(type(m) is torch.nn.Linear for m in shared.modules() if "Linear" in type(m).__name__)
    assert ner.tag_tokens([t.split() for t in TEXTS]) == tags  # the float head still sees a float bottom


def test_training_above_a_cached_bottom_gives_the_uncached_logits_and_gradients(tmp_path: Path) -> None:
    encoder, tok = load_encoder(tiny_encoder_folder(tmp_path / "enc"))
    torch.manual_seed(0)
    net = EncoderClassifier(encoder.freeze_bottom(1), 2)
    net.train()
    for module in net.modules():  # the learning layers' dropout would make two passes differ
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "dropout_p"):
            module.dropout_p = 0.0
    batch = EncoderModel(net, tok, ["neg", "pos"], max_tokens=16).encode(TEXTS)
    keys = set(net.state_dict())

    def logits_and_grads() -> tuple[torch.Tensor, list[torch.Tensor]]:
        net.zero_grad(set_to_none=True)
        out = net(**batch)
        out.sum().backward()
        return out.detach(), [p.grad.clone() for p in net.parameters() if p.grad is not None]

    plain, plain_grads = logits_and_grads()
    with cached_bottom(encoder, capacity=100) as cache:
        assert cache is not None
        first, _ = logits_and_grads()
        again, grads = logits_and_grads()
        assert (cache.misses, cache.hits) == (len(TEXTS), len(TEXTS))  # the second epoch read the cache
    assert torch.allclose(first, plain, atol=1e-5) and torch.allclose(again, plain, atol=1e-5)
    assert len(grads) == len(plain_grads) and all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, plain_grads))
    assert all(p.grad is None for p in encoder.embeddings.parameters())  # the bottom still learns nothing
    assert encoder.shared is None and set(net.state_dict()) == keys  # nothing of the cache stays
    with cached_bottom(encoder, capacity=0) as none:
        assert none is None and encoder.shared is None


def test_the_training_cache_is_sized_to_what_repeats() -> None:
    from training.common import bottom_cache_bytes, bottom_cache_texts

    train, val, once = ["a", "b", "c", "a"], ["d", "e"], ["a", "b", "c"]
    # a repeated row: 3 distinct training texts + 2 validation ones
    assert bottom_cache_texts(8, 1, train, val) == 5
    assert bottom_cache_texts(8, 1, once, val) == 0  # each text read once: nothing to reuse
    assert bottom_cache_texts(8, 3, once, val) == 5  # every text read three times
    assert bottom_cache_texts(0, 3, train, val) == 0  # nothing frozen, nothing to cache
    assert bottom_cache_bytes(3) == 3 * 1024 * 1024


def test_the_training_cache_holds_what_its_bytes_allow_at_each_texts_real_length(tmp_path: Path) -> None:
    encoder, tok = load_encoder(tiny_encoder_folder(tmp_path / "enc"))
    net = EncoderClassifier(encoder.freeze_bottom(1), 2).eval()
    model = EncoderModel(net, tok, ["neg", "pos"], max_tokens=16)
    hidden = encoder.config.hidden_size
    with torch.no_grad(), cached_bottom(encoder, capacity=100) as unbounded:
        assert unbounded is not None
        net(**model.encode(TEXTS))
        pieces = [states.shape[0] for states in unbounded.cache.values()]
        # each text is held at its own length, not the batch's padded one
        assert unbounded.bytes == sum(pieces) * hidden * 4 and len(set(pieces)) > 1
    longest_two = sum(sorted(pieces)[-2:]) * hidden * 4
    with torch.no_grad(), cached_bottom(encoder, capacity=100, max_bytes=longest_two) as bounded:
        assert bounded is not None
        net(**model.encode(TEXTS))
        assert 0 < bounded.bytes <= longest_two and len(bounded.cache) < len(TEXTS)
        assert bounded.bytes == sum(s.numel() * 4 for s in bounded.cache.values())
        bounded.clear()
        assert bounded.bytes == 0 and not bounded.cache


@pytest.fixture
def own_shared_bottoms(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process-wide table of shared bottoms for this test alone: the tiny encoder's weights are
    seeded, so every test's bottom has the same digest, and a bottom quantised here must not
    serve another test."""
    from mining.models import bert

    monkeypatch.setattr(bert, "_SHARED", {})


def _kinds(encoder: torch.nn.Module) -> tuple[set[str], set[str]]:
    """The kinds of Linear layer in the bottom and in the top of ``encoder``."""
    layers = encoder.encoder.layer  # type: ignore[union-attr]

    def kinds(part: Any) -> set[str]:
        return {type(m).__name__ for layer in part for m in layer.modules() if type(m).__name__.endswith("Linear")}

    return kinds(layers[: encoder.frozen_layers]), kinds(layers[encoder.frozen_layers :])  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["int8", "int8-channel", "bf16"])
def test_a_quantised_shared_bottom_serves_every_head_close_to_float(
    tmp_path: Path, mode: str, own_shared_bottoms: None
) -> None:
    from mining.artifacts import quantize_bottom

    clf, ner = two_heads(tmp_path)
    probs = clf.predict_proba(TEXTS)
    shared = share_bottom(clf.net.encoder)
    assert shared is not None and share_bottom(ner.net.encoder) is shared
    clf.predict_proba(TEXTS)
    assert shared.cache  # float states cached ...
    assert quantize_bottom(clf.net.encoder, mode)
    assert not shared.cache  # ... and dropped with the float weights
    assert not quantize_bottom(ner.net.encoder, mode)  # one bottom: already done for both heads
    bottom = {p.dtype for layer in shared.layers for p in layer.parameters()}
    top = {p.dtype for p in clf.net.encoder.encoder.layer[1].parameters()}
    if mode == "bf16":
        assert bottom == {torch.bfloat16} and _kinds(clf.net.encoder) == ({"Linear"}, {"Linear"})
    else:
        int8 = [m for m in shared.modules() if isinstance(m, RowInt8Linear)]
        assert len(int8) == 6 and bottom == {torch.float32}  # q, k, v, out, up, down; the layer norms float
        assert _kinds(clf.net.encoder)[1] == {"Linear"}
    assert top == {torch.float32} and {p.dtype for p in shared.embeddings.parameters()} == {torch.float32}
    got = clf.predict_proba(TEXTS)
    assert got.dtype == probs.dtype and np.abs(got - probs).max() < 0.05
    assert not np.array_equal(got, probs)  # the bottom did change
    assert len(ner.tag_tokens([t.split() for t in TEXTS])) == len(TEXTS)  # the other head reads it too


def test_a_bottom_is_quantised_once_and_never_on_request(tmp_path: Path, own_shared_bottoms: None) -> None:
    from mining.artifacts import quantize_bottom

    clf, _ = two_heads(tmp_path)
    share_bottom(clf.net.encoder)
    assert not quantize_bottom(clf.net.encoder, "none")
    assert _kinds(clf.net.encoder) == ({"Linear"}, {"Linear"})
    assert quantize_bottom(clf.net.encoder, "int8")
    assert not quantize_bottom(clf.net.encoder, "bf16")  # an int8 bottom is not cast on top of that
    assert not quantize_bottom(clf.net.encoder, "int8")
    with pytest.raises(ValueError, match="bottom quantization must be one of none, int8, int8-channel, bf16"):
        quantize_bottom(clf.net.encoder, "fp16")
    encoder, _ = load_encoder(tiny_encoder_folder(tmp_path / "plain"))
    assert not quantize_bottom(encoder, "int8")  # no frozen layers: nothing is a bottom


def test_the_runner_keeps_a_float_bottom_for_the_reply_ranker(
    tmp_path: Path, own_shared_bottoms: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its stored reply vectors were made with the float bottom: where the heads' shared bottom is
    quantised, it gets a float copy of its own; the heads share the quantised one."""
    from mining.settings import Settings
    from runners.base import RunnerBase

    clf, ner = two_heads(tmp_path)
    ranker = SimpleNamespace(float_bottom=True, encoder=ner.net)
    runner = object.__new__(RunnerBase)
    runner.settings = Settings(bottom_quantization="bf16")
    runner.optimise(clf, {})
    runner.optimise(ranker, {})
    assert clf.net.encoder.shared is not None and ner.net.encoder.shared is None
    assert {p.dtype for p in clf.net.encoder.encoder.layer[0].parameters()} == {torch.bfloat16}
    assert {p.dtype for p in ner.net.encoder.encoder.layer[0].parameters()} == {torch.float32}
    runner.settings = Settings(bottom_quantization="none")
    other, _ = two_heads(tmp_path / "again")
    runner.optimise(SimpleNamespace(float_bottom=True, encoder=other.net), {})
    assert other.net.encoder.shared is not None  # nothing quantised: the ranker shares as before


def test_the_bottom_evaluation_scores_each_mode_against_float_on_the_same_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_shared_bottoms: None
) -> None:
    from training import eval_bottom_quantization as ev
    from training.intervals import mean_of

    two_heads(tmp_path)
    y = load_artifact(tmp_path / "clf", torch.device("cpu")).predict_proba(TEXTS).argmax(1)  # float: all right
    stored = SimpleNamespace(tag="fake:v1", path=str(tmp_path / "clf"), info=SimpleNamespace(metadata={"params": {}}))
    monkeypatch.setattr(ev, "stored_model", lambda tag: stored)
    loads: list[Any] = []

    def load() -> Any:
        loads.append(load_artifact(tmp_path / "clf", torch.device("cpu")))
        return loads[-1]

    def scorer(spec: Any, path: Path, params: dict[str, Any], max_items: int) -> Any:
        score = lambda m: (m.predict_proba(TEXTS).argmax(1) == y).astype(float)  # noqa: E731
        return ev.Scorer(len(TEXTS), load, score, mean_of, "served_val_accuracy")

    monkeypatch.setitem(ev.SCORERS, "fake", scorer)
    out = ev.evaluate_head(SimpleNamespace(name="fake", task="fake"), ["bf16", "int8"], 0)  # type: ignore[arg-type]
    assert out["none"] == 1.0 and out["n"] == len(TEXTS) and out["frozen_layers"] == [1]
    for mode in ("bf16", "int8"):
        assert out[mode]["diff"]["diff"] == round(out[mode]["score"] - 1.0, 4)
        assert out[mode]["within_rule"] == (out[mode]["diff"]["diff"] >= -ev.ALLOWED_DROP)
    from bentoml.exceptions import NotFound

    def missing(tag: str) -> Any:
        raise NotFound(f"no {tag}")

    monkeypatch.setattr(ev, "stored_model", missing)  # an optional model the store lacks
    assert ev.evaluate_head(SimpleNamespace(name="fake", task="fake"), ["bf16"], 0)["skipped"] == "not in the store"  # type: ignore[arg-type]
    # Each mode on a fresh load: the float model was not quantised under the first measurement.
    assert len(loads) == 4 and {p.dtype for p in loads[1].net.encoder.encoder.layer[0].parameters()} == {torch.float32}
    assert {p.dtype for p in loads[2].net.encoder.encoder.layer[0].parameters()} == {torch.bfloat16}
