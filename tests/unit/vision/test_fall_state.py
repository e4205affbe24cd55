"""The fall state machine over keypoint histories: falls with the pose lost after impact are found;
a slow lie-down on a bed is not, whatever the model says; getting up ends a fall."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.vision.fall import FallSettings
from gateway.vision.fall_state import FallState
from gateway.vision.pose_features import FEATURES, WINDOW_STEPS, BlobBox, Pose, PoseHistory
from tests.unit.vision.synthetic import blob_of, fall, get_up, lie_down, lost

FPS = 10.0
Scene = Callable[[float], tuple[Pose | None, BlobBox | None]]


def fast_descent_model(window: np.ndarray) -> float:
    """A stand-in model: "a fall just ended" when the window holds a fast descent."""
    speed = window.reshape(WINDOW_STEPS, len(FEATURES))[:, FEATURES.index("hip_speed")]
    return 0.9 if speed.min() < -0.8 else 0.05


def play(scene: Scene, seconds: float, model: Callable[[np.ndarray], float]) -> list[tuple[float, str]]:
    history, state = PoseHistory(480), FallState(FallSettings())
    changes = []
    for i in range(round(seconds * FPS)):
        t = i / FPS
        pose, blob = scene(t)
        history.add(t, pose, blob)
        p = model(history.window(t)) if history.span_s >= 1.0 else None
        change = state.step(t, history, p)
        if change:
            changes.append((t, change))
    return changes


def fall_then_lost(t: float) -> tuple[Pose | None, BlobBox | None]:
    pose = fall(t)  # impact at 2.8 s
    return (pose if t < 2.8 else lost(pose)), blob_of(pose)


def test_fall_with_the_pose_lost_after_impact_is_detected_and_confirmed() -> None:
    changes = play(fall_then_lost, 15.0, fast_descent_model)
    assert [c for _, c in changes] == ["detected", "confirmed"]
    assert 2.8 <= changes[0][0] <= 3.8  # within a second of the impact


def test_fall_without_blobs_is_detected_from_keypoints_alone() -> None:
    changes = play(lambda t: (fall(t) if t < 2.8 else None, None), 6.0, fast_descent_model)
    assert [c for _, c in changes] == ["detected"]


def test_slow_lie_down_on_a_bed_is_not_a_fall_even_if_the_model_says_so() -> None:
    changes = play(lambda t: (lie_down(t), blob_of(lie_down(t))), 12.0, lambda _w: 0.99)
    assert changes == []


def test_getting_up_ends_the_fall() -> None:
    def scene(t: float) -> tuple[Pose | None, BlobBox | None]:
        if t < 6.0:
            return fall_then_lost(t)
        pose = get_up(t, 6.0)
        return pose, blob_of(pose)

    changes = play(scene, 12.0, fast_descent_model)
    assert [c for _, c in changes] == ["detected", "recovered"]
    assert changes[1][0] >= 8.0 + FallSettings().recover_s - 0.5
