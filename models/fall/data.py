"""Simulator renders -> the windows a gateway would score, with labels from the scene's ground truth.

Each scene comes from ``sim.video`` (``random_scene(seed, kind)``; seeds below 10000 are for
training, 10000 and above are held out) and is rendered offline (``render_frames``) at 320 x 240,
10 fps. The frames go through the gateway's own ``FallDetector`` (background subtraction, tracking,
silhouettes) with a recording stand-in for the model, so training sees exactly the windows the
camera path produces, including its segmentation errors.

Labels, per window of a track matched to a ground-truth person (box IoU >= 0.3):

- positive: the window ends within [impact - 0.2 s, impact + 1.5 s] of one of that person's falls
  (impact = end of the fall motion): "a fall just ended";
- ignored: during the fall motion before that, and 1.5-3 s after impact (the window still holds
  the fall; neither answer is wrong there), and unmatched tracks while anyone is falling;
- negative: everything else, including lying down on a bed or sofa on purpose (weighted 3x: the
  hard negatives) and lying still long after a fall.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from gateway.messages import Frame, ModelRef
from gateway.vision.fall import (
    FALL_DETECTED,
    FallDetector,
    FallModel,
    FallSettings,
    Observation,
    load_file,
)
from gateway.vision.regions import Regions
from models.fall.replay import FloatArray, Records

MANIFEST = Path(__file__).resolve().parents[1] / "MANIFEST.sha256"
RENDER_SIZE = (320, 240)
ANALYSIS_FPS = 10.0
HELD_OUT_FROM = 10000  # sim.video: seeds >= 10000 are never used for training
START = datetime(2026, 1, 1, tzinfo=UTC)
MATCH_IOU = 0.3
POSITIVE = (-0.2, 1.5)  # seconds around impact where a window counts as "a fall just ended"
IGNORE_UNTIL_S = 3.0  # after impact: the window still contains the fall
HARD_NEGATIVE_WEIGHT = 3.0  # windows of an intentional lie-down count three times: the hard negatives
PREROLL_S = 3.0  # empty room shown before each scene (see ``preroll``)


@dataclass(frozen=True, slots=True)
class TruthEvent:
    """A ground-truth fall or intentional lie-down of one person."""

    person: str
    type: str  # "fall" or "lie_down"
    kind: str
    start_t: float
    impact_t: float
    end_t: float | None


@dataclass(frozen=True, slots=True)
class SceneData:
    """One rendered scene's records, the ground-truth person of each record, and its events."""

    seed: int
    kind: str
    duration_s: float
    events: tuple[TruthEvent, ...]
    records: Records
    person: tuple[str, ...]  # per record: matched ground-truth person id, "" for none
    alarms: tuple[float, ...] = ()  # times of fall.detected when recorded with a real model

    @property
    def falls(self) -> list[TruthEvent]:
        """The scene's falls."""
        return [e for e in self.events if e.type == "fall"]


class Recorder:
    """Keeps the windows it is asked to score; scores them with ``inner`` (else says "no fall")."""

    def __init__(self, inner: FallModel | None = None) -> None:
        self.batch: FloatArray = np.zeros((0, 0), np.float32)
        self._inner = inner

    @property
    def ref(self) -> ModelRef:
        """The inner model's name and version."""
        return self._inner.ref if self._inner is not None else ModelRef("recorder", "none")

    def score(self, windows: FloatArray) -> FloatArray:
        """Record ``windows``; the inner model's probabilities (0 without one)."""
        self.batch = windows.copy()
        if self._inner is None:
            return np.zeros(len(windows), np.float32)
        return self._inner.score(windows)


def prepare(scene: Any) -> Any:
    """The scene as the gateway sees it in training: 320 x 240 at 10 fps (view unchanged)."""
    camera = dataclasses.replace(scene.camera, resolution=RENDER_SIZE, fps=ANALYSIS_FPS)
    return dataclasses.replace(scene, camera=camera)


