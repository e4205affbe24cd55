"""What the outbox had to drop, per class: counted, said once per episode, reported as a status.

An episode starts with the first drop after a quiet spell and ends once nothing has been dropped
for `EPISODE_QUIET_S`: one error line at its start, one warning line with its counts at its end, and
a retained `<prefix>/v1/<site>/<gateway>/outbox/dropped` status (`outbox-dropped-v1.json`) whenever
the counts change. Totals since the outbox was created are kept in its database, so a restart does
not hide a drop the operators have not yet seen.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from gateway.events import Priority
from gateway.messages import JsonValue, utc_iso

log = logging.getLogger(__name__)
T = TypeVar("T")

EPISODE_QUIET_S = 60.0  # no drop for this long: the episode is over (and said so, with its counts)


class Reason(StrEnum):
    """Why publications were dropped."""

    SIZE = "size"  # the class reached its max_mb
    AGE = "age"  # older than the class's max_age_h, still unsent
    DISK_FULL = "disk_full"  # stored rows of a lower class gave their room to a more urgent one
    MEMORY = "memory"  # held in memory on a full disk past held_limit


@dataclass(slots=True)
class Episode:
    """One spell of dropping."""

    since: float  # wall clock, for the report
    last: float  # monotonic time of the newest drop
    counts: Counter[Priority] = field(default_factory=Counter)
    reasons: set[Reason] = field(default_factory=set)
    until: float | None = None  # wall clock; None while it lasts


def trim_oldest(held: Mapping[Priority, deque[T]], limit: int) -> Counter[Priority]:
    """Drop the oldest items of the least urgent classes until at most `limit` are left: how many
    went, per class."""
    gone: Counter[Priority] = Counter()
    excess = sum(len(queue) for queue in held.values()) - limit
    for cls in sorted(held, reverse=True):
        while excess > 0 and held[cls]:
            held[cls].popleft()
            gone[cls], excess = gone[cls] + 1, excess - 1
    return gone


def per_class(counts: Mapping[Priority, int]) -> dict[str, JsonValue]:
    """Counts by class name, every class present."""
    return {p.key: int(counts.get(p, 0)) for p in Priority}


def describe(counts: Mapping[Priority, int]) -> str:
    """`life_safety 0, events 3, telemetry 120`."""
    return ", ".join(f"{p.key} {counts.get(p, 0)}" for p in Priority)


def _iso(wall: float) -> str:
    return utc_iso(datetime.fromtimestamp(wall, UTC))


class DropLedger:
    """Counts drops by class; `version` changes whenever the report would (for the status)."""

    def __init__(
        self,
        name: str,
        totals: Mapping[Priority, int],
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.totals: Counter[Priority] = Counter(totals)
        self.unsaved: Counter[Priority] = Counter()  # counted, not yet in the database
        self.episode: Episode | None = None  # the current or the last one
        self.version = 1 if self.total else 0  # 0: nothing ever dropped, nothing to report
        self.turns = 0  # episodes started plus ended: news to report at once
        self.quiet_s = EPISODE_QUIET_S
        self._wall, self._monotonic = wall, monotonic

    @property
    def total(self) -> int:
        """Publications dropped since the outbox was created."""
        return sum(self.totals.values())

    def drop(self, priority: Priority, count: int, reason: Reason, *, saved: bool) -> None:
        """`count` publications of a class are gone; `saved`: the database already counts them."""
        if count <= 0:
            return
        self.totals[priority] += count
        if not saved:
            self.unsaved[priority] += count
        episode = self.episode
        if episode is None or episode.until is not None:
            episode = self.episode = Episode(since=self._wall(), last=self._monotonic())
            self.turns += 1
            log.error(
                "outbox %s: dropping %s publications (%s); counts go to the outbox/dropped status, "
                "a summary to this log when it stops",
                self.name,
                priority.key,
                reason.value,
            )
        episode.last = self._monotonic()
        episode.counts[priority] += count
        episode.reasons.add(reason)
        self.version += 1

    def quiet(self) -> None:
        """Called now and then: end an episode that has gone `EPISODE_QUIET_S` without a drop."""
        episode = self.episode
        if episode is None or episode.until is not None:
            return
        if self._monotonic() - episode.last < self.quiet_s:
            return
        episode.until = self._wall()
        self.version += 1
        self.turns += 1
        log.warning(
            "outbox %s: no longer dropping; this episode dropped %d (%s)",
            self.name,
            sum(episode.counts.values()),
            describe(episode.counts),
        )

    def report(
        self, stored: Mapping[Priority, int], stored_bytes: Mapping[Priority, int], held: int
    ) -> dict[str, JsonValue]:
        """The status body (`outbox-dropped-v1.json`)."""
        episode: JsonValue = None
        if self.episode is not None:
            e = self.episode
            episode = {
                "since": _iso(e.since),
                "until": None if e.until is None else _iso(e.until),
                "reasons": [r.value for r in sorted(e.reasons)],
                "dropped": per_class(e.counts),
            }
        return {
            "schema_version": 1,
            "time": _iso(self._wall()),
            "dropped": per_class(self.totals),
            "episode": episode,
            "stored": per_class(stored),
            "stored_bytes": per_class(stored_bytes),
            "held": held,
        }
