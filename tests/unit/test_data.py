import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training import data
from training.common import classification_metrics, confusion_matrix, stratified_split
from training.data import sources


def test_read_table_validates_columns(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    pd.DataFrame({"text": ["a"], "label": ["x"]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"missing \['lang'\]"):
        data.read_table(p, data.REVIEWS)


def test_read_table_rejects_empty_values(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    pd.DataFrame({"text": ["good", " "], "label": ["pos", "neg"], "lang": ["en", "en"]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"column 'text' is empty in 1 rows, e.g. data rows \[2\]"):
        data.read_table(p, data.REVIEWS)


def test_labels_spelt_with_spaces_or_another_case_are_one_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "r.csv"
    labels = ["positive", "Positive", "positive ", "negative", " NEGATIVE", "negative", "neutral"]
    pd.DataFrame({"text": list("abcdefg"), "label": labels, "lang": "en"}).to_csv(p, index=False)
    table = data.read_table(p, data.REVIEWS)
    assert table["label"].tolist() == ["positive"] * 3 + ["negative"] * 3 + ["neutral"]
    assert "'NEGATIVE' -> 'negative', 'Positive' -> 'positive'" in capsys.readouterr().err
    # The text keeps what was written; only labels are read this way.
    q = tmp_path / "t.csv"
    pd.DataFrame({"text": [" a ", "b"], "label": ["TV", "tv"]}).to_csv(q, index=False)
    assert data.read_table(q, data.LABELLED_TEXTS)["text"].tolist() == [" a ", "b"]


def test_interactions_take_date_times_and_default_weights(tmp_path: Path) -> None:
    p = tmp_path / "events.csv"
    times = ["2024-05-01T10:00:00", "2024-05-01 18:00:00+08:00", "2024-05-02"]
    pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"], "ts": times}).to_csv(p, index=False)
    df = data.read_table(p, data.INTERACTIONS)
    assert df["ts"].tolist() == [1714557600, 1714557600, 1714608000]  # no zone: UTC; +08:00 is 10:00 UTC
    assert df["weight"].tolist() == [1.0, 1.0, 1.0]
    pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "weight": [3], "ts": [1714557600]}).to_csv(p, index=False)
    assert data.read_table(p, data.INTERACTIONS)["ts"].tolist() == [1714557600]  # Unix seconds as before
    pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "ts": ["2024-05-01", "yesterday"]}).to_csv(
        p, index=False
    )
    with pytest.raises(ValueError, match=r"column 'ts' needs numbers; 1 rows .* \['yesterday'\]"):
        data.read_table(p, data.INTERACTIONS)


