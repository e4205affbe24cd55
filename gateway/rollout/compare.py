"""Active and shadow, side by side: which events each raised on the same frames, and what each cost.

Camera threads record both sides' events (`Comparator.record`) and their detectors' CPU time
(`CostMeter.add`); the gateway's loop settles them once per report period. Two events of the same
type on the same camera within `window_s` of each other are one event seen by both; events younger
than the window wait for the next period, so a pair is never split across two reports.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.messages import Event, JsonValue

ACTIVE, SHADOW = "active", "shadow"


@dataclass
class TypeCounts:
    """One event type's comparison: counts and shadow-minus-active time differences."""

    in_both: int = 0
    only_active: int = 0
    only_shadow: int = 0
    deltas: list[float] = field(default_factory=list)

    def add(self, other: TypeCounts) -> None:
        """Accumulate `other` into this."""
        self.in_both += other.in_both
        self.only_active += other.only_active
        self.only_shadow += other.only_shadow
        self.deltas += other.deltas

    def to_json(self) -> dict[str, JsonValue]:
        """The report's view (timing: mean and largest shadow-minus-active difference, seconds)."""
        timing: dict[str, JsonValue] | None = None
        if self.deltas:
            mean = sum(self.deltas) / len(self.deltas)
            timing = {"mean_s": round(mean, 2), "max_abs_s": round(max(abs(d) for d in self.deltas), 2)}
        return {
            "in_both": self.in_both,
            "only_active": self.only_active,
            "only_shadow": self.only_shadow,
            "timing": timing,
        }


@dataclass(frozen=True, slots=True)
class Matched:
    """Pairs of (active, shadow) times within the window, and the times left on each side."""

    pairs: list[tuple[float, float]]
    active: list[float]
    shadow: list[float]


def match(active: list[float], shadow: list[float], window_s: float) -> Matched:
    """Pair event times greedily in time order, each with the nearest free one within `window_s`."""
    free, pairs, alone = sorted(shadow), [], []
    for t in sorted(active):
        near = [s for s in free if abs(s - t) <= window_s]
        if not near:
            alone.append(t)
            continue
        best = min(near, key=lambda s: abs(s - t))
        free.remove(best)
        pairs.append((t, best))
    return Matched(pairs, alone, free)


class Comparator:
    """Events of both sides, by (camera, type), until settled into counts per type."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(
            lambda: {ACTIVE: [], SHADOW: []}
        )

    def record(self, side: str, events: Iterable[Event]) -> None:
        """From a camera thread: events one side raised on a frame."""
        with self._lock:
            for event in events:
                self._pending[(event.source, event.type)][side].append(event.time.timestamp())

    def settle(self, now: float) -> dict[str, TypeCounts]:
        """Counts per event type of what is final: a pair whose first event is older than the window,
        a lone event older than the window (its partner would have come by now). The rest waits."""
        cutoff = now - self.window_s
        out: dict[str, TypeCounts] = defaultdict(TypeCounts)
        with self._lock:
            for (_, event_type), sides in self._pending.items():
                found = match(sides[ACTIVE], sides[SHADOW], self.window_s)
                counts = out[event_type]
                final = [(a, s) for a, s in found.pairs if min(a, s) <= cutoff]
                counts.in_both += len(final)
                counts.deltas += [round(s - a, 3) for a, s in final]
                counts.only_active += sum(1 for t in found.active if t <= cutoff)
                counts.only_shadow += sum(1 for t in found.shadow if t <= cutoff)
                waiting = [p for p in found.pairs if min(p) > cutoff]
                sides[ACTIVE] = [a for a, _ in waiting] + [t for t in found.active if t > cutoff]
                sides[SHADOW] = [s for _, s in waiting] + [t for t in found.shadow if t > cutoff]
        return dict(out)

    def clear(self) -> None:
        """Forget everything pending (a new shadow, or none)."""
        with self._lock:
            self._pending.clear()


def rss_bytes() -> int:
    """This process's resident memory, from /proc (0 where there is none)."""
    try:
        return int(Path("/proc/self/statm").read_text("ascii").split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class CostMeter:
    """CPU time the fall detectors of each side spend per frame (thread CPU time: ONNX runs in the
    camera's thread, single-threaded, gateway/inference/runner.py)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ns: dict[str, dict[str, int]] = {ACTIVE: defaultdict(int), SHADOW: defaultdict(int)}
        self._frames: dict[str, dict[str, int]] = {ACTIVE: defaultdict(int), SHADOW: defaultdict(int)}

    def add(self, side: str, camera: str, ns: int) -> None:
        """One frame's CPU time of one side's detector on one camera."""
        with self._lock:
            self._ns[side][camera] += ns
            self._frames[side][camera] += 1

    def take(self, side: str) -> Cost:
        """What one side cost since the last take; counting starts again."""
        with self._lock:
            ns, frames = self._ns[side], self._frames[side]
            self._ns[side], self._frames[side] = defaultdict(int), defaultdict(int)
        total = sum(frames.values())
        per_camera = {cam: round(ns[cam] / n / 1e6, 3) for cam, n in frames.items() if n}
        mean = round(sum(ns.values()) / total / 1e6, 3) if total else None
        return Cost(total, mean, per_camera)


@dataclass(frozen=True, slots=True)
class Cost:
    """Frames measured, CPU ms per frame over all of them, and by camera."""

    frames: int
    ms_per_frame: float | None
    cameras: dict[str, float]

    def to_json(self) -> dict[str, JsonValue]:
        """The report's view."""
        return {"frames": self.frames, "cpu_ms_per_frame": self.ms_per_frame, "cameras": dict(self.cameras)}
