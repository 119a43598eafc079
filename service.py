"""The demand-mining API: one gateway service composing the model runners.

    bentoml serve service:DemandMining --host 127.0.0.1 --port 3000

Request and response bodies are the pydantic models below; Swagger UI is at ``/`` and the
OpenAPI document at ``/docs.json``.
"""

from __future__ import annotations

from typing import Annotated

import bentoml
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from runners.sentiment import SentimentRunner

MAX_TEXTS = 64
MAX_TEXT_CHARS = 2000

Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS),
    Field(description=f"a customer text, 1-{MAX_TEXT_CHARS} characters after trimming whitespace"),
]


def _one_or_many(value: object) -> object:
    # A bare string is the common single-text call; accept it as a list of one.
    return [value] if isinstance(value, str) else value


Texts = Annotated[
    list[Text],
    BeforeValidator(_one_or_many),
    Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"one text, or a list of 1-{MAX_TEXTS} texts",
        examples=[["质量很好，物流也快", "The coffee arrived stale and the bag was torn."]],
    ),
]


class SentimentResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'; picks the model")
    label: str = Field(description="most probable sentiment label")
    score: float = Field(description="probability of `label`, 0-1")
    probabilities: dict[str, float] = Field(description="probability per label; sums to 1")
    model: str = Field(description="model tag in the store that produced this result")


class SentimentResponse(BaseModel):
    results: list[SentimentResult] = Field(description="one result per input text, in input order")


@bentoml.service(name="DemandMining", traffic={"timeout": 60})
class DemandMining:
    sentiment_runner = bentoml.depends(SentimentRunner)

    @bentoml.api(route="/sentiment")
    async def sentiment(self, texts: Texts) -> SentimentResponse:
        """Sentiment of one or many reviews, Chinese or English, routed per text."""
        results = await self.sentiment_runner.to_async.predict(list(texts))
        return SentimentResponse(results=[SentimentResult(**r) for r in results])
