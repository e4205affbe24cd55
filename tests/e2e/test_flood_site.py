"""A cloudburst floods a street while the broker is down: every flood event still arrives.

Scenario: a virtual MaxBotix on a pty reports a street gully through a gateway process into a real
Mosquitto. The broker is killed before the water starts rising and restarted after the alarm level
is reached; watch, warning and alarm are delivered late (marked historical, same ids) and the
cleared event live, all on the water authority's and the fire brigade's topics per the policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.broker import Mosquitto
from tests.e2e.harness import SiteRun, describe, match_ground_truth

FLOOD = ("flood.watch", "flood.warning", "flood.alarm", "flood.cleared")


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "broker", persistent=True).start()
    yield broker
    broker.stop()


def test_flood_during_a_broker_outage_is_delivered(tmp_path: Path, persistent_broker: Mosquitto) -> None:
    run = SiteRun(tmp_path, persistent_broker, "flood_cloudburst", 100)
    try:
        run.start()
        run.wait_scenario(1000)  # dry street: nothing to report yet
        persistent_broker.kill()
        run.wait_scenario(2000)  # the water rises past watch, warning and alarm meanwhile
        persistent_broker.start()
        run.wait_scenario()
        assert run.stop_gateway() == 0, run.log_tail()
        run.recorder.wait_for(
            lambda _m: any(e["type"] == "flood.cleared" for e in run.events("rijkswaterstaat"))
        )
        result = match_ground_truth(run, types=FLOOD, actor="rijkswaterstaat")
        assert not result.missing, describe(result, run)
        assert not [e for e in result.unexpected if e["type"] in FLOOD], describe(result, run)
        water = {e["type"]: e for e in run.events("rijkswaterstaat")}
        assert water["flood.alarm"]["historical"] is True  # stored while the broker was down
        assert water["flood.cleared"]["historical"] is False
        fire = {e["type"] for e in run.events("brandweer")}
        assert {"flood.warning", "flood.alarm", "flood.cleared"} <= fire
        assert "flood.watch" not in fire  # the fire brigade is not told about a mere watch
    finally:
        run.close()
