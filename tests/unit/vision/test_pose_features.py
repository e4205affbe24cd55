"""Keypoint features: robust to missing and broken keypoints, free of frame rate and scale."""

from __future__ import annotations

import math

import numpy as np

from gateway.vision.pose_features import (
    COCO17,
    FEATURES,
    WINDOW_STEPS,
    Pose,
    PoseHistory,
    from_md4fd,
)
from tests.unit.vision.synthetic import FRAME_HEIGHT, blob_of, fall, frames, lost, pose_of

WIDTH = WINDOW_STEPS * len(FEATURES)


def column(window: np.ndarray, name: str) -> np.ndarray:
    return window.reshape(WINDOW_STEPS, len(FEATURES))[:, FEATURES.index(name)]


def run(fps: float, seconds: float = 4.0, scale: float = 1.0) -> PoseHistory:
    history = PoseHistory(round(FRAME_HEIGHT * scale))
    for t, pose in frames(fall, seconds, fps):
        scaled = Pose((pose.xy * scale).astype(np.float32), pose.score)
        history.add(t, scaled, None)
    return history


def test_coco_order_and_window_width() -> None:
    assert len(COCO17) == 17 and COCO17[0] == "nose" and COCO17[16] == "right_ankle"
    assert run(10).window(3.9).shape == (WIDTH,)


def test_empty_history_gives_a_standing_window() -> None:
    window = PoseHistory(480).window(0.0)
    assert window.shape == (WIDTH,) and np.isfinite(window).all()


def test_all_keypoints_missing() -> None:
    history = PoseHistory(480)
    nothing = Pose(np.zeros((17, 2), np.float32), np.zeros(17, np.float32))
    for i in range(20):
        history.add(i * 0.1, nothing, None)
        history.add(i * 0.1 + 0.05, None, None)
    window = history.window(2.0)
    assert np.isfinite(window).all()
    assert (column(window, "visibility") == 0).all()
    assert not history.is_down() and not history.is_upright()


def test_nan_keypoints_and_scores() -> None:
    history = PoseHistory(480)
    for t, pose in frames(fall, 3.0, 10):
        xy = pose.xy.copy()
        xy[::3] = np.nan
        score = pose.score.copy()
        score[1::4] = np.nan
        history.add(t, Pose(xy, score), None)
    history.add(math.nan, pose_of(0.0), None)  # a broken timestamp is ignored
    window = history.window(3.0)
    assert np.isfinite(window).all()


def test_single_frame() -> None:
    history = PoseHistory(480)
    history.add(5.0, pose_of(0.0), blob_of(pose_of(0.0)))
    rows = history.window(5.0).reshape(WINDOW_STEPS, len(FEATURES))
    assert (rows == rows[0]).all()
    assert history.span_s == 0.0
    assert abs(rows[0, FEATURES.index("hip_height")] - 0.5) < 0.05  # hips at ~half the stature


def test_30_fps_and_10_fps_give_the_same_window() -> None:
    slow, fast = run(10), run(30)
    for now in (2.5, 3.0, 3.5, 3.9):
        assert np.allclose(slow.window(now), fast.window(now), atol=1e-4)


def test_scale_free() -> None:
    assert np.allclose(run(10).window(3.9), run(10, scale=2.5).window(3.9), atol=1e-4)


def test_fall_features_move_as_physics_says() -> None:
    window = run(10).window(3.9)
    assert column(window, "hip_speed").min() < -1.0  # the fall
    assert column(window, "torso_angle")[-1] > 0.9  # lying flat at the end
    assert column(window, "hip_height")[-1] < 0.2
    assert ((window >= -5) & (window <= 5)).all()


def test_lost_after_impact_is_down_unless_the_blob_stands() -> None:
    history = PoseHistory(480)
    for t, pose in frames(fall, 2.8, 10):
        history.add(t, pose, blob_of(pose))
    lying = fall(5.0)
    for i in range(30):
        history.add(2.8 + i * 0.1, lost(lying), blob_of(lying))
    assert history.is_down()
    standing = pose_of(0.0)
    for i in range(5):
        history.add(6.0 + i * 0.1, lost(standing), blob_of(standing))
    assert not history.is_down()
    assert history.is_upright()  # a tall blob for a moment


def test_lost_without_blob_is_down_after_a_descent_only() -> None:
    walking_out = PoseHistory(480)
    for i in range(20):
        walking_out.add(i * 0.1, pose_of(0.0), None)
    walking_out.add(2.0, None, None)
    assert not walking_out.is_down()
    fallen = PoseHistory(480)
    for t, pose in frames(fall, 2.8, 10):
        fallen.add(t, pose, None)
    fallen.add(2.9, None, None)
    assert fallen.is_down()
    assert 2.3 <= fallen.fall_time(2.9) <= 2.8


def test_from_md4fd() -> None:
    assert from_md4fd(None, 320, 240) is None
    frame = [0.5, 0.2, 0.45, 0.3, 0.55, 0.3, 0.47, 0.55, 0.53, 0.55, 0.47, 0.7, 0.53, 0.7, 0.53, 0.9]
    frame += [0.47, 0.9, 0.4, 0.5, 0.6, 0.5, 12.0]
    pose = from_md4fd(frame, 320, 240)
    assert pose is not None
    assert np.allclose(pose.xy[0], (160, 48)) and pose.score[0] == 1.0
    assert np.allclose(pose.xy[16], (0.53 * 320, 0.9 * 240))  # the dataset lists the right ankle first
    assert pose.score[9] == 0.0 and pose.score[10] == 0.0  # imputed wrists
    assert pose.score[1] == 0.0  # eyes are not in MD4FD
