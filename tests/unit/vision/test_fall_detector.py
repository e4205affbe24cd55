"""The fall detector turns frames into fall.detected -> fall.confirmed -> fall.recovered, and nothing else.

Scenarios on synthetic 160 x 120 frames at 10 fps (a body drawn as an ellipse that pivots about the
feet, on a floor and wall with sensor noise), run through the real background subtraction (the
motion gate), tracking, crop choice, keypoint features and state machine. Two fakes with behaviour,
not mocks: the pose estimator knows where the drawn body is and answers for the crop it is given
(keypoints along the body's axis; nothing when the crop misses the body; scores collapsing when the
body lies flat, as MoveNet's do on a real floor), and the fall model says "fall" when the hips came
down faster than 0.8 standing heights per second. So these tests pin the detector's flow and
payloads, not the trained models (tests/integration/test_fall_video.py runs those).

1. Walk, fall, lie 15 s, get up: detected just after the fall, confirmed 10 s later, recovered.
2. Lie down on a bed slowly, on purpose: no event at all.
3. A fall with recovery before confirm_s: detected, then recovered, never confirmed.
4. Payloads carry camera, zone, confidence, time of fall, fall id and model; no image data.
5. Someone standing in view when the camera starts walks off and falls next to that spot: found.
6. An empty room runs no pose inference at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from gateway.messages import Event, Frame, ModelRef, dump_json, event_to_json
from gateway.vision.fall import FALL_CONFIRMED, FALL_DETECTED, FALL_RECOVERED, FallDetector, FallSettings
from gateway.vision.person import Box
from gateway.vision.pose import crop_window
from gateway.vision.pose_features import FEATURES, WINDOW_STEPS, Pose
from gateway.vision.regions import Regions

W, H, FPS = 160, 120, 10.0
START = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
FLOOR_Y = 100.0
BED = (90, 78, 150, 88)  # x0, y0, x1, y1: a bed whose top is 22 px above the floor line
SPEED = FEATURES.index("hip_speed")
BODY_PX = 60.0  # the drawn body's length
# Fractions of stature along the body axis from the feet (anthropometric): ankle, knee, hip, shoulder, nose.
JOINTS = {15: 0.03, 16: 0.03, 13: 0.28, 14: 0.28, 11: 0.53, 12: 0.53, 5: 0.82, 6: 0.82, 0: 0.93}


class RuleModel:
    """A fake fall model: the hips came down fast within the last two seconds."""

    ref = ModelRef("fall", "fake00000000")

    def score(self, windows: np.ndarray) -> np.ndarray:
        rows = windows.reshape(len(windows), WINDOW_STEPS, len(FEATURES))
        return (rows[:, -20:, SPEED].min(axis=1) < -0.8).astype(np.float32) * 0.9


Body = tuple[float, float, float]  # x of the feet, y of the feet, tilt from upright in degrees


class SeesTheBody:
    """A fake pose estimator: keypoints of the drawn body if the crop holds it (else nothing seen)."""

    def __init__(self) -> None:
        self.body: Body | None = None
        self.runs = 0

    def estimate(self, image: np.ndarray, region: Box) -> Pose:
        self.runs += 1
        xy, score = np.zeros((17, 2), np.float32), np.zeros(17, np.float32)
        if self.body is None:
            return Pose(xy, score)
        x, y, tilt = self.body
        a = math.radians(tilt)
        window = crop_window(region, image.shape[0])
        mid = (x + math.sin(a) * BODY_PX / 2, y - math.cos(a) * BODY_PX / 2)
        if not (
            window.x0 <= mid[0] <= window.x0 + window.side and window.y0 <= mid[1] <= window.y0 + window.side
        ):
            return Pose(xy, score)
        for joint, up in JOINTS.items():
            xy[joint] = (x + math.sin(a) * up * BODY_PX, y - math.cos(a) * up * BODY_PX)
            score[joint] = 0.9 if abs(tilt) < 80 else 0.1  # flat on the floor: lost, as MoveNet loses people
        return Pose(xy, score)


def draw(pose: Body, rng: np.random.Generator, bed: bool) -> np.ndarray:
    img = np.full((H, W, 3), (90, 110, 130), np.uint8)
    img[:50] = (185, 190, 200)
    if bed:
        cv2.rectangle(img, BED[:2], BED[2:], (70, 50, 40), -1)
    x, y, tilt = pose
    a, half = math.radians(tilt), 30.0
    centre = (x + math.sin(a) * half, y - math.cos(a) * half)
    cv2.ellipse(
        img, (round(centre[0]), round(centre[1])), (round(half), 8), 90 - tilt, 0, 360, (40, 60, 170), -1
    )
    return np.clip(img + rng.normal(0, 2.0, img.shape), 0, 255).astype(np.uint8)


Script = Callable[[float], Body]


def fall_script(down_s: float) -> Script:
    """Walk right for 4 s, fall in 0.7 s (accelerating), lie ``down_s``, get up in 2 s, stand."""

    def pose(t: float) -> Body:
        if t < 4.0:
            return 20 + 8 * t, FLOOR_Y, 0.0
        if t < 4.7:
            return 52, FLOOR_Y, 88 * ((t - 4.0) / 0.7) ** 2
        if t < 4.7 + down_s:
            return 52, FLOOR_Y, 88.0
        return 52, FLOOR_Y, 88 * max(0.0, 1 - (t - 4.7 - down_s) / 2.0)

    return pose


def bed_script(t: float) -> Body:
    """Walk to the bed, then lie down on it over 4 s (feet rise to the bed top as the body tilts)."""
    if t < 4.0:
        return 20 + 15 * t, FLOOR_Y, 0.0
    s = min(1.0, (t - 4.0) / 4.0)
    return 80 + 12 * s, FLOOR_Y - 20 * s, 88 * s


def frames(
    script: Script, seconds: float, eyes: SeesTheBody, bed: bool = False, empty_s: float = 2.0
) -> Iterator[Frame]:
    rng = np.random.default_rng(7)
    for i in range(int(seconds * FPS)):
        t = i / FPS
        # The empty room first (the body drawn off-frame), so the background is learnt.
        body = None if t < empty_s else script(t - empty_s)
        eyes.body = body
        yield Frame(
            "hall-cam", START + timedelta(seconds=t), draw(body or (-100.0, FLOOR_Y, 0.0), rng, bed), i
        )


def run(script: Script, seconds: float, bed: bool = False, empty_s: float = 2.0) -> list[Event]:
    left, right = [(0, 0), (0.75, 0), (0.75, 1), (0, 1)], [(0.75, 0), (1, 0), (1, 1), (0.75, 1)]
    zones = Regions(zones=[("hall", left), ("window", right)])
    eyes = SeesTheBody()
    detector = FallDetector("hall-cam", FallSettings(), zones, RuleModel(), pose=eyes)
    return [e for frame in frames(script, seconds, eyes, bed, empty_s) for e in detector.on_frame(frame)]


def seconds_after_start(event: Event) -> float:
    return (event.time - START).total_seconds()


def test_fall_is_detected_confirmed_and_recovered() -> None:
    events = run(fall_script(down_s=15.0), 28.0)
    assert [e.type for e in events] == [FALL_DETECTED, FALL_CONFIRMED, FALL_RECOVERED]
    detected, confirmed, recovered = events
    fall_end = 2.0 + 4.7
    assert fall_end <= seconds_after_start(detected) <= fall_end + 1.0
    assert seconds_after_start(confirmed) - seconds_after_start(detected) == pytest.approx(10.0, abs=0.11)
    assert 2.0 + 4.7 + 15.0 <= seconds_after_start(recovered) <= 2.0 + 4.7 + 15.0 + 2.0 + 2.5
    time_of_fall = datetime.fromisoformat(str(detected.data["time_of_fall"]))
    assert 2.0 + 4.0 <= (time_of_fall - START).total_seconds() <= fall_end + 0.2
    assert {e.data["fall_id"] for e in events} == {detected.id}
    assert detected.data["zone"] == "hall"
    assert recovered.data["confirmed"] is True
    assert float(str(recovered.data["down_s"])) >= 15.0


def test_getting_up_before_confirmation_is_recovered_but_not_confirmed() -> None:
    events = run(fall_script(down_s=4.0), 16.0)
    assert [e.type for e in events] == [FALL_DETECTED, FALL_RECOVERED]
    assert events[1].data["confirmed"] is False


def test_lying_down_on_a_bed_on_purpose_raises_nothing() -> None:
    assert run(bed_script, 20.0, bed=True) == []


def test_payloads_hold_no_image_data() -> None:
    events = run(fall_script(down_s=12.0), 22.0)
    assert events
    for event in events:
        assert set(event.data) <= {
            "camera",
            "zone",
            "confidence",
            "time_of_fall",
            "fall_id",
            "down_s",
            "confirmed",
        }
        assert all(isinstance(v, str | int | float | bool) or v is None for v in event.data.values())
        payload = event_to_json(event, "site", "gw")
        assert payload["model"] == {"name": "fall", "version": "fake00000000"}
        text = dump_json(payload).decode()
        assert len(text) < 600
        assert not any(word in text for word in ("box", "image", "pixel", "crop", "mask", "base64"))
        assert json.loads(text)["data"]["camera"] == "hall-cam"


def test_a_fall_next_to_where_someone_stood_at_start_up_is_found() -> None:
    def script(t: float) -> Body:  # stands at x=100 as the camera starts, steps left, falls there
        if t < 3.0:
            return 100.0, FLOOR_Y, 0.0
        if t < 5.0:
            return 100.0 - 15 * (t - 3.0), FLOOR_Y, 0.0
        if t < 5.7:
            return 70.0, FLOOR_Y, -88 * ((t - 5.0) / 0.7) ** 2
        return 70.0, FLOOR_Y, -88.0

    events = run(script, 20.0, empty_s=0.0)
    assert [e.type for e in events] == [FALL_DETECTED, FALL_CONFIRMED]
    assert 5.7 <= seconds_after_start(events[0]) <= 6.7


def test_an_empty_room_runs_no_pose_inference() -> None:
    eyes = SeesTheBody()
    detector = FallDetector("hall-cam", FallSettings(), Regions(), RuleModel(), pose=eyes)
    empty = (-100.0, FLOOR_Y, 0.0)
    for frame in frames(lambda t: empty, 20.0, eyes, empty_s=30.0):
        assert detector.on_frame(frame) == []
    assert eyes.runs == detector.pose_runs == 0


def test_the_scene_is_quiet_only_while_nobody_tracked_is_still_or_down() -> None:
    """When a rollout may start a shadow detector (gateway/rollout/pair.py): not on a fallen person."""
    eyes = SeesTheBody()
    detector = FallDetector("hall-cam", FallSettings(), Regions(), RuleModel(), pose=eyes)
    quiet = {}
    for frame in frames(fall_script(down_s=15.0), 20.0, eyes):
        detector.on_frame(frame)
        quiet[round((frame.time - START).total_seconds(), 1)] = detector.quiet(frame.time.timestamp())
    assert quiet[1.0] and quiet[4.0]  # the empty room; someone walking
    assert not quiet[10.0] and not quiet[15.0]  # someone down after the fall
