"""The seeded fault schedule: which fault comes next, on what, for how long, after what pause.

Faults come one at a time, each after the previous one has recovered (or run out of its bound), so
every recovery time belongs to one fault. Every kind comes once per cycle, in a seeded order; the
same seed gives the same sequence of faults (the times at which they happen follow how fast the
gateway recovers).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

# kind -> (shortest, longest) wall seconds the fault lasts (0: an instant, e.g. a cut link)
DURATIONS: dict[str, tuple[float, float]] = {
    "broker_restart": (2.0, 8.0),  # broker killed (SIGKILL), restarted on the same port
    "link_stall": (12.0, 16.0),  # half-open: nothing passes, nothing closes; only keepalive notices
    "link_drop": (0.0, 0.0),  # every connection through the link cut at once
    "gateway_kill": (1.0, 4.0),  # SIGKILL, restarted on the same storage
    "disk_full": (8.0, 14.0),  # the storage filesystem full (ENOSPC), then freed
    "serial_unplug": (3.0, 8.0),  # a sensor's USB adapter pulled and put back
    "serial_garbage": (6.0, 12.0),  # garbage bytes, half frames and bad checksums on a sensor's line
    "camera_stall": (8.0, 12.0),  # the camera's stream stays open but sends nothing
    "camera_down": (3.0, 8.0),  # the camera's streams closed and refused (HTTP 503)
}
KINDS = tuple(DURATIONS)
ON_A_SENSOR = (
    "serial_unplug",
    "serial_garbage",
    "disk_full",
)  # a full disk also unplugs one: events to store
PAUSE_S = (4.0, 10.0)  # quiet time before each fault, after the previous one recovered


@dataclass(frozen=True, slots=True)
class Planned:
    """One fault to inject: what, on which device (sensor or camera id; "" for the others), how long."""

    index: int
    kind: str
    target: str
    duration_s: float
    pause_s: float


def plan(
    seed: int,
    kinds: Sequence[str],
    sensors: Sequence[str],
    cameras: Sequence[str],
    every: Mapping[str, int] | None = None,
) -> Iterator[Planned]:
    """An endless seeded sequence of faults, every kind in `kinds` once per cycle; a kind named in
    `every` only in the first cycle and each n-th after it (e.g. rare restarts, so that a gateway
    lives long enough for its memory trend to mean something)."""
    unknown = set(kinds) - set(DURATIONS)
    if unknown or not kinds:
        raise ValueError(f"unknown or no fault kinds: {sorted(unknown)}; known: {', '.join(KINDS)}")
    rng = random.Random(seed)
    index = 0
    for cycle_no in itertools.count():
        cycle = [k for k in kinds if cycle_no % max(1, (every or {}).get(k, 1)) == 0]
        rng.shuffle(cycle)
        for kind in cycle:
            low, high = DURATIONS[kind]
            devices = cameras if kind.startswith("camera") else sensors if kind in ON_A_SENSOR else [""]
            target = rng.choice(list(devices))
            duration, pause = round(rng.uniform(low, high), 1), round(rng.uniform(*PAUSE_S), 1)
            yield Planned(index, kind, target, duration, pause)
            index += 1
