"""Flood nowcast: the chance that a water depth reaches a threshold within the next 15 and 30 minutes.

Owns the model's input. ``nowcast_features`` turns one sensor's filtered depth history and a threshold
into the feature vector of ``models/flood/nowcast.onnx``; it is the only implementation, and the
training code (``models/flood``) imports it from here, so training and serving cannot drift.
The model, its data and its validation are described in models/flood/MODEL_CARD.md.

Features are chosen to transfer across sites and thresholds: levels are expressed as the distance
below the threshold, rates in mm/min, and the times to the threshold at the present rate in minutes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from gateway.inference.runner import ModelIntegrityError, OnnxModel
from gateway.messages import ModelRef
from gateway.security.signing import VerifiedManifest

FloatArray = npt.NDArray[np.float64]

MODEL_NAME: Final = "flood_nowcast"
MODEL_FILE: Final = Path("flood") / "nowcast.onnx"
HORIZONS_MIN: Final = (15, 30)

WINDOW_S: Final = 3600.0  # history the model looks at
STEP_S: Final = 120.0  # resampling step of that history
MARGIN_S: Final = 900.0  # one reading up to this long before the window anchors its oldest point
MIN_READINGS: Final = 3  # fewer readings in the window: too little history, no nowcast
MIN_SPAN_S: Final = 600.0  # ... or readings covering less than 10 minutes
GAP_S: Final = 660.0  # a 2-minute point over 11 min after a reading is in a gap (House Mill reads every 10)
TTC_CAP_MIN: Final = 120.0  # "not within two hours" for the time-to-threshold features

# Resampling grid relative to now [s], oldest first: -60 min ... 0 in 2-minute steps (31 points).
_GRID_S: Final = np.arange(-WINDOW_S, STEP_S / 2, STEP_S)
# Least-squares quadratic over the last 30 min of the grid, in minutes: coefficients = _QUAD @ values.
_QUAD_TAU: Final = _GRID_S[_GRID_S >= -1800.0] / 60.0
_QUAD: Final = np.linalg.pinv(np.column_stack([np.ones_like(_QUAD_TAU), _QUAD_TAU, _QUAD_TAU**2]))

FEATURE_NAMES: Final = (
    "distance_mm",  # threshold - depth now; > 0 below the threshold
    "rise_5min_mm_per_min",  # rise of the depth over the last 5 min
    "rise_15min_mm_per_min",
    "rise_30min_mm_per_min",
    "rise_60min_mm_per_min",
    "acceleration_mm_per_min_per_15min",  # rise over the last 15 min minus rise over the 15 min before
    "minutes_to_threshold_at_5min_rise",  # distance / rise, capped at 120 (also for no rise)
    "minutes_to_threshold_at_15min_rise",
    "distance_in_15min_at_5min_rise_mm",  # linear extrapolation
    "distance_in_30min_at_15min_rise_mm",
    "least_distance_15min_quadratic_mm",  # minimum of a quadratic fitted to the last 30 min
    "least_distance_30min_quadratic_mm",
    "distance_from_window_peak_mm",  # threshold - highest depth in the last 60 min
    "roughness_mm",  # standard deviation of the second differences of the 2-minute series
    "minutes_since_last_reading",
    "gap_fraction",  # share of the 2-minute points over 11 min after the reading before them
    "median_interval_min",  # median time between readings in the window
)
N_FEATURES: Final = len(FEATURE_NAMES)
# Direction of each feature's effect on the probability, all else equal (+1 up, -1 down, 0 free):
# the trees are constrained to it, so a faster rise never lowers the nowcast.
MONOTONIC: Final = (-1, 1, 1, 1, 1, 0, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0)


def _validated(
    times_s: Sequence[float] | FloatArray, depths_mm: Sequence[float] | FloatArray, threshold_mm: float
) -> tuple[FloatArray, FloatArray]:
    times = np.asarray(times_s, dtype=np.float64)
    depths = np.asarray(depths_mm, dtype=np.float64)
    if times.ndim != 1 or times.shape != depths.shape:
        raise ValueError(f"times and depths must be 1-D of one length, got {times.shape} and {depths.shape}")
    if not (math.isfinite(threshold_mm) and np.isfinite(times).all() and np.isfinite(depths).all()):
        raise ValueError("times, depths and threshold must be finite (no NaN): drop invalid readings first")
    if times.size > 1 and bool(np.any(np.diff(times) < 0.0)):
        raise ValueError("times must be in order, oldest first")
    return times, depths


def _time_to(distance: float, rise: float) -> float:
    """Minutes until the distance is covered at ``rise`` mm/min, capped; 0 if already there."""
    if distance <= 0.0:
        return 0.0
    if rise <= 0.0:
        return TTC_CAP_MIN
    return min(distance / rise, TTC_CAP_MIN)


def _quadratic_least(coef: FloatArray, horizon_min: float) -> float:
    """Least value of ``c0 + c1*t + c2*t^2`` for t in [0, horizon]."""
    c0, c1, c2 = (float(c) for c in coef)
    candidates = [c0, c0 + c1 * horizon_min + c2 * horizon_min**2]
    if c2 > 0.0 and 0.0 < -c1 / (2.0 * c2) < horizon_min:
        candidates.append(c0 - c1 * c1 / (4.0 * c2))
    return min(candidates)


def _gap_fraction(times: FloatArray, grid: FloatArray) -> float:
    before = np.searchsorted(times, grid, side="right") - 1
    age = np.where(before >= 0, grid - times[np.maximum(before, 0)], np.inf)
    return float(np.mean(age > GAP_S))


def nowcast_features(
    times_s: Sequence[float] | FloatArray,
    depths_mm: Sequence[float] | FloatArray,
    threshold_mm: float,
    now_s: float | None = None,
) -> npt.NDArray[np.float32] | None:
    """The model's feature vector (float32, FEATURE_NAMES), or None when the history is too short.

    ``times_s`` [s, any epoch] and ``depths_mm`` [mm above the dry reference] are one sensor's valid
    filtered readings, oldest first; ``now_s`` defaults to the last reading's time. Readings older than
    the 60-minute window (plus a 15-minute anchor) are ignored. Raises ValueError for NaN or infinite
    values, unordered times or a ``now_s`` before the last reading.
    """
    times, depths = _validated(times_s, depths_mm, threshold_mm)
    if times.size == 0:
        return None
    now = float(times[-1]) if now_s is None else float(now_s)
    if not math.isfinite(now) or now < times[-1]:
        raise ValueError(f"now_s={now_s!r} must be finite and not before the last reading")
    keep = times >= now - WINDOW_S - MARGIN_S
    times, depths = times[keep], depths[keep]
    inside = times[times >= now - WINDOW_S]
    if inside.size < MIN_READINGS or inside[-1] - inside[0] < MIN_SPAN_S:
        return None
    # Linear between readings, held after the last one (forward fill): nothing after `now` is used.
    distance = threshold_mm - np.interp(now + _GRID_S, times, depths)
    from_peak = float(threshold_mm - depths[times >= now - WINDOW_S].max())
    return _features(distance, times - now, inside, from_peak)


def _features(
    distance: FloatArray, rel_times: FloatArray, inside: FloatArray, from_peak: float
) -> npt.NDArray[np.float32]:
    """Features from the 2-minute distance series (``distance[-1]`` is now, index -1-k is 2k min ago)."""
    now_d = float(distance[-1])
    at = np.interp(np.array([-300.0, -900.0, -1800.0]), _GRID_S, distance)
    rise5, rise15, rise30 = ((at - now_d) / np.array([5.0, 15.0, 30.0])).tolist()
    rise60 = float(distance[0] - now_d) / 60.0
    accel = rise15 - (float(at[2]) - float(at[1])) / 15.0
    quad = _QUAD @ distance[-_QUAD_TAU.size :]
    second = np.diff(distance, n=2)
    values = (
        now_d,
        rise5,
        rise15,
        rise30,
        rise60,
        accel,
        _time_to(now_d, rise5),
        _time_to(now_d, rise15),
        now_d - 15.0 * rise5,
        now_d - 30.0 * rise15,
        _quadratic_least(quad, 15.0),
        _quadratic_least(quad, 30.0),
        from_peak,
        float(second.std()),
        (0.0 - float(rel_times[-1])) / 60.0,
        _gap_fraction(rel_times, _GRID_S),
        float(np.median(np.diff(inside))) / 60.0,
    )
    return np.asarray(values, dtype=np.float32)


class Nowcaster(Protocol):
    """The probability that a sensor's depth reaches a threshold within the next 15 and 30 minutes."""

    @property
    def model(self) -> ModelRef:
        """Name and version of the model, reported on events it decided."""
        ...

    def crossing_probabilities(
        self, times_s: Sequence[float], depths_mm: Sequence[float], threshold_mm: float
    ) -> tuple[float, float]:
        """(P within 15 min, P within 30 min) from the filtered history, oldest first."""
        ...


