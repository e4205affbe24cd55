"""The European Air Quality Index (EAQI) bands for particulate matter, and band hysteresis.

Owns the versioned band tables and the pure functions over them: which band a concentration falls
in, the overall band of a PM2.5/PM10 pair, and a tracker that rises at once but falls only past a
margin, so a mean hovering at a boundary does not flood the network with events.

Source: EEA, European Air Quality Index, airindex.eea.europa.eu. The EEA revises the table, so it
is versioned here and selected by name (`eaqi_table` in the air-quality settings); an event names
the table that decided it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

BANDS: tuple[str, ...] = ("good", "fair", "moderate", "poor", "very_poor", "extremely_poor")

Pollutant = Literal["pm25", "pm10"]


@dataclass(frozen=True, slots=True)
class EaqiTable:
    """One version of the EAQI PM table: the upper boundary of each of the six bands [ug/m3].

    Band i covers [upper[i-1], upper[i]) with a lower boundary of 0 for "good"; concentrations
    above the last boundary stay "extremely_poor" (the sensor range check handles nonsense).
    """

    version: str
    pm25: tuple[float, float, float, float, float, float]
    pm10: tuple[float, float, float, float, float, float]

    def bounds(self, pollutant: Pollutant) -> tuple[float, ...]:
        """The six upper boundaries of `pollutant`."""
        return self.pm25 if pollutant == "pm25" else self.pm10


# The EEA 6-level table in force 2017-2024 (EEA, European Air Quality Index, airindex.eea.europa.eu).
EAQI_2017 = EaqiTable(
    version="2017",
    pm25=(10.0, 20.0, 25.0, 50.0, 75.0, 800.0),
    pm10=(20.0, 40.0, 50.0, 100.0, 150.0, 1200.0),
)

# The revision aligned with the 2021 WHO air quality guidelines. TO BE CHECKED against the EEA's
# publication before a site selects it: these boundaries were transcribed, not yet verified.
EAQI_2024 = EaqiTable(
    version="2024",
    pm25=(5.0, 15.0, 50.0, 90.0, 140.0, 800.0),
    pm10=(15.0, 45.0, 120.0, 195.0, 270.0, 1200.0),
)

EAQI_TABLES: Mapping[str, EaqiTable] = MappingProxyType({"2017": EAQI_2017, "2024": EAQI_2024})


def eaqi_table(version: str) -> EaqiTable:
    """The table named `version` ("2017" or "2024"); ValueError for any other name."""
    try:
        return EAQI_TABLES[version]
    except KeyError:
        raise ValueError(f"unknown EAQI table {version!r}; known: {sorted(EAQI_TABLES)}") from None


def band_index(value: float, bounds: tuple[float, ...]) -> int:
    """Index into BANDS of the band containing `value` (boundaries belong to the band above)."""
    for index, upper in enumerate(bounds):
        if value < upper:
            return index
    return len(bounds) - 1


def lower_bound(index: int, bounds: tuple[float, ...]) -> float:
    """The lower boundary of band `index` (0 for the first band)."""
    return 0.0 if index == 0 else bounds[index - 1]


def overall_band(pm25: float | None, pm10: float | None, table: EaqiTable) -> tuple[int, Pollutant]:
    """The worse of the PM2.5 and PM10 bands and the pollutant that decided it (PM2.5 on a tie)."""
    if pm25 is None and pm10 is None:
        raise ValueError("overall_band needs at least one of pm25, pm10")
    i25 = -1 if pm25 is None else band_index(pm25, table.pm25)
    i10 = -1 if pm10 is None else band_index(pm10, table.pm10)
    return (i10, "pm10") if i10 > i25 else (i25, "pm25")


class BandHysteresis:
    """The band of one pollutant's windowed mean: rises at once, falls only past a margin.

    Leaving band i downwards needs a mean below its lower boundary times (1 - margin); on the way
    down the new band is the highest one the mean still holds with the same margin, so a mean that
    drops across several boundaries at once lands where the margin rule puts it.
    """

    def __init__(self, bounds: tuple[float, ...], margin: float) -> None:
        if not 0.0 <= margin < 1.0:
            raise ValueError(f"band hysteresis margin must be in [0, 1), got {margin}")
        self._bounds = bounds
        self._margin = margin
        self.index: int | None = None

    def update(self, value: float) -> int:
        """Feed one windowed mean; return the (possibly unchanged) band index."""
        raw = band_index(value, self._bounds)
        if self.index is None or raw > self.index:
            self.index = raw
        elif raw < self.index:
            # Still in a band if value >= lower * (1 - margin), i.e. value / (1 - margin) >= lower.
            held = band_index(value / (1.0 - self._margin), self._bounds)
            self.index = min(self.index, held)
        return self.index
