"""The publisher drains the outbox into a real Mosquitto and deletes rows only on PUBACK.

Scenario: events are stored while the broker is down, the broker comes up, every event
arrives once with its id and marked historical; the broker is killed and restarted
mid-stream and nothing is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.messages import Event, Publication
from gateway.outbox import Outbox
from gateway.privacy.door import Door
from gateway.privacy.policy import Policy
from gateway.privacy.projection import actor_id
from gateway.publish.mqtt import MqttPublisher
from gateway.publish.reach import reason
from gateway.topics import Topics
from sim.broker import Mosquitto, free_port
from tests.link_proxy import StallingProxy
from tests.mqtt_helpers import Recorder

TOPICS = Topics("city", "site-a", "gw-1")


POLICY = Policy.model_validate(
    {
        "version": "test-1",
        "actors": {
            "gemeente": {
                "purpose": "testing the publisher",
                "grants": [{"events": ["air.band_changed"], "fields": ["n"], "include": ["source"]}],
            }
        },
    }
)


def make_publisher(tmp_path: Path) -> tuple[Outbox, Door, MqttPublisher]:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    door = Door(TOPICS, POLICY, {})
    publisher = MqttPublisher("site-a-gw-1", outbox, will=door.gateway_status(online=False))
    return outbox, door, publisher


def store(outbox: Outbox, door: Door, n: int, start: int = 0) -> list[str]:
    events = [Event(type="air.band_changed", source="pm-1", data={"n": start + i}) for i in range(n)]
    pubs: list[Publication] = [p for e in events for p in door.event(e)]
    outbox.put(pubs)
    return [e.id for e in events]


def test_backlog_is_delivered_after_broker_starts(tmp_path: Path) -> None:
    port = free_port()
    outbox, door, publisher = make_publisher(tmp_path)
    ids = store(outbox, door, 50)
    ids = [actor_id("gemeente", i) for i in ids]
    publisher.start("127.0.0.1", port, keepalive=10)
    broker = Mosquitto(tmp_path / "broker", port=port).start()
    recorder = Recorder("127.0.0.1", port, "city/v1/#")
    try:
        publisher.notify()
        got = recorder.wait_for(lambda m: len({x.json()["id"] for x in m if "/events/" in x.topic}) >= 50)
        events = [m.json() for m in got if "/events/" in m.topic]
        assert {e["id"] for e in events} == set(ids)
        assert all(e["historical"] for e in events)
        assert all(e["schema_version"] == 1 for e in events)
        recorder.wait_for(lambda _m: len(outbox) == 0, timeout=10)
        assert len(outbox) == 0
    finally:
        publisher.stop()
        recorder.close()
        broker.stop()


def test_broker_killed_and_restarted_loses_nothing(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", persistent=True).start()
    outbox, door, publisher = make_publisher(tmp_path)
    publisher.start(broker.host, broker.port, keepalive=5)
    recorder = Recorder(broker.host, broker.port, "city/v1/gemeente/#", session="integrator-1")
    try:
        first = {actor_id("gemeente", i) for i in store(outbox, door, 20)}
        publisher.notify()
        recorder.wait_for(lambda m: len(m) >= 20)
        broker.kill()
        during = {
            actor_id("gemeente", i) for i in store(outbox, door, 30, start=20)
        }  # while the broker is dead
        publisher.notify()
        broker.start()
        recorder.wait_for(lambda _m: len(outbox) == 0, timeout=30)
        recorder.wait_for(lambda m: during <= {x.json()["id"] for x in m})
        received = {e["id"] for e in recorder.events()}
        assert len(outbox) == 0
        assert first <= received
        assert during <= received
    finally:
        publisher.stop()
        recorder.close()
        broker.stop()


def test_every_late_row_is_historical_after_a_stalled_link(tmp_path: Path) -> None:
    """A silent link (found only by keepalive) then a reconnect: rows handed to paho during the
    stall are resent by the outbox, marked, never by paho unmarked; on-time rows stay live."""
    outbox, door, publisher = make_publisher(tmp_path)
    broker = Mosquitto(tmp_path / "broker").start()
    proxy = StallingProxy(broker.host, broker.port)
    recorder = Recorder(broker.host, broker.port, "city/v1/gemeente/#")
    publisher.start("127.0.0.1", proxy.port, keepalive=1)
    try:
        assert wait_until(lambda: publisher.connected)
        live = {actor_id("gemeente", i) for i in store(outbox, door, 5)}
        publisher.notify()
        recorder.wait_for(lambda m: live <= {x.json()["id"] for x in m})
        assert wait_until(lambda: len(outbox) == 0)  # acknowledged: never sent again
        proxy.stall()
        late = {actor_id("gemeente", i) for i in store(outbox, door, 20, start=5)}
        publisher.notify()  # handed to paho, into the dead link
        assert wait_until(lambda: not publisher.connected)
        late |= {actor_id("gemeente", i) for i in store(outbox, door, 10, start=25)}  # while disconnected
        proxy.resume()
        recorder.wait_for(lambda _m: len(outbox) == 0, timeout=30)
        got = recorder.wait_for(lambda m: late <= {x.json()["id"] for x in m})
        events = [m.json() for m in got if "/events/" in m.topic]
        assert {e["id"] for e in events} == live | late
        assert all(not e["historical"] for e in events if e["id"] in live)
        unmarked = sorted(e["id"] for e in events if e["id"] in late and not e["historical"])
        assert not unmarked, f"{len(unmarked)} late rows arrived as live"
    finally:
        publisher.stop()
        recorder.close()
        proxy.close()
        broker.stop()


def test_a_half_open_link_is_noticed_within_one_and_a_half_keepalives(tmp_path: Path) -> None:
    """The link goes silent without closing (a dead cellular link). paho alone gives up only two
    keepalives after the last byte; the publisher notices within MQTT's 1.5 and closes its end."""
    _, _, publisher = make_publisher(tmp_path)
    broker = Mosquitto(tmp_path / "broker").start()
    proxy = StallingProxy(broker.host, broker.port)
    publisher.start("127.0.0.1", proxy.port, keepalive=4)
    try:
        assert wait_until(lambda: publisher.connected)
        silent_from = time.monotonic()
        proxy.stall()
        assert wait_until(lambda: bool(proxy.client_closes), timeout=10)
        assert proxy.client_closes[0] - silent_from <= 1.5 * 4
    finally:
        publisher.stop()
        proxy.close()
        broker.stop()


