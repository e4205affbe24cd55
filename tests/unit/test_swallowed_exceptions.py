"""The autouse guard in tests/conftest.py: which records it counts, and the fixture that declares them."""

from __future__ import annotations

import logging
import sys

import pytest

from tests.conftest import SwallowedExceptions


def _record(name: str, *, with_exception: bool) -> logging.LogRecord:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info() if with_exception else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, "failed on %s", ("x",), exc_info)


@pytest.mark.parametrize(
    ("name", "with_exception", "counted"),
    [
        ("gateway", True, True),
        ("gateway.app", True, True),
        ("sim.serial.pty", True, True),
        ("gateway.app", False, False),  # an error without a traceback is a report, not a swallowed exception
        ("gatewayx", True, False),
        ("tests.e2e", True, False),
        ("paho.mqtt.client", True, False),
    ],
)
def test_only_production_records_with_exceptions_count(
    name: str, with_exception: bool, counted: bool
) -> None:
    handler = SwallowedExceptions()
    handler.handle(_record(name, with_exception=with_exception))
    assert bool(handler.records) is counted


def test_report_names_logger_message_and_exception() -> None:
    handler = SwallowedExceptions()
    handler.handle(_record("gateway.app", with_exception=True))
    assert handler.report() == "  gateway.app: failed on x [ValueError: boom]"


def test_declared_exception_is_handed_to_the_test(expect_logged_exception: list[logging.LogRecord]) -> None:
    try:
        raise RuntimeError("detector bug")
    except RuntimeError:
        logging.getLogger("gateway.fake").exception("reading dropped")
    assert [r.getMessage() for r in expect_logged_exception] == ["reading dropped"]


@pytest.mark.logged_exceptions
def test_marker_declares_it_too() -> None:
    logging.getLogger("sim.fake").error("lost", exc_info=RuntimeError("frame"))