class OnnxNowcaster:
    """A Nowcaster backed by the verified ``flood_nowcast`` ONNX model ([N, 17] -> [N, 2])."""

    def __init__(self, model: OnnxModel) -> None:
        """Wrap ``model``; ModelIntegrityError if it does not take this module's features."""
        try:
            probe = np.asarray(model.run(np.zeros((1, N_FEATURES), dtype=np.float32)))
        except Exception as exc:  # onnxruntime's InvalidArgument/Fail derive from Exception only
            raise ModelIntegrityError(f"{model.name}: does not take {N_FEATURES} features: {exc}") from exc
        if probe.shape != (1, len(HORIZONS_MIN)):
            raise ModelIntegrityError(f"{model.name}: output shape {probe.shape}, expected (1, 2)")
        self._model = model
        self._ref = ModelRef(name=MODEL_NAME, version=model.version)

    @property
    def model(self) -> ModelRef:
        """Name and version (sha256 prefix of the file) of the model, reported on events."""
        return self._ref

    def crossing_probabilities(
        self,
        times_s: Sequence[float],
        depths_mm: Sequence[float],
        threshold_mm: float,
        now_s: float | None = None,
    ) -> tuple[float, float]:
        """(P within 15 min, P within 30 min), each in [0, 1].

        Too little history (under 3 readings or 10 minutes in the last hour) gives (0.0, 0.0); a
        depth already at or above the threshold gives (1.0, 1.0). ``now_s`` (default: the last
        reading's time) lets the model see how old the last reading is. ValueError on NaN inputs.
        """
        features = nowcast_features(times_s, depths_mm, threshold_mm, now_s)
        if features is None:
            return 0.0, 0.0
        if features[0] <= 0.0:
            return 1.0, 1.0
        out = np.clip(np.asarray(self._model.run(features[np.newaxis, :]), dtype=np.float64), 0.0, 1.0)
        return float(out[0, 0]), float(out[0, 1])


def load_signed(manifest: VerifiedManifest) -> OnnxNowcaster:
    """The nowcaster from a verified, signed models manifest (what a running gateway uses)."""
    return OnnxNowcaster(OnnxModel.from_signed(manifest, MODEL_FILE.as_posix(), MODEL_NAME))
