"""The bootstrap's scheduler: models trained side by side, each after the models it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from mining.registry import MODELS, ModelSpec
from training.bootstrap import lane_threads, next_ready, train_in_lanes, trainer_command


def spec(task: str, lang: str | None = None, after: tuple[str, ...] = ()) -> ModelSpec:
    return ModelSpec(task, lang, task, f"train_{task}", quick=(), default=("--x", "1"), full=(), after=after)


class FakeTrainer:
    """A trainer that runs for ``polls`` checks and then exits with ``code``."""

    def __init__(self, name: str, polls: int, code: int, log: list[str]) -> None:
        self.name, self.left, self.code, self.log = name, polls, code, log

    def poll(self) -> int | None:
        if self.left > 0:
            self.left -= 1
            return None
        if f"end {self.name}" not in self.log:
            self.log.append(f"end {self.name}")
        return self.code

    def terminate(self) -> None:
        self.log.append(f"terminate {self.name}")


def run(
    specs: list[ModelSpec], jobs: int, polls: dict[str, int], fail: str = "", cores: int = 2
) -> tuple[dict[str, str], str | None, list[str], dict[str, int]]:
    events: list[str] = []
    threads: dict[str, int] = {}

    def start(s: ModelSpec, n: int) -> tuple[FakeTrainer, Path]:
        events.append(f"start {s.name}")
        threads[s.name] = n
        return FakeTrainer(s.name, polls.get(s.name, 0), 1 if s.name == fail else 0, events), Path(f"{s.name}.log")

    done, failed = train_in_lanes(
        specs, jobs, start, cores, tag_of=lambda name: f"{name}:v1", wait_seconds=0.0, say=lambda _: None
    )
    return done, failed, events, threads


def test_two_lanes_run_two_models_at_once_and_the_next_starts_when_one_ends() -> None:
    specs = [spec("sentiment", "zh"), spec("keywords"), spec("recall")]
    done, failed, events, threads = run(specs, 2, {"sentiment-zh": 3, "keywords": 0, "recall": 0})
    assert failed is None
    assert done == {"sentiment-zh": "sentiment-zh:v1", "keywords": "keywords:v1", "recall": "recall:v1"}
    # Both lanes fill first; recall takes the lane keywords left while sentiment still runs.
    assert events[:3] == ["start sentiment-zh", "start keywords", "end keywords"]
    assert events.index("start recall") < events.index("end sentiment-zh")
    assert threads == {"sentiment-zh": 1, "keywords": 1, "recall": 1}


def test_a_model_waits_for_the_model_it_reads_even_with_a_lane_free() -> None:
    specs = [spec("sentiment", "zh"), spec("aspects", "zh", after=("sentiment-zh",)), spec("keywords")]
    _, failed, events, _ = run(specs, 2, {"sentiment-zh": 4, "keywords": 0})
    assert failed is None
    # keywords, later in registry order, takes the free lane; the aspects wait for sentiment.
    assert events[:2] == ["start sentiment-zh", "start keywords"]
    assert events.index("start aspects-zh") > events.index("end sentiment-zh")


def test_one_lane_trains_in_registry_order_with_every_core() -> None:
    specs = [spec("sentiment", "zh"), spec("keywords"), spec("recall")]
    _, _, events, threads = run(specs, 1, {"sentiment-zh": 2}, cores=4)
    assert [e for e in events if e.startswith("start")] == ["start sentiment-zh", "start keywords", "start recall"]
    assert set(threads.values()) == {4}


def test_the_last_model_alone_gets_every_core() -> None:
    specs = [spec("sentiment", "zh"), spec("keywords")]
    _, _, events, threads = run(specs, 2, {"sentiment-zh": 1, "keywords": 5}, cores=2)
    assert threads == {"sentiment-zh": 1, "keywords": 1}
    specs = [spec("sentiment", "zh"), spec("aspects", "zh", after=("sentiment-zh",))]
    _, _, events, threads = run(specs, 2, {"sentiment-zh": 1}, cores=2)
    # The aspect model could not start beside sentiment, and nothing else waits: both cores.
    assert threads == {"sentiment-zh": 1, "aspects-zh": 2}


def test_after_a_failure_nothing_new_starts_and_the_running_model_finishes() -> None:
    specs = [
        spec("sentiment", "zh"),
        spec("keywords"),
        spec("aspects", "zh", after=("sentiment-zh",)),
        spec("recall"),
    ]
    done, failed, events, _ = run(specs, 2, {"sentiment-zh": 0, "keywords": 3}, fail="sentiment-zh")
    assert failed == "sentiment-zh"
    assert done == {"keywords": "keywords:v1"}  # saved, so the next run starts from it
    assert "start aspects-zh" not in events and "start recall" not in events
    assert "end keywords" in events


def test_next_ready_skips_a_model_whose_dependency_is_unfinished() -> None:
    a, b = spec("sentiment", "en"), spec("aspects", "en", after=("sentiment-en",))
    assert next_ready([b, a], {"sentiment-en", "aspects-en"}) is a
    assert next_ready([b], {"sentiment-en", "aspects-en"}) is None
    assert next_ready([b], {"aspects-en"}) is b


@pytest.mark.parametrize(("at_once", "cores", "expected"), [(2, 2, 1), (1, 2, 2), (2, 16, 8), (3, 2, 1), (0, 2, 2)])
def test_lane_threads_share_the_cores(at_once: int, cores: int, expected: int) -> None:
    assert lane_threads(at_once, cores) == expected


def test_every_dependency_is_a_registered_model_listed_before_it() -> None:
    names = [m.name for m in MODELS]
    for m in MODELS:
        for needed in m.after:
            assert needed in names, f"{m.name} waits for {needed}, which the registry does not list"
            assert names.index(needed) < names.index(m.name), f"{m.name} is listed before {needed}"
    # The aspect models report the stored sentiment model as their whole-text baseline.
    assert {m.name: m.after for m in MODELS if m.task == "aspects"} == {
        "aspects-zh": ("sentiment-zh",),
        "aspects-en": ("sentiment-en",),
    }


def test_the_trainer_command_runs_the_registry_trainer_with_its_profile_flags() -> None:
    cmd = trainer_command(spec("keywords"), spec("keywords").flags("default"), "out")
    assert cmd[1:] == ["-m", "training.train_keywords", "--x", "1", "--report-dir", "out"]


def test_models_that_wait_for_each_other_are_refused_not_waited_on_forever() -> None:
    specs = [spec("sentiment", "zh", after=("aspects-zh",)), spec("aspects", "zh", after=("sentiment-zh",))]
    with pytest.raises(ValueError, match="wait for each other"):
        run(specs, 2, {})


def test_an_interrupted_bootstrap_leaves_no_trainer_running() -> None:
    events: list[str] = []

    def start(s: ModelSpec, n: int) -> tuple[FakeTrainer, Path]:
        events.append(f"start {s.name}")
        return FakeTrainer(s.name, {"sentiment-zh": 0, "keywords": 10}[s.name], 0, events), Path(f"{s.name}.log")

    def tag_of(name: str) -> str:
        raise KeyboardInterrupt  # Ctrl-C while the first model is being recorded

    with pytest.raises(KeyboardInterrupt):
        train_in_lanes(
            [spec("sentiment", "zh"), spec("keywords")],
            2,
            start,
            2,
            tag_of=tag_of,
            wait_seconds=0.0,
            say=lambda _: None,
        )
    assert "terminate keywords" in events and "terminate sentiment-zh" not in events
