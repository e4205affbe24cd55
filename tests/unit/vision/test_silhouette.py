"""Silhouette features match their definitions (and so the UR Fall columns they stand in for).

Scenarios: masks of known shape give exact box ratio, occupancy and moment-ellipse ratio; features
are taken relative to the track's standing height and floor; vertical speed is the slope of the
centroid height; model vectors are logs of the ratios, clipped to physical ranges; and windows on
the 10 Hz grid are the same whether the frames came at 10 fps, 30 fps or with gaps.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from gateway.vision.person import Box, PersonDetection
from gateway.vision.silhouette import (
    FEATURES,
    NEUTRAL_OCCUPANCY,
    WINDOW_STEPS,
    FeatureHistory,
    Silhouette,
    ellipse_ratio,
    model_vector,
    shape,
    silhouette,
    speed,
)
from gateway.vision.tracking import Track, TrackerSettings


def ellipse_mask(major: int, minor: int, angle: float) -> np.ndarray:
    canvas = np.zeros((200, 200), np.uint8)
    cv2.ellipse(canvas, (100, 100), (major, minor), angle, 0, 360, 1, -1)
    return canvas.astype(bool)


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0])
def test_ellipse_ratio_of_an_ellipse_is_its_axis_ratio(angle: float) -> None:
    assert ellipse_ratio(ellipse_mask(80, 20, angle)) == pytest.approx(4.0, rel=0.03)


def test_ellipse_ratio_of_nothing_is_one() -> None:
    assert ellipse_ratio(np.zeros((5, 5), bool)) == 1.0


def test_shape_of_a_masked_box() -> None:
    mask = np.zeros((40, 10), bool)
    mask[20:, :] = True  # lower half filled
    hw, mm, occupancy, centroid_y = shape(PersonDetection(Box(100, 50, 20, 80), 1.0, mask))
    assert hw == 4.0
    assert occupancy == 0.5
    assert mm == pytest.approx(2.0, rel=0.02)  # a 20 x 10 (mask pixels) rectangle
    assert centroid_y == pytest.approx(50 + 80 * 30 / 40)  # centre of the lower half, in image pixels


def test_shape_without_mask_uses_box_or_keypoints() -> None:
    hw, mm, occupancy, centroid_y = shape(PersonDetection(Box(0, 0, 50, 25), 0.9))
    assert (hw, mm, occupancy, centroid_y) == (0.5, 2.0, NEUTRAL_OCCUPANCY, 12.5)
    points = np.array([[0, 0, 1], [0, 10, 1], [0, 20, 1], [1, 10, 1], [-1, 10, 1]], np.float32)
    _, mm, _, _ = shape(PersonDetection(Box(0, 0, 2, 20), 0.9, keypoints=points))
    assert mm == pytest.approx(math.sqrt(50 / 0.5), rel=1e-3)  # sample variances along y and x


def test_silhouette_is_relative_to_standing_height_and_floor() -> None:
    track = Track(1, Box(0, 20, 20, 80), 0.0, 0.0)
    for i in range(5):
        track.add_upright(80.0, 100.0, i / 10, TrackerSettings())
    lying = PersonDetection(Box(0, 80, 80, 20), 1.0, np.ones((10, 40), bool))
    s = silhouette(lying, track)
    assert s.height_width == 0.25
    assert s.height_ratio == 0.25  # HHmaxRatio
    assert s.centroid_height == pytest.approx((100 - 90) / 80)  # D / Hmax


def test_speed_is_the_slope_over_the_span() -> None:
    times = [0.0, 0.1, 0.2, 0.3, 0.4]
    heights = [0.5, 0.45, 0.4, 0.35, 0.3]
    assert speed(times, heights) == pytest.approx(-0.5)
    assert speed([0.0, 0.1], [0.5, 0.4]) == 0.0  # too short to tell


def test_model_vector_logs_and_clips() -> None:
    v = model_vector(Silhouette(4.0, 3.0, 0.6, 0.9, 0.5, -9.0))
    assert len(v) == len(FEATURES)
    assert v[:5] == pytest.approx([math.log(4), math.log(3), 0.6, 0.9, 0.5])
    assert v[5] == -5.0  # clipped to 5 standing heights per second
    assert model_vector(Silhouette(float("nan"), 1.0, 0.5, 1.0, 0.5))[0] == 0.0


def _ramp(fps: float, gap: tuple[float, float] | None = None) -> FeatureHistory:
    history = FeatureHistory()
    for i in range(int(5 * fps) + 1):
        t = i / fps
        if gap and gap[0] < t < gap[1]:
            continue
        history.add(t, Silhouette(3.0, 3.0, 0.5, 1.0, 0.5 - 0.05 * t, 0.0))
    return history


def test_windows_do_not_depend_on_the_frame_rate() -> None:
    at10, at30 = _ramp(10.0).window(5.0), _ramp(30.0).window(5.0)
    assert at10.shape == (WINDOW_STEPS * len(FEATURES),)
    assert at10 == pytest.approx(at30, abs=1e-5)
    rows = at10.reshape(WINDOW_STEPS, len(FEATURES))
    assert rows[-1, 4] == pytest.approx(0.25) and rows[0, 4] == pytest.approx(0.5 - 0.05 * 2.1)
    assert rows[-1, 5] == pytest.approx(-0.05, abs=1e-5)  # the stored vertical speed


def test_gaps_hold_the_last_value_and_short_histories_are_padded() -> None:
    rows = _ramp(10.0, gap=(3.0, 4.0)).window(5.0).reshape(WINDOW_STEPS, len(FEATURES))
    held = rows[-20:-11, 4]  # t = 3.1 .. 3.9: all the value at t = 3.0
    assert held == pytest.approx([0.5 - 0.05 * 3.0] * 9)
    short = FeatureHistory()
    short.add(10.0, Silhouette(3.0, 3.0, 0.5, 1.0, 0.5))
    short.add(10.5, Silhouette(0.5, 3.0, 0.5, 0.3, 0.1))
    window = short.window(10.5).reshape(WINDOW_STEPS, len(FEATURES))
    assert window[0, 4] == pytest.approx(0.5) and window[-1, 4] == pytest.approx(0.1)
    assert short.span_s == pytest.approx(0.5)
