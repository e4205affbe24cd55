"""The air-quality detector for one source: readings -> EAQI band and CO2 level events.

Owns the rolling windows of one sensor's readings, the humidity correction of optical PM, and
the events `air.band_changed`, `air.co2_high` and `air.co2_normal` (type names are a public
contract). Pure logic: no I/O, no threads, and time comes only from `Reading.time`, so the same
readings always give the same events, also from a time-compressed simulator.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from math import floor
from statistics import fmean, median
from typing import Literal

from gateway.air.correction import PmCorrector
from gateway.air.eaqi import BANDS, EAQI_TABLES, BandHysteresis, eaqi_table
from gateway.air.sensor_faults import FaultSettings, SensorFaultDetector
from gateway.air.summary import AirSummary
from gateway.inference.slots import Slot, current
from gateway.messages import Event, JsonValue, Reading

BAND_CHANGED = "air.band_changed"
CO2_HIGH = "air.co2_high"
CO2_NORMAL = "air.co2_normal"

CO2_LEVELS: tuple[str, ...] = ("normal", "elevated", "high")
INTERVALS_KEPT = 15  # reporting intervals in the median: a few missed or doubled readings do not move it


@dataclass(frozen=True)
class AirQualitySettings:
    """Settings of the air-quality detector; every default says why it is what it is."""

    window_s: float = 300.0
    """Rolling window of the means: the EAQI is defined on averages, and five minutes smooths
    optical-sensor noise and passing puffs while still following a smoke episode within minutes."""
    min_readings: int = 5
    """Readings in the window before any decision: enough that one noisy frame cannot set the
    first band, few enough for an SDS011 in a 1-minute working period (5 frames per window).
    A sensor that reports too rarely to fit this many in window_s (a battery SCD41 every 10 min)
    needs only as many as fit, at least one: its median reporting interval decides."""
    eaqi_table: Literal["2017", "2024"] = "2017"
    """Which EEA table decides bands; "2017" is the one in force 2017-2024 (see eaqi.py)."""
    band_hysteresis: float = 0.10
    """A band falls only once the mean is this fraction below its lower boundary: 10 % is well
    above the noise of a 5-minute mean and well below the width of the narrowest band."""
    band_fall_hold_s: float = 120.0
    """A lower band must hold this long before the band falls (rises are immediate): a dying fan
    or a freezing sensor drags the mean down before its fault verdict (fan_hold_s after the
    collapse), and cleaner air is never urgent news."""
    co2_levels_ppm: tuple[float, float] = (800.0, 1200.0)
    """"elevated" and "high" thresholds: common ventilation guidance for occupied rooms."""
    co2_hysteresis_ppm: float = 50.0
    """A CO2 level falls only this far below its threshold: the MH-Z19 is accurate to ~50 ppm."""
    high_humidity_pct: float = 95.0
    """From this RH on, optical PM is unreliable even after correction (fog, droplets)."""
    summary_period_s: float = 3600.0
    """Period of the `air.summary` means, aligned to the clock: hourly, as air quality is reported."""
    faults: FaultSettings = field(default_factory=FaultSettings)
    """Thresholds of the per-source fault verdict (see sensor_faults.py)."""

    def __post_init__(self) -> None:
        if self.eaqi_table not in EAQI_TABLES:
            raise ValueError(f"unknown eaqi_table {self.eaqi_table!r}")
        if self.window_s <= 0 or self.min_readings < 1 or self.band_fall_hold_s < 0:
            raise ValueError("window_s must be > 0, min_readings >= 1, band_fall_hold_s >= 0")
        if not 0.0 <= self.band_hysteresis < 1.0:
            raise ValueError("band_hysteresis must be in [0, 1)")
        low, high = self.co2_levels_ppm
        if not 0 < low < high or not 0 <= self.co2_hysteresis_ppm < low:
            raise ValueError("co2_levels_ppm must rise and exceed co2_hysteresis_ppm")


@dataclass(frozen=True, slots=True)
class _PmSample:
    t: float
    pm25: float | None
    pm10: float | None
    corrected: bool
    humid: bool


class _Co2Level:
    """CO2 level index over the thresholds: rises at once, falls only `hysteresis` below."""

    def __init__(self, thresholds: tuple[float, float], hysteresis: float) -> None:
        self._thresholds = thresholds
        self._hysteresis = hysteresis
        self.index: int | None = None

    def update(self, mean: float) -> int:
        raw = sum(mean >= th for th in self._thresholds)
        if self.index is None or raw > self.index:
            self.index = raw
        elif raw < self.index:
            held = sum(mean >= th - self._hysteresis for th in self._thresholds)
            self.index = min(self.index, held)
        return self.index


def _mean(values: list[float]) -> float | None:
    return fmean(values) if values else None


def _round1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class AirQualityDetector:
    """EAQI band and CO2 level events for ONE source.

    PM2.5 is humidity-corrected through the corrector when the humidity is known. PM10 is
    scaled by the same ratio: an assumption, since the hygroscopic growth the model corrects is
    that of the fine particles that dominate an optical sensor's counts, and low-cost sensors
    derive PM10 from those same counts; no co-location data for PM10 exist here to do better.
    """

    def __init__(
        self, source: str, settings: AirQualitySettings, corrector: PmCorrector | Slot[PmCorrector] | None
    ) -> None:
        self.source = source
        self.settings = settings
        self._corrector = corrector
        table = eaqi_table(settings.eaqi_table)
        self._pm25_band = BandHysteresis(table.pm25, settings.band_hysteresis)
        self._pm10_band = BandHysteresis(table.pm10, settings.band_hysteresis)
        self._co2_level = _Co2Level(settings.co2_levels_ppm, settings.co2_hysteresis_ppm)
        self._faults = SensorFaultDetector(source, settings.faults)
        self._summary = AirSummary(source, settings.summary_period_s, settings.eaqi_table)
        self._pm: deque[_PmSample] = deque()
        self._co2: deque[tuple[float, float]] = deque()
        self._band: int | None = None
        self._fall_since: float | None = None
        self._last_t: float | None = None
        self._intervals: deque[float] = deque(maxlen=INTERVALS_KEPT)

    @property
    def band(self) -> str | None:
        """The current overall EAQI band, None before the first decision."""
        return None if self._band is None else BANDS[self._band]

    @property
    def co2_level(self) -> str | None:
        """The current CO2 level name, None before the first decision."""
        index = self._co2_level.index
        return None if index is None else CO2_LEVELS[index]

    def snapshot(self) -> dict[str, JsonValue]:
        """What users have been told (band, CO2 level), to carry across a restart or a new config."""
        return {"band": self._band, "co2_level": self._co2_level.index}

    def restore(self, snapshot: Mapping[str, JsonValue]) -> None:
        """Resume from `snapshot`; the next decision is announced only if it differs from it."""
        band, co2 = snapshot.get("band"), snapshot.get("co2_level")
        if isinstance(band, int) and 0 <= band < len(BANDS):
            self._band = band
        if isinstance(co2, int) and 0 <= co2 < len(CO2_LEVELS):
            self._co2_level.index = co2

    @property
    def fault_kinds(self) -> frozenset[str]:
        """Fault kinds currently in force for this source."""
        return self._faults.active

    def on_reading(self, reading: Reading, humidity: float | None = None) -> list[Event]:
        """Feed one reading; return the events it caused (fault, band and CO2 transitions).

        `humidity` is the latest RH [%] of a paired sensor; the reading's own "humidity" value,
        measured in the same chamber at the same time, takes precedence.
        """
        if reading.source != self.source:
            raise ValueError(f"reading from {reading.source!r} fed to the detector of {self.source!r}")
        t = reading.time.timestamp()
        verdict, events = self._faults.on_reading(reading)
        if self._last_t is not None and t < self._last_t:
            # A clock step backwards: windows must not mix the two time bases.
            self._pm.clear()
            self._co2.clear()
        elif self._last_t is not None and t > self._last_t:
            self._intervals.append(t - self._last_t)
        self._last_t = t
        if verdict.purge_from is not None:
            self._purge(verdict.purge_from.timestamp())
        if not verdict.usable:
            return events
        events.extend(self._add(reading, t, reading.values.get("humidity", humidity)))
        self._trim(t)
        events.extend(self._decide_band(reading.time, t))
        events.extend(self._decide_co2(reading.time))
        return events

    def _add(self, reading: Reading, t: float, rh: float | None) -> list[Event]:
        """Add a usable reading to the windows and the period summary; return a summary if due."""
        values = reading.values
        if "co2" in values:
            self._co2.append((t, values["co2"]))
        pm25, pm10 = values.get("pm25"), values.get("pm10")
        if pm25 is None and pm10 is None:
            return self._summary.add(t, {"co2": values.get("co2")})
        if rh is not None and not 0.0 <= rh <= 100.0:
            rh = None
        corrected = False
        if self._corrector is not None and rh is not None and pm25 is not None:
            fixed = max(0.0, current(self._corrector).correct(pm25, rh))
            ratio = fixed / pm25 if pm25 > 0 else 1.0
            pm25, pm10 = fixed, None if pm10 is None else pm10 * ratio
            corrected = True
        humid = rh is not None and rh >= self.settings.high_humidity_pct
        self._pm.append(_PmSample(t, pm25, pm10, corrected, humid))
        return self._summary.add(t, {"pm25": pm25, "pm10": pm10, "co2": values.get("co2")})

    @property
    def min_readings(self) -> int:
        """Readings a decision needs: settings.min_readings, or as many as this sensor's median
        reporting interval fits into the window (at least one) if that is fewer."""
        if not self._intervals:
            return self.settings.min_readings
        fit = floor(self.settings.window_s / median(self._intervals))
        return min(self.settings.min_readings, max(1, fit))

    def _trim(self, t: float) -> None:
        start = t - self.settings.window_s
        while self._pm and self._pm[0].t <= start:
            self._pm.popleft()
        while self._co2 and self._co2[0][0] <= start:
            self._co2.popleft()

    def _purge(self, since: float) -> None:
        """Drop readings from `since` on: a fault that just started casts doubt on them."""
        while self._pm and self._pm[-1].t >= since:
            self._pm.pop()
        while self._co2 and self._co2[-1][0] >= since:
            self._co2.pop()
        self._fall_since = None

    def _band_moves(self, candidate: int, t: float) -> bool:
        """Whether the reported band moves to `candidate` now: rises at once, falls after a hold."""
        if self._band is None or candidate > self._band:
            return True
        if candidate == self._band:
            self._fall_since = None
            return False
        if self._fall_since is None:
            self._fall_since = t
        return t - self._fall_since >= self.settings.band_fall_hold_s

    def _decide_band(self, time: datetime, t: float) -> list[Event]:
        if len(self._pm) < self.min_readings:
            return []
        pm25 = _mean([s.pm25 for s in self._pm if s.pm25 is not None])
        pm10 = _mean([s.pm10 for s in self._pm if s.pm10 is not None])
        i25 = -1 if pm25 is None else self._pm25_band.update(pm25)
        i10 = -1 if pm10 is None else self._pm10_band.update(pm10)
        band = max(i25, i10)
        if not self._band_moves(band, t):
            return []
        previous, self._band, self._fall_since = self._band, band, None
        corrected = all(s.corrected for s in self._pm)
        quality = {"uncorrected"} if not corrected else set()
        if any(s.humid for s in self._pm):
            quality.add("high_humidity")
        data: dict[str, JsonValue] = {
            "band": BANDS[band],
            "previous": None if previous is None else BANDS[previous],
            "pm25": _round1(pm25),
            "pm10": _round1(pm10),
            "corrected": corrected,
            "pollutant": "pm10" if i10 > i25 else "pm25",
            "table": self.settings.eaqi_table,
        }
        model = current(self._corrector).model if corrected and self._corrector is not None else None
        return [Event(BAND_CHANGED, self.source, data, time=time, quality=frozenset(quality), model=model)]

    def _decide_co2(self, time: datetime) -> list[Event]:
        if len(self._co2) < self.min_readings:
            return []
        mean = fmean(v for _, v in self._co2)
        previous = self._co2_level.index
        level = self._co2_level.update(mean)
        prev_name = None if previous is None else CO2_LEVELS[previous]
        if level > (previous or 0):
            data: dict[str, JsonValue] = {
                "co2": round(mean),
                "level": CO2_LEVELS[level],
                "previous": prev_name,
            }
            return [Event(CO2_HIGH, self.source, data, time=time)]
        if level == 0 and previous is not None and previous > 0:
            data = {"co2": round(mean), "level": CO2_LEVELS[0], "previous": prev_name}
            return [Event(CO2_NORMAL, self.source, data, time=time)]
        return []