def test_language_tags_are_read_as_their_language(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    langs = ["zh-CN", "ZH", "zh_TW", "en-US", " en ", "fr"]
    pd.DataFrame({"text": list("abcdef"), "label": ["x", "y"] * 3, "lang": langs}).to_csv(p, index=False)
    assert data.read_table(p, data.REVIEWS)["lang"].tolist() == ["zh", "zh", "zh", "en", "en", "fr"]
    pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"], "lang": ["EN", ""]}).to_csv(p, index=False)
    assert data.read_table(p, data.LABELLED_TEXTS)["lang"].tolist() == ["en", ""]  # optional: empty is detected


def test_read_table_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected a .csv, .tsv or .parquet"):
        data.read_table(tmp_path / "r.json", data.REVIEWS)


def test_fixture_table_matches_schema(fixtures_dir: Path) -> None:
    df = data.read_table(fixtures_dir / "reviews_tiny.csv", data.REVIEWS)
    assert list(df.columns) == ["text", "label", "lang", "source"]
    assert set(df["source"]) == {"own"}  # an optional column the file leaves out takes its default
    assert set(df["lang"]) == {"zh", "en"} and set(df["label"]) == {"positive", "negative"}


def test_fetch_rejects_a_corrupt_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = data.Source("fake", "fake-pkg", "1.0", "fake_pkg-1.0-py3-none-any.whl", "0" * 64, "none")
    monkeypatch.setitem(data.SOURCES, "fake", src)
    archive = tmp_path / "archives" / src.filename
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"not the real archive")
    # The cached archive's digest is wrong, so fetch re-downloads; block the download to see the check.
    monkeypatch.setattr(data.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(OSError, match="offline"):
        data.fetch("fake", tmp_path)


def test_fetch_verifies_sha256_after_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = data.Source("fake", "fake-pkg", "1.0", "fake_pkg-1.0-py3-none-any.whl", "0" * 64, "none")
    monkeypatch.setitem(data.SOURCES, "fake", src)

    def fake_download(cmd: list[str], **kwargs: object) -> None:
        Path(cmd[cmd.index("-d") + 1], src.filename).write_bytes(b"tampered")

    monkeypatch.setattr(data.subprocess, "run", fake_download)
    with pytest.raises(RuntimeError, match="does not match the pinned"):
        data.fetch("fake", tmp_path)
    assert not (tmp_path / "archives" / src.filename).exists()


def test_runs_building_the_same_cache_entry_at_once_all_succeed(tmp_path: Path) -> None:
    # Two runs sharing a cache (a second bootstrap, the tests' store beside a training) once wrote
    # one ".partial" name: the second rename found the file gone.
    sentences = [([f"t{i}", "x"], ["B-PER", "O"]) for i in range(3000)]
    out = tmp_path / "tables" / "same.conll"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            for _ in range(5):
                data.write_conll(sentences, out)
        except BaseException as err:  # noqa: BLE001 - the test reports what a thread raised
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert data.read_conll(out) == sentences
    assert sorted(p.name for p in out.parent.iterdir()) == ["same.conll"]


def test_fetch_keeps_the_copy_another_run_unpacked_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pkg/data.txt", "rows")
    wheel = buf.getvalue()
    src = data.Source(
        "fake", "fake-pkg", "1.0", "fake_pkg-1.0-py3-none-any.whl", hashlib.sha256(wheel).hexdigest(), "none"
    )
    monkeypatch.setitem(data.SOURCES, "fake", src)
    target = tmp_path / "raw" / "fake-pkg-1.0"

    def download_while_another_run_finishes(cmd: list[str], **kwargs: object) -> None:
        Path(cmd[cmd.index("-d") + 1], src.filename).write_bytes(wheel)
        # The other run publishes its unpacked copy while this one is still downloading.
        (target / "pkg").mkdir(parents=True)
        (target / "pkg" / "data.txt").write_text("rows")
        (target / ".ok").write_text(src.sha256)
        kept.append((target / "pkg" / "data.txt").stat().st_ino)

    kept: list[int] = []
    monkeypatch.setattr(data.subprocess, "run", download_while_another_run_finishes)
    assert data.fetch("fake", tmp_path) == target
    # The other run's files are still the ones there (a reader of them is not cut off), and no
    # partial copy is left behind.
    assert (target / "pkg" / "data.txt").stat().st_ino == kept[0]
    assert sorted(p.name for p in target.parent.iterdir()) == ["fake-pkg-1.0"]
    assert sorted(p.name for p in (tmp_path / "archives").iterdir()) == [src.filename]


def test_stratified_split_partitions_and_stratifies() -> None:
    y = np.array([0] * 80 + [1] * 20)
    tr, va, te = stratified_split(y, seed=3)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(100))
    assert (len(tr), len(va), len(te)) == (80, 10, 10)
    assert (y[te] == 1).sum() == 2 and (y[va] == 1).sum() == 2
    assert np.array_equal(stratified_split(y, seed=3)[2], te)


