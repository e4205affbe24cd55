"""The catalogue of event types (a public contract) and events about source availability."""

from __future__ import annotations

import fnmatch

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
