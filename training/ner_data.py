"""The NER data sets as train, validation and test sentences: splits that keep a group (a title's
brand, a sentence's entity strings) on one side, long sentences cut, mentions replaced."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from mining.models.ner import (
    span_scheme,
    tags_to_spans,
    word_tokens,
)
from training import data
from training.dedup import dedup_key
from training.tagging import DATASETS, Sentence, TaggerConfig

# Consecutive MSRA training sentences held out together for validation (:func:`block_split`): with
# runs of 100, 73.8% of validation entities also occur in training, near test's 70.9%; sentences drawn
# one by one gave 83.4%, runs of 50 75.0%, of 200 66.8%.
MSRA_BLOCK = 100


def _pick(sentences: list[Sentence], ids: Sequence[int]) -> list[Sentence]:
    return [sentences[i] for i in sorted(ids)]


def _shuffle_split(
    sentences: list[Sentence], fractions: tuple[float, float], seed: int
) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    idx = list(range(len(sentences)))
    random.Random(seed).shuffle(idx)
    n_val, n_test = round(len(idx) * fractions[0]), round(len(idx) * fractions[1])
    return (
        _pick(sentences, idx[n_val + n_test :]),
        _pick(sentences, idx[:n_val]),
        _pick(sentences, idx[n_val : n_val + n_test]),
    )


def block_split(
    sentences: list[Sentence], fraction: float, block: int, seed: int
) -> tuple[list[Sentence], list[Sentence]]:
    """(train, validation): ``fraction`` of the runs of ``block`` consecutive sentences, drawn at
    random, held out whole.

    Why: a corpus kept in document order (MSRA: a news article's sentences follow each other) shares
    names within an article. Sentences drawn one by one put most of a validation sentence's names
    into training too, so validation rewards remembering names (a dictionary) more than the corpus's
    own test split, drawn from other articles, does. Runs of consecutive sentences keep most
    articles on one side.
    """
    starts = list(range(0, len(sentences), block))
    random.Random(seed).shuffle(starts)
    held = starts[: round(len(starts) * fraction)]
    val_ids = {i for s in held for i in range(s, min(s + block, len(sentences)))}
    train_ids = [i for i in range(len(sentences)) if i not in val_ids]
    return _pick(sentences, train_ids), _pick(sentences, sorted(val_ids))


def group_split(
    sentences: list[Sentence], group_type: str, fractions: tuple[float, float], seed: int
) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """Split so that sentences sharing their first ``group_type`` entity (e.g. a title's brand)
    fall on one side only: validation and test brands are never seen in training.

    Groups are shuffled, then filled into test and validation until each holds its share of
    sentences; the rest is training.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (tokens, tags) in enumerate(sentences):
        first = next((s for s in tags_to_spans(tags, span_scheme(tags)) if s[0] == group_type), None)
        key = " ".join(tokens[first[1] : first[2]]).lower() if first else f"<none {i}>"
        groups[key].append(i)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target_test, target_val = fractions[1] * len(sentences), fractions[0] * len(sentences)
    test: list[int] = []
    val: list[int] = []
    train: list[int] = []
    for k in keys:
        # A group bigger than a split's share goes to training: one brand must not be the whole test.
        size = len(groups[k])
        if len(test) + size <= target_test * 1.1:
            test += groups[k]
        elif len(val) + size <= target_val * 1.1:
            val += groups[k]
        else:
            train += groups[k]
    return _pick(sentences, train), _pick(sentences, val), _pick(sentences, test)


def disjoint_split(
    sentences: list[Sentence], entity_types: str | tuple[str, ...], fractions: tuple[float, float], seed: int
) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """Split so that no entity string of ``entity_types`` in validation or test occurs anywhere in training:
    entity strings (lower-cased) are drawn at random into test and validation until each covers
    its share of the mentions; a sentence goes where its entities are, and one that mixes sides is
    dropped. Sentences without the entity type are split at random in the same proportions.

    Why not :func:`group_split`: it groups by a sentence's first entity only, so a brand that is a
    sentence's second mention can sit on both sides, and a dictionary of training entities then
    finds "unseen" test brands by their string.
    """
    types = (entity_types,) if isinstance(entity_types, str) else entity_types
    mentions: dict[str, list[int]] = defaultdict(list)
    spans_of: list[set[str]] = []
    for i, (tokens, tags) in enumerate(sentences):
        keys = {
            "".join(tokens[s:e]).lower() if all(len(t) == 1 for t in tokens[s:e]) else " ".join(tokens[s:e]).lower()
            for t, s, e in tags_to_spans(tags, span_scheme(tags))
            if t in types
        }
        spans_of.append(keys)
        for k in keys:
            mentions[k].append(i)
    rng = random.Random(seed)
    names = sorted(mentions)
    rng.shuffle(names)
    total = sum(len(v) for v in mentions.values())
    side: dict[str, str] = {}
    counts = {"test": 0, "val": 0}
    for k in names:
        for part, share in (("test", fractions[1]), ("val", fractions[0])):
            # An entity bigger than a side's share stays in training: one brand is not a test set.
            if counts[part] + len(mentions[k]) <= share * total * 1.1:
                side[k], counts[part] = part, counts[part] + len(mentions[k])
                break
        else:
            side[k] = "train"
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    plain = [i for i, keys_i in enumerate(spans_of) if not keys_i]
    rng.shuffle(plain)
    n_test, n_val = int(len(plain) * fractions[1]), int(len(plain) * fractions[0])
    out["test"] += plain[:n_test]
    out["val"] += plain[n_test : n_test + n_val]
    out["train"] += plain[n_test + n_val :]
    for i, keys_i in enumerate(spans_of):
        sides = {side[k] for k in keys_i}
        if len(sides) == 1:
            out[sides.pop()].append(i)
    return _pick(sentences, out["train"]), _pick(sentences, out["val"]), _pick(sentences, out["test"])


def replace_mentions(sentences: list[Sentence], share: float, seed: int) -> list[Sentence]:
    """Copies of ``sentences`` where each entity mention, with probability ``share``, is replaced by
    a made-up name: as many characters as the original (2-4), drawn from the characters of all the
    data's entity names (Chinese), or a capitalised random string (Latin). The tags keep their
    place. Why: labels that come from a table teach a model the table's names; with made-up names
    in the same contexts ("买的__手机", "比__好") it has to learn where names stand."""
    rng = random.Random(seed)
    pool = sorted(
        {
            ch
            for tokens, tags in sentences
            for _, s, e in tags_to_spans(tags, span_scheme(tags))
            for tok in tokens[s:e]
            for ch in tok
            if "\u4e00" <= ch <= "\u9fff"
        }
    )
    out = []
    for tokens, tags in sentences:
        tokens = list(tokens)
        for _, s, e in tags_to_spans(tags, span_scheme(tags)):
            if rng.random() >= share:
                continue
            if pool and all("\u4e00" <= t <= "\u9fff" for t in tokens[s:e]):
                for k in range(s, e):
                    tokens[k] = rng.choice(pool)
            elif all(t.isascii() and t.isalpha() for t in tokens[s:e]) and all(len(t) == 1 for t in tokens[s:e]):
                letters = [chr(rng.randrange(65, 91))] + [chr(rng.randrange(97, 123)) for _ in range(e - s - 1)]
                tokens[s:e] = letters
        out.append((tokens, tags))
    return out


def load_splits(cfg: TaggerConfig) -> tuple[dict[str, list[Sentence]], str]:
    """(train/val/test sentences, data description)."""
    if cfg.data:
        train, val, test = _shuffle_split(data.read_conll(cfg.data), (0.1, 0.1), cfg.seed)
        name = cfg.data
    elif cfg.dataset == "msra":
        train_path, test_path = data.msra_tables()
        train, val = block_split(data.read_conll(train_path), cfg.val_fraction, MSRA_BLOCK, cfg.seed)
        test, name = data.read_conll(test_path), DATASETS["msra"][3]
    elif cfg.dataset in ("absa-zh", "absa-en"):
        train_path, test_path = data.absa_tables(cfg.dataset[-2:])
        train, val, _ = _shuffle_split(data.read_conll(train_path), (cfg.val_fraction, 0.0), cfg.seed)
        test, name = data.read_conll(test_path), DATASETS[cfg.dataset][3]
    elif cfg.dataset == "wnut16":
        train, val, test = _shuffle_split(data.read_conll(data.wnut16_table()), (0.1, 0.1), cfg.seed)
        name = DATASETS["wnut16"][3]
    else:
        if cfg.dataset == "products":
            train, val, test = group_split(data.read_conll(data.product_ner_table()), "BRAND", (0.15, 0.15), cfg.seed)
        else:
            train, val, test = disjoint_split(
                data.read_conll(data.product_ner_zh_table()), ("BRAND", "CATEGORY"), (0.15, 0.15), cfg.seed
            )
        name = DATASETS[cfg.dataset][3]
    val, test, dropped = drop_seen(train, val, test)
    if any(dropped):
        name += f"; {dropped[0]} validation and {dropped[1]} test sentences dropped: training holds them"
    if cfg.max_train_samples:
        train = train[: cfg.max_train_samples]
    if cfg.replace_entities:
        train = replace_mentions(train, cfg.replace_entities, cfg.seed)
    if cfg.max_eval_samples:
        val, test = val[: cfg.max_eval_samples], test[: cfg.max_eval_samples]
    return {"train": train, "val": val, "test": test}, name


def drop_seen(
    train: list[Sentence], val: list[Sentence], test: list[Sentence]
) -> tuple[list[Sentence], list[Sentence], tuple[int, int]]:
    """``val`` and ``test`` without the sentences whose :func:`training.dedup.dedup_key` some
    training sentence shares, and how many each lost.

    Why: WNUT-16 repeats tweets (retweets, bots): split one by one, 7.5% of its test sentences had a
    copy in training, scored as if unseen."""
    seen = {dedup_key(" ".join(tokens)) for tokens, _ in train}
    kept = [[s for s in part if dedup_key(" ".join(s[0])) not in seen] for part in (val, test)]
    return kept[0], kept[1], (len(val) - len(kept[0]), len(test) - len(kept[1]))


def service_messages(split: str) -> list[Sentence]:
    """Bitext customer-service utterances of ``split`` (``train``, ``validation``, ``test``) as
    entity-free English sentences: tokenized as the served English taggers tokenize a text
    (:func:`mining.models.ner.word_tokens`), every tag ``O``. They name orders, refunds and
    accounts, almost never a product or brand: what a product tagger that learnt only from titles
    must learn to leave alone ("can I talk to a human about my refund")."""
    from training.service_data import bitext_intents

    out = []
    for u in bitext_intents(split):  # type: ignore[arg-type]
        tokens, _ = word_tokens(u.text)
        if tokens:
            out.append((tokens, ["O"] * len(tokens)))
    return out


def with_negatives(train: list[Sentence], negatives: list[Sentence], share: float, seed: int) -> list[Sentence]:
    """``train`` plus a seeded sample of ``negatives``, ``share`` of them per training sentence
    (at most all), shuffled in."""
    k = min(len(negatives), round(share * len(train)))
    rng = random.Random(seed)
    mixed = train + rng.sample(negatives, k)
    rng.shuffle(mixed)
    return mixed
