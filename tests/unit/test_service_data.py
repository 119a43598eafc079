"""The customer-service data files and their loaders (training/service_data.py): counts, the
Bitext label map, slot offsets, template repeats, the hand-labelled Chinese turns and their split."""

from __future__ import annotations

import csv
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from training import service_data as sd

README = sd.DATA / "README.md"
LABELS_MD = sd.DATA / "LABELS.md"
# Independent of mining.text: any 11-digit mainland mobile number, with or without +86 and separators.
MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def intents() -> dict[str, list[sd.Utterance]]:
    return {split: sd.bitext_intents(split) for split in ("train", "validation", "test")}


@pytest.fixture(scope="module")
def replies() -> list[sd.ReplyRow]:
    return sd.bitext_replies()


@pytest.fixture(scope="module")
def turns() -> list[sd.LabelledTurn]:
    return sd.zh_turns()


def test_bitext_row_counts(intents: dict[str, list[sd.Utterance]], replies: list[sd.ReplyRow]) -> None:
    assert {k: len(v) for k, v in intents.items()} == {"train": 6480, "validation": 810, "test": 810}
    assert len(replies) == 4514
    assert len({r.reply for r in replies}) == 4513
    assert intents["train"][0].text == "how can I cancel purchase 113542617735902?"
    assert (intents["train"][0].bitext_intent, intents["train"][0].label) == ("cancel_order", "cancel_order")


def test_every_bitext_intent_maps_into_the_label_set(
    intents: dict[str, list[sd.Utterance]], replies: list[sd.ReplyRow]
) -> None:
    mapping = sd.bitext_intent_map()
    seen = {u.bitext_intent for rows in intents.values() for u in rows} | {r.bitext_intent for r in replies}
    assert len(seen) == 27 and set(mapping) == seen
    assert set(mapping.values()) <= set(sd.LABELS)
    assert set(sd.LABELS) - set(mapping.values()) == {"other"}  # Bitext has no greetings or chit-chat
    for name, label in [
        ("track_order", "order_status"),
        ("delivery_period", "order_status"),
        ("get_refund", "refund_status"),
        ("track_refund", "refund_status"),
        ("check_refund_policy", "return_exchange"),
        ("contact_human_agent", "human_agent"),
        ("contact_customer_service", "human_agent"),
        ("newsletter_subscription", "account"),
        ("place_order", "product_question"),
        ("delivery_options", "product_question"),
        ("review", "feedback"),
    ]:
        assert mapping[name] == label, name
    assert all(u.label == mapping[u.bitext_intent] for rows in intents.values() for u in rows)


def test_the_label_guide_states_the_same_map() -> None:
    guide = LABELS_MD.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \|", guide, flags=re.M))
    assert rows == sd.bitext_intent_map()
    for label in sd.LABELS:
        assert f"| `{label}` |" in guide, label


def test_slot_offsets_point_at_the_slot_text(
    intents: dict[str, list[sd.Utterance]], replies: list[sd.ReplyRow]
) -> None:
    rows: list[tuple[str, tuple[sd.Slot, ...]]] = [(u.text, u.slots) for v in intents.values() for u in v]
    rows += [(r.request, r.slots) for r in replies]
    n_slots = 0
    for text, slots in rows:
        for s in slots:
            assert 0 <= s.start < s.end <= len(text) and text[s.start : s.end] == s.text
            n_slots += 1
    assert n_slots == 2543 + 280 + 296 + 1686
    first = intents["train"][0]
    assert first.slots == (sd.Slot("order_id", 26, 41, "113542617735902"),)
    # The value column says "Platinum"; the text has it in lower case.
    platinum = next(u for u in intents["train"] if u.text == "create new platinum account")
    assert platinum.slots == (sd.Slot("account_type", 11, 19, "platinum"),)
    # Upstream shortened this request after setting its offsets (35:47); the end is clamped.
    cut = next(r for r in replies if r.request == "i bought something cancel purchase 3707955617")
    assert cut.slots == (sd.Slot("order_id", 35, 45, "3707955617"),)


def test_template_key_rule() -> None:
    slot = sd.Slot("order_id", 16, 24, "00123842")
    assert sd.template_key("cancel purchase 00123842", (slot,)) == "cancel purchase <order_id>"
    assert sd.template_key("Cancel  purchase 00123842?", (sd.Slot("order_id", 17, 25, "00123842"),)) == (
        "cancel purchase <order_id>"
    )
    glued = sd.Slot("account_type", 18, 26, "Freemium")
    assert sd.template_key("how can I use the Freemiumprofile?", (glued,)) == "how can i use the <account_type>profile"
    assert sd.template_key("I'd pay $1,200.50 for 2 items") == "i d pay 0 0 0 for 0 items"


