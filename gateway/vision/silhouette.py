"""Silhouette features of one tracked person per frame, and the time windows the fall model reads.

Owns the feature definitions, chosen so that the same model can be scored on the UR Fall Detection
dataset's per-frame features (Kwolek & Kepski 2014, computed there from Kinect depth maps):

| feature            | here (video)                                          | UR Fall column            |
|--------------------|-------------------------------------------------------|---------------------------|
| height_width       | box height / width                                    | HeightWidthRatio          |
| major_minor        | major / minor axis of the mask's moment ellipse       | MajorMinorRatio           |
| occupancy          | mask pixels / box pixels                              | BoundingBoxOccupancy      |
| height_ratio       | box height / the track's standing height              | HHmaxRatio                |
| centroid_height    | (floor y - mask centroid y) / standing height         | D / (H / HHmaxRatio)      |
| vertical_speed     | d centroid_height / dt [standing heights per second]  | same, from D              |

The model sees them as ``model_vector``: ratios as logarithms (symmetric for tall and wide), every
value clipped to a physical range so one bad mask cannot push the model anywhere it was not trained.
Windows are resampled on a fixed 10 Hz grid with a zero-order hold, so 10 fps video, 30 fps UR Fall
rows and frames dropped by a busy camera all give the model the same kind of input.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from gateway.vision.person import PersonDetection
from gateway.vision.tracking import Track

FloatArray = npt.NDArray[np.float32]

FEATURES = (
    "log_height_width",
    "log_major_minor",
    "occupancy",
    "height_ratio",
    "centroid_height",
    "vertical_speed",
)
# Physical ranges: aspect ratios within 1/8..8, a person up to 1.5 standing heights tall (arms raised,
# estimate too low), the centroid from half a height below the floor estimate (perspective) to 1.5
# above, and the centroid moving at most 5 standing heights per second (free fall from 1 m ~ 4.4 m/s).
_LOW = np.array([-2.08, 0.0, 0.0, 0.0, -0.5, -5.0], dtype=np.float32)
_HIGH = np.array([2.08, 2.08, 1.0, 1.5, 1.5, 5.0], dtype=np.float32)
STEP_S = 0.1  # the model's time grid: 10 Hz
WINDOW_STEPS = 30  # 3 s: a fall (~1 s) with the standing before it and the lying after it
SPEED_SPAN_S = 0.3  # vertical speed over 0.3 s: smooths mask jitter, still resolves a 1 s fall
NEUTRAL_OCCUPANCY = 0.5  # when a model gives boxes without masks: the middle of the range, not 0


@dataclass(frozen=True, slots=True)
class Silhouette:
    """Scale-free shape and motion of one person in one frame (see the module table)."""

    height_width: float
    major_minor: float
    occupancy: float
    height_ratio: float
    centroid_height: float
    vertical_speed: float = 0.0


def ellipse_ratio(mask: npt.NDArray[np.bool_]) -> float:
    """Major / minor axis of the ellipse with the mask's second moments (>= 1; 1 for too few pixels)."""
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    if m["m00"] < 3:
        return 1.0
    a, b, c = m["mu20"] / m["m00"], m["mu11"] / m["m00"], m["mu02"] / m["m00"]
    root = math.sqrt(max(0.0, ((a - c) / 2.0) ** 2 + b * b))
    major, minor = (a + c) / 2.0 + root, (a + c) / 2.0 - root
    return math.sqrt(major / max(minor, 1e-6)) if major > 0 else 1.0


def _keypoint_ratio(points: FloatArray) -> float:
    good = points[points[:, 2] > 0.3, :2].astype(np.float64)
    if len(good) < 3:
        return 1.0
    eig = np.linalg.eigvalsh(np.cov(good.T))
    return float(math.sqrt(eig[1] / max(eig[0], 1e-6)))


