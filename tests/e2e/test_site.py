"""Whole sites: simulator on pseudo-terminals -> gateway process -> real Mosquitto -> subscriber.

Each test plays a seeded scenario faster than real time (the gateway is told the time scale)
and checks what an integrator receives against the scenario's ground truth.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.broker import Mosquitto
from tests.contract import check_message
from tests.e2e.harness import SiteRun, describe, match_ground_truth

AIR = ("air.band_changed", "air.co2_high", "air.co2_normal")


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "broker", persistent=True).start()
    yield broker
    broker.stop()


def make_run(tmp_path: Path, broker: Mosquitto, scenario: str, scale: float) -> Iterator[SiteRun]:
    run = SiteRun(tmp_path, broker, scenario, scale)
    try:
        yield run
    finally:
        run.close()


@pytest.mark.parametrize(("scenario", "scale"), [("default", 60), ("fog", 120), ("wood_smoke_evening", 150)])
def test_scenario_ground_truth_arrives(
    tmp_path: Path, persistent_broker: Mosquitto, scenario: str, scale: float
) -> None:
    for run in make_run(tmp_path, persistent_broker, scenario, scale):
        run.start()
        run.wait_scenario()
        assert run.stop_gateway() == 0, run.log_tail()
        run.recorder.wait_for(lambda _m: True, timeout=0.5)
        result = match_ground_truth(run)
        assert not result.missing, describe(result, run)
        assert not [e for e in result.unexpected if e["type"] in AIR], describe(result, run)
        site, gw = run.site.gateway_config("", 0, tmp_path)["site"], "gw-sim"
        for message in run.recorder.messages:
            check_message(message.topic, message.payload)
            if "/events/" in message.topic:
                body = message.json()
                assert message.topic == f"city/v1/{body['actor']}/{site}/{gw}/events/{body['type']}"


def test_gateway_sigkill_and_broker_restart_lose_nothing(
    tmp_path: Path, persistent_broker: Mosquitto
) -> None:
    """Kill -9 the gateway mid-run and restart it; then kill and restart the broker.

    Every event that was in the outbox at the kill reaches the subscriber; a re-delivered event
    keeps its id; the scenario's ground truth still arrives.
    """
    for run in make_run(tmp_path, persistent_broker, "default", 60):
        run.start()
        run.wait_scenario(700)
        run.kill_gateway()
        with sqlite3.connect(run.outbox_path) as db:
            pending = {json.loads(p)["id"] for (p,) in db.execute("SELECT payload FROM outbox")}
        run.start_gateway()
        run.wait_scenario(1000)
        persistent_broker.kill()
        run.wait_scenario(1100)
        persistent_broker.start()
        run.wait_scenario()
        assert run.stop_gateway() == 0, run.log_tail()
        received = run.recorder.wait_for(
            lambda m, ids=pending: ids <= {x.json().get("id") for x in m if "/events/" in x.topic}
        )
        by_id: dict[str, set[str]] = {}
        for message in received:
            if "/events/" in message.topic:
                body = message.json()
                body.pop("historical")
                by_id.setdefault(body["id"], set()).add(json.dumps(body, sort_keys=True))
        assert pending <= set(by_id), "events in the outbox at the kill were lost"
        assert all(len(variants) == 1 for variants in by_id.values()), "a duplicate changed content"
        with sqlite3.connect(run.outbox_path) as db:
            assert db.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
        result = match_ground_truth(
            run, types=("air.co2_high", "air.co2_normal", "sensor.offline", "sensor.online")
        )
        assert not result.missing, describe(result, run)
