"""How many escalations each actor opened per calendar month (UTC), for residents: `escalation.monthly`.

Residents do not see escalations; they see that they happen, and how often: when a month ends, one
event per actor whose policy lets it escalate (zero included, so silence is a number too) carries
the month, the actor, how many escalations it opened, how many of them opened by themselves, how
many were co-signed, and their total length. The counts survive restarts (a small JSON file); a
month that ended while the gateway was off is published when it starts again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.messages import Event, JsonValue

log = logging.getLogger(__name__)

MONTHLY = "escalation.monthly"


@dataclass
class Tally:
    """One actor's escalations in the current month."""

    escalations: int = 0
    automatic: int = 0
    co_signed: int = 0
    seconds: float = 0.0


def month_of(t: datetime) -> str:
    """`2026-11` for any time in November 2026 (UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m")


def month_end(month: str) -> datetime:
    """The first instant after `month`."""
    year, number = (int(part) for part in month.split("-"))
    return datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)


class MonthlyCounts:
    """Tallies per actor for the current month, kept in `path`; `roll(now)` ends a finished month."""

    def __init__(self, path: Path, now: datetime) -> None:
        self.path = path
        self.month = month_of(now)
        self.tallies: dict[str, Tally] = {}
        self.number = 0  # the last escalation number given out on this gateway
        try:
            stored = json.loads(path.read_text())
            self.month, self.number = str(stored["month"]), int(stored["number"])
            month_end(self.month)  # a malformed month is a broken file
            self.tallies = {str(a): Tally(**t) for a, t in stored["tallies"].items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.error("escalation counts in %s unreadable (%s): counting from zero", path, exc)

    def next_number(self) -> int:
        """A new escalation number (kept, so numbers are not reused after a restart)."""
        self.number += 1
        self.save()
        return self.number

    def count(self, actor: str, seconds: float, automatic: bool, co_signed: bool) -> None:
        """One closed escalation."""
        tally = self.tallies.setdefault(actor, Tally())
        tally.escalations += 1
        tally.automatic += int(automatic)
        tally.co_signed += int(co_signed)
        tally.seconds += seconds
        self.save()

    def roll(self, now: datetime, source: str, actors: Iterable[str]) -> list[Event]:
        """Events for the month that ended, if it has (`actors`: those the policy lets escalate)."""
        if month_of(now) == self.month:
            return []
        ended, end = self.month, month_end(self.month)
        names = sorted(set(actors) | set(self.tallies))
        events = [self._event(ended, end, source, name, self.tallies.get(name, Tally())) for name in names]
        self.month, self.tallies = month_of(now), {}
        self.save()
        return events

    @staticmethod
    def _event(month: str, end: datetime, source: str, actor: str, tally: Tally) -> Event:
        data: dict[str, JsonValue] = {"month": month, "escalating_actor": actor, **asdict(tally)}
        data["seconds"] = round(tally.seconds)
        return Event(MONTHLY, source, data, time=end)

    def save(self) -> None:
        """Write the counts atomically (a failing disk is logged; counting goes on in memory)."""
        body = {
            "month": self.month,
            "number": self.number,
            "tallies": {a: asdict(t) for a, t in self.tallies.items()},
        }
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            tmp.write_text(json.dumps(body))
            tmp.replace(self.path)
        except OSError as exc:
            log.error("escalation counts not saved to %s: %s", self.path, exc)
