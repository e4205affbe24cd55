"""Tamper cues on synthetic frame sequences at 10 fps, with sensor noise and a person walking.

Scenarios: a calm scene stays quiet; a lens covered by a hand (black) or by tape (bright but
featureless) raises `covered` after its hold time and clears when uncovered; a view shifted or
rotated raises `moved`; a stream repeating one image raises `frozen`; lights dimming slowly, on
one side only, or switched down in one step raise nothing. Hold times are seconds of frame time,
so a time-scaled settings object shortens them as the simulator expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gateway.messages import Event, Frame
from gateway.timescale import scale_durations
from gateway.vision.regions import Regions
from gateway.vision.tamper import TamperDetector, TamperSettings

FPS = 10
T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
SETTINGS = TamperSettings(
    covered_hold_s=3.0, moved_hold_s=3.0, frozen_hold_s=4.0, clear_hold_s=2.0, interval_s=0.0
)

Image = npt.NDArray[np.uint8]
Scene = npt.NDArray[np.float32]
Render = Callable[[float], Image]  # frame time (s) -> BGR uint8 frame


class Move(TypedDict, total=False):
    shift: tuple[float, float]
    angle: float


def make_scene(seed: int = 1) -> Scene:
    """A room of flat-coloured boxes, drawn at 640x480 and seen at 320x240 (float, BGR)."""
    rng = np.random.default_rng(seed)
    img = np.full((480, 640, 3), (90.0, 100.0, 110.0), np.float32)
    for _ in range(40):
        x, y = (int(v) for v in rng.integers(0, (640, 480)))
        w, h = (int(v) for v in rng.integers(20, 200, 2))
        cv2.rectangle(img, (x, y), (x + w, y + h), rng.integers(30, 230, 3).tolist(), -1)
    small: Scene = np.asarray(cv2.resize(img, (320, 240), interpolation=cv2.INTER_AREA), np.float32)
    return small


SCENE = make_scene()
NOISE = [np.random.default_rng(i).normal(0, 2.0, (240, 320, 3)).astype(np.float32) for i in range(16)]
# Tape over the lens: light comes through, the scene does not (a blur far wider than any object).
TAPE: Scene = np.asarray(cv2.GaussianBlur(SCENE, (0, 0), 25), np.float32)


def noisy(img: Scene, t: float) -> Image:
    """The sensor's noise added and the result quantised, as a camera would."""
    out: Image = np.clip(img + NOISE[round(t * FPS) % len(NOISE)], 0, 255).astype(np.uint8)
    return out


def taped(t: float) -> Image:
    return noisy(TAPE, t)


def camera(
    t: float,
    gain: float | Scene = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
    angle: float = 0.0,
) -> Image:
    """What a 320x240 camera sees at t: the scene (moved: pixels, degrees; lit by `gain`), a walker, noise."""
    img = SCENE
    if shift != (0.0, 0.0) or angle:
        matrix = cv2.getRotationMatrix2D((160, 120), angle, 1.0)
        matrix[:, 2] += np.array(shift)
        img = np.asarray(cv2.warpAffine(SCENE, matrix, (320, 240), borderMode=cv2.BORDER_REFLECT), np.float32)
    img = img.copy()
    x = int(50 + 200 * abs(np.sin(t / 8)))
    cv2.rectangle(img, (x, 75), (x + 30, 200), (40, 60, 200), -1)
    return noisy(img * gain, t)


def play(detector: TamperDetector, phases: list[tuple[float, Render]]) -> list[tuple[float, Event]]:
    """Feed each phase (duration, renderer) at 10 fps; the events with their frame time."""
    out: list[tuple[float, Event]] = []
    n = 0
    for duration, render in phases:
        for _ in range(round(duration * FPS)):
            t = n / FPS
            frame = Frame("cam-1", T0 + timedelta(seconds=t), render(t), n)
            out.extend((round(t, 1), e) for e in detector.on_frame(frame))
            n += 1
    return out


def expect(events: list[tuple[float, Event]], expected: list[tuple[float, str, str]]) -> None:
    """The events are `expected` (time within one frame, type, cue)."""
    got = [(e.type, e.data["cue"]) for _, e in events]
    assert got == [(kind, cue) for _, kind, cue in expected]
    for (t, _), (want, _, _) in zip(events, expected, strict=True):
        assert abs(t - want) <= 0.15, (t, want)


def kinds(events: list[tuple[float, Event]]) -> list[tuple[str, str]]:
    return [(e.type, str(e.data["cue"])) for _, e in events]


def normal(t: float) -> Image:
    return camera(t)


def test_a_calm_scene_with_a_walker_raises_nothing() -> None:
    assert play(TamperDetector("cam-1", SETTINGS), [(30, normal)]) == []


