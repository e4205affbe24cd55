"""Shared fixtures: a real Mosquitto on a free loopback port, per test."""

from __future__ import annotations

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
