"""Training pieces of the keypoint fall model: labels, GMDCSA24 spans, the noise model's output."""

from __future__ import annotations

import numpy as np

from gateway.vision.pose_features import BlobBox
from models.fall.noise import NoiseModel, spans
from models.fall.sequences import Sequence, analysed, label


def test_labels_around_impact() -> None:
    seq = Sequence("s", [], falls=[(10.0, 11.0)], lie_downs=[(20.0, 23.0)])
    assert label(seq, 5.0) == (0, 1.0)
    assert label(seq, 10.5) == (0, 0.0)  # during the fall motion: ignored
    assert label(seq, 11.0)[0] == 1 and label(seq, 12.5)[0] == 1
    assert label(seq, 13.5) == (0, 0.0)  # the window still holds the fall
    assert label(seq, 21.0) == (0, 3.0)  # lying down on purpose: a hard negative


def test_spans_of_a_classes_cell() -> None:
    cell = "Falling (FW)[1.7 to 6]; Walking[0 to 1.7]; Standing[9.7 to 3]"
    assert spans(cell) == [("Falling", 1.7, 6.0), ("Walking", 0.0, 1.7), ("Standing", 3.0, 9.7)]


def test_analysis_keeps_10_fps_of_30_fps() -> None:
    frames = [(i / 30.0, None, None) for i in range(90)]
    assert len(list(analysed(frames))) == 30


def test_noise_model_collapses_lying_poses() -> None:
    noise = NoiseModel((0.01, 0.01), (0.95, 0.95), (0.0, 0.0), (1.0, 1.0), missed_frame=0.0, repeat_frame=0.0)
    xy = np.tile(np.linspace(10, 100, 34, dtype=np.float32).reshape(17, 2), (20, 1, 1))
    seen = np.ones((20, 17), bool)
    lying = np.r_[np.zeros(10), np.ones(10)].astype(np.float32)
    blob = BlobBox(0, 0, 10, 20)
    out = noise.apply(xy, seen, lying, [blob] * 20, np.random.default_rng(1))
    assert len(out) == 20
    upright = [p for i, p, _ in out if i < 10]
    flat = [p for i, p, _ in out if i >= 10]
    assert all(p is not None and (p.score >= 0.3).sum() >= 10 for p in upright)
    assert all(p is None or (p.score >= 0.3).sum() < 5 for p in flat)  # MoveNet "lost" them
