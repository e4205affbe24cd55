"""Shared fixtures: a real Mosquitto on a free loopback port, per test; no swallowed exceptions, ever."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.broker import Mosquitto

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto for one test."""
    mosquitto = Mosquitto(tmp_path / "broker").start()
    yield mosquitto
    mosquitto.stop()


# --- Swallowed exceptions -------------------------------------------------------------------------------------
# Production code that catches an exception and goes on logs it with `log.exception(...)` (or exc_info=True).
# A test in which that happens passes while the gateway quietly drops work, so every test fails unless it says
# it expects it: `@pytest.mark.logged_exceptions` (the reason is the comment beside it), or the fixture
# `expect_logged_exception`, which also hands the test the records to assert on. Either way at least one such
# record must appear, so a stale declaration fails too (like xfail_strict).
# Only this process is seen: a gateway run as a subprocess (e2e) logs where this handler cannot reach.

PRODUCTION_LOGGERS = ("gateway", "sim")


def _is_production(name: str) -> bool:
    return any(name == root or name.startswith(f"{root}.") for root in PRODUCTION_LOGGERS)


class SwallowedExceptions(logging.Handler):
    """Collects records from production loggers that carry exception info."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []
        self.expected = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and _is_production(record.name):
            self.records.append(record)

    def report(self) -> str:
        lines = []
        for record in self.records:
            exc_type, exc, _ = record.exc_info or (None, None, None)
            what = f"{exc_type.__name__}: {exc}" if exc_type is not None else "no active exception"
            lines.append(f"  {record.name}: {record.getMessage()} [{what}]")
        return "\n".join(lines)


@pytest.fixture(autouse=True)
def _swallowed_exceptions(request: pytest.FixtureRequest) -> Iterator[SwallowedExceptions]:
    handler = SwallowedExceptions()
    handler.expected = request.node.get_closest_marker("logged_exceptions") is not None
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    if handler.expected and not handler.records:
        pytest.fail("declared logged exceptions, but production code logged none")
    if not handler.expected and handler.records:
        pytest.fail(
            "production code logged exceptions it caught (declare them with @pytest.mark.logged_exceptions "
            f"or the expect_logged_exception fixture if the test provokes them):\n{handler.report()}"
        )


@pytest.fixture
def expect_logged_exception(_swallowed_exceptions: SwallowedExceptions) -> list[logging.LogRecord]:
    """Declare that production code will log a caught exception; the records, for the test to assert on."""
    _swallowed_exceptions.expected = True
    return _swallowed_exceptions.records