def shape(det: PersonDetection) -> tuple[float, float, float, float]:
    """(height/width, major/minor, occupancy, centroid y in image pixels) of one detection."""
    box = det.box
    hw = box.h / max(box.w, 1e-6)
    if det.mask is not None and det.mask.any():
        ys = np.nonzero(det.mask)[0]
        centroid = box.y + (float(ys.mean()) + 0.5) / det.mask.shape[0] * box.h
        return hw, ellipse_ratio(det.mask), float(det.mask.mean()), centroid
    mm = _keypoint_ratio(det.keypoints) if det.keypoints is not None else max(hw, 1.0 / hw)
    return hw, mm, NEUTRAL_OCCUPANCY, box.y + box.h / 2.0


def model_vector(s: Silhouette) -> FloatArray:
    """The model's per-frame input (FEATURES order), clipped to physical ranges (NaN -> 0)."""
    hw, mm = s.height_width, s.major_minor
    values = (
        0.0 if math.isnan(hw) else math.log(max(hw, 1e-3)),
        0.0 if math.isnan(mm) else math.log(max(mm, 1.0)),
        s.occupancy,
        s.height_ratio,
        s.centroid_height,
        s.vertical_speed,
    )
    raw = np.array([0.0 if math.isnan(v) else v for v in values], dtype=np.float32)
    return np.clip(raw, _LOW, _HIGH)


def speed(times: list[float], heights: list[float], span_s: float = SPEED_SPAN_S) -> float:
    """Vertical speed at the last sample: change of height over the last ``span_s`` (0 if too short)."""
    t_end = times[-1]
    for t, h in zip(reversed(times), reversed(heights), strict=True):
        if t_end - t >= span_s - 1e-6:
            return (heights[-1] - h) / (t_end - t)
    return 0.0


class FeatureHistory:
    """One track's recent silhouettes: computes vertical speed and hands out model windows."""

    def __init__(self, keep_s: float = WINDOW_STEPS * STEP_S + 1.0) -> None:
        self._keep_s = keep_s
        self._samples: deque[tuple[float, Silhouette]] = deque()
        self._vectors: deque[FloatArray] = deque()  # model_vector of each sample, computed once

    @property
    def span_s(self) -> float:
        """Seconds between the oldest and the newest sample."""
        return self._samples[-1][0] - self._samples[0][0] if self._samples else 0.0

    @property
    def latest(self) -> Silhouette | None:
        """The newest silhouette, if any."""
        return self._samples[-1][1] if self._samples else None

    def samples(self) -> list[tuple[float, Silhouette]]:
        """The remembered (time, silhouette) pairs, oldest first."""
        return list(self._samples)

    def add(self, time_s: float, s: Silhouette) -> Silhouette:
        """Record ``s`` at ``time_s`` with its vertical speed filled in; returns the stored silhouette."""
        recent = [(t, x.centroid_height) for t, x in self._samples if time_s - t <= 2 * SPEED_SPAN_S]
        times = [t for t, _ in recent] + [time_s]
        heights = [h for _, h in recent] + [s.centroid_height]
        stored = Silhouette(
            s.height_width,
            s.major_minor,
            s.occupancy,
            s.height_ratio,
            s.centroid_height,
            speed(times, heights),
        )
        self._samples.append((time_s, stored))
        self._vectors.append(model_vector(stored))
        while self._samples and time_s - self._samples[0][0] > self._keep_s:
            self._samples.popleft()
            self._vectors.popleft()
        return stored

    def window(self, end_s: float) -> FloatArray:
        """The last WINDOW_STEPS model vectors on the 10 Hz grid ending at ``end_s`` (flattened)."""
        times = np.array([t for t, _ in self._samples])
        vectors = np.stack(self._vectors)
        grid = end_s - STEP_S * np.arange(WINDOW_STEPS - 1, -1, -1)
        index = np.clip(np.searchsorted(times, grid + 1e-6, side="right") - 1, 0, len(times) - 1)
        return vectors[index].reshape(-1)


def silhouette(det: PersonDetection, track: Track) -> Silhouette:
    """The silhouette of ``det`` relative to its track's standing height and floor."""
    hw, mm, occupancy, centroid_y = shape(det)
    standing = track.standing_height
    return Silhouette(
        height_width=hw,
        major_minor=mm,
        occupancy=occupancy,
        height_ratio=det.box.h / standing,
        centroid_height=(track.floor_y - centroid_y) / standing,
    )