def test_classification_metrics_hand_computed() -> None:
    y_true, y_pred = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    m = classification_metrics(y_true, y_pred, 3)
    # F1: class 0 = 2*1/(2+1+1) = 0.5, class 1 = 2*2/(4+1+0) = 0.8, class 2 = 0
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_early_stopping_keeps_the_best_state_and_stops_after_patience() -> None:
    import torch

    from training.common import EarlyStopping

    net = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(patience=2)
    stops = []
    for epoch, score in enumerate([0.5, 0.7, 0.6, 0.65]):
        with torch.no_grad():
            net.weight.fill_(float(epoch))
        stops.append(stopper.step(score, net, epoch))
    assert stops == [False, False, False, True]
    assert stopper.best == 0.7 and stopper.best_epoch == 1
    assert float(stopper.best_state["weight"]) == 1.0


def test_read_table_parquet_and_tsv(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": ["很好", "bad"], "label": ["pos", "neg"], "extra": [1, 2]})
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    for name in ("t.parquet", "t.tsv"):
        got = data.read_table(tmp_path / name, data.LABELLED_TEXTS)
        assert got.to_dict("list") == {
            "text": ["很好", "bad"],
            "label": ["pos", "neg"],
            "lang": ["", ""],
        }  # lang optional


def test_atepc_copies_of_a_sentence_merge_into_one_with_every_aspect() -> None:
    # The archive repeats a sentence once per aspect; each copy gives its own aspect a polarity and
    # may tag the others without one (-100).
    lines = [
        "The O -100",
        "battery B-ASP Positive",
        "life I-ASP Positive",
        "is O -100",
        "great O -100",
        ", O -100",
        "screen B-ASP -100",
        "dim O -100",
        ". O -100",
        "",
        "The O -100",
        "battery B-ASP -100",
        "life I-ASP -100",
        "is O -100",
        "great O -100",
        ", O -100",
        "screen B-ASP Negative",
        "dim O -100",
        ". O -100",
        "",
        "Fine O -100",
        "keyboard B-ASP Neutral",
        "",
        "",
    ]
    (text, aspects), (text2, aspects2) = data.parse_atepc(lines, "en")
    assert text == "The battery life is great, screen dim."
    assert [(text[a["start"] : a["end"]], a["polarity"]) for a in aspects] == [
        ("battery life", "positive"),
        ("screen", "negative"),
    ]
    assert text2 == "Fine keyboard" and aspects2 == [{"start": 5, "end": 13, "polarity": "neutral"}]


def test_atepc_chinese_characters_join_without_spaces() -> None:
    lines = ["屏 B-ASP Positive", "幕 I-ASP Positive", "很 O -100", "亮 O -100", ""]
    ((text, aspects),) = data.parse_atepc(lines, "zh")
    assert text == "屏幕很亮" and aspects == [{"start": 0, "end": 2, "polarity": "positive"}]


def test_vendored_archives_are_checked_before_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "data" / "absa" / "absa-atepc-ecommerce.tar.gz"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"not the archive")
    monkeypatch.setattr(sources, "REPO", tmp_path)  # where Vendored.open looks
    with pytest.raises(ValueError, match="differs from the pinned"):
        data.VENDORED["absa"].open()
    assert data.VENDORED["online_shopping"].sha256.startswith("6816ded6")


def test_the_vendored_absa_archive_converts_to_spans() -> None:
    rows = data.absa_rows()
    laptop_test = [r for r in rows if (r["domain"], r["split"]) == ("laptop", "test")]
    assert len(laptop_test) == 415 and sum(len(r["aspects"]) for r in laptop_test) == 637
    assert {r["domain"] for r in rows if r["lang"] == "zh"} == {"camera", "car", "notebook", "phone"}
    for r in rows:
        assert all(0 <= a["start"] < a["end"] <= len(r["text"]) for a in r["aspects"])
        assert {a["polarity"] for a in r["aspects"]} <= {"positive", "negative", "neutral"}


