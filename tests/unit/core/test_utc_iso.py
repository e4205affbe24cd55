"""utc_iso: every payload time is UTC with a Z suffix, whatever zone the datetime carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from gateway.messages import utc_iso


def test_other_zones_are_converted_and_marked_z() -> None:
    moment = datetime(2026, 1, 31, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert utc_iso(moment) == "2026-01-31T12:00:00.123Z"
    assert utc_iso(moment, "seconds") == "2026-01-31T12:00:00Z"


def test_round_trips_through_fromisoformat() -> None:
    moment = datetime(2026, 6, 1, 0, 0, 0, 5000, tzinfo=UTC)
    assert datetime.fromisoformat(utc_iso(moment)) == moment
