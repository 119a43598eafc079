"""Language routing for per-language text models: each text goes to the model of its language,
answers come back in input order, and a text in a language without a model gets the caller's
answer for that case (never another language's model, never a dropped result).

Light on purpose: no model library is imported here (the text rules only).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol, TypeVar

from mining.text import unsupported_language


class Routable(Protocol):
    """What routing reads of an item; :class:`mining.contracts.TextItem` is one."""

    @property
    def text(self) -> str: ...

    @property
    def lang(self) -> str: ...


ItemT = TypeVar("ItemT", bound=Routable)
ResultT = TypeVar("ResultT")


def route_by_language(
    items: Sequence[ItemT],
    languages: Collection[str],
    predict: Callable[[str, list[str]], Sequence[ResultT]],
    missing: Callable[[ItemT], ResultT] | None = None,
    unreadable: Callable[[ItemT, str], ResultT] | None = None,
) -> list[ResultT]:
    """One result per item, in input order, each from its language's model.

    Args:
        items: n items with ``.text`` and ``.lang``.
        languages: the languages that have a model (a mapping's keys count); ``predict`` is called
            in this order.
        predict: ``(lang, texts) -> results``, called once per language that has items, with that
            language's texts in input order; must return one result per text.
        missing: ``item -> result`` for an item whose language has no model; without it such an
            item is an error.
        unreadable: ``(item, language) -> result`` for an item written in a language no model
            reads (:func:`mining.text.unsupported_language`: Japanese, Spanish...), which the
            two-way language detection would send to the Chinese or English model; without it
            such an item goes to that model.
    Returns:
        n results: ``results[i]`` answers ``items[i]``.
    Raises:
        RuntimeError: an item's language has no model and ``missing`` is None (names the first
            such item, before any model runs), or ``predict`` returned a different number of
            results than texts it was given.
    """
    groups: dict[str, list[int]] = {}
    out: dict[int, ResultT] = {}
    for i, item in enumerate(items):
        if unreadable is not None and (other := unsupported_language(item.text)) is not None:
            out[i] = unreadable(item, other)
        elif item.lang in languages:
            groups.setdefault(item.lang, []).append(i)
        elif missing is None:
            raise RuntimeError(
                f"item {i}: no model for its language {item.lang!r} (models exist for {sorted(languages)})"
            )
        else:
            out[i] = missing(item)
    for lang in languages:
        idx = groups.get(lang)
        if not idx:
            continue
        results = predict(lang, [items[i].text for i in idx])
        if len(results) != len(idx):
            raise RuntimeError(f"the {lang!r} model answered {len(results)} of {len(idx)} texts")
        out.update(zip(idx, results))
    return [out[i] for i in range(len(items))]
