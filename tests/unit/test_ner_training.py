import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bentoml
import numpy as np
import pytest

from mining.models.ner import DictionaryNerModel, load_ner_artifact, tags_to_spans
from training import data, train_ner
from training.intervals import f1_of_counts
from training.ner_data import block_split, disjoint_split, drop_seen, group_split, with_negatives
from training.product_labels import ProductLabeler
from training.tagging import cut_long, entity_scores, evaluate
from training.train_ner import DictionaryTagger, NerConfig, choose_and_score, label_source


def test_entity_scores_count_exact_spans_only() -> None:
    gold = [[("PER", 0, 2), ("LOC", 3, 4)], [("ORG", 1, 3)]]
    pred = [[("PER", 0, 2), ("LOC", 3, 5)], [("ORG", 1, 3), ("PER", 4, 5)]]
    s = entity_scores(gold, pred)
    assert s["precision"] == pytest.approx(2 / 4) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert s["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert s["per_type"]["PER"]["support"] == 1 and s["per_type"]["PER"]["precision"] == 0.5
    assert entity_scores([[]], [[]])["f1"] == 0.0
    assert s["counts"] == [[1, 1, 1], [1, 1, 0]]  # (tp, fp, fn) per sentence


def test_per_sentence_counts_give_the_headline_f1_exactly() -> None:
    rng = random.Random(3)
    types = ["PER", "LOC", "ORG"]
    for _ in range(20):
        gold, pred = [], []
        for _ in range(rng.randint(1, 60)):
            spans = [(rng.choice(types), i, i + rng.randint(1, 3)) for i in range(0, 30, 4) if rng.random() < 0.4]
            gold.append(spans)
            # Keep some gold spans, move or retype others, add a few of its own.
            pred.append(
                [s if rng.random() < 0.6 else (rng.choice(types), s[1], s[2] + 1) for s in spans]
                + [(rng.choice(types), 31, 33)] * (rng.random() < 0.2)
            )
        s = entity_scores(gold, pred)
        assert f1_of_counts(s["counts"])(np.arange(len(gold))) == s["f1"]  # exact, not approximate
        tp, fp, fn = np.asarray(s["counts"]).sum(0)
        assert tp == sum(len(set(g) & set(p)) for g, p in zip(gold, pred))
        assert s["precision"] == pytest.approx(tp / (tp + fp)) if tp + fp else s["precision"] == 0.0
        assert s["recall"] == pytest.approx(tp / (tp + fn)) if tp + fn else s["recall"] == 0.0
        p_, r_ = s["precision"], s["recall"]
        assert s["f1"] == pytest.approx(2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0.0)


def test_evaluate_counts_agree_with_its_f1_for_the_dictionary() -> None:
    train = [(list("我在北京"), ["O", "O", "B-LOC", "E-LOC"]), (list("张伟来了"), ["B-PER", "E-PER", "O", "O"])]
    test = [
        (list("北京张伟"), ["B-LOC", "E-LOC", "B-PER", "E-PER"]),  # both found
        (list("上海很大"), ["B-LOC", "E-LOC", "O", "O"]),  # missed
        (list("北京"), ["O", "O"]),  # a false alarm
    ]
    s = evaluate(DictionaryTagger(train, lang="zh"), test)
    assert s["counts"] == [[2, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert s["f1"] == f1_of_counts(s["counts"])(np.arange(3)) == 2 * 2 / (2 * 2 + 1 + 1)


def test_dictionary_baseline_matches_longest_and_drops_usually_plain_strings() -> None:
    train = [
        (list("我去北京大学"), ["O", "O", "B-ORG", "M-ORG", "M-ORG", "E-ORG"]),
        (list("北京很大"), ["B-LOC", "E-LOC", "O", "O"]),
        (list("大家好大"), ["O", "O", "O", "O"]),
        (list("大"), ["S-LOC"]),  # "大" is an entity once in five occurrences: not in the gazetteer
    ]
    tagger = DictionaryTagger(train)
    assert tagger.match(list("北京大学和北京")) == [("ORG", 0, 4), ("LOC", 5, 7)]
    assert tagger.match(list("大")) == []


def test_dictionary_baseline_round_trips_as_a_served_artifact(tmp_path: Path) -> None:
    train = [
        (["Samsung", "Galaxy", "phone"], ["B-BRAND", "I-BRAND", "B-CATEGORY"]),
        (["a", "phone"], ["O", "O"]),
        (["the", "phone"], ["O", "O"]),
    ]
    tagger = DictionaryTagger(train, lang="en")
    assert tagger.entries == {("Samsung", "Galaxy"): "BRAND"}  # "phone" is an entity in 1 of 3 places
    tagger.save(tmp_path / "dictionary")
    loaded = load_ner_artifact(tmp_path / "dictionary")
    assert isinstance(loaded, DictionaryNerModel) and loaded.entries == tagger.entries
    tokens = ["my", "Samsung", "Galaxy", "and", "Samsung", "Galaxy"]
    assert loaded.tag_tokens([tokens])[0][0] == ["O", "B-BRAND", "I-BRAND", "O", "B-BRAND", "I-BRAND"]
    assert evaluate(loaded, [(tokens, ["O", "B-BRAND", "I-BRAND", "O", "O", "O"])])["counts"] == [[1, 1, 0]]


class _Stub:
    """A model that is only a name: the stub scorer looks its scores up."""

    def __init__(self, name: str) -> None:
        self.name = name


def _choose(
    f1: dict[tuple[str, str], float], requested: str = "int8", fallback: bool = True
) -> tuple[Any, list[tuple[str, str]]]:
    """Run :func:`choose_and_score` with stub models and a scorer that answers ``f1[(model, split)]``
    and records each (model, split) it is asked for, in order."""
    splits: dict[str, list[Any]] = {"train": [], "val": [([], [])], "test": [([], [])]}
    calls: list[tuple[str, str]] = []

    def scorer(model: _Stub, sentences: Sequence[Any]) -> dict[str, Any]:
        split = next(k for k, v in splits.items() if v is sentences)
        calls.append((model.name, split))
        return {"f1": f1[model.name, split], "precision": 0.0, "recall": 0.0, "per_type": {}, "counts": [[0, 0, 0]]}

    outcome = choose_and_score(
        requested, lambda: _Stub("fp32"), _Stub("dictionary"), splits, scorer, lambda m, mode: _Stub(mode), fallback
    )
    first_test = next(i for i, c in enumerate(calls) if c[1] == "test")
    assert all(split == "val" for _, split in calls[:first_test])  # every choice before test is read
    assert all(split == "test" for _, split in calls[first_test:])
    return outcome, calls


def test_quantisation_is_chosen_on_validation_and_test_reports_the_served_variant() -> None:
    # int8 keeps validation F1 (0.2 points) but loses 30 points on test: validation decides, test reports.
    f1 = {
        ("fp32", "val"): 0.80,
        ("int8", "val"): 0.798,
        ("fp32", "test"): 0.80,
        ("int8", "test"): 0.50,
        ("dictionary", "val"): 0.60,
        ("dictionary", "test"): 0.90,
    }
    outcome, calls = _choose(f1)
    assert outcome.quantization["mode"] == "int8" and outcome.quantization["chosen_on"] == "validation"
    assert outcome.quantization["metric"] == "val_entity_f1" and outcome.quantization["int8"] == 0.798
    assert outcome.quantization["test_drop_points"] == 30.0 and outcome.quantization["test_served"] == 0.50
    assert outcome.test["f1"] == 0.50 and outcome.val["f1"] == 0.798 and outcome.served is None
    assert outcome.baseline_val["f1"] == 0.60 and outcome.baseline_test["f1"] == 0.90
    assert ("int8-channel", "val") not in calls and calls.count(("int8", "test")) == 1

    # int8 loses 10 validation points and per-row int8 1 point: float32 is served, though int8 ties it on test.
    f1.update({("int8", "val"): 0.70, ("int8", "test"): 0.80, ("int8-channel", "val"): 0.79})
    outcome, calls = _choose(f1)
    assert outcome.quantization["mode"] == "none" and outcome.test["f1"] == 0.80
    assert ("int8", "test") not in calls and ("int8-channel", "test") not in calls
    assert outcome.quantization["test_drop_points"] == 0.0

    outcome, calls = _choose(f1, requested="none")
    assert [c for c in calls if c[0] not in ("fp32", "dictionary")] == []


def test_the_dictionary_is_served_when_the_tagger_loses_on_validation() -> None:
    f1 = {("fp32", "val"): 0.60, ("fp32", "test"): 0.80, ("dictionary", "val"): 0.61, ("dictionary", "test"): 0.30}
    outcome, _ = _choose(f1, requested="none")
    assert outcome.served is not None and outcome.served["model"] == "dictionary"
    assert "0.6000" in outcome.served["reason"] and "0.6100" in outcome.served["reason"]
    assert outcome.served["tagger"]["test_entity_f1"] == 0.80  # kept for the record, not reported
    assert outcome.test["f1"] == 0.30 and outcome.val["f1"] == 0.61 and outcome.quantization["mode"] == "none"
    assert outcome.below_baseline is None
    kept, _ = _choose(f1, requested="none", fallback=False)  # the opt-out serves the tagger and says it lost
    assert kept.served is None and kept.test["f1"] == 0.80 and "below the dictionary's 0.6100" in kept.below_baseline
    f1[("dictionary", "val")] = 0.60  # a tie keeps the tagger
    outcome, _ = _choose(f1, requested="none")
    assert outcome.served is None and outcome.test["f1"] == 0.80 and outcome.below_baseline is None


def test_label_sources_say_which_labels_are_rules() -> None:
    assert label_source(NerConfig(dataset="products").resolve()) == "rules"
    assert label_source(NerConfig(dataset="products-zh").resolve()) == "rules"
    assert label_source(NerConfig(dataset="msra").resolve()) == "gold"
    assert label_source(NerConfig(dataset="wnut16").resolve()) == "gold"
    assert label_source(NerConfig(data="x.conll", lang="zh").resolve()) == "file"


def test_cut_long_never_splits_an_entity() -> None:
    tokens = list("ABCDEFGHIJ")
    tags = ["O", "B-X", "M-X", "M-X", "E-X", "O", "O", "B-X", "E-X", "O"]
    pieces = cut_long([(tokens, tags)], max_len=4)
    assert sum(len(t) for t, _ in pieces) == 10 and all(len(t) <= 4 or "M-X" in g for t, g in pieces)
    rejoined = [tag for _, g in pieces for tag in g]
    assert rejoined == tags
    for _, g in pieces:
        assert g[0][0] in "BSO"  # a piece never starts inside an entity


def test_group_split_keeps_each_brand_on_one_side() -> None:
    titles = [
        f"{b} {n} laptop" for b in ["Acer", "Dell", "HP", "Lenovo", "Asus", "MSI", "LG", "Sony"] for n in range(5)
    ]
    labeler = ProductLabeler(titles)
    sentences = []
    for t in titles:
        words = t.split()
        tags = ["B-BRAND" if i == 0 else "O" for i in range(len(words))]
        sentences.append((words, tags))
    train, val, test = group_split(sentences, "BRAND", (0.25, 0.25), seed=0)
    brands = [{s[0][0] for s in part} for part in (train, val, test)]
    assert not (brands[0] & brands[1]) and not (brands[0] & brands[2]) and not (brands[1] & brands[2])
    assert len(train) + len(val) + len(test) == 40 and test and val
    assert labeler.brands[:1] == ["Bowers & Wilkins"]  # multi-word brands first: longest match wins


def test_disjoint_split_keeps_every_name_of_every_type_on_one_side() -> None:
    # Clauses naming a brand and a product type each (characters, BIO): no string of either type
    # may be seen in training and held out too, also where it is a clause's second name.
    brands, kinds = ["华为", "小米", "海尔", "美的", "蒙牛", "伊利"], ["手机", "冰箱", "牛奶", "电视", "耳机"]
    sentences = []
    for i in range(60):
        b, k = brands[i % 6], kinds[(i // 6) % 5]
        text = f"{b}的{k}好"
        tags = ["B-BRAND", "I-BRAND", "O", "B-CATEGORY", "I-CATEGORY", "O"]
        sentences.append((list(text), tags))
    sentences += [(list("还不错吧"), ["O"] * 4) for _ in range(20)]
    train, val, test = disjoint_split(sentences, ("BRAND", "CATEGORY"), (0.2, 0.2), seed=1)

    def names(part: list[tuple[list[str], list[str]]]) -> set[str]:
        return {"".join(t[0:2]) for t, _ in part if t[0] != "还"} | {"".join(t[3:5]) for t, _ in part if t[0] != "还"}

    held_out = names(val) | names(test)
    assert held_out and not names(train) & held_out
    assert any(t[0] == "还" for t, _ in train) and any(t[0] == "还" for t, _ in test)  # name-free clauses split too


def test_block_split_holds_out_whole_runs_of_consecutive_sentences() -> None:
    # 23 sentences in runs of 5 (the last run 3 long); 2 of the 5 runs held out.
    sentences = [([f"w{i}"], ["O"]) for i in range(23)]
    train, val = block_split(sentences, 0.4, 5, seed=3)
    held = [int(s[0][0][1:]) for s in val]
    runs = sorted({i // 5 for i in held})
    assert len(runs) == 2
    assert held == [i for r in runs for i in range(5 * r, min(5 * r + 5, 23))]  # each run whole, in order
    assert sorted(held + [int(s[0][0][1:]) for s in train]) == list(range(23))
    assert block_split(sentences, 0.4, 5, seed=3) == (train, val)  # the seed fixes the draw


def test_validation_and_test_lose_the_sentences_training_holds() -> None:
    train = [(["RT", "@bot", ":", "win", "an", "iPad"], ["O", "O", "O", "O", "O", "B-PRODUCT"])]
    copy = (["rt", "@bot", "win", "an", "ipad", "!"], ["O"] * 6)  # the same tweet, case and punctuation aside
    other = (["win", "a", "phone"], ["O", "O", "B-PRODUCT"])
    val, test, dropped = drop_seen(train, [copy, other], [other, copy, copy])
    assert val == [other] and test == [other] and dropped == (1, 2)


def test_product_rules_label_a_title() -> None:
    titles = [
        'Samsung 65" Class - QN90C Series - 4K UHD TV',
        "Duracell AA Batteries, 40-count",
        'HP 14" Laptop - Intel Core i5-1335U - 512GB SSD - 2-in-1',
    ]
    labeler = ProductLabeler(titles)
    spans = {t: [(e, t[s:x]) for e, s, x in labeler.spans(t)] for t in titles}
    assert spans[titles[0]] == [
        ("BRAND", "Samsung"),
        ("SIZE", '65"'),
        ("MODEL", "QN90C"),
        ("RESOLUTION", "4K"),
        ("CATEGORY", "TV"),
    ]
    assert spans[titles[1]] == [("BRAND", "Duracell"), ("CATEGORY", "Batteries"), ("COUNT", "40-count")]
    assert ("MODEL", "i5-1335U") in spans[titles[2]] and ("CAPACITY", "512GB") in spans[titles[2]]
    assert ("BRAND", "Intel") in spans[titles[2]] and not any(v == "2-in" for _, v in spans[titles[2]])


def test_conll_round_trip_and_bad_lines(tmp_path: Path) -> None:
    sents = [(["北", "京"], ["B-LOC", "E-LOC"]), (["Hi", "there"], ["O", "O"])]
    path = data.write_conll(sents, tmp_path / "x.conll")
    assert data.read_conll(path) == sents
    (tmp_path / "bad.conll").write_text("北\tB-LOC\n京\n")
    with pytest.raises(ValueError, match=r"bad.conll:2: expected 'token<TAB>tag'"):
        data.read_conll(tmp_path / "bad.conll")


def _synthetic(path: Path, n: int, seed: int) -> Path:
    """Sentences of filler characters with city and person names dropped in: a tagger must learn
    the names (and their contexts) to near-perfect F1."""
    rng = random.Random(seed)
    cities, people, filler = (
        ["北京", "上海", "广州", "深圳"],
        ["张伟", "王芳", "李娜"],
        list("的了在是我有和人这中大为上个国"),
    )
    sents = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(2, 4)):
            f = rng.choices(filler, k=rng.randint(1, 4))
            tokens += f
            tags += ["O"] * len(f)
            name, etype = (rng.choice(cities), "LOC") if rng.random() < 0.5 else (rng.choice(people), "PER")
            tokens += list(name)
            tags += [f"B-{etype}", f"E-{etype}"]
        sents.append((tokens, tags))
    return data.write_conll(sents, path)


def test_training_smoke_learns_a_known_answer(tmp_path: Path) -> None:
    conll = _synthetic(tmp_path / "synthetic.conll", 240, seed=1)
    result = train_ner.main(
        [
            "--data",
            str(conll),
            "--lang",
            "zh",
            "--epochs",
            "6",
            "--hidden",
            "16",
            "--embed-dim",
            "16",
            "--bigram-buckets",
            "256",
            "--bigram-dim",
            "8",
            "--batch-size",
            "16",
            "--lr",
            "0.02",
            "--report-dir",
            str(tmp_path / "reports"),
            "--threads",
            "1",
        ]
    )
    assert result["test_entity_f1"] > 0.95
    assert result["baseline"]["test_entity_f1"] > 0.95  # every name is in the training dictionary
    lo, hi = result["ci95"]["test_entity_f1"]
    assert lo <= result["test_entity_f1"] <= hi and result["n_test_items"] == 24
    vs = result["vs_baseline"]["test_entity_f1"]
    assert vs["diff"] == round(result["test_entity_f1"] - result["baseline"]["test_entity_f1"], 4)
    assert result["label_source"] == "file" and result["quantization"]["chosen_on"] == "validation"
    assert result["tag"].startswith("ner-zh:")
    assert (tmp_path / "reports" / "ner-zh" / "loss.png").exists()
    assert tags_to_spans(["B-LOC", "E-LOC"], "BMES") == [("LOC", 0, 2)]


def test_product_model_metadata_says_its_labels_are_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2)
    brands, words = ["Acer", "Dell", "Lenovo", "Asus"], ["laptop", "with", "fast", "screen", "new", "black"]
    sents = []
    for _ in range(90):
        filler = rng.choices(words, k=rng.randint(2, 5))
        sents.append(([rng.choice(brands), *filler], ["B-BRAND"] + ["O"] * len(filler)))
    splits = {"train": sents[:60], "val": sents[60:75], "test": sents[75:]}
    monkeypatch.setattr(train_ner, "load_splits", lambda cfg: (splits, "synthetic titles"))
    # One epoch at a tiny learning rate: the tagger is still guessing, the dictionary knows every brand.
    args = ["--dataset", "products", "--arch", "bilstm", "--epochs", "1", "--lr", "1e-6", "--hidden", "8"]
    args += ["--embed-dim", "8", "--bigram-buckets", "0", "--threads", "1", "--report-dir", str(tmp_path)]
    result = train_ner.main(args)
    meta = bentoml.models.get(result["tag"]).info.metadata
    assert result["tag"].startswith("ner-products-en:")
    assert meta["data"]["label_source"] == "rules" and result["label_source"] == "rules"
    assert meta["served"]["model"] == "dictionary" and meta["metrics"]["test_entity_f1"] == 1.0
    assert meta["baseline_metrics"]["val_entity_f1"] == 1.0 > meta["served"]["tagger"]["val_entity_f1"]
    assert meta["vs_baseline"]["test_entity_f1"]["diff"] == 0.0 and meta["quantization"]["mode"] == "none"
    served = load_ner_artifact(Path(bentoml.models.get(result["tag"]).path))
    assert isinstance(served, DictionaryNerModel) and served.tag_tokens([["Dell", "laptop"]])[0][0] == ["B-BRAND", "O"]


def test_the_dictionary_reads_every_training_sentence_when_the_tagger_reads_fewer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(3)
    words = ["laptop", "with", "fast", "screen", "new", "black"]
    sents = []
    for i in range(90):  # the first 10 titles name Acer only; the rest, and validation and test, others
        filler = rng.choices(words, k=rng.randint(2, 5))
        brand = "Acer" if i < 10 else rng.choice(["Dell", "Lenovo", "Asus"])
        sents.append(([brand, *filler], ["B-BRAND"] + ["O"] * len(filler)))
    splits = {"train": sents[:60], "val": sents[60:75], "test": sents[75:]}
    monkeypatch.setattr(train_ner, "load_splits", lambda cfg: (splits, "synthetic titles"))
    args = ["--dataset", "products", "--service-negatives", "0", "--network-samples", "10", "--arch", "bilstm"]
    args += ["--epochs", "1", "--hidden", "8", "--embed-dim", "8", "--bigram-buckets", "0", "--threads", "1"]
    result = train_ner.main([*args, "--report-dir", str(tmp_path)])
    meta = bentoml.models.get(result["tag"]).info.metadata
    assert (meta["data"]["n_train"], meta["data"]["n_network_train"]) == (60, 10)
    # Cut to the tagger's 10 titles the dictionary would know no validation brand; it knows them all.
    assert meta["baseline_metrics"]["val_entity_f1"] == 1.0


def test_negatives_are_a_seeded_share_of_the_training_titles_capped_at_all() -> None:
    titles = [([f"t{i}"], ["B-BRAND"]) for i in range(10)]
    messages = [([f"m{i}", "my"], ["O", "O"]) for i in range(30)]
    mixed = with_negatives(titles, messages, 0.5, seed=1)
    assert len(mixed) == 15 and all(t in mixed for t in titles)
    assert with_negatives(titles, messages, 0.5, seed=1) == mixed  # seeded
    assert len(with_negatives(titles, messages, 10.0, seed=1)) == 40  # no message twice
    assert sorted(with_negatives(titles, messages, 0.0, seed=1)) == sorted(titles)


def test_false_entities_count_what_a_model_finds_in_messages_without_any() -> None:
    messages = [(["my", "order"], ["O", "O"]), (["can", "i", "talk"], ["O", "O", "O"]), (["hello"], ["O"])]
    # A gazetteer that takes "my" and "talk" for brands: 1 + 1 + 0 entities in three messages.
    bad = DictionaryNerModel({("my",): "BRAND", ("talk",): "BRAND"}, "en", 3)
    empty = DictionaryNerModel({("nothing",): "BRAND"}, "en", 3)
    got = train_ner.false_entities(bad, empty, messages)
    assert got["n_messages"] == 3 and got["per_message"] == pytest.approx(2 / 3, abs=1e-4)
    assert got["share_with_any"] == pytest.approx(2 / 3, abs=1e-4) and got["dictionary_per_message"] == 0.0
    assert got["vs_dictionary"]["verdict"] != "ahead"  # more false entities is never ahead
    assert train_ner.false_entities(empty, bad, messages)["per_message"] == 0.0


def test_a_file_without_entities_is_refused_in_words(tmp_path: Path) -> None:
    path = data.write_conll([(["hello", f"world{i}"], ["O", "O"]) for i in range(30)], tmp_path / "o.conll")
    with pytest.raises(ValueError, match="every tag is O"):
        train_ner.main(["--data", str(path), "--lang", "en", "--no-save", "--report-dir", str(tmp_path)])
