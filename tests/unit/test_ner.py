import itertools

import pytest
import torch

from runners.ner import BiLSTMCRF, convert_tags, spans_to_tags, tags_to_spans


@pytest.mark.parametrize(
    ("bio", "bmes", "spans"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "E-PER", "O", "S-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        (["B-ORG", "I-ORG", "I-ORG"], ["B-ORG", "M-ORG", "E-ORG"], [("ORG", 0, 3)]),
        (["B-PER", "B-PER"], ["S-PER", "S-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        (["O", "O"], ["O", "O"], []),
        ([], [], []),
    ],
)
def test_schemes_convert_through_spans(bio: list[str], bmes: list[str], spans: list) -> None:
    assert tags_to_spans(bio, "BIO") == spans
    assert tags_to_spans(bmes, "BMES") == spans
    assert convert_tags(bio, "BIO", "BMES") == bmes
    assert convert_tags(bmes, "BMES", "BIO") == bio


def test_lenient_on_malformed_sequences() -> None:
    # An I- after O, or after another type, opens a new entity, as conlleval does.
    assert tags_to_spans(["O", "I-LOC", "I-PER"], "BIO") == [("LOC", 1, 2), ("PER", 2, 3)]
    assert tags_to_spans(["B-LOC", "M-LOC"], "BMES") == [("LOC", 0, 2)]


@pytest.mark.parametrize(("tags", "scheme", "message"), [
    (["S-PER"], "BIO", "not in scheme BIO"),
    (["PER"], "BIO", "neither 'O' nor"),
])
def test_bad_tags_are_refused(tags: list[str], scheme: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tags_to_spans(tags, scheme)  # type: ignore[arg-type]


def test_spans_to_tags_refuses_overlap_and_overflow() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags([("A", 0, 2), ("B", 1, 3)], 3, "BIO")
    with pytest.raises(ValueError, match="does not fit"):
        spans_to_tags([("A", 2, 4)], 3, "BIO")


def test_viterbi_matches_brute_force() -> None:
    torch.manual_seed(0)
    n_tags, lengths = 3, [4, 2, 3]
    model = BiLSTMCRF(vocab_size=10, num_tags=n_tags, embed_dim=8, hidden=4).eval()
    ids = torch.zeros(3, 4, dtype=torch.long)
    mask = torch.zeros(3, 4, dtype=torch.bool)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(1, 10, (n,))
        mask[b, :n] = True
    with torch.no_grad():
        emissions = model.emissions(ids, mask)
        decoded = model.decode(ids, mask)
        crf = model.crf
        for b, n in enumerate(lengths):
            def score(path: tuple[int, ...], b: int = b) -> float:
                s = crf.start_transitions[path[0]] + emissions[b, 0, path[0]]
                for t in range(1, len(path)):
                    s = s + crf.transitions[path[t - 1], path[t]] + emissions[b, t, path[t]]
                return float(s + crf.end_transitions[path[-1]])

            best = max(itertools.product(range(n_tags), repeat=n), key=score)
            assert decoded[b] == list(best)


def test_crf_training_step_lowers_the_loss() -> None:
    torch.manual_seed(0)
    model = BiLSTMCRF(vocab_size=6, num_tags=3, embed_dim=8, hidden=8, dropout=0.0)
    ids = torch.tensor([[1, 2, 3, 4], [5, 1, 0, 0]])
    mask = ids != 0
    tags = torch.tensor([[1, 2, 0, 0], [1, 0, 0, 0]])
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = model.loss(ids, tags, mask).item()
    for _ in range(30):
        opt.zero_grad()
        model.loss(ids, tags, mask).backward()
        opt.step()
    assert model.loss(ids, tags, mask).item() < first / 4
    assert model.decode(ids, mask) == [[1, 2, 0, 0], [1, 0]]
