"""Record a served API's answers to a fixed payload set, to check that a change of code kept
behaviour: run it against the server before and after, on the same model store and an empty
event store, and compare the two files.

    python -m bench.answers --url http://127.0.0.1:3000 --out before.json
    python -m bench.answers --url http://127.0.0.1:3000 --out after.json --compare before.json

Fields that depend on the wall clock (event times, trend windows) are dropped; everything else,
including error messages and status codes, must be identical.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

TEXTS = [
    "有没有更大容量的充电宝？电池不耐用",
    "质量很好，物流也快，下次还来买",
    "请问这个洗发水适合油性头发吗？",
    "屏幕太暗了，华为的售后也不理人，差评",
    "Looking for a Sony 65 in TV, the old one broke. Mail me at jo@example.com",
    "The coffee arrived stale and the bag was torn.",
    "Where is my order? It has been two weeks.",
    'Samsung 65" QN90C 4K TV, 2-pack',
    "新华社北京电，联想集团在上海发布新品",
    "这个iPhone壳很好用",
]
SERIES = {
    "series_id": "s1",
    "units": [4000.0 + 100 * (k % 5) for k in range(20)],
    "horizon": 4,
    "covariates": {c: [1.0] * 20 for c in ("price", "deal", "feature", "rel_price")},
    "future_covariates": {c: [1.0] * 4 for c in ("price", "deal", "feature", "rel_price")},
}
TS = "2026-11-28T09:30:00Z"

# (method, path, body or query); errors are part of the contract too.
CALLS: list[tuple[str, str, Any]] = [
    ("POST", "/sentiment", {"texts": TEXTS}),
    ("POST", "/sentiment", {"texts": "一个字符串"}),
    ("POST", "/classify", {"texts": TEXTS}),
    ("POST", "/ner", {"texts": TEXTS}),
    ("POST", "/keywords", {"texts": TEXTS, "top_k": 7}),
    ("POST", "/mine", {"texts": TEXTS, "top_k": 3}),
    ("POST", "/mine", {"texts": TEXTS[:3], "user_id": "golden-1", "request_id": "r1", "event_type": "review", "n": 5}),
    (
        "POST",
        "/events",
        {
            "events": [
                {
                    "key": "g-1",
                    "user_id": "golden-2",
                    "type": "search",
                    "text": "想买一个小米充电宝 20000毫安",
                    "ts": TS,
                },
                {"key": "g-2", "user_id": "golden-2", "type": "view", "item_id": "50", "ts": TS},
                {"key": "g-3", "user_id": "golden-2", "type": "purchase", "item_id": "181", "ts": TS},
                {
                    "key": "g-4",
                    "user_id": "golden-2",
                    "type": "review",
                    "text": "Great phone, call me on 13812345678",
                    "ts": TS,
                },
            ]
        },
    ),
    ("POST", "/events", {"events": [{"key": "g-1", "user_id": "golden-2", "type": "search", "text": "x", "ts": TS}]}),
    ("GET", "/users/golden-2/profile", {"top": 5}),
    ("GET", "/users/nobody-here/profile", None),
    ("GET", "/trends", {"window": "7d", "end": "2026-11-29T00:00:00Z", "top": 5}),
    (
        "POST",
        "/recommend",
        {
            "requests": [
                {"user_id": "196", "n": 5, "explain": True},
                {"user_id": "golden-2", "n": 5},
                {"user_id": "new-user", "n": 3},
            ]
        },
    ),
    ("POST", "/similar-items", {"item_ids": ["50", "181"], "n": 4}),
    ("POST", "/similar-items", {"item_ids": ["no-such-item"]}),
    ("POST", "/forecast", {"series": [SERIES]}),
    ("POST", "/forecast/spec", {}),
    ("POST", "/inventory/plan", {"series": SERIES, "lead_time": 3, "service_level": 0.95, "on_hand": 1000}),
    ("POST", "/invocations", {"route": "/sentiment", "body": {"texts": TEXTS[:2]}}),
    ("POST", "/invocations", {"route": "/nowhere", "body": {}}),
    # Bad input: each must name the field and the rule.
    ("POST", "/sentiment", {"texts": []}),
    ("POST", "/sentiment", {"texts": ["   "]}),
    ("POST", "/keywords", {"texts": ["a"], "top_k": 0}),
    ("POST", "/events", {"events": [{"key": "k", "user_id": "u", "type": "view", "ts": TS}]}),
    ("POST", "/forecast", {"series": [{**SERIES, "horizon": 99}]}),
    ("GET", "/trends", {"window": "5s"}),
]
CLOCK_FIELDS = {"ts", "first_seen", "last_seen", "window", "day", "trend"}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in CLOCK_FIELDS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def record(url: str) -> list[dict[str, Any]]:
    """Every call's status and stripped JSON body, in call order."""
    out = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for method, path, body in CALLS:
            if method == "GET":
                r = client.get(path, params=body)
            else:
                r = client.post(path, json=body)
            out.append({"call": f"{method} {path}", "status": r.status_code, "body": _strip(r.json())})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the served API")
    parser.add_argument("--out", required=True, help="where the answers go (JSON)")
    parser.add_argument("--compare", help="a file written by an earlier run; exit 1 if any answer differs")
    args = parser.parse_args(argv)
    answers = record(args.url)
    Path(args.out).write_text(json.dumps(answers, ensure_ascii=False, indent=1, sort_keys=True))
    if not args.compare:
        return 0
    before = json.loads(Path(args.compare).read_text())
    differ = [a["call"] + f" (#{i})" for i, (a, b) in enumerate(zip(answers, before)) if a != b]
    if len(before) != len(answers):
        differ.append(f"{len(before)} calls before, {len(answers)} now")
    print("identical" if not differ else "differ: " + ", ".join(differ))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
