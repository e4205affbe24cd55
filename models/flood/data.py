"""House Mill development data and the (features, labels) windows the nowcast is trained and scored on.

Owns which House Mill files may be read: the DEVELOPMENT files only (shared/datasets/SOURCES.md) —
``Maxbotix-Sonar-height-data-2023_10-2024-09.csv``, ``housemill_2024.csv`` and the three label
lists. ``housemill_2025.csv`` is evaluation-only and is never opened here. Files are read in place.

Geometry (SOURCES.md): the sonar measures the distance down to the water; it is 830 mm above the lower
floorboard section and 570 mm above the top of the floorboards. The dry reference is the lower
floorboard, so ``depth = 830 - distance``: the owners' two flood levels are depth 0 mm (water touching
the floorboards, distance 830) and 260 mm (water above the floor, distance 570). Depths are negative
whenever the river is below the floor, which is most of the time.

The cleaned file's timestamps are London local time (they match the UTC InfluxDB export exactly after
conversion from Europe/London, and are one hour off during British Summer Time without it); the
InfluxDB export is UTC. Out-of-range rows (>= 5000 mm) and isolated spikes are dropped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from gateway.flood.nowcast import MARGIN_S, N_FEATURES, WINDOW_S, nowcast_features
from models.flood.simulate import Series

FloatArray = npt.NDArray[np.float64]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DATA_DIR: Final = REPO_ROOT.parent / "shared" / "datasets" / "flood" / "housemill_london"
CLEANED: Final = "Maxbotix-Sonar-height-data-2023_10-2024-09.csv"
RAW_2024: Final = "housemill_2024.csv"
LABELS: Final = {
    "touching (<= 830 mm)": "109-flooding-high-tides-touching-floorboard.csv",
    "above floor (<= 570 mm)": "32-flooding-high-tides.csv",
}
DURATIONS: Final = "high-tide-durations.csv"
LONDON: Final = ZoneInfo("Europe/London")

SENSOR_TO_LOWER_FLOOR_MM: Final = 830.0
FLOOD_DISTANCES_MM: Final = (830.0, 570.0)
THRESHOLDS_MM: Final = tuple(SENSOR_TO_LOWER_FLOOR_MM - d for d in FLOOD_DISTANCES_MM)  # (0, 260)
OUT_OF_RANGE_MM: Final = 5000.0  # MB7389 reports ~5003 with no target
# A reading that differs from BOTH neighbours by more than this, in the same direction, is a spike:
# the fastest tide in the development data moves about 36 mm/min (99.5th percentile), 360 mm per
# 10-minute reading, and a real turn of the tide differs from its neighbours by far less.
SPIKE_MM: Final = 400.0
WINDOWS_PER_THRESHOLD: Final = 40  # random times per (training series, threshold)
STALE_SHARE: Final = 0.15  # of training windows evaluated some minutes after their last reading
# Time split of the development data: fit before, validate from this instant on.
SPLIT: Final = datetime(2024, 7, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Level:
    """A depth series [mm above the dry reference] at UTC Unix times [s], oldest first."""

    times_s: FloatArray
    depths_mm: FloatArray

    def between(self, start: float, end: float) -> Level:
        """The readings with ``start <= time < end``."""
        keep = (self.times_s >= start) & (self.times_s < end)
        return Level(self.times_s[keep], self.depths_mm[keep])


def _read(path: Path, time_col: int, value_col: int) -> tuple[list[str], FloatArray]:
    stamps, values = [], []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        for row in rows:
            if len(row) > value_col and row[value_col].strip() and row[time_col][:1].isdigit():
                stamps.append(row[time_col])
                values.append(float(row[value_col]))
    return stamps, np.asarray(values, dtype=np.float64)


def _local(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=LONDON).timestamp()


def _utc(stamp: str) -> float:
    return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


def despike(distances: FloatArray) -> npt.NDArray[np.bool_]:
    """Mask of readings to keep: out-of-range values and isolated spikes (either way) are dropped."""
    keep = distances < OUT_OF_RANGE_MM
    valid = distances[keep]
    step_in, step_out = np.diff(valid[:-1]), np.diff(valid[1:])
    spike = (
        (np.abs(step_in) > SPIKE_MM) & (np.abs(step_out) > SPIKE_MM) & (np.sign(step_in) != np.sign(step_out))
    )
    inner = np.flatnonzero(keep)[1:-1]
    keep[inner[spike]] = False
    return keep


def load_cleaned() -> tuple[FloatArray, FloatArray]:
    """Times [UTC s] and distances [mm] of the owners' cleaned 2023-10 .. 2024-09 file (local time)."""
    stamps, distances = _read(DATA_DIR / CLEANED, 0, 1)
    return np.asarray([_local(s) for s in stamps]), distances


def load_raw_2024() -> tuple[FloatArray, FloatArray]:
    """Times [UTC s] and distances [mm] of the raw 2024 InfluxDB export."""
    stamps, distances = _read(DATA_DIR / RAW_2024, 3, 4)
    return np.asarray([_utc(s) for s in stamps]), distances


def load_level() -> Level:
    """The development depth series: the cleaned file, then the raw 2024 export after its end."""
    t_clean, d_clean = load_cleaned()
    t_raw, d_raw = load_raw_2024()
    later = t_raw > t_clean[-1]
    times = np.concatenate([t_clean, t_raw[later]])
    distances = np.concatenate([d_clean, d_raw[later]])
    keep = despike(distances)
    return Level(times[keep], SENSOR_TO_LOWER_FLOOR_MM - distances[keep])


