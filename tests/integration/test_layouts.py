"""Both runner layouts serve the same answers: runners colocated in the gateway workers (the
default) and runners as separate BentoML services in their own processes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import bentoml
import httpx
import psutil
import pytest

from mining.registry import RUNNERS
from mining.settings import Settings
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

CASES: list[tuple[str, dict[str, Any]]] = [
    ("/sentiment", {"texts": ["质量很好，物流也快", "The coffee arrived stale and the bag was torn."]}),
    ("/classify", {"texts": ["55 inch 4K smart TV", "gaming laptop 16GB RAM"]}),
    ("/ner", {"texts": ["我在北京的联想专卖店买了电脑", "Bought a Samsung TV at Costco in Seattle"]}),
    ("/keywords", {"texts": ["物流很快，包装很好", "The coffee arrived stale and the bag was torn."]}),
    ("/recommend", {"requests": [{"user_id": "196", "n": 5}, {"user_id": "nobody", "n": 3}]}),
    ("/similar-items", {"item_ids": ["50"], "n": 5}),
    ("/mine", {"texts": ["手机电池不耐用，想换一个大容量的", "Need a quieter blender, this one is too loud"]}),
]


@pytest.fixture(scope="module")
def separate(trained_models: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("separate")
    srv = Server(
        tmp / "serve.log",
        {"DEMAND_MINING_EVENTS_DB": str(tmp / "events.sqlite3"), "DEMAND_MINING_LAYOUT": "separate", "GRPC_PORT": "0"},
    )
    try:
        yield srv.start()
    finally:
        srv.stop()


def rounded(value: Any) -> Any:
    """Floats to 4 places: the layouts run the same weights, but batch shapes may differ."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


@pytest.mark.parametrize("path,body", CASES, ids=[c[0] for c in CASES])
def test_same_answers_in_both_layouts(separate: Server, server: str, path: str, body: dict[str, Any]) -> None:
    colocated = httpx.post(f"{server}{path}", json=body, timeout=60)
    apart = httpx.post(f"{separate.url}{path}", json=body, timeout=60)
    assert colocated.status_code == apart.status_code == 200, (colocated.text, apart.text)
    assert rounded(colocated.json()) == rounded(apart.json())


def service_processes(srv: Server) -> dict[str, int]:
    """Service name -> worker processes under a server's process group."""
    assert srv.proc is not None
    names: dict[str, int] = {}
    for p in psutil.Process(srv.proc.pid).children(recursive=True):
        cmd = p.cmdline()
        if "--service-name" in cmd:
            name = cmd[cmd.index("--service-name") + 1]
            names[name] = names.get(name, 0) + 1
    return names


def test_process_layouts(separate: Server, served: Server) -> None:
    runners = {spec.class_name for spec in RUNNERS}  # the service name is the class name
    assert set(service_processes(served)) == {"DemandMining"}  # every model inside the gateway workers
    apart = service_processes(separate)
    assert set(apart) == {"DemandMining", *runners} and apart["DemandMining"] == 1


def test_colocated_batch_sizes_are_on_metrics(server: str) -> None:
    httpx.post(f"{server}/sentiment", json={"texts": ["质量很好", "Great taste"]}, timeout=60).raise_for_status()
    metrics = httpx.get(f"{server}/metrics", timeout=10).text
    counts = [
        line
        for line in metrics.splitlines()  # the +Inf bucket counts every batch
        if line.startswith("demand_mining_batch_size_bucket")
        and 'le="+Inf"' in line
        and 'runner="SentimentRunner"' in line
    ]
    assert counts and sum(float(line.rsplit(" ", 1)[1]) for line in counts) >= 1, metrics[-2000:]


def loaded_as(log: str, name: str) -> set[tuple[str, str]]:
    """(quantisation, encoder bottom) of each load of model ``name`` the server logged."""
    pattern = rf"\b{re.escape(name)}:\w+: ([\w-]+), encoder bottom: (none|\d+ frozen layers [0-9a-f]{{12}}, [\w-]+)"
    return set(re.findall(pattern, log))


def test_english_heads_load_onto_one_shared_bottom(served: Server, trained_models: dict[str, str]) -> None:
    # Colocated: both heads in each gateway worker, so equal digests are one copy per worker.
    log = served.log.read_text()
    sentiment, ner = loaded_as(log, "sentiment-en"), loaded_as(log, "ner-en")
    assert len(sentiment) == 1 and len(ner) == 1, (sentiment, ner)  # every worker loads them alike
    (s_mode, s_bottom), (n_mode, n_bottom) = sentiment.pop(), ner.pop()
    assert s_bottom.startswith("3 frozen layers") and s_bottom == n_bottom  # the registry's quick profile
    assert s_bottom.endswith(f", {Settings().bottom_quantization}")  # the bottom serves as settings default
    # Each head runs the quantisation its training chose and recorded (the server quantises by default).
    for mode, name in ((s_mode, "sentiment-en"), (n_mode, "ner-en")):
        metadata = dict(bentoml.models.get(trained_models[name]).info.metadata)
        chosen = metadata.get("quantization", {}).get("mode", "none")
        assert mode == chosen, (name, mode, chosen)
