"""The camera path end to end: video through the gateway's own FallDetector with MoveNet and the shipped,
signed fall model, exactly as a camera pipeline runs them.

- ``real_clip``: UR Fall's ``fall-01-cam0.mp4`` (evaluation only) through ``CameraSource``
  (``realtime: false``: every frame in order, analysed at 10 fps), its depth half masked as a privacy
  mask would be. Ground truth from the dataset: frames 83-112 falling, 113-160 lying (30 fps).
- ``rendered``: held-out simulator scenes (seeds >= 10000, never trained on), each after 3 s of its
  empty room (what a long-running camera has seen), analysed at 10 fps, 320 px wide like a camera.
  A fall is found by a ``fall.detected`` from its start to 5 s after its impact; any other is a false
  alarm. Delay runs from the impact (the end of the fall motion).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2

from gateway.messages import Event, Frame, SourceStatus
from gateway.registry import FALL
from gateway.sources.camera import CameraSource, CameraSpec
from gateway.trust import load_models
from gateway.vision.fall import FALL_DETECTED, FallDetector, FallSettings
from gateway.vision.person import BackgroundLocator, BackgroundSettings
from gateway.vision.pipeline import DEFAULT_POSE_MODEL
from gateway.vision.pose import estimator
from gateway.vision.regions import Regions
from sim.video.generate import random_scene
from sim.video.render import Renderer

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "fall"
CLIP = DATASETS / "urfd" / "fall-01-cam0.mp4"
CLIP_FPS, CLIP_FALLING, CLIP_LYING = 30.0, 83, 113  # 1-based frames (shared/datasets/SOURCES.md)
LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]  # the clip's depth rendering
HELD_OUT_FROM = 10000
ANALYSIS_STEP_S, ANALYSIS_WIDTH = 0.1, 320
PREROLL_S = 3.0
MATCH_AFTER_S = 5.0
START = datetime(2026, 1, 1, tzinfo=UTC)


def detector(camera: str, settings: FallSettings, regions: Regions, work_width: int = 160) -> FallDetector:
    """The gateway's fall detector with the shipped, signed fall and pose models."""
    models = load_models().value
    fall, pose = models.get(FALL), models.people[DEFAULT_POSE_MODEL]
    if fall is None:
        raise LookupError("the signed models manifest lists no fall model")
    locator = BackgroundLocator(BackgroundSettings(work_width=work_width))
    return FallDetector(camera, settings, regions, fall, locator=locator, pose=estimator(pose))


def real_clip(settings: FallSettings) -> dict[str, Any]:
    """fall-01-cam0.mp4 through CameraSource (realtime false) and the full fall detector."""
    regions = Regions(masks=[LEFT_HALF])
    # 640 x 240, analysed whole (the masked half is black): the RGB half is a 320-wide camera frame.
    fall = detector("urfd-fall-01", settings, regions, work_width=320)
    events: list[Event] = []
    first: list[Frame] = []

    def on_frame(frame: Frame) -> None:
        if not first:
            first.append(frame)
        events.extend(fall.on_frame(frame))

    statuses: list[SourceStatus] = []
    spec = CameraSpec("urfd-fall-01", str(CLIP), analysis_fps=10.0, realtime=False, analysis_width=640)
    source = CameraSource(spec, regions.black_out)
    source.start(on_frame, statuses.append)
    finished = source.wait_finished(120.0)
    source.stop()
    start = first[0].time if first else START
    at = [round((e.time - start).total_seconds(), 2) for e in events if e.type == FALL_DETECTED]
    lying, falling = (CLIP_LYING - 1) / CLIP_FPS, (CLIP_FALLING - 1) / CLIP_FPS
    return {
        "path": "CameraSource (realtime false) -> FallDetector (motion, MoveNet crops, keypoint model)",
        "finished": finished,
        "frames_analysed": source.counters().frames_analysed,
        "pose_runs": fall.pose_runs,
        "events": [e.type for e in events],
        "fall_detected_at_s": at[0] if at else None,
        "first_falling_frame_at_s": round(falling, 2),
        "first_lying_frame_at_s": round(lying, 2),
        "delay_from_first_lying_frame_s": round(at[0] - lying, 2) if at else None,
        "events_before_the_fall": sum(1 for e in events if (e.time - start).total_seconds() < falling),
        "met": bool(at) and at[0] - lying <= 1.0 and all(t >= falling for t in at),
    }


