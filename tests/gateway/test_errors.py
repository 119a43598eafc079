"""What a refusal says arrived at a failing field: kind and size, short numbers as sent, never a
string's text; read from pydantic's input or, for BentoML's detail, from the refused body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from gateway.errors import arrived, at, error_message, validation_message, with_arrival, with_arrivals


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (None, "null"),
        (True, "true"),
        (0, "0"),
        (-2.5, "-2.5"),
        (1e39, "1e+39"),
        (12345678, "12345678"),
        (123456789, "a number of 9 digits"),
        (4111111111111111, "a number of 16 digits"),
        ("", "a string of 0 characters"),
        ("a", "a string of 1 character"),
        ("手机坏了", "a string of 4 characters"),
        ([1], "an array of 1 item"),
        ([], "an array of 0 items"),
        ({"a": 1, "b": 2}, "an object with 2 fields"),
    ],
)
def test_what_arrived_is_said_by_kind_and_size(value: Any, said: str) -> None:
    assert arrived(value) == said


def test_a_location_is_read_in_the_body() -> None:
    body = {"requests": [{"user_id": "u", "recent": [{"weight": -1}]}], "one": {"n": 0}}
    assert at(body, ["requests", 0, "recent", 0, "weight"]) == -1
    assert at(body, ["one", 0, "n"]) == 0  # one object where a list may stand
    assert at("solo", [0]) == "solo"
    for loc in (["requests", 1], ["requests", "0"], ["nope"], ["requests", 0, "user_id", "x"]):
        error = {"loc": loc, "msg": "m", "type": "t"}
        assert with_arrival(error, at(body, loc)) == error  # not in the body: nothing said


@pytest.mark.parametrize(
    ("error", "value", "expected"),
    [
        ({"type": "missing", "msg": "Field required"}, {"other": 1}, None),
        ({"type": "json_invalid", "msg": "Invalid JSON: unexpected end of hex escape"}, {"texts": ["\ud800"]}, None),
        ({"type": "too_long", "msg": "Value should have at most 64 items after validation, not 65"}, [0] * 65, None),
        ({"type": "value_error", "msg": "Value error, need 8 periods, got 3"}, [1, 2, 3], None),
        ({"type": "greater_than_equal", "msg": "Input should be greater than or equal to 1"}, "0", "0"),
        ({"type": "int_parsing", "msg": "Input should be a valid integer"}, "many", "a string of 4 characters"),
        ({"type": "string_type", "msg": "Input should be a valid string"}, 12, "12"),
    ],
)
def test_arrival_is_added_only_where_something_arrived_and_the_rule_did_not_say_it(
    error: dict[str, Any], value: Any, expected: str | None
) -> None:
    out = with_arrival({"loc": ["f"], **error}, value)
    assert out.get("arrived") == expected
    assert error_message({"detail": [out]}) == f"f: {error['msg']}" + (f" (got {expected})" if expected else "")


class Contact(BaseModel):
    note: str = Field(max_length=5)
    n: int = Field(ge=1)


def test_pydantic_input_is_described_never_passed_on() -> None:
    with pytest.raises(ValidationError) as info:
        Contact.model_validate({"note": "call me at 13812345678", "n": 13812345678 * 0})
    message, detail = validation_message(list(info.value.errors()))
    assert message == (
        "note: String should have at most 5 characters (got a string of 22 characters); "
        "n: Input should be greater than or equal to 1 (got 0)"
    )
    assert "13812345678" not in message + json.dumps(detail)
    assert all("input" not in d for d in detail)


def test_bentoml_detail_gets_its_arrivals_from_the_body() -> None:
    detail = [
        {"loc": ["texts", 0], "msg": "Input should be a valid string", "type": "string_type"},
        {"loc": ["texts", 1], "msg": "Input should be a valid string", "type": "string_type"},
        {"loc": ["user_id"], "msg": "Field required", "type": "missing"},
    ]
    out = with_arrivals(detail, {"texts": [13812345678, None]})
    assert error_message({"detail": out}) == (
        "texts[0]: Input should be a valid string (got a number of 11 digits); "
        "texts[1]: Input should be a valid string (got null); user_id: Field required"
    )
    assert with_arrivals("not a list", {}) == "not a list"
    assert with_arrivals([{"loc": ["a"], "msg": "m", "arrived": "kept"}], {"a": 1}) == [
        {"loc": ["a"], "msg": "m", "arrived": "kept"}
    ]
