"""Figure 4: how fast the outbox drains once the broker is back after an outage.

The backlog is what an outage leaves: N events committed to the gateway's SQLite outbox while no
broker ran (so each is replayed marked `historical`). Then a broker and an integrator's subscriber
come up and the gateway's own `MqttPublisher` starts on that outbox; the clock runs from its start
until the outbox is empty and the subscriber holds every id. The publisher's reconnect back-off
(1-30 s after a real outage) is left out: it measures the outage, not the drain.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.messages import Event, JsonValue
from gateway.outbox import Outbox
from gateway.privacy.door import Door
from gateway.privacy.policy import load_policy
from gateway.publish.mqtt import MqttPublisher
from gateway.topics import Topics
from sim.broker import Mosquitto
from tests.bench.listener import Listener
from tests.bench.report import Figure

OUTAGE_S = 600.0
WORST_CASE = 20_000
TIMEOUT_S = 240.0  # per drain; a slower drain is reported as incomplete
STORE_BATCH = 500  # rows per outbox transaction while filling (filling is not timed)
TOPICS = Topics("city", "bench", "gw-drain")


def backlog(n: int) -> list[Event]:
    """N band-change events of 8 sources, shaped like the gateway's own."""
    bands = ("good", "fair", "moderate", "poor")
    events: list[Event] = []
    for i in range(n):
        data: dict[str, JsonValue] = {
            "band": bands[i % 4],
            "previous": bands[(i + 3) % 4],
            "pm25": 12.3 + i % 40,
            "pm10": 20.1 + i % 50,
            "corrected": True,
            "pollutant": "pm25",
            "table": "2017",
        }
        events.append(Event("air.band_changed", f"pm-{i % 8}", data, quality=frozenset({"uncorrected"})))
    return events


def fill(outbox: Outbox, events: list[Event]) -> set[str]:
    """Store the events through the privacy door; their ids."""
    door = Door(TOPICS, load_policy(), {})
    ids: set[str] = set()
    for i in range(0, len(events), STORE_BATCH):
        publications = [p for e in events[i : i + STORE_BATCH] for p in door.event(e)]
        outbox.put(publications)
        ids |= {json.loads(p.payload)["id"] for p in publications}
    return ids


@dataclass(frozen=True, slots=True)
class Drain:
    """One drain: events, seconds, whether every id arrived."""

    n: int
    seconds: float
    complete: bool

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.n / self.seconds


def _wait_drained(outbox: Outbox, listener: Listener, n: int, start: float) -> float:
    empty_at: float | None = None
    while time.time() - start < TIMEOUT_S:
        if empty_at is None and len(outbox) == 0:
            empty_at = time.time()
        if empty_at is not None and listener.count() >= n:
            return max(empty_at, listener.snapshot()[-1][0])
        time.sleep(0.005)
    return time.time()


def drain(workdir: Path, n: int) -> Drain:
    """Store n events, then time their delivery."""
    outbox = Outbox(workdir / "storage" / "outbox.sqlite3")
    ids = fill(outbox, backlog(n))
    broker = Mosquitto(workdir / "broker").start()
    publisher = MqttPublisher(
        "bench-gw-drain", outbox, will=Door(TOPICS, load_policy(), {}).gateway_status(False)
    )
    try:
        with Listener(broker.port, "city/v1/+/bench/gw-drain/events/#") as listener:
            start = time.time()
            publisher.start(broker.host, broker.port, keepalive=30)
            end = _wait_drained(outbox, listener, n, start)
            got = {json.loads(payload)["id"] for _, _, payload in listener.snapshot()}
    finally:
        publisher.stop()
        outbox.close()
        broker.stop()
    return Drain(n, end - start, got == ids)


def run(workdir: Path, events_per_s: float) -> list[Figure]:
    """Figure 4 for the site's own 10-minute backlog and for the worst case."""
    site_n = max(1, math.ceil(events_per_s * OUTAGE_S))
    method = (
        "N events put in the SQLite outbox while no broker ran; broker + subscriber up, then MqttPublisher.start; "
        "N / (time outbox empty and every id received - start); excludes the 1-30 s reconnect back-off"
    )
    sizing = (
        f"events received per s in the [2] window x {OUTAGE_S:.0f} s (a busy scenario: PM and CO2 rising)"
    )
    figures = [Figure("outbox.site_n", "outbox backlog, 8-sensor site, 10 min", site_n, "events", sizing)]
    for key, n in (("site", site_n), ("worst case", WORST_CASE)):
        print(f"figure 4: outbox drain of {n:,} events ...", file=sys.stderr)
        result = drain(workdir / key.replace(" ", "_"), n)
        label = f"outbox drain, {n:,} events ({key})" + ("" if result.complete else " INCOMPLETE")
        figures.append(Figure(f"outbox.{key.replace(' ', '_')}_rate", label, result.rate, "events/s", method))
    return figures