def _frames(renderer: Renderer, seed: int) -> Iterator[tuple[float, Frame]]:
    """The empty room for PREROLL_S, then the scene, at 10 fps and 320 px wide; (scene time, frame)."""
    empty = Renderer(dataclasses.replace(renderer.scene, people=()))
    steps = round(PREROLL_S / ANALYSIS_STEP_S)
    for i in range(steps):
        image, _ = empty.render(0.0, i)
        yield -PREROLL_S + i * ANALYSIS_STEP_S, _frame(image, seed, -PREROLL_S + i * ANALYSIS_STEP_S, i)
    t, i = 0.0, 0
    while t < renderer.n_frames / renderer.fps:
        image, _ = renderer.render(t, i)
        yield t, _frame(image, seed, t, steps + i)
        t, i = round(t + ANALYSIS_STEP_S, 6), i + 1


def _frame(image: Any, seed: int, t: float, index: int) -> Frame:
    height, width = image.shape[:2]
    small = cv2.resize(
        image, (ANALYSIS_WIDTH, round(height * ANALYSIS_WIDTH / width)), interpolation=cv2.INTER_AREA
    )
    return Frame(f"sim-{seed}", START + timedelta(seconds=t), small, index)


def scene_result(job: tuple[int, str]) -> dict[str, Any]:
    """One held-out scene through the detector: its ground truth, alarm times and pose runs."""
    seed, kind = job
    renderer = Renderer(random_scene(seed, kind))
    fall = detector(f"sim-{seed}", FallSettings(), Regions())
    alarms = [
        t for t, frame in _frames(renderer, seed) for e in fall.on_frame(frame) if e.type == FALL_DETECTED
    ]
    return {
        "seed": seed,
        "kind": kind,
        "duration_s": renderer.n_frames / renderer.fps,
        "falls": [(e.start_t, e.impact_t) for e in renderer.events if e.type == "fall"],
        "lie_downs": sum(1 for e in renderer.events if e.type == "lie_down"),
        "alarms": alarms,
        "pose_runs": fall.pose_runs,
    }


def score(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall, false alarms per everyday camera-hour, lie-downs alarmed, impact -> detected delays."""
    falls = found = false_alarms = everyday_false = lie_scenes = lie_alarmed = 0
    everyday_s = 0.0
    delays: list[float] = []
    for r in results:
        matched: set[float] = set()
        for start, impact in r["falls"]:
            hits = [a for a in r["alarms"] if start <= a <= impact + MATCH_AFTER_S and a not in matched]
            falls += 1
            if hits:
                found += 1
                matched.add(hits[0])
                delays.append(hits[0] - impact)
        extra = len(r["alarms"]) - len(matched)
        false_alarms += extra
        if not r["falls"]:
            everyday_s += r["duration_s"]
            everyday_false += extra
        if r["lie_downs"]:
            lie_scenes += 1
            lie_alarmed += 1 if extra else 0
    p95 = statistics.quantiles(delays, n=20)[-1] if len(delays) >= 2 else (delays[0] if delays else None)
    hours = everyday_s / 3600
    return {
        "falls": falls,
        "found": found,
        "recall": found / falls if falls else None,
        "false_alarms": false_alarms,
        "everyday_hours": round(hours, 3),
        "everyday_false_alarms": everyday_false,
        "false_alarms_per_everyday_hour": everyday_false / hours if hours else None,
        "lie_down_scenes": lie_scenes,
        "lie_down_scenes_alarmed": lie_alarmed,
        "delay_p50_s": statistics.median(delays) if delays else None,
        "delay_p95_s": p95,
    }


def rendered(falls: int = 30, everyday: int = 30, workers: int = 2) -> dict[str, Any]:
    """Held-out rendered scenes through the full camera path, scored against their ground truth."""
    jobs = [(HELD_OUT_FROM + i, "fall") for i in range(falls)]
    jobs += [(HELD_OUT_FROM + i, "adl") for i in range(everyday)]
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.map(scene_result, jobs, chunksize=1)
    frames = sum(round((r["duration_s"] + PREROLL_S) / ANALYSIS_STEP_S) for r in results)
    return {
        "scenes": {"fall": falls, "adl": everyday},
        "seconds": round(time.monotonic() - started, 1),
        "pose_runs_per_analysed_frame": round(sum(r["pose_runs"] for r in results) / frames, 3),
        **score(results),
    }
