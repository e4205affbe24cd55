"""Events that come from a source's availability rather than from a detector."""

from __future__ import annotations

from gateway.messages import Event, SourceStatus


def status_event(status: SourceStatus) -> Event:
    """`sensor.online` / `sensor.offline` for a change in a source's availability."""
    return Event(
        type="sensor.online" if status.online else "sensor.offline",
        source=status.source,
        time=status.time,
        data={"reason": status.reason},
    )
