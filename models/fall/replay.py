"""Replays recorded per-person silhouettes through the gateway's fall state machine.

The camera path (gateway/vision/fall.py ``FallDetector``) runs person localisation, tracking and
silhouettes on frames, then ``FallState`` on each track. Everything after the silhouettes is
replayed here from recorded rows, so validation during training and the UR Fall per-frame CSVs
go through the very same windows and state machine as a gateway, at the same 10 fps analysis rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.vision.fall import FallSettings, FallState
from gateway.vision.silhouette import FeatureHistory, Silhouette

FloatArray = npt.NDArray[np.float32]
Scorer = Callable[[FloatArray], FloatArray]
ANALYSIS_STEP_S = 0.1  # the camera path analyses at 10 fps (config `fps`, default 10)


@dataclass(frozen=True, slots=True)
class Records:
    """Per analysed frame and track: time, track id, silhouette (NaN row when unseen), window row."""

    time: npt.NDArray[np.float64]
    track: npt.NDArray[np.int64]
    silhouette: FloatArray  # R x 5: height_width, major_minor, occupancy, height_ratio, centroid_height
    window: npt.NDArray[np.int64]  # index into `windows`, -1 when the track was not scored
    windows: FloatArray  # M x WINDOW_STEPS * len(FEATURES)


@dataclass(frozen=True, slots=True)
class Change:
    """A state-machine transition: when, for which track, which one, and the fall time it reports."""

    time: float
    track: int
    kind: str  # "detected", "confirmed" or "recovered"
    fall_time: float
    confidence: float


def as_silhouette(row: FloatArray) -> Silhouette:
    """A silhouette from a recorded row (vertical speed is recomputed by FeatureHistory.add)."""
    hw, mm, occupancy, height, centroid = (float(v) for v in row)
    return Silhouette(hw, mm, occupancy, height, centroid)


def windows_of(times: npt.NDArray[np.float64], rows: FloatArray, min_history_s: float) -> Records:
    """Records of one person (one track) from per-frame silhouette rows, analysed at 10 fps."""
    history = FeatureHistory()
    keep_t, keep_rows, index = [], [], []
    windows: list[FloatArray] = []
    next_t = -np.inf
    for t, row in zip(times, rows, strict=True):
        if t < next_t - 1e-6:
            continue  # the gateway analyses at 10 fps whatever the source delivers
        next_t = t + ANALYSIS_STEP_S
        if not np.isnan(row[0]):
            history.add(float(t), as_silhouette(row))
        keep_t.append(t)
        keep_rows.append(row)
        if history.span_s >= min_history_s:
            index.append(len(windows))
            windows.append(history.window(float(t)))
        else:
            index.append(-1)
    dim = len(windows[0]) if windows else 0
    return Records(
        np.asarray(keep_t, np.float64),
        np.zeros(len(keep_t), np.int64),
        np.asarray(keep_rows, np.float32).reshape(-1, 5),
        np.asarray(index, np.int64),
        np.asarray(windows, np.float32).reshape(len(windows), dim),
    )


def replay(records: Records, scores: FloatArray, settings: FallSettings) -> list[Change]:
    """The transitions FallState makes on ``records`` given the model's ``scores`` per window."""
    histories: dict[int, FeatureHistory] = {}
    states: dict[int, FallState] = {}
    changes = []
    for t, track, row, w in zip(records.time, records.track, records.silhouette, records.window, strict=True):
        tid = int(track)
        history = histories.setdefault(tid, FeatureHistory())
        state = states.setdefault(tid, FallState(settings))
        seen = not np.isnan(row[0])
        if seen:
            history.add(float(t), as_silhouette(row))
        # As FallDetector: a track coasting without a detection this frame gets no new decision.
        kind = state.step(float(t), history, float(scores[w]) if w >= 0 and seen else None)
        if kind is not None:
            changes.append(Change(float(t), tid, kind, state.fall_time, state.confidence))
    return changes