def renderer(scene: Any) -> Any:
    """The simulator's offline renderer for ``scene`` (frames and ground-truth events)."""
    from sim.video.render import Renderer

    return Renderer(scene)


def preroll(scene: Any, seconds: float = PREROLL_S) -> Iterator[Frame]:
    """The empty room for ``seconds`` before the scene starts, as at t = 0 (lighting, noise).

    A gateway camera watches its room for hours before anything happens; a scene that starts with
    people in view would instead teach the background model those people and leave "ghosts" where
    they stood. Showing the empty room first is what a long-running camera has already seen.
    """
    empty = renderer(dataclasses.replace(scene, people=()))
    steps = round(seconds * ANALYSIS_FPS)
    for i in range(steps):
        image, _ = empty.render(0.0, i)
        yield Frame(f"sim-{scene.seed}", START - timedelta(seconds=(steps - i) / ANALYSIS_FPS), image, i)


def frames(render: Any, seed: int) -> Iterator[tuple[Frame, Any]]:
    """(Frame, ground truth) for each frame of a renderer, stamped from START."""
    for index, (t, image, truth) in enumerate(render.frames()):
        yield Frame(f"sim-{seed}", START + timedelta(seconds=float(t)), image, index), truth


def _iou(a: tuple[float, float, float, float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(observation: Observation, truth: Any) -> str:
    """The ground-truth person whose visible box overlaps this track's box most (IoU >= 0.3)."""
    box = observation.box
    mine = (box.x, box.y, box.x + box.w, box.bottom)
    best, best_iou = "", MATCH_IOU
    for person in truth.people:
        if person.bbox is not None and (overlap := _iou(mine, person.bbox)) >= best_iou:
            best, best_iou = person.id, overlap
    return best


def _row(observation: Observation) -> list[float]:
    s = observation.silhouette
    if s is None:
        return [np.nan] * 5
    return [s.height_width, s.major_minor, s.occupancy, s.height_ratio, s.centroid_height]


def events_of(render: Any) -> tuple[TruthEvent, ...]:
    """The ground-truth falls and lie-downs of a rendered scene."""
    return tuple(TruthEvent(e.person, e.type, e.kind, e.start_t, e.impact_t, e.end_t) for e in render.events)


def record(
    seed: int, kind: str, make: Callable[[int, str], Any], model: FallModel | None = None
) -> SceneData:
    """Render scene ``make(seed, kind)`` and record what the camera path computes on each frame.

    With a ``model``, the detector runs it for real and the times of its ``fall.detected`` events
    are kept in ``SceneData.alarms`` (the end-to-end result).
    """
    scene = prepare(make(seed, kind))
    render = renderer(scene)
    recorder = Recorder(model)
    detector = FallDetector(f"sim-{seed}", FallSettings(), Regions(), recorder)
    for frame in preroll(scene):
        detector.on_frame(frame)
    times, tracks, rows, index, persons = [], [], [], [], []
    windows: list[FloatArray] = []
    duration = 0.0
    alarms = []
    for frame, truth in frames(render, seed):
        events = detector.on_frame(frame)
        t = (frame.time - START).total_seconds()
        alarms += [t for e in events if e.type == FALL_DETECTED]
        duration = t + 1.0 / ANALYSIS_FPS
        scored = iter(recorder.batch)
        for obs in detector.observations:
            times.append(t)
            tracks.append(obs.track)
            rows.append(_row(obs))
            persons.append(match(obs, truth))
            if obs.probability is None:
                index.append(-1)
            else:
                index.append(len(windows))
                windows.append(next(scored))
    dim = windows[0].shape[0] if windows else 0
    records = Records(
        np.asarray(times, np.float64),
        np.asarray(tracks, np.int64),
        np.asarray(rows, np.float32).reshape(-1, 5),
        np.asarray(index, np.int64),
        np.asarray(windows, np.float32).reshape(len(windows), dim),
    )
    return SceneData(seed, kind, duration, events_of(render), records, tuple(persons), tuple(alarms))


def _label(data: SceneData, t: float, person: str) -> tuple[int, float]:
    """(label, weight) of one window ending at ``t`` on a track matched to ``person``."""
    weight = 1.0
    for event in data.events:
        since = t - event.impact_t
        if (
            event.type == "lie_down"
            and person == event.person
            and event.start_t <= t
            and since <= IGNORE_UNTIL_S
        ):
            weight = HARD_NEGATIVE_WEIGHT
    for fall in data.falls:
        since = t - fall.impact_t
        if person == fall.person and POSITIVE[0] <= since <= POSITIVE[1]:
            return 1, 1.0
        if fall.start_t <= t and since <= IGNORE_UNTIL_S and person in ("", fall.person):
            weight = 0.0
    return 0, weight


def labels(data: SceneData) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Per window of ``data``: label (1 = a fall just ended) and weight (0 = ignored)."""
    n = len(data.records.windows)
    y, weight = np.zeros(n, np.int64), np.ones(n, np.float64)
    scored = data.records.window >= 0
    persons = np.asarray(data.person)[scored] if data.person else np.zeros(0, str)
    for t, person, w in zip(data.records.time[scored], persons, data.records.window[scored], strict=True):
        y[w], weight[w] = _label(data, float(t), str(person))
    return y, weight


_LOADED: dict[Path, FallModel] = {}  # per worker process: ONNX sessions are not shared across a fork


def _record_job(job: tuple[int, str, Path | None]) -> SceneData | tuple[int, str, str]:
    """One scene, or (seed, kind, error) when the simulator cannot render it."""
    from sim.video.generate import random_scene

    seed, kind, model_path = job
    model = None
    if model_path is not None:
        if model_path not in _LOADED:
            _LOADED[model_path] = load_file(model_path, MANIFEST)
        model = _LOADED[model_path]
    try:
        return record(seed, kind, random_scene, model)
    except (cv2.error, ArithmeticError, LookupError, ValueError, RuntimeError) as exc:  # a simulator
        # bug costs that scene (reported), not the whole run
        return seed, kind, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:160]}"


def record_each(
    jobs: Sequence[tuple[int, str]], workers: int = 2, model_path: Path | None = None
) -> Iterator[SceneData | tuple[int, str, str]]:
    """``record`` for many (seed, kind) pairs in worker processes, as each finishes (any order).

    With ``model_path`` (an ONNX file listed in models/MANIFEST.sha256) each worker runs that model.
    A scene the simulator fails to render comes back as (seed, kind, error).
    """
    tasks = [(seed, kind, model_path) for seed, kind in jobs]
    if workers <= 1:
        yield from (_record_job(task) for task in tasks)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(_record_job, tasks)


def record_many(
    jobs: Sequence[tuple[int, str]], workers: int = 2, model_path: Path | None = None
) -> tuple[list[SceneData], list[tuple[int, str, str]]]:
    """Recorded scenes in the order of ``jobs``, and the (seed, kind, error) of those that failed."""
    done = list(record_each(jobs, workers, model_path))
    scenes = {(d.seed, d.kind): d for d in done if isinstance(d, SceneData)}
    failed = sorted(d for d in done if not isinstance(d, SceneData))
    return [scenes[job] for job in jobs if job in scenes], failed


def _named_job(job: tuple[str, Path]) -> SceneData | tuple[int, str, str]:
    from sim.video.loader import load_scene, scene_path

    name, model_path = job
    if model_path not in _LOADED:
        _LOADED[model_path] = load_file(model_path, MANIFEST)
    scene = load_scene(scene_path(name))
    try:
        return record(scene.seed, name, lambda _seed, _kind: scene, _LOADED[model_path])
    except (cv2.error, ArithmeticError, LookupError, ValueError, RuntimeError) as exc:
        return scene.seed, name, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:160]}"


def record_named(
    names: Sequence[str], model_path: Path, workers: int = 2
) -> list[SceneData | tuple[int, str, str]]:
    """The simulator's hand-made scenes (sim/video/scenes/*.yaml) run end to end with a model."""
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return list(pool.imap(_named_job, [(name, model_path) for name in names]))
