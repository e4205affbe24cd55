"""Sequences of poses (simulated with measured noise, or real) -> model windows, labels, and replays.

A ``Sequence`` is one person's frames (time, Pose or None, BlobBox or None) with the times of their
falls (impacts) and intentional lie-downs. ``windows`` feeds it through ``PoseHistory`` exactly as the
gateway does (analysed at 10 fps, scored once ``min_history_s`` of history is held) and labels each
window; ``play`` runs a scorer and ``FallState`` over it and returns the times of fall.detected.

Labels per window ending at t: positive when t lies in [impact - 0.2 s, impact + 1.5 s] of a fall
("a fall just ended"); ignored during the fall motion before that and 1.5-3 s after impact; negative
otherwise, windows of an intentional lie-down weighted 3x (the hard negatives).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gateway.vision.fall import FallSettings
from gateway.vision.fall_state import FallState
from gateway.vision.pose_features import BlobBox, Pose, PoseHistory, from_md4fd
from models.fall.noise import CACHE, NoiseModel, fall_start, labelled_clips
from models.fall.simpose import SimScene, simulate

FloatArray = npt.NDArray[np.float32]
Scorer = Callable[[FloatArray], FloatArray]
Frame = tuple[float, Pose | None, BlobBox | None]
ANALYSIS_STEP_S = 0.1  # the camera path analyses at 10 fps
POSITIVE = (-0.2, 1.5)
IGNORE_UNTIL_S = 3.0
HARD_NEGATIVE_WEIGHT = 3.0
DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "fall"
MD4FD = DATASETS / "md4fd_pose"
MD4FD_SIZE = (320, 240)  # Le2i frames; UR Fall's 640 x 480 has the same 4:3 shape (features are scale-free)


@dataclass
class Sequence:
    """One person's frames and ground truth."""

    name: str
    frames: list[Frame]
    falls: list[tuple[float, float]] = field(default_factory=list)  # (start of motion, impact)
    lie_downs: list[tuple[float, float]] = field(default_factory=list)
    frame_height: int = 240
    weight: float = 1.0
    fall_label: bool | None = None  # a whole-window label (MD4FD), when impacts are unknown

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last frame plus one analysis step."""
        return self.frames[-1][0] - self.frames[0][0] + ANALYSIS_STEP_S if self.frames else 0.0


def label(seq: Sequence, t: float) -> tuple[int, float]:
    """(label, weight) of the window ending at ``t``."""
    weight = seq.weight
    for start, impact in seq.lie_downs:
        if start <= t <= impact + IGNORE_UNTIL_S:
            weight = seq.weight * HARD_NEGATIVE_WEIGHT
    for start, impact in seq.falls:
        since = t - impact
        if POSITIVE[0] <= since <= POSITIVE[1]:
            return 1, seq.weight
        if start <= t and since <= IGNORE_UNTIL_S:
            weight = 0.0
    return 0, weight


def analysed(frames: list[Frame]) -> Iterator[Frame]:
    """The frames a 10 fps analysis keeps (whatever the source rate)."""
    next_t = -np.inf
    for frame in frames:
        if frame[0] < next_t - 1e-6:
            continue
        next_t = frame[0] + ANALYSIS_STEP_S
        yield frame


def windows(
    seq: Sequence, settings: FallSettings
) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The scored windows of ``seq`` with their labels and weights."""
    history = PoseHistory(seq.frame_height)
    xs, ys, ws = [], [], []
    for t, pose, blob in analysed(seq.frames):
        history.add(t, pose, blob)
        if history.span_s >= settings.min_history_s:
            y, w = label(seq, t)
            xs.append(history.window(t))
            ys.append(y)
            ws.append(w)
    x = np.asarray(xs, np.float32).reshape(len(xs), -1)
    return x, np.asarray(ys, np.int64), np.asarray(ws, np.float64)


