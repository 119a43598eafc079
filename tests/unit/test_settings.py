"""Settings: every variable parsed once, in one place, with errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from mining.registry import MODELS
from mining.settings import Settings, cores, parse_api_keys


def test_defaults_from_an_empty_environment() -> None:
    s = Settings.from_env({})
    assert s.layout == "colocated" and s.workers == cores() and s.torch_threads == max(1, cores() // s.workers)
    assert s.batching and s.api_keys == frozenset() and s.max_body_bytes == 4 << 20
    assert (s.grpc_port, s.grpc_host, s.events_db) == (3001, "127.0.0.1", Path("var/events.sqlite3"))
    assert s.events_location() == Path("var/events.sqlite3")  # SQLite unless a URL is set
    assert s.model_tags == {m.name: f"{m.name}:latest" for m in MODELS}
    assert s.shop_values is None  # the shop's placeholders are left for the agent
    assert s.bottom_quantization == "none"  # bf16 lost more than 0.5 point on two heads (docs/benchmarks.md)


def test_every_variable_is_read(tmp_path: Path) -> None:
    shop = tmp_path / "shop.csv"
    shop.write_text("placeholder,value,lang\n", encoding="utf-8")
    s = Settings.from_env(
        {
            "DEMAND_MINING_LAYOUT": "separate",
            "DEMAND_MINING_WORKERS": "3",
            "TORCH_THREADS": "2",
            "DEMAND_MINING_BATCHING": "off",
            "DEMAND_MINING_API_KEYS": " a, b ,,",
            "DEMAND_MINING_MAX_BODY_BYTES": "100",
            "GRPC_PORT": "0",
            "GRPC_HOST": "::1",
            "DEMAND_MINING_EVENTS_DB": "/tmp/e.db",
            "DEMAND_MINING_EVENTS_URL": "postgresql://app:s3cret@db.internal:5432/events",
            "DEMAND_MINING_EVENTS_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:db",
            "DEMAND_MINING_EVENTS_POOL": "4",
            "NER_PRODUCTS_EN_MODEL": "ner-products-en:abc",
            "DEMAND_MINING_DATA_DIR": "/data/cache",
            "DEMAND_MINING_SHOP_VALUES": str(shop),
            "DEMAND_MINING_BOTTOM_QUANTIZATION": "int8-channel",
        }
    )
    assert s.bottom_quantization == "int8-channel"
    assert (s.layout, s.workers, s.torch_threads, s.batching) == ("separate", 3, 2, False)
    assert s.api_keys == {"a", "b"} and s.max_body_bytes == 100 and (s.grpc_port, s.grpc_host) == (0, "::1")
    assert s.events_db == Path("/tmp/e.db") and s.data_dir == Path("/data/cache")
    assert s.shop_values == shop
    assert s.events_location() == "postgresql://app:s3cret@db.internal:5432/events" and s.events_pool == 4
    assert s.events_secret_arn.endswith(":secret:db") and "s3cret" not in repr(s)  # a password is never printed
    assert s.model_tags["ner-products-en"] == "ner-products-en:abc" and s.model_tags["ner-en"] == "ner-en:latest"


def test_separate_layout_gives_each_runner_process_every_core() -> None:
    s = Settings.from_env({"DEMAND_MINING_LAYOUT": "separate"})
    assert (s.workers, s.torch_threads) == (1, cores())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DEMAND_MINING_LAYOUT": "sideways"},
            "DEMAND_MINING_LAYOUT must be one of colocated, separate; got 'sideways'",
        ),
        ({"DEMAND_MINING_BATCHING": "yes"}, "DEMAND_MINING_BATCHING must be on or off; got 'yes'"),
        ({"DEMAND_MINING_WORKERS": "0"}, "DEMAND_MINING_WORKERS must be >= 1, got 0"),
        ({"GRPC_PORT": "http"}, "GRPC_PORT must be an integer, got 'http'"),
        (
            {"DEMAND_MINING_BOTTOM_QUANTIZATION": "fp16"},
            "DEMAND_MINING_BOTTOM_QUANTIZATION must be one of none, int8, int8-channel, bf16; got 'fp16'",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as err:
        Settings.from_env(env)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "var", ["DEMAND_MINING_BRANDS", "DEMAND_MINING_PRODUCT_TYPES", "DEMAND_MINING_REPLIES", "DEMAND_MINING_SHOP_VALUES"]
)
def test_a_user_file_that_is_not_there_names_the_variable_and_the_path(tmp_path: Path, var: str) -> None:
    there = tmp_path / "mine.txt"
    there.write_text("x\n", encoding="utf-8")
    missing = tmp_path / "typo.txt"
    with pytest.raises(ValueError) as err:
        Settings.from_env({var: str(missing)})
    assert str(err.value) == f"{var} names {str(missing)!r}, which is not a file"
    with pytest.raises(ValueError, match=var):
        Settings.from_env({var: str(tmp_path)})  # a folder is no file either
    if var in ("DEMAND_MINING_BRANDS", "DEMAND_MINING_PRODUCT_TYPES"):  # lists: every entry is checked
        with pytest.raises(ValueError, match="typo.txt"):
            Settings.from_env({var: f"{there}:{missing}"})
        assert there in getattr(Settings.from_env({var: f"{there}:"}), var.removeprefix("DEMAND_MINING_").lower())


def test_api_keys_parse() -> None:
    assert parse_api_keys(None) == frozenset() and parse_api_keys(" k1 ,k2,") == {"k1", "k2"}


def test_an_events_url_must_be_postgresql_and_is_not_echoed() -> None:
    with pytest.raises(ValueError, match=r"DEMAND_MINING_EVENTS_URL must be a postgresql:// URL .*got mysql$"):
        Settings.from_env({"DEMAND_MINING_EVENTS_URL": "mysql://root:hunter2@db/events"})


def test_the_baseline_store_is_the_model_store_unless_named() -> None:
    assert Settings.from_env({"BENTOML_HOME": "/srv/store"}).baseline_store == Path("/srv/store")
    named = Settings.from_env({"BENTOML_HOME": "/srv/store/staging", "DEMAND_MINING_BASELINE_STORE": "/srv/store"})
    assert (named.model_store, named.baseline_store) == (Path("/srv/store/staging"), Path("/srv/store"))


def test_the_bottom_modes_are_the_model_librarys_and_off_with_quantisation() -> None:
    from mining.artifacts import BOTTOM_QUANTIZATIONS as LIBRARY
    from mining.settings import BOTTOM_QUANTIZATIONS

    assert BOTTOM_QUANTIZATIONS == LIBRARY
    env = {"DEMAND_MINING_BOTTOM_QUANTIZATION": "bf16"}
    assert Settings.from_env(env).bottom_quantization == "bf16"
    assert Settings.from_env({**env, "DEMAND_MINING_QUANTIZE": "off"}).bottom_quantization == "none"
