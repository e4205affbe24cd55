"""What one fleet phase measured: delivery, latency, CPU and memory, and whether the rate was held."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fleet.procstat import Usage, total

P99_LIMIT_S = 1.0  # a life-safety event reaches its subscriber within 1 s (issue 12, section 6)
OFFERED_SHARE = 0.9  # the generator must offer this share of the target rate for the step to count
SATURATED_PCT = 90.0  # a single-threaded process at this share of one core is the bottleneck

Key = tuple[str, str]  # (topic, id): one actor's projection of one event


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def actor_of(topic: str) -> str:
    """The actor an event topic `<prefix>/v1/<actor>/...` is for."""
    return topic.split("/", 3)[2]


def expected_by(stored: Mapping[Key, float], subscriber: str) -> set[Key]:
    """What a subscriber should receive: its actor's projections; an operator everything."""
    if subscriber == "operator":
        return set(stored)
    return {key for key in stored if actor_of(key[0]) == subscriber}


@dataclass
class Delivery:
    """One subscriber's share of a phase."""

    expected: int
    received: int
    missing: int
    duplicates: int
    latencies: list[float] = field(repr=False)

    @classmethod
    def of(cls, stored: Mapping[Key, float], subscriber: str, got: Iterable[tuple[Key, float]]) -> Delivery:
        """Match what arrived with what was stored (stored time -> arrival time)."""
        want = expected_by(stored, subscriber)
        seen: set[Key] = set()
        latencies, duplicates = [], 0
        for key, t in got:
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            if key in stored:
                latencies.append(t - stored[key])
        return cls(len(want), len(seen & want), len(want - seen), duplicates, latencies)


@dataclass
class PhaseResult:
    """One phase: an offered event-message rate over every gateway, and what happened."""

    name: str
    offered_msg_s: float
    seconds: float
    stored: int
    elapsed_s: float
    behind_s: float
    health_msgs: int
    deliveries: dict[str, Delivery]
    usage: dict[str, Usage]
    machine_busy_pct: float
    broker_cpu_us_per_msg: float
    settle_s: float

    @property
    def achieved_msg_s(self) -> float:
        """Event messages stored into the outboxes per second of the phase."""
        return self.stored / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def all_msg_s(self) -> float:
        """Every message published per second: events and retained source health."""
        return (self.stored + self.health_msgs) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def lost(self) -> int:
        """Expected deliveries that never arrived, over every subscriber."""
        return sum(d.missing for d in self.deliveries.values())

    def latency(self, q: float) -> float:
        """The q-th percentile of stored-to-received over every delivery [s]."""
        return percentile([x for d in self.deliveries.values() for x in d.latencies], q)

    def failures(self) -> list[str]:
        """Why this phase did not hold its rate (empty: held)."""
        why = []
        if self.lost:
            who = ", ".join(f"{n} {d.missing}" for n, d in self.deliveries.items() if d.missing)
            why.append(f"lost {self.lost} deliveries ({who})")
        if self.latency(99) > P99_LIMIT_S:
            why.append(f"p99 {self.latency(99):.2f} s > {P99_LIMIT_S:.0f} s")
        if self.offered_msg_s > 0 and self.achieved_msg_s < OFFERED_SHARE * self.offered_msg_s:
            why.append(f"generator stored only {self.achieved_msg_s:.0f} of {self.offered_msg_s:.0f} msg/s")
        return why

    def saturated(self) -> list[str]:
        """Processes at a core's worth of CPU (each is single-threaded or GIL-bound), and the machine."""
        names = [f"{n} {u.cpu_pct:.0f}%" for n, u in self.usage.items() if u.cpu_pct >= SATURATED_PCT]
        if self.machine_busy_pct >= SATURATED_PCT:
            names.append(f"machine {self.machine_busy_pct:.0f}% of all cores")
        return names

    def to_json(self) -> dict[str, Any]:
        """The phase as plain JSON (no raw latency lists)."""
        broker = self.usage.get("broker")
        return {
            "name": self.name,
            "offered_msg_s": round(self.offered_msg_s, 1),
            "achieved_msg_s": round(self.achieved_msg_s, 1),
            "all_msg_s": round(self.all_msg_s, 1),
            "seconds": self.seconds,
            "stored": self.stored,
            "health_msgs": self.health_msgs,
            "behind_s": round(self.behind_s, 3),
            "settle_s": round(self.settle_s, 2),
            "latency_p50_ms": _ms(self.latency(50)),
            "latency_p99_ms": _ms(self.latency(99)),
            "latency_max_ms": _ms(self.latency(100)),
            "deliveries": {
                n: {
                    "expected": d.expected,
                    "received": d.received,
                    "missing": d.missing,
                    "duplicates": d.duplicates,
                    "p99_ms": _ms(percentile(d.latencies, 99)),
                }
                for n, d in self.deliveries.items()
            },
            "broker_cpu_pct": None if broker is None else round(broker.cpu_pct, 1),
            "broker_rss_mib": None if broker is None else round(broker.rss_mib, 1),
            "broker_fds": None if broker is None else broker.fds,
            "broker_cpu_us_per_msg": round(self.broker_cpu_us_per_msg, 1),
            "workers_cpu_pct": round(total(self.usage, "worker"), 1),
            "subscribers_cpu_pct": round(total(self.usage, "subscribers"), 1),
            "machine_busy_pct": round(self.machine_busy_pct, 1),
            "usage": {n: usage_json(u) for n, u in self.usage.items()},
            "held": not self.failures(),
            "failures": self.failures(),
            "saturated": self.saturated(),
        }


def usage_json(usage: Usage) -> dict[str, float]:
    """A Usage as JSON numbers."""
    return {"cpu_pct": round(usage.cpu_pct, 1), "rss_mib": round(usage.rss_mib, 1), "fds": usage.fds}


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(1000 * seconds, 1)
