"""Deviation of an ONNX model from TensorFlow's outputs on real frames, and its one-core latency."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from models.pose.movenet import session

Floats = npt.NDArray[np.float32]
VISIBLE = 0.3  # keypoint score that counts as "seen" (MoveNet's own demos use 0.3)


def run_all(path: Path, frames: npt.NDArray[np.uint8]) -> Floats:
    """The model's output for each frame, batch 1 each."""
    sess = session(path)
    name = sess.get_inputs()[0].name
    outs = [sess.run(None, {name: f[None]})[0] for f in frames]
    return np.stack(outs).astype(np.float32)


def _keypoints(outputs: Floats) -> Floats:
    """(N, P, 17, 3) y, x, score of every person row (single pose: 1 row; multipose: 6 rows of 56)."""
    if outputs.shape[-1] == 3:
        return outputs.reshape(len(outputs), -1, 17, 3)
    rows = outputs.reshape(len(outputs), -1, outputs.shape[-1])
    return rows[..., :51].reshape(len(outputs), rows.shape[1], 17, 3)


def deviation(reference: Floats, other: Floats, size: int) -> dict[str, float]:
    """Keypoint distance in input pixels (all, and those the reference sees) and score difference."""
    a, b = _keypoints(reference), _keypoints(other)
    dist = np.hypot(*(a[..., :2] - b[..., :2]).transpose(3, 0, 1, 2)) * size
    seen = a[..., 2] > VISIBLE
    score = np.abs(a[..., 2] - b[..., 2])
    return {
        "kp_px_max": float(dist.max()),
        "kp_px_mean": float(dist.mean()),
        "kp_px_max_seen": float(dist[seen].max()) if seen.any() else 0.0,
        "score_max": float(score.max()),
        "score_mean": float(score.mean()),
        "output_abs_max": float(np.abs(reference - other).max()),
    }


def latency_ms(paths: dict[str, Path], frames: npt.NDArray[np.uint8], rounds: int = 5) -> dict[str, float]:
    """Median ms per inference on one core (intra_op_num_threads=1) of each model, after a warm-up.

    The models take turns in ``rounds`` rounds of 50 runs, so a busy machine slows them all alike.
    """
    sessions: dict[str, ort.InferenceSession] = {k: session(p, threads=1) for k, p in paths.items()}
    inputs = [f[None] for f in frames]
    times: dict[str, list[float]] = {k: [] for k in paths}
    for sess in sessions.values():
        for x in inputs[:10]:
            sess.run(None, {sess.get_inputs()[0].name: x})
    for _ in range(rounds):
        for key, sess in sessions.items():
            name = sess.get_inputs()[0].name
            for i in range(50):
                start = time.perf_counter()
                sess.run(None, {name: inputs[i % len(inputs)]})
                times[key].append(time.perf_counter() - start)
    return {k: round(float(np.median(v) * 1000), 2) for k, v in times.items()}
