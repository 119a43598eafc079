"""Customer-service runner: the service intent, one model for Chinese and English (``intent``), the
reply ranking of ``/reply`` (``replies``, optional) and the hand-over models, one per language
(``handoff-zh``, ``handoff-en``, optional)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml

from mining.contracts import DissatisfactionScore, LabelResult, RankedReplies, ReplyQuery, TextItem, text_items
from mining.handoff import score_conversations
from runners.base import DEPENDENCY_CONFIG, LabelRunner, batching

# Service turns are short; the same batch and latency budget as the other text classifiers.
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 3000
REPLIES = "replies"


@bentoml.service(name="IntentRunner", threads=4, **DEPENDENCY_CONFIG)
class IntentRunner(LabelRunner):
    """The service intent of each text (13 labels, ``data/customer_service/LABELS.md``), or null
    with the reason where the model is not sure; the model reads both languages. With a reply
    ranker in the store, also the best knowledge-base replies of each message."""

    RUNNER = "intent"
    PARALLEL_BATCHES = True

    def load(self, path: Path) -> Any:
        from mining.models.reply_ranker import SPEC, ReplyRanker

        if (path / SPEC).exists():
            return ReplyRanker.load(path, self.device)
        return super().load(path)

    def warm_up(self) -> None:
        self.predict(text_items(["我的快递到哪了", "where is my order"]))
        self.rank_replies(
            [ReplyQuery(text="我的快递到哪了", lang="zh"), ReplyQuery(text="where is my order", lang="en")]
        )
        self.handoff(text_items(["你们到底什么时候处理", "nobody answers me"]))

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, items: list[TextItem]) -> list[LabelResult]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        return self.classify(items)

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def rank_replies(self, queries: list[ReplyQuery]) -> list[RankedReplies]:
        """Batched: per message, the best rows of the knowledge base the ranker was built on (its
        sha256 in each answer), or an answer without rows where no ranker is served."""
        ranker = self.models.get(REPLIES)
        if ranker is None:
            return [RankedReplies.none() for _ in queries]
        asked = [q if isinstance(q, ReplyQuery) else ReplyQuery.model_validate(q) for q in queries]
        return ranker.rank(asked, self.tags[REPLIES])  # type: ignore[no-any-return]

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def handoff(self, items: list[TextItem]) -> list[DissatisfactionScore]:
        """Batched: per conversation text (the customer's turns, ``mining.handoff.conversation_text``),
        P(low satisfaction) by the hand-over model of its language and the threshold its training
        chose, or null with the reason where no model serves the language."""
        asked = [i if isinstance(i, TextItem) else TextItem.model_validate(i) for i in items]
        served = {str(self.specs[n].lang): n for n in self.models if self.specs[n].task == "handoff"}
        return score_conversations(
            {lang: self.models[n] for lang, n in served.items()},
            # A model saved before negative_threshold was recorded has none: the sentiment reason off.
            {lang: self.metadata[n]["decision"] for lang, n in served.items()},
            {lang: self.tags[n] for lang, n in served.items()},
            asked,
        )
