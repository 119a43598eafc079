"""What a failed request writes to the log: a refusal is one line naming the field and the rule,
never the value that arrived; a fault keeps its traceback with personal numbers masked."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from bentoml.exceptions import InvalidArgument, ServiceUnavailable
from pydantic import BaseModel, Field, ValidationError

from runners.base import REDACTED_LOGGERS, RedactedErrors, service_logging

PHONE, EMAIL = "13812345678", "bob.lee@example.com"


class _Body(BaseModel):
    text: str = Field(max_length=20)


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test-redaction")
    logger.addHandler(handler)
    logger.addFilter(RedactedErrors())
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)
    logger.filters.clear()


def _raise_and_log(logger: logging.Logger, exc: BaseException) -> None:
    try:
        raise exc
    except BaseException:
        logger.error("Exception on %s [%s]", "/reply", "POST", exc_info=True)


def test_a_validation_refusal_names_field_and_rule_without_the_value(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = logged
    with pytest.raises(ValidationError) as caught:
        _Body.model_validate({"text": f"call {PHONE} or {EMAIL} " + "a" * 50})
    assert PHONE in str(caught.value)  # pydantic itself quotes the value: what the filter is for
    _raise_and_log(logger, caught.value)
    line = out.getvalue()
    assert line.startswith("INFO Exception on /reply [POST]: refused: text: String should have at most 20 characters")
    assert PHONE not in line and "bob.lee" not in line and "Traceback" not in line
    assert line.count("\n") == 1


def test_a_client_error_is_one_masked_line_and_a_fault_keeps_a_masked_traceback(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = logged
    _raise_and_log(logger, InvalidArgument(f"user {EMAIL} sent {PHONE}"))
    refusal = out.getvalue()
    assert refusal.startswith("INFO Exception on /reply [POST]: refused: 400 user <EMAIL> sent <PHONE>")
    assert "Traceback" not in refusal
    out.truncate(0), out.seek(0)
    for fault in (RuntimeError(f"row for {PHONE} failed"), ServiceUnavailable(f"store down for {EMAIL}")):
        _raise_and_log(logger, fault)
    faults = out.getvalue()
    assert faults.count("ERROR Exception on /reply [POST]") == 2 and faults.count("Traceback") == 2
    assert "RuntimeError: row for <PHONE> failed" in faults and "store down for <EMAIL>" in faults
    assert PHONE not in faults and EMAIL not in faults


def test_plain_lines_are_masked_and_arguments_kept(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = logged
    logger.warning("slow request from %s took %d ms", PHONE, 812)
    assert out.getvalue() == "WARNING slow request from <PHONE> took 812 ms\n"


def test_service_logging_filters_each_exception_logger_once() -> None:
    service_logging()
    service_logging()
    for name in REDACTED_LOGGERS:
        assert sum(isinstance(f, RedactedErrors) for f in logging.getLogger(name).filters) == 1, name