def test_aspect_rows_become_tagged_sentences_on_the_served_tokens() -> None:
    rows = [
        {
            "text": "屏幕很亮，彩屏视角宽",
            "lang": "zh",
            "aspects": [
                {"start": 0, "end": 2, "polarity": "positive"},
                {"start": 5, "end": 9, "polarity": "positive"},  # overlaps the next: the longer one stays
                {"start": 7, "end": 9, "polarity": "positive"},
            ],
        },
        {
            "text": "The battery life is great.",
            "lang": "en",
            "aspects": [{"start": 4, "end": 16, "polarity": "positive"}],
        },
    ]
    (zh_tokens, zh_tags), (en_tokens, en_tags) = data.aspect_sentences(rows)
    assert zh_tokens == list("屏幕很亮,彩屏视角宽")  # tokens as the model reads them (normalised)
    assert zh_tags == ["B-ASP", "I-ASP", "O", "O", "O", "B-ASP", "I-ASP", "I-ASP", "I-ASP", "O"]
    assert en_tokens == ["The", "battery", "life", "is", "great", "."]
    assert en_tags == ["O", "B-ASP", "I-ASP", "O", "O", "O"]


def test_absa_sentences_of_one_polarity_become_sentence_reviews() -> None:
    def row(text: str, polarities: list[str], split: str = "train", lang: str = "en") -> dict:
        aspects = [{"start": 0, "end": 1, "polarity": p} for p in polarities]
        return {"text": text, "lang": lang, "domain": "laptop", "split": split, "aspects": aspects}

    rows = [
        row("Great screen and keyboard", ["positive", "positive"]),
        row("Battery died fast", ["negative"]),
        row("Good screen, awful fan", ["positive", "negative"]),  # mixed: no sentence label
        row("The box is white", ["neutral"]),
        row("I bought it on Monday", []),
        row("Superb sound", ["positive"], split="test"),  # the aspect models' test split stays out
        row("屏幕很好", ["positive"], lang="zh"),
        row("信号比以前好太多", ["positive"], split="test", lang="zh"),
        row("外观好看但是电池不行", ["positive", "negative"], lang="zh"),
    ]
    got = data.absa_sentence_reviews(rows, "en")
    assert got.to_dict("records") == [
        {"text": "Great screen and keyboard", "label": "positive", "lang": "en", "source": "absa_sentences"},
        {"text": "Battery died fast", "label": "negative", "lang": "en", "source": "absa_sentences"},
    ]
    assert data.absa_sentence_reviews(rows, "zh").to_dict("records") == [
        {"text": "屏幕很好", "label": "positive", "lang": "zh", "source": "absa_sentences"}
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_tables_in_the_encodings_spreadsheets_write_are_read(tmp_path: Path, encoding: str) -> None:
    p = tmp_path / "r.csv"
    p.write_text("text,label,lang\n质量很好,positive,zh\n太差了,negative,zh-CN\n", encoding=encoding)
    df = data.read_table(p, data.REVIEWS)
    assert df["text"].tolist() == ["质量很好", "太差了"] and df.columns[0] == "text"
    conll = tmp_path / "n.conll"
    conll.write_text("北\tB-LOC\n京\tI-LOC\n\n好\tO\n", encoding=encoding)
    assert data.read_conll(conll) == [(["北", "京"], ["B-LOC", "I-LOC"]), (["好"], ["O"])]


def test_bytes_of_no_known_encoding_are_refused_in_words(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_bytes(b"text,label\n\x80\x80\xff,x\n")
    with pytest.raises(ValueError, match=r"neither UTF-8 nor GB18030 \(byte 11"):
        data.read_table(p, data.REVIEWS)


def test_a_brands_table_and_a_reply_knowledge_base_saved_as_gbk_are_read(tmp_path: Path) -> None:
    from mining.brands import BrandTable
    from mining.replies import load_kb

    brands = tmp_path / "brands.csv"
    brands.write_text("brand,aliases,category,context\nDreame,追觅|Dreame,家电,\n", encoding="gb18030")
    assert [m.text for m in BrandTable.load(brands).find("追觅扫地机器人很好用")] == ["追觅"]
    kb = tmp_path / "kb.csv"
    kb.write_text("intent,lang,text\norder_status,zh,您的订单{{Order Number}}已发货\n", encoding="gb18030")
    assert [e.text for e in load_kb(kb)] == ["您的订单{{Order Number}}已发货"]
