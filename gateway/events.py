"""The catalogue of event types (a public contract) and events about source availability."""

from __future__ import annotations

import fnmatch
from enum import IntEnum

from gateway.messages import Event, SourceStatus

# Every event type a gateway may publish. Names are part of the public contract: add, never rename.
# fall.*, camera.*, flood.* and node.* are reserved for the detectors of later issues, so that a
# policy can already grant them.
EVENT_TYPES: frozenset[str] = frozenset(
    {
        "air.band_changed",
        "air.co2_high",
        "air.co2_normal",
        "air.summary",
        "sensor.fault",
        "sensor.recovered",
        "sensor.offline",
        "sensor.online",
        "fall.detected",
        "fall.confirmed",
        "fall.recovered",
        "camera.offline",
        "camera.online",
        "camera.tampered",
        "camera.tamper_cleared",
        "flood.watch",
        "flood.warning",
        "flood.alarm",
        "flood.cleared",
        "node.rebooted",
        "node.gap",
        "escalation.monthly",
    }
)


class Priority(IntEnum):
    """How urgently an event type's messages are sent and how long they are kept when the broker is
    away: the lower, the sooner sent and the later dropped (docs/reliability.md)."""

    LIFE_SAFETY = 0  # someone may be hurt or in water: falls, flood warnings and alarms (and their end)
    EVENTS = 1  # everything not named below
    TELEMETRY = 2  # summaries and availability: superseded by the next one anyway

    @property
    def key(self) -> str:
        """Its name in the config and in the outbox status: life_safety, events, telemetry."""
        return self.name.lower()


# The end of a life-safety event (fall.recovered, flood.cleared) shares its class: an alarm must
# never outlive its all-clear in the outbox, nor arrive after it.
_PRIORITY_PATTERNS: tuple[tuple[str, Priority], ...] = (
    ("fall.*", Priority.LIFE_SAFETY),
    ("flood.warning", Priority.LIFE_SAFETY),
    ("flood.alarm", Priority.LIFE_SAFETY),
    ("flood.cleared", Priority.LIFE_SAFETY),
    ("escalation.feed", Priority.LIFE_SAFETY),  # break-glass: a responder is waiting on it
    ("escalation.reply", Priority.LIFE_SAFETY),
    ("air.summary", Priority.TELEMETRY),
    ("escalation.monthly", Priority.TELEMETRY),
    ("*.online", Priority.TELEMETRY),
    ("*.offline", Priority.TELEMETRY),
)


def priority(event_type: str) -> Priority:
    """The outbox class of an event type (anything unknown, e.g. a command reply: EVENTS)."""
    for pattern, found in _PRIORITY_PATTERNS:
        if fnmatch.fnmatchcase(event_type, pattern):
            return found
    return Priority.EVENTS


def matching_types(pattern: str) -> frozenset[str]:
    """Event types matched by a name or a shell-style pattern such as `air.*`."""
    return frozenset(t for t in EVENT_TYPES if fnmatch.fnmatchcase(t, pattern))


def status_event(status: SourceStatus, kind: str = "sensor") -> Event:
    """`<kind>.online` / `<kind>.offline` (kind: sensor or camera) for a change in availability."""
    return Event(
        type=f"{kind}.online" if status.online else f"{kind}.offline",
        source=status.source,
        time=status.time,
        data={"reason": status.reason},
    )
