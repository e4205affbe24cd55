"""Hourly summaries: one event per source and clock period, with the period's means."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.air.summary import AirSummary

HOUR = 3600.0
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC).timestamp()


def test_one_summary_per_period_with_means() -> None:
    summary = AirSummary("pm-1", HOUR, "2017")
    events = []
    for i in range(60):
        events += summary.add(T0 + i * 60, {"pm25": 10.0 + (i % 2) * 20, "pm10": 30.0, "co2": None})
    assert events == []
    events += summary.add(T0 + HOUR + 1, {"pm25": 5.0, "pm10": 5.0, "co2": None})
    assert len(events) == 1
    event = events[0]
    assert event.type == "air.summary"
    assert event.data["pm25"] == 20.0 and event.data["pm10"] == 30.0
    assert event.data["band"] == "moderate"  # PM2.5 mean 20 is "moderate", PM10 30 "fair": the worse wins
    assert event.data["readings"] == 60
    assert event.data["period_start"] == "2026-11-27T10:00:00Z"
    assert event.time == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)


def test_an_empty_period_gives_no_summary() -> None:
    summary = AirSummary("co2-1", HOUR, "2017")
    assert summary.add(T0, {"co2": 600.0}) == []
    later = summary.add(T0 + 5 * HOUR, {"co2": 700.0})
    assert [e.data["co2"] for e in later] == [600]