@pytest.mark.parametrize(
    "cover",
    [
        pytest.param(lambda t: camera(t, gain=0.03), id="hand-black"),
        pytest.param(taped, id="tape-featureless"),
    ],
)
def test_covered_lens_raises_after_its_hold_and_clears_after_uncovering(cover: Render) -> None:
    events = play(TamperDetector("cam-1", SETTINGS), [(10, normal), (8, cover), (6, normal)])
    expect(events, [(13.0, "camera.tampered", "covered"), (20.0, "camera.tamper_cleared", "covered")])
    tampered, cleared = events[0][1], events[1][1]
    assert tampered.source == "cam-1" and tampered.data["active"] == ["covered"]
    assert "brightness" in str(tampered.data["detail"])
    assert tampered.time == T0 + timedelta(seconds=events[0][0])  # the frame's own time
    assert cleared.data["active"] == [] and cleared.data["duration_s"] == pytest.approx(7.0, abs=0.2)


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(Move(shift=(15.0, 0.0)), id="panned-5pc"),
        pytest.param(Move(shift=(0.0, -12.0)), id="tilted-5pc"),
        pytest.param(Move(angle=5.0), id="rotated-5deg"),
    ],
)
def test_a_moved_view_raises_moved_and_clears_when_put_back(move: Move) -> None:
    def moved(t: float) -> Image:
        return camera(t, shift=move.get("shift", (0.0, 0.0)), angle=move.get("angle", 0.0))

    events = play(TamperDetector("cam-1", SETTINGS), [(10, normal), (8, moved), (6, normal)])
    assert kinds(events) == [("camera.tampered", "moved"), ("camera.tamper_cleared", "moved")]
    assert 13.0 <= events[0][0] <= 15.0  # hold 3 s after the move at 10 s (plus the match's smoothing)
    assert events[1][0] >= 20.0


def test_small_nudges_are_not_a_move() -> None:
    def nudged(t: float) -> Image:
        return camera(t, shift=(2.0, 1.5), angle=1.0)

    assert play(TamperDetector("cam-1", SETTINGS), [(10, normal), (20, nudged)]) == []


def test_people_close_to_the_camera_are_not_a_move() -> None:
    """Someone standing right in front of the camera hides a third of the view for 20 s."""

    def visitor(t: float) -> Image:
        img = camera(t)
        x = 100 + int(3 * np.sin(t))  # standing, swaying a little
        img[20:, x : x + 110] = (60, 50, 45)
        return img

    assert play(TamperDetector("cam-1", SETTINGS), [(10, normal), (20, visitor), (5, normal)]) == []


def test_a_frozen_stream_raises_frozen() -> None:
    still = camera(0.0)
    events = play(TamperDetector("cam-1", SETTINGS), [(10, normal), (8, lambda t: still), (5, normal)])
    expect(events, [(14.1, "camera.tampered", "frozen"), (20.0, "camera.tamper_cleared", "frozen")])


def test_a_black_frozen_stream_is_covered_not_frozen() -> None:
    black = camera(0.0, gain=0.0)
    events = play(TamperDetector("cam-1", SETTINGS), [(10, normal), (8, lambda t: black)])
    assert kinds(events) == [("camera.tampered", "covered")]


def dim(k: float) -> float:
    return 1.0 - 0.8 * min(k, 1.0)


def side_dim(k: float) -> Scene:
    """Lights off on the right: the gain falls from 1 on the left to 1 - 0.8k on the right."""
    return np.linspace(1.0, dim(k), 320, dtype=np.float32)[None, :, None]


@pytest.mark.parametrize(
    "lighting",
    [
        pytest.param(lambda t: camera(t, gain=dim((t - 10) / 20)), id="dusk-to-20pc"),
        pytest.param(lambda t: camera(t, gain=side_dim((t - 10) / 20)), id="one-side-dims"),
        pytest.param(lambda t: camera(t, gain=0.25), id="lights-step-to-25pc"),
        pytest.param(lambda t: camera(t, gain=1.6), id="sunlight-step"),
    ],
)
def test_lighting_changes_raise_nothing(lighting: Render) -> None:
    assert play(TamperDetector("cam-1", SETTINGS), [(10, normal), (25, lighting)]) == []


def test_hold_times_follow_the_simulator_time_scale() -> None:
    fast = scale_durations(SETTINGS, 1 / 10)  # scenario at 10x: a 3 s hold is 0.3 s of frames
    assert fast.covered_hold_s == pytest.approx(0.3)
    events = play(TamperDetector("cam-1", fast), [(3, normal), (1, lambda t: camera(t, gain=0.0))])
    expect(events, [(3.3, "camera.tampered", "covered")])


def test_frames_closer_than_the_interval_are_skipped() -> None:
    """At the default 0.25 s interval a 10 fps camera is looked at every third frame."""
    detector = TamperDetector("cam-1", replace(SETTINGS, interval_s=0.25))
    black = camera(0.0, gain=0.0)
    events = play(detector, [(10, normal), (5, lambda t: black)])
    expect(events, [(13.2, "camera.tampered", "covered")])  # looked at 10.2, 10.5, ... 13.2


def test_cleared_events_can_be_switched_off() -> None:
    quiet = replace(SETTINGS, report_cleared=False)
    black = camera(0.0, gain=0.0)
    events = play(TamperDetector("cam-1", quiet), [(10, normal), (5, lambda t: black), (5, normal)])
    assert [e.type for _, e in events] == ["camera.tampered"]


def test_a_view_that_stays_moved_becomes_the_new_normal() -> None:
    settings = replace(SETTINGS, moved_accept_s=10.0)
    detector = TamperDetector("cam-1", settings)

    def moved(t: float) -> Image:
        return camera(t, shift=(20.0, 0.0))

    events = play(detector, [(10, normal), (25, moved)])
    assert kinds(events) == [("camera.tampered", "moved"), ("camera.tamper_cleared", "moved")]
    assert detector.active() == []


def test_masked_areas_do_not_count() -> None:
    """Half the view masked (blacked out by the source): its border is not structure, cues still work."""
    regions = Regions(masks=[((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))])

    def masked(render: Render) -> Render:
        return lambda t: regions.black_out(render(t))

    detector = TamperDetector("cam-1", SETTINGS, regions)
    events = play(detector, [(10, masked(normal)), (6, masked(lambda t: camera(t, gain=0.02)))])
    expect(events, [(13.0, "camera.tampered", "covered")])