def test_148_test_rows_repeat_a_training_template(intents: dict[str, list[sd.Utterance]]) -> None:
    train = {sd.template_key(u.text, u.slots) for u in intents["train"]}
    repeats = [u for u in intents["test"] if sd.template_key(u.text, u.slots) in train]
    assert len(repeats) == 148
    assert sum(sd.template_key(u.text, u.slots) in train for u in intents["validation"]) == 140
    assert Counter(u.bitext_intent for u in repeats).most_common(2) == [("track_refund", 24), ("edit_account", 22)]


def test_stc3_dialogues_and_scores() -> None:
    train = sd.stc3_dialogues("train")
    test = sd.stc3_dialogues("test")
    assert (len(train), len(test)) == (3700, 390)
    first = train[0]
    assert first.id == "3830401296796826" and [t.sender for t in first.turns] == ["customer", "helpdesk"]
    # 19 annotators; their A scores sum to -7, S to -10, E to -6.
    assert first.a_score == pytest.approx(-7 / 19)
    assert first.s_score == pytest.approx(-10 / 19)
    assert first.e_score == pytest.approx(-6 / 19)
    assert all(d.a_score is None and d.s_score is None and d.e_score is None for d in test)
    assert all(d.a_score is not None and -2 <= d.a_score <= 2 for d in train)
    assert test[0].turns[1].utterances == ("", "小u来了") and test[0].turns[1].text == "小u来了"
    assert len(sd.stc3_dialogues("train", "en")) == 1672


def test_zh_turns_size_labels_and_ids(turns: list[sd.LabelledTurn]) -> None:
    by_split = Counter(t.split for t in turns)
    assert by_split == {"train": 1595, "test": 395}
    assert min(by_split.values()) >= 300
    assert {t.label for t in turns if t.split == "train"} == set(sd.LABELS)
    assert {t.label for t in turns if t.split == "test"} == set(sd.LABELS)
    assert len({t.id for t in turns}) == len(turns)
    assert len({t.text for t in turns}) == len(turns)
    assert {t.source for t in turns} == {"stc3", "online_shopping_10_cats"}
    assert all(re.fullmatch(r"stc3-(train|test)-\d+-t\d+|shop-\d+", t.id) for t in turns)
    assert [len(sd.zh_turns("train")), len(sd.zh_turns("test"))] == [1595, 395]


def test_zh_turns_hold_no_phone_number_or_email(turns: list[sd.LabelledTurn]) -> None:
    assert MOBILE.search("call 138 1234 5678") and EMAIL.search("a.b@example.com")
    for t in turns:
        assert not MOBILE.search(t.text), t.id
        assert not EMAIL.search(t.text), t.id
        assert not re.search(r"\d{7,}", t.text), t.id
    masked = Counter(m for t in turns for m in re.findall(r"<(?:PHONE|EMAIL|NUM|USER|NAME|ADDRESS)>", t.text))
    assert masked["<PHONE>"] >= 10 and masked["<EMAIL>"] >= 1


def test_split_is_the_hash_rule(turns: list[sd.LabelledTurn]) -> None:
    import hashlib

    for t in turns:
        digest = hashlib.sha256(f"zh_turns:{t.id}".encode()).hexdigest()
        assert t.split == ("train" if int(digest[:8], 16) % 2 == 0 else "test")
        assert sd.split_of(t.id) == t.split
    assert sd.split_of("stc3-train-3738063136274975-t4") == "test"
    assert [sd.split_of(f"shop-{i}") for i in range(8)] == ["train"] * 6 + ["test"] * 2


def test_the_selection_redraws_the_ids(turns: list[sd.LabelledTurn]) -> None:
    candidates = sd.zh_candidates()
    assert [c.id for c in candidates] == [t.id for t in turns]
    assert [c.source for c in candidates] == [t.source for t in turns]
    assert Counter(c.stratum[-2:] if c.stratum[-2:] in ("_2", "_3", "_4") else "" for c in candidates) == {
        "": 675,
        "_2": 148,
        "_3": 584,
        "_4": 583,
    }
    # The third and fourth rounds enlarged the train half only; the test half is the one of rounds 1 and 2.
    assert {sd.split_of(c.id) for c in candidates if c.stratum.endswith(("_3", "_4"))} == {"train"}


def test_readme_pins_the_same_sums() -> None:
    readme = README.read_text(encoding="utf-8")
    for name, digest in sd.pinned_sums().items():
        assert f"`{name}`" in readme, name
        assert digest in readme, name
    assert set(sd.pinned_sums()) >= {sd.STC3_FILE, sd.ZH_TURNS_FILE, sd.BITEXT_REPLY_FILE, sd.BITEXT_MAP_FILE}


def test_a_changed_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(sd.DATA / "SHA256SUMS", tmp_path / "SHA256SUMS")
    shutil.copy(sd.DATA / sd.BITEXT_MAP_FILE, tmp_path / sd.BITEXT_MAP_FILE)
    monkeypatch.setattr(sd, "DATA", tmp_path)
    assert len(sd.bitext_intent_map()) == 27
    rows = list(csv.reader((tmp_path / sd.BITEXT_MAP_FILE).open(encoding="utf-8")))
    rows[1][1] = "other"
    with (tmp_path / sd.BITEXT_MAP_FILE).open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    with pytest.raises(ValueError, match="sha256"):
        sd.bitext_intent_map()


