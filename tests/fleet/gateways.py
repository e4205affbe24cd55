"""One simulated sensor-only gateway: the gateway's own door, outbox and publisher, fed synthetic events.

What runs per gateway is the part of `gateway.app.Gateway` the broker can see, with the same calls in
the same order: `Door.event` -> `Outbox.put` -> `MqttPublisher.notify` (the drain thread, PUBACK,
`Outbox.ack`), the retained `online` status with its last will, the subscription to its own commands
topic, and `HealthReporter.publish` for its sources' retained status. Its own client id and
certificate (`gw.<site>.<gateway>`) make the broker apply the generated ACL to it.

Left out, and why: the serial sources and detectors (a fleet run must choose the event rate; a
detector emits a handful of events an hour), the audit log, the trust poll that re-hashes the models
every 5 s and the ONNX sessions (~0.1 GB and 5+ threads a gateway, all on the pole, none on the broker).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.health import HealthReporter
from gateway.messages import Event, JsonValue, SourceHealth, utc_now
from gateway.outbox import Outbox
from gateway.privacy.door import Door
from gateway.privacy.policy import Policy
from gateway.privacy.projection import Location
from gateway.publish.mqtt import MqttPublisher
from gateway.topics import Topics

PREFIX = "city"
SOURCES = ("pm-1", "co2-1", "level-1")  # a PM sensor, a CO2 sensor and a water-level node
KEEPALIVE_S = 30

# What a sensor-only gateway emits, by weight: air and CO2 changes most, floods and faults now and then.
MIX: tuple[tuple[str, float], ...] = (
    ("air.band_changed", 30),
    ("air.co2_high", 10),
    ("air.co2_normal", 10),
    ("air.summary", 15),
    ("sensor.fault", 5),
    ("sensor.recovered", 5),
    ("flood.watch", 10),
    ("flood.warning", 8),
    ("flood.cleared", 7),
)
BANDS = ("good", "fair", "moderate", "poor", "very_poor")
LEVELS = ("none", "watch", "warning", "alarm")


def _air(rng: random.Random, kind: str) -> tuple[str, dict[str, JsonValue]]:
    if kind == "air.band_changed":
        band, previous = rng.sample(BANDS, 2)
        pm25 = round(rng.uniform(2, 60), 1)
        return "pm-1", {
            "band": band,
            "previous": previous,
            "pm25": pm25,
            "pm10": round(pm25 * 1.4, 1),
            "pollutant": "pm25",
            "corrected": True,
            "table": "2017",
        }
    if kind == "air.summary":
        start = (utc_now() - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        return "pm-1", {
            "period_start": start.isoformat().replace("+00:00", "Z"),
            "period_s": 3600,
            "readings": rng.randint(3000, 3600),
            "pm25": round(rng.uniform(2, 40), 1),
            "pm10": round(rng.uniform(4, 60), 1),
            "band": rng.choice(BANDS),
        }
    level = "elevated" if kind == "air.co2_high" else "normal"
    return "co2-1", {"co2": rng.randint(450, 1600), "level": level, "previous": "normal"}


def _other(rng: random.Random, kind: str) -> tuple[str, dict[str, JsonValue]]:
    if kind == "sensor.fault":
        return "pm-1", {"faults": ["stuck"], "active": ["stuck"], "detail": {"stuck": "same value 600 s"}}
    if kind == "sensor.recovered":
        return "pm-1", {"faults": ["stuck"], "duration_s": rng.randint(60, 3600)}
    level = {"flood.watch": "watch", "flood.warning": "warning"}.get(kind, "none")
    depth = {"watch": 120, "warning": 320, "none": 40}[level] + rng.randint(0, 50)
    data: dict[str, JsonValue] = {"level": level, "previous": rng.choice(LEVELS), "depth_mm": depth}
    if kind == "flood.cleared":
        data |= {"trigger": "measured", "duration_s": rng.randint(600, 7200)}
    else:
        data |= {"threshold_mm": 100 if level == "watch" else 300, "trigger": "measured"}
        data |= {"probability_15min": round(rng.random(), 2), "probability_30min": round(rng.random(), 2)}
    return "level-1", data


def random_event(rng: random.Random) -> Event:
    """One event of the sensor-only mix, shaped like the gateway's detectors' (schema-valid data)."""
    kind = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
    source, data = _air(rng, kind) if kind.startswith("air.") else _other(rng, kind)
    quality = frozenset({"high_humidity"}) if rng.random() < 0.1 and kind.startswith("air.") else frozenset()
    return Event(kind, source, data, quality=quality)


def publications_per_event(policy: Policy) -> float:
    """Messages one event of the mix becomes on average (aggregated grants publish per window instead)."""
    total = sum(w for _, w in MIX)
    return sum(w * _immediate_grants(policy, kind) for kind, w in MIX) / total


def _immediate_grants(policy: Policy, event_type: str) -> int:
    return sum(1 for _, grant in policy.grants_for(event_type) if grant.aggregate is None)


@dataclass(frozen=True, slots=True)
class Identity:
    """Where one gateway is and what it presents to the broker."""

    site: str
    gateway: str
    zone: str
    cert: Path
    key: Path

    def to_json(self) -> dict[str, str]:
        """For the worker's spec file."""
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Identity:
        """From the worker's spec file."""
        return cls(raw["site"], raw["gateway"], raw["zone"], Path(raw["cert"]), Path(raw["key"]))


class SimGateway:
    """A gateway's publish path: door, outbox, publisher (mutual TLS), health, its commands topic."""

    def __init__(self, who: Identity, policy: Policy, ca: Path, storage: Path, seed: int) -> None:
        self.who = who
        self.rng = random.Random(seed)
        topics = Topics(PREFIX, who.site, who.gateway)
        where = Location(zone=who.zone)
        self.door = Door(topics, policy, {"": where} | {s: where for s in SOURCES})
        self.outbox = Outbox(storage / f"{who.site}-{who.gateway}.sqlite3")
        self.publisher = MqttPublisher(
            f"{who.site}-{who.gateway}", self.outbox, will=self.door.gateway_status(online=False)
        )
        self.publisher.use_tls(ca, who.cert, who.key)
        self.commands = 0
        self.publisher.subscribe(topics.commands, self._command)
        self.health = HealthReporter(self.publisher, self.door, self._sources)
        self._started = datetime.now(UTC)

    def _command(self, payload: bytes) -> None:
        self.commands += 1  # nobody sends one in a fleet run; counted so one would show

    def _sources(self) -> list[SourceHealth]:
        frames = int((datetime.now(UTC) - self._started).total_seconds())
        return [SourceHealth(s, True, frames, 0, 0, 0, utc_now()) for s in SOURCES]

    def start(self, host: str, port: int) -> None:
        """Connect in the background (paho's thread does the TLS handshake), as `Gateway.run` does."""
        self.publisher.start(host, port, KEEPALIVE_S)
        self.publisher.set_state(self.door.gateway_status(online=True))

    def emit(self) -> list[tuple[str, bytes]]:
        """One random event through the door into the outbox; the (topic, payload) stored."""
        publications = self.door.event(random_event(self.rng))
        if self.outbox.put(publications):
            self.publisher.notify()
        return [(p.topic, p.payload) for p in publications]

    def stop(self) -> None:
        """Retained `offline`, wait (bounded) for acks, close the outbox."""
        self.publisher.stop(final_state=self.door.gateway_status(online=False))
        self.outbox.close()
