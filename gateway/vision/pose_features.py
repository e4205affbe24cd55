"""Keypoint features of one tracked person per frame, and the time windows the fall model reads.

Owns the feature definitions (per frame, all scale- and resolution-free, clipped to physical ranges):

| feature          | meaning                                                                        | range    |
|------------------|--------------------------------------------------------------------------------|----------|
| torso_angle      | angle of hips -> shoulders from vertical / 90 deg (0 upright, 1 flat, 2 head down) | 0..2 |
| hip_height       | (floor y - hip y) / standing height; the floor is the feet of the last upright poses | -0.5..1.5 |
| shoulder_height  | the same for the shoulders                                                     | -0.5..1.5 |
| hip_speed        | d hip_height / dt over 0.3 s, standing heights per second (negative = down)     | -5..5    |
| extent           | height of the confident keypoints' box / standing height                        | 0..1.5   |
| visibility       | fraction of the 9 body keypoints (nose, shoulders, hips, knees, ankles) >= 0.3  | 0..1     |
| blob_height      | motion blob height / standing height (0 without a blob)                         | 0..1.5   |
| blob_log_aspect  | log(blob height / width) (0 without a blob)                                     | -2..2    |

The standing height and the floor come from the person's own upright poses (legs extended, torso
within 20 deg of vertical), median over the last 2 s of them; before any, from the torso length
(shoulders to hips is ~0.28 of stature), else the blob. When the pose is lost (MoveNet loses people
lying on the floor: after an impact at most 4 of 48 frames had 5 keypoints over 0.3 on a real clip),
the pose features hold their last confident values and visibility tells the model it was lost.
Windows are resampled on a fixed STEP_S grid with a zero-order hold, so 10 fps camera analysis and
30 fps datasets give the same input. Pure numpy; cheap enough to run per frame on a Raspberry Pi.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

COCO17: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
NOSE: Final = 0
SHOULDERS: Final = (5, 6)
HIPS: Final = (11, 12)
KNEES: Final = (13, 14)
ANKLES: Final = (15, 16)
BODY: Final = (NOSE, *SHOULDERS, *HIPS, *KNEES, *ANKLES)  # what MD4FD and MoveNet both give reliably

FEATURES: tuple[str, ...] = (
    "torso_angle",
    "hip_height",
    "shoulder_height",
    "hip_speed",
    "extent",
    "visibility",
    "blob_height",
    "blob_log_aspect",
)
_LOW: Final = np.array([0.0, -0.5, -0.5, -5.0, 0.0, 0.0, 0.0, -2.0], np.float32)
_HIGH: Final = np.array([2.0, 1.5, 1.5, 5.0, 1.5, 1.0, 1.5, 2.0], np.float32)
_STANDING: Final = np.array([0.0, 0.5, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0], np.float32)  # nothing seen yet
STEP_S: float = 0.1  # the model's time grid: 10 Hz
WINDOW_STEPS: int = 30  # 3 s: a fall (~1 s) with the standing before it and the lying after it
SPEED_SPAN_S: Final = 0.3  # smooths keypoint jitter, still resolves a 1 s fall
KEEP_S: Final = WINDOW_STEPS * STEP_S + 1.0
SCORE_MIN: Final = 0.3  # MoveNet's usual "keypoint found" score (models/pose/person.json)
MIN_BODY_POINTS: Final = 4  # a confident pose: >= 4 of the 9 body keypoints and a shoulder and a hip
TORSO_OF_STATURE: Final = 0.28  # shoulder joint ~0.82 H, hip joint ~0.53 H (anthropometric tables)
NOSE_TO_ANKLE_OF_STATURE: Final = 0.9  # nose ~0.93 H, ankle ~0.03 H
ANKLE_ABOVE_FLOOR: Final = 0.03
REFERENCE_S: Final = 2.0  # standing height / floor: median of the upright poses of the last 2 s
UPRIGHT_REF_DEG: Final = 20.0  # poses that may set the standing height: torso this close to vertical
# "Down" and "upright" in standing heights and torso angles (/90 deg): sitting on a chair keeps the
# shoulders at ~0.55 and the torso near vertical; lying (floor or bed) tilts the torso past 55 deg or
# brings the shoulders below 0.35 (sitting on the floor, lying on a low bed).
DOWN_ANGLE: Final = 55.0 / 90.0
DOWN_SHOULDER: Final = 0.35
UP_ANGLE: Final = 30.0 / 90.0
UP_SHOULDER: Final = 0.6
UP_HOLD_S: Final = 0.3  # upright for this long (confident poses or a tall blob) before it counts
BLOB_LOW: Final = 0.6  # a blob lower than this (standing heights) or wider than tall is someone down
BLOB_TALL: Final = 0.8  # a blob at least this tall and taller than wide is someone standing
DESCENT_SPEED: Final = 0.6  # standing heights/s: a descent this fast, then a lost pose, counts as down
DESCENT_MEMORY_S: Final = 3.0  # how long a seen descent explains a pose lost afterwards
# The top of a body that falls about its feet drops about twice as fast as its hips (the hips are at
# ~0.53 of stature): a blob's height falling this fast is the same descent seen without a pose.
BLOB_PER_HIP: Final = 2.0


@dataclass(frozen=True, slots=True)
class Pose:
    """One person's keypoints in one frame (COCO-17 order)."""

    xy: npt.NDArray[np.float32]  # [17, 2] frame pixels (x, y), y down
    score: npt.NDArray[np.float32]  # [17] 0..1