def test_en_review_turns_split_ids_and_redraw() -> None:
    import hashlib

    import pandas as pd

    from training.data import reviews_table

    turns = sd.en_review_turns()
    assert Counter(t.split for t in turns) == {"train": 174, "test": 186}
    assert [len(sd.en_review_turns("train")), len(sd.en_review_turns("test"))] == [174, 186]
    assert {t.source for t in turns} == {"fine_food", "absa_sentences"}
    assert {"feedback", "complaint", "return_exchange"} <= {t.label for t in turns if t.split == "test"}
    for t in turns:  # the file's halves follow the documented rule (the reader refuses others)
        digest = hashlib.sha256(f"en_review_turns:{t.id}".encode()).hexdigest()
        assert t.split == ("train" if int(digest[:8], 16) % 2 == 0 else "test")
        assert not EMAIL.search(t.text), t.id
    assert [sd.en_review_split(f"enrev-{i:012x}") for i in range(8)] == [
        "test", "train", "train", "train", "train", "test", "train", "test"
    ]  # fmt: skip
    # The draw is re-made from the built-in reviews table: same ids, same order.
    reviews = pd.read_csv(reviews_table(), dtype=str, keep_default_na=False)
    en = reviews[reviews["lang"] == "en"]
    candidates = sd.en_review_candidates(list(zip(en["source"], en["text"], strict=True)))
    assert [c.id for c in candidates] == [t.id for t in turns]
    assert Counter(c.stratum for c in candidates) == {q[0]: q[2] for q in sd.EN_REVIEW_STRATA}
    assert all(c.id == "enrev-" + hashlib.sha256(c.text.encode()).hexdigest()[:12] for c in candidates)


def test_shop_requests_parts_languages_and_ids() -> None:
    import hashlib

    from mining.text import detect_language

    rows = sd.shop_requests()
    assert Counter((t.source, t.split) for t in rows) == {
        ("requests_zh", "train"): 130, ("requests_zh", "test"): 53, ("requests_en", "train"): 78, ("requests_en", "test"): 40
    }  # fmt: skip
    # Every label in both parts of both languages: the test part probes each one.
    for source in ("requests_zh", "requests_en"):
        for part in ("train", "test"):
            assert {t.label for t in rows if t.source == source and t.split == part} == set(sd.LABELS)
    assert all(detect_language(t.text) == t.source.removeprefix("requests_") for t in rows if len(t.text) > 2)
    assert all(t.id == f"req-{t.source[-2:]}-" + hashlib.sha256(t.text.encode()).hexdigest()[:10] for t in rows)
    train, test = ({t.text for t in rows if t.split == part} for part in ("train", "test"))
    assert not train & test


def test_template_requests_fill_every_placeholder_in_the_templates_language() -> None:
    from mining.text import detect_language

    templates = sd._csv_rows(sd.TEMPLATES_FILE)
    rows = sd.template_requests(per_template=3)
    assert len(rows) == 3 * len(templates)
    assert {t.label for t in rows if t.source == "generated_zh"} == set(sd.LABELS)
    assert all(t.split == "train" for t in rows) and len({t.id for t in rows}) == len(rows)
    assert not [t.text for t in rows if "{" in t.text or "}" in t.text]
    wrong = [t.text for t in rows if len(t.text) > 6 and detect_language(t.text) != t.source.removeprefix("generated_")]
    assert not wrong
    # Seeded: the same rows every call, other rows with another seed.
    assert [t.text for t in rows] == [t.text for t in sd.template_requests(per_template=3)]
    assert [t.text for t in rows] != [t.text for t in sd.template_requests(per_template=3, seed=1)]
    # An order number is digits only and an amount carries its currency.
    texts = [t.text for t in sd.template_requests(per_template=20)]
    assert any(re.search(r"订单\d{10,18}", t) for t in texts) and any(re.search(r"¥\d|\d(?:元|块)", t) for t in texts)


@pytest.mark.parametrize(
    ("row", "named"),
    [
        ({"lang": "zh", "label": "refund", "template": "退款"}, "'refund'"),
        ({"lang": "fr", "label": "other", "template": "bonjour"}, "'fr'"),
        ({"lang": "en", "label": "other", "template": "my {product} in {city}"}, "['city', 'product']"),
    ],
)
def test_a_bad_template_row_is_refused_with_its_line(
    monkeypatch: pytest.MonkeyPatch, row: dict[str, str], named: str
) -> None:
    good = {"lang": "zh", "label": "other", "template": "你好"}
    monkeypatch.setattr(sd, "_csv_rows", lambda name: [good, row])
    with pytest.raises(ValueError, match="line 3") as err:
        sd.template_requests()
    assert named in str(err.value)
