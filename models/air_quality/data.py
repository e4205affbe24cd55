"""Loading and joining the Hollandse Luchten 2023 co-location files (see shared/datasets/SOURCES.md).

Owns which files form the development (Beverwijk) and evaluation (Zaandam) sets, and the join of
each low-cost sensor's hourly rows to its reference station on the hourly UTC timestamp.
The data are read in place from ``../shared/datasets`` relative to the repository root, never copied.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT.parent / "shared" / "datasets" / "air_quality" / "hollandse_luchten_colocation_2023"

# SOURCES.md: the SODAQ AIRs were hung on the reference stations in February 2023; score from March.
SCORE_FROM = datetime(2023, 3, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Site:
    """One reference station and the low-cost sensors co-located with it."""

    name: str
    reference: str
    sensors: tuple[str, ...]


# Development set: the only files any fit, choice or tuning may look at.
BEVERWIJK = Site("Beverwijk", "NL49570", ("HLL_545", "HLL_549", "OZK_1845", "OZK_1850"))
# Evaluation set: scored once, never tuned on.
ZAANDAM = Site("Zaandam", "NL49701", ("HLL_420", "HLL_541", "OZK_1849"))


@dataclass(frozen=True, slots=True)
class Colocation:
    """Hourly rows of one sensor joined to its reference: raw PM2.5, sensor RH, reference PM2.5."""

    sensor: str
    time: npt.NDArray[np.int64]  # Unix seconds, UTC
    pm25_raw: FloatArray
    humidity: FloatArray
    pm25_ref: FloatArray

    def __len__(self) -> int:
        return int(self.time.size)

    @property
    def features(self) -> npt.NDArray[np.float32]:
        """The model input: float32 [N, 2] of (raw PM2.5 [ug/m3], relative humidity [%])."""
        return np.column_stack([self.pm25_raw, self.humidity]).astype(np.float32)


def _parse_time(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp())


def _parse_float(text: str) -> float:
    return float(text) if text.strip() else float("nan")


def read_columns(path: Path, columns: tuple[str, ...]) -> tuple[npt.NDArray[np.int64], list[FloatArray]]:
    """The ``datetime`` column (Unix seconds) and the named float columns of one CSV file."""
    times: list[int] = []
    values: list[list[float]] = [[] for _ in columns]
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            times.append(_parse_time(row["datetime"]))
            for out, column in zip(values, columns, strict=True):
                out.append(_parse_float(row[column]))
    return np.asarray(times, dtype=np.int64), [np.asarray(v, dtype=np.float64) for v in values]


def load_colocation(sensor: str, reference: str, data_dir: Path = DATA_DIR) -> Colocation:
    """Rows of ``sensor`` joined to ``reference`` on the hour, from SCORE_FROM, without NaN/negative RH.

    Negative reference values (Luchtmeetnet reports them, down to -6.2) are kept: they are the truth
    with its own noise, and dropping them would bias the fit and the scores upwards.
    """
    s_time, (pm, rh) = read_columns(data_dir / f"{sensor}.csv", ("pm25", "humidity"))
    r_time, (ref,) = read_columns(data_dir / f"{reference}.csv", ("pm25",))
    # The HLL files repeat a few hours as identical rows (e.g. 8x 2023-03-22 13:00): keep the first.
    common, s_idx, r_idx = np.intersect1d(s_time, r_time, assume_unique=False, return_indices=True)
    pm, rh, ref = pm[s_idx], rh[s_idx], ref[r_idx]
    keep = (
        (common >= int(SCORE_FROM.timestamp()))
        & np.isfinite(pm)
        & np.isfinite(rh)
        & np.isfinite(ref)
        & (rh >= 0.0)
        & (pm >= 0.0)
    )
    return Colocation(sensor, common[keep], pm[keep], rh[keep], ref[keep])


def load_site(site: Site, data_dir: Path = DATA_DIR) -> list[Colocation]:
    """One Colocation per sensor of ``site``."""
    return [load_colocation(sensor, site.reference, data_dir) for sensor in site.sensors]


def pool(parts: list[Colocation], name: str = "pooled") -> Colocation:
    """All rows of ``parts`` concatenated, as one Colocation."""
    return Colocation(
        name,
        np.concatenate([p.time for p in parts]),
        np.concatenate([p.pm25_raw for p in parts]),
        np.concatenate([p.humidity for p in parts]),
        np.concatenate([p.pm25_ref for p in parts]),
    )
