"""Periodic air-quality summaries: the mean of one source's usable readings per clock period.

Actors who need a picture rather than alarms (residents: hourly air quality per area) are
served from these, not from raw readings: one `air.summary` per source and period.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from gateway.air.eaqi import BANDS, band_index, eaqi_table
from gateway.messages import Event, JsonValue, utc_iso

SUMMARY = "air.summary"
KEYS = ("pm25", "pm10", "co2")


class AirSummary:
    """Accumulates usable (corrected) values and emits one event when a clock period ends."""

    def __init__(self, source: str, period_s: float, table: str) -> None:
        self.source = source
        self.period_s = period_s
        self._table = eaqi_table(table)
        self._period: int | None = None
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, t: float, values: dict[str, float | None]) -> list[Event]:
        """Add one reading's usable values at epoch time t; return a summary if a period ended."""
        period = math.floor(t / self.period_s)
        events = []
        if self._period is not None and period != self._period and self._counts:
            events.append(self._event())
        if period != self._period:
            self._period, self._sums, self._counts = period, {}, {}
        for key in KEYS:
            value = values.get(key)
            if value is not None:
                self._sums[key] = self._sums.get(key, 0.0) + value
                self._counts[key] = self._counts.get(key, 0) + 1
        return events

    def _event(self) -> Event:
        assert self._period is not None
        means = {k: self._sums[k] / self._counts[k] for k in self._counts}
        data: dict[str, JsonValue] = {
            "period_start": utc_iso(datetime.fromtimestamp(self._period * self.period_s, UTC), "seconds"),
            "period_s": self.period_s,
            "readings": max(self._counts.values()),
        }
        for key, mean in means.items():
            data[key] = round(mean) if key == "co2" else round(mean, 1)
        pm_bands = [band_index(means[k], self._table.bounds(k)) for k in ("pm25", "pm10") if k in means]
        if pm_bands:
            data["band"] = BANDS[max(pm_bands)]
        end = (self._period + 1) * self.period_s
        return Event(SUMMARY, self.source, data, time=datetime.fromtimestamp(end, UTC))