def test_a_wall_clock_step_does_not_change_the_marking(tmp_path: Path) -> None:
    """Rows stored and sent in one connection are live even if the clock jumps a day either way."""
    clock = [1_800_000_000.0]
    outbox = Outbox(tmp_path / "outbox.sqlite3", clock=lambda: clock[0])
    door = Door(TOPICS, POLICY, {})
    publisher = MqttPublisher("site-a-gw-1", outbox, will=door.gateway_status(online=False))
    broker = Mosquitto(tmp_path / "broker").start()
    recorder = Recorder(broker.host, broker.port, "city/v1/gemeente/#")
    publisher.start(broker.host, broker.port, keepalive=10)
    try:
        assert wait_until(lambda: publisher.connected)
        ids = set()
        for step in (0.0, -86_400.0, +2 * 86_400.0):
            clock[0] += step
            ids |= {actor_id("gemeente", i) for i in store(outbox, door, 3, start=len(ids))}
        publisher.notify()
        got = recorder.wait_for(lambda m: ids <= {x.json()["id"] for x in m})
        events = [m.json() for m in got if "/events/" in m.topic]
        assert {e["id"] for e in events} == ids
        assert not any(e["historical"] for e in events)
    finally:
        publisher.stop()
        recorder.close()
        broker.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll (bounded) until predicate() holds."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_stop_on_a_stalled_link_is_bounded_and_keeps_the_outbox(tmp_path: Path) -> None:
    """SIGTERM while the link is silent but not yet known dead: the final state and the in-flight
    rows can never be acknowledged; stop gives up within its bound and the rows stay stored."""
    outbox, door, publisher = make_publisher(tmp_path)
    broker = Mosquitto(tmp_path / "broker").start()
    proxy = StallingProxy(broker.host, broker.port)
    publisher.start("127.0.0.1", proxy.port, keepalive=30)
    try:
        assert wait_until(lambda: publisher.connected)
        proxy.stall()
        store(outbox, door, 10)
        publisher.notify()
        assert wait_until(lambda: publisher.connected and len(outbox) == 10)
        began = time.monotonic()
        publisher.stop(final_state=door.gateway_status(online=False))
        took = time.monotonic() - began
        assert took < 2.5, f"stop took {took:.1f} s"
        assert len(outbox) == 10
    finally:
        proxy.close()
        broker.stop()


def test_an_unreachable_broker_is_said_once_with_its_reason_and_its_return_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    _, _, publisher = make_publisher(tmp_path)
    broker = None
    with caplog.at_level(logging.WARNING, logger="gateway.publish.mqtt"):
        publisher.start("127.0.0.1", port, keepalive=10)
        try:
            deadline = time.monotonic() + 20
            while publisher.reach.failures < 2:  # paho retries after 1 s, then 2 s, ...
                assert time.monotonic() < deadline, "paho never retried"
                time.sleep(0.05)
            said = [r.getMessage() for r in caplog.records if "broker" in r.getMessage()]
            assert said == [f"cannot reach the broker 127.0.0.1:{port}: " + reason(ConnectionRefusedError())]
            broker = Mosquitto(tmp_path / "broker", port=port).start()
            while not publisher.connected:
                assert time.monotonic() < deadline + 30, "never reached the broker"
                time.sleep(0.05)
        finally:
            publisher.stop()
            if broker is not None:
                broker.stop()
    back = [r.getMessage() for r in caplog.records if "reached the broker" in r.getMessage()]
    assert len(back) == 1 and f"127.0.0.1:{port}" in back[0]