def load_label_times() -> dict[str, FloatArray]:
    """Times [UTC s] of the tide minima in each owners' label list (same local-time convention)."""
    return {
        name: np.asarray([_local(s) for s in _read(DATA_DIR / file, 0, 1)[0]])
        for name, file in LABELS.items()
    }


def load_durations() -> FloatArray:
    """Durations [min] from the owners' high-tide-durations list."""
    return _read(DATA_DIR / DURATIONS, 0, 2)[1]


def split_level(level: Level) -> tuple[Level, Level]:
    """(fit part before SPLIT, validation part from SPLIT on)."""
    cut = SPLIT.timestamp()
    return level.between(-np.inf, cut), level.between(cut, np.inf)


# --- windows -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Windows:
    """Feature rows, labels (depth reaches the threshold within 15 / 30 min) and where they came from."""

    features: npt.NDArray[np.float32]
    reach15: npt.NDArray[np.bool_]
    reach30: npt.NDArray[np.bool_]
    now_s: FloatArray

    @staticmethod
    def concat(parts: list[Windows]) -> Windows:
        """All rows of ``parts`` in order."""
        return Windows(
            np.concatenate([p.features for p in parts]).reshape(-1, EMPTY.features.shape[1]),
            np.concatenate([p.reach15 for p in parts]),
            np.concatenate([p.reach30 for p in parts]),
            np.concatenate([p.now_s for p in parts]),
        )

    def __len__(self) -> int:
        return int(self.now_s.size)

    def subset(self, keep: npt.NDArray[np.bool_]) -> Windows:
        """The rows where ``keep`` is true."""
        return Windows(self.features[keep], self.reach15[keep], self.reach30[keep], self.now_s[keep])


def _reach(times: FloatArray, depths: FloatArray, now: float, threshold: float) -> tuple[bool, bool] | None:
    """Whether a reading in (now, now + 15 / 30 min] reaches the threshold; None without readings there."""
    start = int(np.searchsorted(times, now, side="right"))
    end15 = int(np.searchsorted(times, now + 900.0, side="right"))
    end30 = int(np.searchsorted(times, now + 1800.0, side="right"))
    if end15 == start:
        return None
    return bool(depths[start:end15].max() >= threshold), bool(depths[start:end30].max() >= threshold)


def window_rows(level: Level, threshold: float, nows: FloatArray) -> Windows:
    """One row per time in ``nows`` that has enough history, is below the threshold and has a future."""
    times, depths = level.times_s, level.depths_mm
    rows, y15, y30, kept = [], [], [], []
    lows = np.searchsorted(times, nows - WINDOW_S - MARGIN_S, side="left")
    highs = np.searchsorted(times, nows, side="right")
    for now, lo, hi in zip(nows.tolist(), lows.tolist(), highs.tolist(), strict=True):
        features = nowcast_features(times[lo:hi], depths[lo:hi], threshold, now)
        labels = _reach(times, depths, now, threshold) if features is not None else None
        if features is None or labels is None or features[0] <= 0.0:
            continue
        rows.append(features)
        y15.append(labels[0])
        y30.append(labels[1])
        kept.append(now)
    if not rows:
        return EMPTY
    return Windows(np.stack(rows), np.asarray(y15), np.asarray(y30), np.asarray(kept))


EMPTY: Final = Windows(
    np.zeros((0, N_FEATURES), dtype=np.float32), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool), np.zeros(0)
)


def housemill_windows(level: Level) -> Windows:
    """Rows at every reading of ``level`` for both House Mill flood levels (0 and 260 mm)."""
    return Windows.concat([window_rows(level, thr, level.times_s) for thr in THRESHOLDS_MM])


def _training_times(series: Series, rng: np.random.Generator) -> FloatArray:
    """Random reading times of a series; a share moved later, into the silence before the next reading."""
    times = series.times_s
    picked = np.sort(rng.choice(times.size, size=min(WINDOWS_PER_THRESHOLD, times.size), replace=False))
    nows = times[picked]
    following = np.append(times[1:], times[-1])[picked]
    stale = rng.random(nows.size) < STALE_SHARE
    return nows + np.where(stale, rng.random(nows.size) * np.minimum(following - nows, 900.0), 0.0)


def _every_minute(times: FloatArray) -> FloatArray:
    """Reading times thinned to at most one a minute (the held-out evaluation times)."""
    minute = np.floor(times / 60.0)
    keep: npt.NDArray[np.bool_] = np.append(True, np.diff(minute) > 0)
    return times[keep]


@dataclass(frozen=True, slots=True)
class Sequence:
    """One series judged against one threshold: its readings and its evaluated windows."""

    name: str
    level: Level
    threshold: float
    windows: Windows


def training_windows(series: list[Series], seed: int) -> Windows:
    """Random windows of every (series, threshold)."""
    rng = np.random.default_rng(seed)
    parts: list[Windows] = []
    for one in series:
        level = Level(one.times_s, one.depths_mm)
        parts.extend(window_rows(level, thr, _training_times(one, rng)) for thr in one.thresholds_mm)
    return Windows.concat(parts)


def held_out_sequences(series: list[Series]) -> list[Sequence]:
    """Every (series, threshold), evaluated at most once a minute."""
    out: list[Sequence] = []
    for one in series:
        level = Level(one.times_s, one.depths_mm)
        nows = _every_minute(one.times_s)
        out.extend(
            Sequence(f"simulated: {one.kind}", level, thr, window_rows(level, thr, nows))
            for thr in one.thresholds_mm
        )
    return out


def housemill_sequences(level: Level) -> list[Sequence]:
    """The House Mill validation part against both flood levels, at every reading."""
    return [
        Sequence(f"House Mill, {thr:g} mm", level, thr, window_rows(level, thr, level.times_s))
        for thr in THRESHOLDS_MM
    ]