def play(seq: Sequence, scorer: Scorer, settings: FallSettings) -> list[float]:
    """Times of fall.detected when ``seq`` runs through PoseHistory, the model and FallState.

    The windows are scored in one batch first (the same windows a gateway scores frame by frame).
    """
    x, _, _ = windows(seq, settings)
    scores = scorer(x) if len(x) else np.zeros(0, np.float32)
    history, state = PoseHistory(seq.frame_height), FallState(settings)
    alarms, k = [], 0
    for t, pose, blob in analysed(seq.frames):
        history.add(t, pose, blob)
        p = None
        if history.span_s >= settings.min_history_s:
            p, k = float(scores[k]), k + 1
        if state.step(t, history, p) == "detected":
            alarms.append(t)
    return alarms


def from_sim(scene: SimScene, noise: NoiseModel, rng: np.random.Generator) -> list[Sequence]:
    """One noisy sequence per simulated person."""
    out = []
    for track in scene.tracks:
        kept = noise.apply(track.xy, track.seen, track.lying, track.blobs, rng)
        frames = [(float(track.times[i]), pose, blob) for i, pose, blob in kept]
        mine = [e for e in scene.events if e.person == track.person]
        out.append(
            Sequence(
                f"sim/{scene.kind}/{scene.seed}/{track.person}",
                frames,
                [(e.start_t, e.impact_t) for e in mine if e.type == "fall"],
                [(e.start_t, e.impact_t) for e in mine if e.type == "lie_down"],
                frame_height=240,
            )
        )
    return out


def sim_sequences(seed: int, kind: str, noise: NoiseModel) -> list[Sequence]:
    """Noisy sequences of scene ``random_scene(seed, kind)`` (noise seeded by the scene)."""
    return from_sim(simulate(seed, kind), noise, np.random.default_rng([seed, len(kind), 0xFA11]))


def _pose(k: npt.NDArray[np.float32]) -> Pose:
    return Pose(k[:, :2].astype(np.float32), k[:, 2].astype(np.float32))


def fastest_descent(frames: list[Frame], height: int, t0: float, t1: float) -> float | None:
    """When the hips came down fastest between t0 and t1 (the impact, for real clips)."""
    history = PoseHistory(height)
    best, best_t = -0.3, None
    for t, pose, blob in analysed(frames):
        history.add(t, pose, blob)
        if t0 <= t <= t1:
            speed = float(history.window(t)[-5])  # hip_speed of the newest step
            if speed < best:
                best, best_t = speed, t
    return best_t


def gmdcsa24(weight: float = 3.0) -> list[Sequence]:
    """The 8 GMDCSA24 development clips (MoveNet crop-tracked keypoints), impacts from the keypoints."""
    data = np.load(CACHE)
    out = []
    for clip, spans in labelled_clips().items():
        if f"{clip}/crop" not in data.files:
            continue
        track, fps = data[f"{clip}/crop"], float(data[f"{clip}/fps"])
        frames: list[Frame] = [(i / fps, _pose(k), None) for i, k in enumerate(track)]
        seq = Sequence(f"gmdcsa24/{clip}", frames, frame_height=int(data[f"{clip}/size"][1]), weight=weight)
        start = fall_start(spans)
        if start is not None:
            impact = fastest_descent(frames, seq.frame_height, start, frames[-1][0])
            seq.falls = [(start, (impact if impact is not None else start + 1.0) + 0.2)]
        out.append(seq)
    return out


def md4fd(name: str, weight: float = 3.0) -> list[Sequence]:
    """MD4FD windows of ``name`` (e.g. "le2i_home_01.json"): 90 frames at 30 fps and a 0/1 label."""
    width, height = MD4FD_SIZE
    out = []
    for i, window in enumerate(json.loads((MD4FD / name).read_text())):
        frames: list[Frame] = [
            (k / 30.0, from_md4fd(f, width, height), None) for k, f in enumerate(window[:-1])
        ]
        seq = Sequence(
            f"md4fd/{name}/{i}", frames, frame_height=height, weight=weight, fall_label=bool(window[-1])
        )
        if seq.fall_label:
            impact = fastest_descent(frames, height, 0.0, frames[-1][0])
            seq.falls = [(0.0, (impact if impact is not None else 1.0) + 0.2)]
        out.append(seq)
    return out
