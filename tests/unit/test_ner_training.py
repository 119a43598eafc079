import random
from pathlib import Path

import pytest

from mining.models.ner import tags_to_spans
from training import data, train_ner
from training.product_labels import ProductLabeler
from training.train_ner import DictionaryTagger, cut_long, entity_scores, group_split


def test_entity_scores_count_exact_spans_only() -> None:
    gold = [[("PER", 0, 2), ("LOC", 3, 4)], [("ORG", 1, 3)]]
    pred = [[("PER", 0, 2), ("LOC", 3, 5)], [("ORG", 1, 3), ("PER", 4, 5)]]
    s = entity_scores(gold, pred)
    assert s["precision"] == pytest.approx(2 / 4) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert s["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert s["per_type"]["PER"]["support"] == 1 and s["per_type"]["PER"]["precision"] == 0.5
    assert entity_scores([[]], [[]])["f1"] == 0.0


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
    assert result["tag"].startswith("ner-zh:")
    assert (tmp_path / "reports" / "ner-zh" / "loss.png").exists()
    assert tags_to_spans(["B-LOC", "E-LOC"], "BMES") == [("LOC", 0, 2)]