@dataclass(frozen=True, slots=True)
class BlobBox:
    """The person's motion blob in frame pixels."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True, slots=True)
class _Body:
    """What one confident pose says, in pixels."""

    shoulder: npt.NDArray[np.float64]  # (x, y) mid-point of the confident shoulders
    hip: npt.NDArray[np.float64]
    angle: float  # torso from vertical, degrees 0..180
    top: float  # smallest y of the confident body keypoints
    bottom: float
    floor: float | None  # the feet's y if ankles (or knees) are confident
    stature: float  # standing-height estimate from this pose alone
    legs_straight: bool


def _body(pose: Pose) -> _Body | None:
    """The torso and legs of ``pose``, or None when it is not confident."""
    score = np.nan_to_num(pose.score.astype(np.float64), nan=0.0)
    xy = pose.xy.astype(np.float64)
    ok = (score >= SCORE_MIN) & np.isfinite(xy).all(axis=1)
    sh, hp = [i for i in SHOULDERS if ok[i]], [i for i in HIPS if ok[i]]
    if not sh or not hp or sum(ok[i] for i in BODY) < MIN_BODY_POINTS:
        return None
    shoulder, hip = xy[sh].mean(axis=0), xy[hp].mean(axis=0)
    up = shoulder - hip
    torso = float(math.hypot(up[0], up[1]))
    angle = math.degrees(math.atan2(abs(up[0]), -up[1])) if torso > 0 else 0.0
    body_y = xy[[i for i in BODY if ok[i]], 1]
    ankles, knees = [i for i in ANKLES if ok[i]], [i for i in KNEES if ok[i]]
    floor, stature = None, torso / TORSO_OF_STATURE
    legs = False
    if ankles:
        foot = float(xy[ankles, 1].mean())
        floor = foot
        legs = foot - hip[1] > 1.3 * torso  # standing: hip->ankle ~0.5 H vs torso 0.28 H; sitting < 1
        if ok[NOSE] and legs:
            stature = (foot - float(xy[NOSE, 1])) / NOSE_TO_ANKLE_OF_STATURE
    elif knees:
        knee = float(xy[knees, 1].mean())
        legs = knee - hip[1] > 0.6 * torso  # thighs hang down: not sitting on a chair
        floor = knee + 0.27 * torso / TORSO_OF_STATURE if legs else None
    return _Body(shoulder, hip, angle, float(body_y.min()), float(body_y.max()), floor, stature, legs)


def visibility(pose: Pose | None) -> float:
    """Fraction of the 9 body keypoints scored >= SCORE_MIN (0 without a pose)."""
    if pose is None:
        return 0.0
    score = np.nan_to_num(pose.score[list(BODY)].astype(np.float64), nan=0.0)
    finite = np.isfinite(pose.xy[list(BODY)]).all(axis=1)
    return float(np.mean((score >= SCORE_MIN) & finite))


def _rate(samples: deque[tuple[float, float]], t: float, value: float) -> float | None:
    """Change of `value` per second since the latest sample at least SPEED_SPAN_S before `t` (None when
    there is none within 3 spans: no speed rather than a made-up one)."""
    for ts, before in reversed(samples):
        if t - ts >= SPEED_SPAN_S - 1e-6:
            return (value - before) / SPEED_SPAN_S if t - ts <= 3 * SPEED_SPAN_S else None
    return None


class PoseHistory:
    """One tracked person's recent poses: features per frame, model windows, down / upright."""

    def __init__(self, frame_height: int) -> None:
        self._frame_height = float(frame_height)
        self._times: deque[float] = deque()
        self._vectors: deque[FloatArray] = deque()
        self._refs: deque[tuple[float, float, float]] = deque()  # upright (t, stature, floor y)
        self._last = _STANDING.copy()  # held pose features while the pose is lost
        self._confident: deque[tuple[float, float]] = deque()  # (t, hip_height) of confident poses
        self._latest_down: bool | None = None  # what the latest confident pose says
        self._latest_confident = False
        self._descent_t: float | None = None  # last fast descent (or low pose) before a loss
        self._blobs: deque[tuple[float, float]] = deque()  # (t, blob height / stature) when a blob was seen
        self._blob_speeds: deque[tuple[float, float]] = deque()  # (t, hip-equivalent speed from the blob)
        self._up_since: float | None = None
        self._blob: BlobBox | None = None
        self._now = 0.0
        self._stature: float | None = None  # the last upright reference, kept when none is recent
        self._floor: float | None = None

    @property
    def span_s(self) -> float:
        """Seconds of history held (oldest to newest sample)."""
        return self._times[-1] - self._times[0] if self._times else 0.0

    def _reference(self, t: float, body: _Body | None, blob: BlobBox | None) -> tuple[float, float | None]:
        """(standing height px, floor y px or None) from upright poses, else the best fallback."""
        while self._refs and t - self._refs[0][0] > REFERENCE_S:
            self._refs.popleft()
        if self._refs:
            return float(np.median([r[1] for r in self._refs])), float(np.median([r[2] for r in self._refs]))
        if self._stature is not None:
            return self._stature, self._floor
        if body is not None:
            return body.stature, body.floor
        if blob is not None and blob.h > 1:
            return max(blob.h, blob.w), blob.y + blob.h
        return 0.5 * self._frame_height, None

    def add(self, t: float, pose: Pose | None, blob: BlobBox | None) -> None:
        """Record this frame's pose (None: not found or lost) and motion blob (None: none)."""
        if not math.isfinite(t) or (self._times and t <= self._times[-1]):
            return  # a repeated or out-of-order frame adds nothing
        body = _body(pose) if pose is not None else None
        upright = body is not None and body.legs_straight and body.angle <= UPRIGHT_REF_DEG
        # one reference per STEP_S slot, so the median is the same at 10 fps and at 30 fps
        fresh = not self._refs or math.floor(t / STEP_S + 1e-6) > math.floor(
            self._refs[-1][0] / STEP_S + 1e-6
        )
        if body is not None and upright and body.floor and fresh:
            self._refs.append((t, body.stature, body.floor))
        stature, floor = self._reference(t, body, blob)
        stature = max(stature, 1e-3)
        if self._refs:
            self._stature, self._floor = stature, floor
        v = self._last.copy()
        v[3] = 0.0
        if body is not None:
            ground = floor if floor is not None else (body.floor or body.hip[1] + 0.5 * stature)
            v[0] = body.angle / 90.0
            v[1] = (ground - body.hip[1]) / stature
            v[2] = (ground - body.shoulder[1]) / stature
            v[4] = (body.bottom - body.top) / stature
            v[3] = self._speed(t, float(v[1]))
            self._confident.append((t, float(v[1])))
        v[5] = visibility(pose)
        v[6], v[7] = 0.0, 0.0
        if blob is not None and blob.h > 0 and blob.w > 0:
            v[6] = blob.h / stature
            v[7] = math.log(blob.h / blob.w)
        v = np.clip(np.nan_to_num(v, nan=0.0), _LOW, _HIGH).astype(np.float32)
        self._last[[0, 1, 2, 4]] = v[[0, 1, 2, 4]]
        self._blob_descent(t, float(v[6]) if blob is not None and blob.h > 0 else None)
        self._update_state(t, body is not None, v, blob)
        self._times.append(t)
        self._vectors.append(v)
        while self._times and t - self._times[0] > KEEP_S:
            self._times.popleft()
            self._vectors.popleft()
        while self._confident and t - self._confident[0][0] > KEEP_S:
            self._confident.popleft()
        while self._blob_speeds and t - self._blob_speeds[0][0] > KEEP_S:
            self._blob_speeds.popleft()

    def _blob_descent(self, t: float, height: float | None) -> None:
        """The blob's fall speed as a hip-equivalent speed (pose models lose people mid-fall)."""
        if height is None:
            return
        speed = _rate(self._blobs, t, height)
        self._blobs.append((t, height))
        while self._blobs and t - self._blobs[0][0] > 3 * SPEED_SPAN_S:
            self._blobs.popleft()
        if speed is not None:
            self._blob_speeds.append((t, speed / BLOB_PER_HIP))

    def _speed(self, t: float, hip_height: float) -> float:
        """Change of hip height since SPEED_SPAN_S ago (zero-order hold), per second."""
        speed = _rate(self._confident, t, hip_height)
        return 0.0 if speed is None else speed  # no confident pose shortly before: no made-up speed

    def _update_state(self, t: float, confident: bool, v: FloatArray, blob: BlobBox | None) -> None:
        self._now, self._blob, self._latest_confident = t, blob, confident
        if confident:
            self._latest_down = bool(v[0] >= DOWN_ANGLE or v[2] <= DOWN_SHOULDER)
            if self._latest_down or v[3] <= -DESCENT_SPEED:
                self._descent_t = t
        elif (
            self._blob_speeds and self._blob_speeds[-1][0] == t and self._blob_speeds[-1][1] <= -DESCENT_SPEED
        ):
            self._descent_t = t  # the pose is lost, but the person-sized region came down fast
        pose_up = confident and v[0] <= UP_ANGLE and v[2] >= UP_SHOULDER
        blob_up = not confident and blob is not None and v[6] >= BLOB_TALL and v[7] > 0.2
        if pose_up or blob_up:
            self._up_since = t if self._up_since is None else self._up_since
            if pose_up:
                self._descent_t = None
        else:
            self._up_since = None

    def window(self, now: float) -> FloatArray:
        """The model input: WINDOW_STEPS x FEATURES on the STEP_S grid ending at ``now``, flattened."""
        if not self._times:
            return np.tile(_STANDING, WINDOW_STEPS)
        times = np.fromiter(self._times, np.float64, len(self._times))
        grid = now - STEP_S * np.arange(WINDOW_STEPS - 1, -1, -1)
        index = np.clip(np.searchsorted(times, grid + 1e-6, side="right") - 1, 0, len(times) - 1)
        return np.stack(self._vectors)[index].reshape(-1)

    def _blob_low(self) -> bool | None:
        """Whether the latest blob is low or wide (None without a blob this frame)."""
        if self._blob is None or not self._vectors:
            return None
        v = self._vectors[-1]
        return bool(v[6] < BLOB_LOW or v[7] < 0.0)

    def is_down(self) -> bool:
        """The person is down now: a confident low/lying pose, or the pose lost after a seen descent
        while their blob (if any) stays low or wide."""
        if self._latest_confident:
            return bool(self._latest_down)
        if self._descent_t is None:
            return False
        # a low pose stays low however long the pose stays lost; a descent explains a loss for a while
        recent = bool(self._latest_down) or self._now - self._descent_t <= DESCENT_MEMORY_S
        low = self._blob_low()
        return recent and (low is None or low)

    def is_upright(self) -> bool:
        """Standing or walking again: confident upright poses (or a tall blob) for UP_HOLD_S."""
        return self._up_since is not None and self._now - self._up_since >= UP_HOLD_S - 1e-6

    def descent_speed(self, now: float, within_s: float = DESCENT_MEMORY_S) -> float:
        """The fastest hip descent (standing heights/s, >= 0) in the last ``within_s``, from the pose or,
        hip-equivalent, from the blob."""
        speeds = [float(v[3]) for t, v in zip(self._times, self._vectors, strict=True) if now - t <= within_s]
        speeds += [s for t, s in self._blob_speeds if now - t <= within_s]
        return max(0.0, -min(speeds, default=0.0))

    def fall_time(self, now: float) -> float:
        """When the body came down: the fastest descent among the remembered samples, else ``now``."""
        best_t, best = now, -DESCENT_SPEED / 2
        for t, v in zip(self._times, self._vectors, strict=True):
            if v[3] < best:
                best_t, best = t, float(v[3])
        return best_t


# MD4FD frame vectors: x, y (0..1) of these COCO-17 joints, then a shoulder-to-knee aspect ratio.
MD4FD_JOINTS: Final = (0, 5, 6, 11, 12, 13, 14, 16, 15, 9, 10)
MD4FD_IMPUTED: Final = (9, 10)  # the dataset's wrists are imputed, not measured: scored 0


def from_md4fd(frame: list[float] | None, width: int, height: int) -> Pose | None:
    """An MD4FD frame vector as a Pose in pixels (missing joints score 0); None for a null frame."""
    if frame is None or len(frame) < 2 * len(MD4FD_JOINTS):
        return None
    xy = np.zeros((17, 2), np.float32)
    score = np.zeros(17, np.float32)
    for k, joint in enumerate(MD4FD_JOINTS):
        x, y = frame[2 * k], frame[2 * k + 1]
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            continue
        xy[joint] = (x * width, y * height)
        score[joint] = 0.0 if joint in MD4FD_IMPUTED else 1.0
    return Pose(xy, score)
