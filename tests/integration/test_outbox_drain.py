"""After an outage the backlog drains most urgent first, and what the outbox dropped is reported.

Scenario: a broker outage left thousands of air events in the outbox. When the publisher comes
back, a fall raised mid-drain overtakes the backlog (it is fetched with the next batch, not after
the last backlog row), arrives marked live, and every backlog event still arrives once, marked
historical. A telemetry class past its bound drops its oldest summaries; the gateway's health loop
publishes the retained `outbox/dropped` report at once, valid against the published contract, and
again when the episode ends. A real Mosquitto on loopback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from gateway.config import OutboxConfig
from gateway.health import HealthReporter
from gateway.messages import Event, Publication
from gateway.outbox import Outbox
from gateway.privacy.door import Door
from gateway.privacy.policy import Policy
from gateway.publish.mqtt import MqttPublisher
from gateway.topics import Topics
from sim.broker import Mosquitto
from tests.contract import check_message
from tests.mqtt_helpers import Recorder

TOPICS = Topics("city", "site-a", "gw-1")
POLICY = Policy.model_validate(
    {
        "version": "test-1",
        "actors": {
            "gemeente": {
                "purpose": "testing the drain",
                "grants": [
                    {"events": ["air.band_changed", "air.summary", "fall.confirmed"], "fields": ["n"]}
                ],
            }
        },
    }
)


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll (bounded) until predicate() holds."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def publications(door: Door, event_type: str, count: int, start: int = 0) -> list[Publication]:
    return [p for n in range(count) for p in door.event(Event(event_type, "pm-1", {"n": start + n}))]


def test_a_fall_during_the_drain_overtakes_the_backlog(tmp_path: Path, broker: Mosquitto) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    door = Door(TOPICS, POLICY, {})
    backlog = publications(door, "air.band_changed", 3000)
    outbox.put(backlog)
    publisher = MqttPublisher("site-a-gw-1", outbox, will=door.gateway_status(online=False), window=64)
    recorder = Recorder(broker.host, broker.port, TOPICS.actor_event("gemeente", "#"))
    try:
        publisher.start(broker.host, broker.port, keepalive=10)
        assert wait_until(lambda: publisher.acked > 0)
        fall = publications(door, "fall.confirmed", 1)
        outbox.put(fall)
        publisher.notify()
        got = recorder.wait_for(lambda m: len(m) >= len(backlog) + 1, timeout=60)
        order = [json.loads(m.payload)["type"] for m in got]
        at = order.index("fall.confirmed")
        assert len(order) - at - 1 > len(backlog) / 2, f"the fall arrived {at}th of {len(order)}"
        live = json.loads(got[at].payload)
        assert live["historical"] is False
        late = [json.loads(m.payload) for m in got if "air.band_changed" in m.topic]
        assert len({e["id"] for e in late}) == len(backlog)
        assert all(e["historical"] for e in late)
        assert wait_until(lambda: len(outbox) == 0)
    finally:
        publisher.stop()
        recorder.close()
        outbox.close()


def test_dropped_telemetry_is_reported_at_once_and_when_it_ends(tmp_path: Path, broker: Mosquitto) -> None:
    outbox = Outbox(
        tmp_path / "outbox.sqlite3", OutboxConfig.model_validate({"telemetry": {"max_mb": 0.003}})
    )
    door = Door(TOPICS, POLICY, {})
    publisher = MqttPublisher("site-a-gw-1", outbox, will=door.gateway_status(online=False))
    health = HealthReporter(publisher, door, list)  # no sources: the outbox alone
    report_topic = door.topics.outbox_dropped
    recorder = Recorder(broker.host, broker.port, report_topic)
    try:
        health.tick(3600)  # the first health round: nothing dropped yet, nothing to report
        for n in range(60):  # the broker is away: summaries pile up past telemetry's 3 kB
            outbox.put(publications(door, "air.summary", 1, start=n))
            health.tick(3600)
        publisher.start(broker.host, broker.port, keepalive=10)
        got = recorder.wait_for(lambda m: bool(m))
        assert len(got) == 1
        assert check_message(got[0].topic, got[0].payload).kind == "outbox_dropped"
        report = json.loads(got[0].payload)
        assert report["dropped"]["telemetry"] > 0 and report["dropped"]["events"] == 0
        assert report["episode"]["reasons"] == ["size"] and report["episode"]["until"] is None
        outbox.drops.quiet_s = 0.0  # a quiet spell later the episode is over
        outbox.put([])
        health.tick(3600)
        got = recorder.wait_for(lambda m: len(m) >= 2)
        final = json.loads(got[-1].payload)
        assert final["episode"]["until"] is not None
        assert final["dropped"] == outbox.report()["dropped"]  # every drop counted by now
        check_message(got[-1].topic, got[-1].payload)
        late = Recorder(broker.host, broker.port, report_topic)  # an operator who looks later
        retained = late.wait_for(lambda m: bool(m))
        late.close()
        assert retained[0].retain and retained[0].payload == got[-1].payload
    finally:
        publisher.stop()
        recorder.close()
        outbox.close()
