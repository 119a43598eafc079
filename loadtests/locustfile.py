"""Load tests for the demand-mining API, over HTTP only.

    locust -f loadtests/locustfile.py --config loadtests/locust.conf --host http://127.0.0.1:3000 MixedTraffic

One user class per endpoint (name one or more at the end of the command) and ``MixedTraffic``, weighted
like production traffic: many recommendation and sentiment calls, a steady stream of events, fewer
``/mine`` calls. Payloads come from ``loadtests/payloads.json`` (real reviews, catalogue titles,
MovieLens users and items, orange-juice series; regenerate with ``python -m bench.payloads``).
Every response body is checked, not only its status. ``StepLoad`` raises the user count in steps;
the run exits with code 1 when the p95 latency or the failure ratio exceeds its target.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, LoadTestShape, between, events, tag, task

PAYLOADS = json.loads((Path(__file__).resolve().parent / "payloads.json").read_text(encoding="utf-8"))
API_KEY = os.environ.get("DEMAND_MINING_API_KEY", "")


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--max-p95-ms", type=float, default=2000.0, help="fail the run when the overall p95 exceeds this"
    )
    parser.add_argument("--max-fail-ratio", type=float, default=0.01, help="fail the run above this failure ratio")
    parser.add_argument("--step-users", type=int, default=8, help="StepLoad: users added per step")
    parser.add_argument("--step-seconds", type=float, default=20.0, help="StepLoad: seconds per step")


@events.quitting.add_listener
def _verdict(environment: Any, **_: Any) -> None:
    opts, total = environment.parsed_options, environment.stats.total
    p95 = total.get_response_time_percentile(0.95) or 0.0
    problems = []
    if total.fail_ratio > opts.max_fail_ratio:
        problems.append(f"failure ratio {total.fail_ratio:.4f} > {opts.max_fail_ratio}")
    if p95 > opts.max_p95_ms:
        problems.append(f"p95 {p95:.0f} ms > {opts.max_p95_ms:.0f} ms")
    if total.num_requests == 0:
        problems.append("no requests were made")
    print(
        f"[verdict] {total.num_requests} requests, failure ratio {total.fail_ratio:.4f}, p95 {p95:.0f} ms: "
        + ("FAIL (" + "; ".join(problems) + ")" if problems else "pass")
    )
    if problems:
        environment.process_exit_code = 1


def texts(k: int) -> list[str]:
    """k review texts, Chinese and English mixed like the traffic the service was built for."""
    return [
        random.choice(PAYLOADS["reviews_zh"] if random.random() < 0.5 else PAYLOADS["reviews_en"]) for _ in range(k)
    ]


def batch_size() -> int:
    """Mostly single texts, sometimes a page of them."""
    return random.choices([1, 2, 8, 32], weights=[70, 15, 10, 5])[0]


class ApiUser(FastHttpUser):
    abstract = True
    wait_time = between(0.05, 0.5)

    def request(self, method: str, path: str, check: Any, name: str | None = None, **kwargs: Any) -> None:
        """Send one request; it fails on a non-200 status or when ``check(body)`` names a problem."""
        headers = {"X-API-Key": API_KEY} if API_KEY else {}
        with self.client.request(method, path, headers=headers, name=name or path, catch_response=True, **kwargs) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return
            try:
                problem = check(r.json())
            except (ValueError, KeyError, TypeError) as e:
                problem = f"unreadable body: {e!r}"
            if problem:
                r.failure(problem)

    def post(self, path: str, body: dict[str, Any], check: Any) -> None:
        self.request("POST", path, check, json=body)

    # --- one method per endpoint, shared by the per-endpoint classes and the mix -------------------
    def sentiment(self) -> None:
        sent = texts(batch_size())

        def check(body: dict[str, Any]) -> str | None:
            res = body["results"]
            if len(res) != len(sent):
                return f"{len(res)} results for {len(sent)} texts"
            # A null label comes with the reason (the model was not sure).
            if any(
                (r["label"] not in r["probabilities"] and not r.get("reason")) or not 0 <= r["score"] <= 1 for r in res
            ):
                return "label neither in probabilities nor explained, or score outside 0-1"
            return None

        self.post("/sentiment", {"texts": sent}, check)

    def classify(self) -> None:
        sent = random.sample(PAYLOADS["titles"], batch_size())
        self.post(
            "/classify",
            {"texts": sent},
            lambda b: (
                None
                if len(b["results"]) == len(sent) and all(r["label"] or r.get("reason") for r in b["results"])
                else "missing results, or labels without a reason"
            ),
        )

    def ner(self) -> None:
        sent = texts(batch_size())

        def check(body: dict[str, Any]) -> str | None:
            for text, r in zip(sent, body["results"], strict=True):
                for e in r["entities"]:
                    # personal data comes back as its placeholder (<NAME>, <ADDRESS>, <PHONE>) at its offsets
                    masked = e["text"].startswith("<") and e["text"].endswith(">") and e["end"] > e["start"]
                    if not masked and text[e["start"] : e["end"]] != e["text"]:
                        return f"entity offsets {e['start']}:{e['end']} do not index {e['text']!r}"
            return None

        self.post("/ner", {"texts": sent}, check)

    def keywords(self) -> None:
        sent = texts(batch_size())
        self.post(
            "/keywords",
            {"texts": sent, "top_k": 5},
            lambda b: (
                None
                if len(b["results"]) == len(sent) and all(len(r["keywords"]) <= 5 for r in b["results"])
                else "wrong result count or too many keywords"
            ),
        )

    def recommend(self) -> None:
        users = random.sample(PAYLOADS["users"], random.choices([1, 4, 16], weights=[80, 15, 5])[0])
        n = random.choice([5, 10, 20])
        body = {"requests": [{"user_id": u, "n": n} for u in users]}
        self.post(
            "/recommend",
            body,
            lambda b: (
                None
                if [r["user_id"] for r in b["results"]] == users and all(len(r["items"]) == n for r in b["results"])
                else "wrong users or item counts"
            ),
        )

    def similar(self) -> None:
        item = random.choice(PAYLOADS["items"])
        self.post(
            "/similar-items",
            {"item_ids": [item], "n": 10},
            lambda b: (
                None
                if b["results"][0]["item_id"] == item and len(b["results"][0]["similar"]) == 10
                else "wrong item or count"
            ),
        )

    def mine(self) -> None:
        sent = texts(random.choice([1, 1, 2, 4]))
        user = random.choice(PAYLOADS["users"])

        def check(body: dict[str, Any]) -> str | None:
            if len(body["results"]) != len(sent):
                return "wrong result count"
            if any(not r["demand"]["summary"] for r in body["results"]):
                return "empty demand summary"
            if body["user"]["profile"]["user_id"] != user:
                return "profile of another user"
            return None

        self.post("/mine", {"texts": sent, "user_id": user, "n": 5}, check)

    def post_events(self) -> None:
        user = random.choice(PAYLOADS["users"])
        now = time.time()
        kinds = random.choices(
            ["view", "click", "cart", "purchase", "search"], weights=[50, 25, 10, 5, 10], k=random.randint(1, 5)
        )
        batch = [
            {
                "key": uuid.uuid4().hex,
                "user_id": user,
                "type": k,
                "ts": now,
                **(
                    {"text": random.choice(PAYLOADS["titles"])}
                    if k == "search"
                    else {"item_id": random.choice(PAYLOADS["items"])}
                ),
            }
            for k in kinds
        ]
        self.post(
            "/events",
            {"events": batch},
            lambda b: None if b["stored"] == len(batch) else f"stored {b['stored']} of {len(batch)}",
        )

    def forecast(self) -> None:
        series = random.sample(PAYLOADS["series"], random.choice([1, 1, 4]))
        self.post(
            "/forecast",
            {"series": series},
            lambda b: (
                None
                if all(
                    len(r["quantiles"]["p50"]) == 6 and r["quantiles"]["p10"][0] <= r["quantiles"]["p90"][0]
                    for r in b["results"]
                )
                else "bad quantiles"
            ),
        )

    def get_trends(self) -> None:
        self.request(
            "GET",
            "/trends",
            lambda b: None if "rising" in b["keyword"] else "no keyword trends",
            params={"window": "1h", "top": 10},
        )


class SentimentUser(ApiUser):
    @task
    def call(self) -> None:
        self.sentiment()


class ClassifyUser(ApiUser):
    @task
    def call(self) -> None:
        self.classify()


class NerUser(ApiUser):
    @task
    def call(self) -> None:
        self.ner()


class KeywordsUser(ApiUser):
    @task
    def call(self) -> None:
        self.keywords()


class RecommendUser(ApiUser):
    @task(4)
    def call(self) -> None:
        self.recommend()

    @task(1)
    def similar_items(self) -> None:
        self.similar()


class MineUser(ApiUser):
    @task
    def call(self) -> None:
        self.mine()


class EventsUser(ApiUser):
    @task(10)
    def call(self) -> None:
        self.post_events()

    @task(1)
    def read_trends(self) -> None:
        self.get_trends()


class ForecastUser(ApiUser):
    @task
    def call(self) -> None:
        self.forecast()


class MixedTraffic(ApiUser):
    """The production mix: task weights are the share of calls per endpoint."""

    @tag("recommend")
    @task(30)
    def t_recommend(self) -> None:
        self.recommend()

    @tag("sentiment")
    @task(25)
    def t_sentiment(self) -> None:
        self.sentiment()

    @tag("events")
    @task(20)
    def t_events(self) -> None:
        self.post_events()

    @task(6)
    def t_classify(self) -> None:
        self.classify()

    @task(5)
    def t_similar(self) -> None:
        self.similar()

    @task(4)
    def t_keywords(self) -> None:
        self.keywords()

    @task(4)
    def t_ner(self) -> None:
        self.ner()

    @tag("mine")
    @task(3)
    def t_mine(self) -> None:
        self.mine()

    @task(2)
    def t_forecast(self) -> None:
        self.forecast()

    @task(1)
    def t_trends(self) -> None:
        self.get_trends()


class StepLoad(LoadTestShape):
    """Add ``--step-users`` users every ``--step-seconds`` up to ``--users``; stop at ``--run-time``."""

    def tick(self) -> tuple[int, float] | None:
        opts = self.runner.environment.parsed_options
        elapsed = self.get_run_time()
        if opts.run_time and elapsed > opts.run_time:
            return None
        step = int(elapsed // opts.step_seconds) + 1
        return min(opts.num_users, step * opts.step_users), float(opts.spawn_rate)
