"""Rendered video files from the simulator, through the real camera path and the trained fall model.

Scenarios: the simulator's hand-made `fall_forward` scene (someone trips on the rug and stays down)
and `adl_lie_bed` (someone lies down on a bed on purpose) are rendered at 320 x 240, 10 fps into
MJPG .avi files with their ground truth beside them (sim.video.output). Each file is played by the
gateway's CameraSource in evaluation mode (realtime false) into a FallDetector with the committed,
signed ONNX fall and MoveNet pose models: motion, tracking, pose crops, keypoint model, state machine.
The fall gives fall.detected within a second and a half of the ground-truth impact; lying down on
the bed gives no event at all.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from gateway.messages import Event, Frame, SourceStatus
from gateway.sources.camera import CameraSource, CameraSpec
from gateway.vision.fall import FALL_DETECTED, FallSettings
from gateway.vision.regions import Regions
from models.fall import camera_eval
from sim.video.loader import load_scene, scene_path
from sim.video.output import render_to_file

MODELS = Path(__file__).resolve().parents[2] / "models"


def rendered(name: str, tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """The packaged scene ``name`` rendered small and at 10 fps; (video, ground truth)."""
    scene = load_scene(scene_path(name))
    camera = dataclasses.replace(scene.camera, resolution=(320, 240), fps=10.0)
    video = tmp_path / f"{name}.avi"
    truth = render_to_file(dataclasses.replace(scene, camera=camera), video)
    return video, json.loads(truth.read_text(encoding="utf-8"))


def play(video: Path) -> list[tuple[float, Event]]:
    """Events of a FallDetector fed by CameraSource from ``video``, with seconds from the first frame."""
    detector = camera_eval.detector(video.stem, FallSettings(), Regions())
    out: list[tuple[float, Event]] = []
    start: list[Frame] = []
    lock = threading.Lock()

    def on_frame(frame: Frame) -> None:
        with lock:
            if not start:
                start.append(frame)
            out.extend(((e.time - start[0].time).total_seconds(), e) for e in detector.on_frame(frame))

    statuses: list[SourceStatus] = []
    source = CameraSource(CameraSpec(video.stem, str(video), 10.0, realtime=False), Regions().black_out)
    source.start(on_frame, statuses.append)
    try:
        assert source.wait_finished(60.0), "the file was not played to its end"
    finally:
        source.stop()
    assert source.counters().frames_analysed > 50
    return out


@pytest.mark.timeout(60)
def test_rendered_fall_is_detected_near_its_impact(tmp_path: Path) -> None:
    video, truth = rendered("fall_forward", tmp_path)
    (fall,) = [e for e in truth["events"] if e["type"] == "fall"]  # type: ignore[attr-defined,index]
    detected = [(t, e) for t, e in play(video) if e.type == FALL_DETECTED]
    assert len(detected) == 1
    at, event = detected[0]
    assert fall["impact_t"] - 0.5 <= at <= fall["impact_t"] + 1.5
    assert event.model is not None and event.model.name == "fall"
    assert 0.0 < float(str(event.data["confidence"])) <= 1.0


@pytest.mark.timeout(60)
def test_lying_down_on_a_bed_on_purpose_raises_nothing(tmp_path: Path) -> None:
    video, truth = rendered("adl_lie_bed", tmp_path)
    assert [e["type"] for e in truth["events"]] == ["lie_down"]  # type: ignore[attr-defined,index]
    assert play(video) == []
