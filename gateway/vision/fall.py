"""The fall detector of one camera: frames -> moving people -> tracks -> poses -> fall model -> events.

Motion gates everything: background subtraction finds what moves (and keeps people who moved or
fell), a tracker follows it, and only then does the pose model run, on a crop around each tracked
person (pose.py). A track on which no confident pose was ever seen is not a person (a ghost left by
someone who stood there when the camera started, a moved chair) and is neither kept nor scored.

Owns the fall events (type names and payloads are a public contract):

- ``fall.detected``: a fall motion ended with the person down. The ONNX fall model reads a window
  of the person's keypoint features (pose_features.py) and must say "a fall just ended" on
  ``detect_windows`` consecutive frames, and the person must be down now: a low or lying pose, or,
  since pose models lose people lying on the floor, a person-sized region that stays low after a
  descent seen in keypoints.
- ``fall.confirmed``: the same person stayed down ``confirm_s`` (default 10 s).
- ``fall.recovered``: they are upright again for ``recover_s``.

Lying down on a bed or sofa on purpose is a slow, controlled descent that ends above the floor;
the model was trained to tell it from a fall (models/fall/MODEL_CARD.md) and the detector adds no
furniture rule of its own. Payloads carry the camera, the zone (from the camera's regions), a
confidence, the time of the fall and a fall id; the model version rides on ``Event.model``. No pixel,
crop, face or box ever goes into a payload. Pure logic apart from the locator's background model:
time comes only from ``Frame.time``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from gateway.inference.runner import OnnxModel
from gateway.inference.slots import Slot, current
from gateway.messages import Event, Frame, JsonValue, ModelRef, new_event_id, utc_iso
from gateway.security.signing import VerifiedManifest
from gateway.vision.fall_state import FallState
from gateway.vision.person import BackgroundLocator, Box, PersonDetection, PersonLocator
from gateway.vision.pose import PoseEstimator, pose_region
from gateway.vision.pose_features import BlobBox, Pose, PoseHistory
from gateway.vision.regions import Regions
from gateway.vision.tracking import Track, Tracker, TrackerSettings

FALL_DETECTED: Final = "fall.detected"
FALL_CONFIRMED: Final = "fall.confirmed"
FALL_RECOVERED: Final = "fall.recovered"
MODEL_NAME: Final = "fall"
MODEL_FILE: Final = "fall/fall_model.onnx"
ADOPT_WITHIN_S: Final = 1.0  # a track this young, starting where a vanished fallen person lay, is them

RECENT_POSE_S: Final = 0.3  # a pose this fresh steers the next crop; an older one may have moved away
MOVING_S: Final = 1.0  # a track that moved this recently is posed every frame

FloatArray = npt.NDArray[np.float32]


class FallModel(Protocol):
    """Scores windows of silhouette features: probability that a fall ended in each window."""

    @property
    def ref(self) -> ModelRef:
        """Name and version of the model, reported on events."""
        ...

    def score(self, windows: FloatArray) -> FloatArray:
        """One probability per row of ``windows`` (N x WINDOW_STEPS * len(FEATURES))."""
        ...


class OnnxFallModel:
    """The verified ONNX fall model (input "windows" [N, 180], output "fall_probability" [N, 1])."""

    def __init__(self, model: OnnxModel) -> None:
        self._model = model
        self._ref = ModelRef(MODEL_NAME, model.version)

    @property
    def ref(self) -> ModelRef:
        """Name and version (sha256 prefix of the file)."""
        return self._ref

    def score(self, windows: FloatArray) -> FloatArray:
        """Fall probability per window."""
        return np.asarray(self._model.run(windows), dtype=np.float32).reshape(-1)


def load_signed(manifest: VerifiedManifest, file: str = MODEL_FILE) -> OnnxFallModel:
    """The fall model from a verified, signed models manifest (what a running gateway uses)."""
    return OnnxFallModel(OnnxModel.from_signed(manifest, file, MODEL_NAME))


def load_file(path: Path, manifest: Path) -> OnnxFallModel:
    """The fall model at ``path``, checked against a ``sha256sum``-format manifest (tools, tests)."""
    return OnnxFallModel(OnnxModel(path, manifest=manifest, name=MODEL_NAME))


@dataclass(frozen=True, slots=True)
class FallSettings:
    """Fall detector settings; durations end in ``_s``, every default says why."""

    threshold: float = 0.5
    """Model probability that counts as "a fall just ended" (the card shows the trade-off)."""
    detect_windows: int = 2
    """Consecutive frames above threshold: one noisy window never alarms (costs 0.1 s at 10 fps)."""
    confirm_s: float = 10.0
    """Still down this long after the fall: fall.confirmed (the issue's default)."""
    recover_s: float = 2.0
    """Upright this long: fall.recovered (a stumble back to the knees is not recovery)."""
    min_history_s: float = 1.0
    """A track is scored only after this much history: a person walking in is not a fall."""
    keep_still_s: float = 60.0
    """A person who moved within this time stays foreground however still they are (the background
    does not learn where they are); after that only someone who fell does. Someone who sits still
    longer fades into the background and is found again when they move."""
    hold_down_s: float = 900.0
    """A fallen person who vanishes (motionless long enough to join the background, or hidden) is
    remembered this long, so their getting up still ends the fall."""
    still_pose_s: float = 0.5
    """A person who has not moved for a second gets a new pose this often, not every frame: sitting
    or standing still needs no 10 Hz pose, and a fall starts with movement."""
    tracker: TrackerSettings = field(default_factory=TrackerSettings)


@dataclass(frozen=True, slots=True)
class Observation:
    """What the detector saw of one reported track in the last frame (for tools; never published)."""

    track: int
    box: Box
    pose: Pose | None  # None while the track coasts, or when no pose ran this frame
    probability: float | None  # None until the track has min_history_s of history
    moving: bool = False  # the track moved within MOVING_S
    down: bool = False  # the person is down after a detected fall (until recovered)


@dataclass
class _Person:
    state: FallState
    history: PoseHistory
    fall_id: str = ""
    zone: str | None = None
    box: Box | None = None  # where the person was when the fall was detected; never published
    pose: Pose | None = None  # the latest pose (steers the next crop)
    pose_at: float = float("-inf")
    is_person: bool = False  # a confident pose has been seen: not a ghost


class FallDetector:
    """Fall events for one camera (a FrameDetector): ``on_frame(frame) -> list[Event]``."""

    def __init__(  # noqa: PLR0913 - camera, settings, zones and model, plus the two perception parts
        self,
        camera: str,
        settings: FallSettings,
        zones: Regions,
        model: FallModel | Slot[FallModel],
        *,
        locator: PersonLocator | None = None,
        pose: PoseEstimator | None = None,
    ) -> None:
        self.camera = camera
        self.settings = settings
        self._zones = zones
        self._model = model
        self._locator = locator or BackgroundLocator()
        self._pose = pose
        self._tracker = Tracker(settings.tracker)
        self._people: dict[int, _Person] = {}
        self._orphans: list[_Person] = []  # falls whose person is no longer tracked
        self._last: float | None = None
        self.pose_runs = 0  # pose model inferences so far (the motion gate's effect, for benchmarks)
        self.observations: list[Observation] = []  # the last frame's tracks, for tools

    def on_frame(self, frame: Frame) -> list[Event]:
        """Analyse one frame; the fall events it completes."""
        now = frame.time.timestamp()
        dt = 0.1 if self._last is None else max(now - self._last, 1e-3)
        self._last = now
        height, width = frame.image.shape[:2]
        analysed = self._zones.keep(width, height) if self._zones.masks else None
        found = self._locator.locate(frame.image, dt, self._keep(now), analysed)
        tracks = self._tracker.update(found, now, height)
        for gone in self._tracker.dropped:
            person = self._people.pop(gone.id, None)
            if person is not None and person.state.active:
                self._orphans.append(person)
        scores = self._observe(frame, tracks, now)
        events: list[Event] = []
        for track in tracks:
            person = self._people[track.id]
            if not person.is_person:
                continue
            if not person.state.active and now - track.first_seen <= ADOPT_WITHIN_S:
                self._adopt(track, person)
            change = person.state.step(now, person.history, scores.get(track.id))
            if change == "detected":
                person.fall_id, person.box = new_event_id(), track.box
                person.zone = self._zone(track.box, (width, height))
            events += self._event(change, person, frame.time)
        for person in list(self._orphans):
            events += self._event(person.state.tick(now), person, frame.time)
            if now - (person.state.down_since or now) > self.settings.hold_down_s:
                self._orphans.remove(person)
        return events

    def quiet(self, now: float) -> bool:
        """Nobody tracked is still or down: a new detector starting on this frame would not learn a
        still person into its background (whose ghost would blind it when they move; rollout/pair.py).
        A fall whose person is no longer tracked does not count: it may be remembered for
        `hold_down_s`, and waiting that long would leave the new detector blind instead."""
        for track in self._tracker.tracks:
            person = self._people.get(track.id)
            if person is None or not person.is_person:
                continue
            if person.state.active or now - track.moved_at > MOVING_S:
                return False
        return True

    def _keep(self, now: float) -> list[Box]:
        """Where the background must not learn: people who moved lately, and everyone who fell."""
        boxes = []
        for track in self._tracker.tracks:
            person = self._people.get(track.id)
            if person is None or not person.is_person:
                continue  # a ghost or a moved object: let the background absorb it
            if now - track.moved_at <= self.settings.keep_still_s or person.state.active:
                boxes.append(track.box)
        return boxes + [p.box for p in self._orphans if p.box is not None]

    def _observe(self, frame: Frame, tracks: list[Track], now: float) -> dict[int, float]:
        """Add this frame's poses; model probabilities of the people with enough history."""
        ids, windows = [], []
        poses: dict[int, Pose | None] = {}
        height = frame.image.shape[0]
        for track in tracks:
            person = self._people.setdefault(track.id, _Person(FallState(self.settings), PoseHistory(height)))
            # No detection this frame, no new decision: a person walking behind furniture or out of
            # view leaves a shrinking box that would otherwise look like going down.
            if track.detection is None:
                poses[track.id] = None
                continue
            pose = poses[track.id] = self._estimate(frame, track, track.detection, person, now)
            person.history.add(now, pose, BlobBox(track.box.x, track.box.y, track.box.w, track.box.h))
            if person.is_person and person.history.span_s >= self.settings.min_history_s:
                ids.append(track.id)
                windows.append(person.history.window(now))
        scores: dict[int, float] = {}
        if windows:
            probabilities = current(self._model).score(np.stack(windows).astype(np.float32))
            scores = {i: float(p) for i, p in zip(ids, probabilities, strict=True)}
        self.observations = [
            Observation(
                t.id,
                t.box,
                poses[t.id],
                scores.get(t.id),
                now - t.moved_at <= MOVING_S,
                self._people[t.id].state.active,
            )
            for t in tracks
        ]
        return scores

    def _estimate(
        self, frame: Frame, track: Track, detection: PersonDetection, person: _Person, now: float
    ) -> Pose | None:
        """This frame's pose of a tracked person: from the locator's keypoints, or the pose model on a
        crop; a person still for a second is re-estimated only every ``still_pose_s`` (pose held)."""
        if detection.keypoints is not None:
            pose = Pose(
                detection.keypoints[:, :2].astype(np.float32), detection.keypoints[:, 2].astype(np.float32)
            )
        elif self._pose is None:
            return None
        else:
            moving = now - track.moved_at <= MOVING_S or person.state.active
            if not moving and person.is_person and now - person.pose_at < self.settings.still_pose_s:
                return person.pose
            # Crop tracking: follow the last confident keypoints while they are fresh, else the blob.
            recent = person.pose if now - person.pose_at <= RECENT_POSE_S else None
            region = (pose_region(recent) if recent is not None else None) or track.box
            pose = self._pose.estimate(frame.image, region)
            self.pose_runs += 1
        person.pose, person.pose_at = pose, now
        if pose_region(pose) is not None:
            person.is_person = True
        return pose

    def _adopt(self, track: Track, person: _Person) -> None:
        """If an orphaned fall lies where this new track starts, the track is that person, seen again.

        Only new tracks qualify: a helper who walks up to someone lying still (and so part of the
        background) starts elsewhere and must not end their fall.
        """
        box = track.box
        for orphan in self._orphans:
            old = orphan.box or box
            near = abs(box.centre[0] - old.centre[0]) < max(old.w, box.w) and abs(
                box.bottom - old.bottom
            ) < max(old.h, box.h)
            if old.iou(box) > 0.05 or near:
                self._orphans.remove(orphan)
                person.state, person.fall_id, person.zone, person.box = (
                    orphan.state,
                    orphan.fall_id,
                    orphan.zone,
                    orphan.box,
                )
                return

    def _zone(self, box: Box, size: tuple[int, int]) -> str | None:
        width, height = size
        x0, x1 = min(max(box.x / width, 0.0), 1.0), min(max((box.x + box.w) / width, 0.0), 1.0)
        y0, y1 = min(max(box.y / height, 0.0), 1.0), min(max(box.bottom / height, 0.0), 1.0)
        return self._zones.zone_of_box((x0, y0, x1, y1))

    def _event(self, change: str | None, person: _Person, when: datetime) -> list[Event]:
        if change is None:
            return []
        state = person.state
        data: dict[str, JsonValue] = {
            "camera": self.camera,
            "zone": person.zone,
            "confidence": state.confidence,
            "time_of_fall": utc_iso(datetime.fromtimestamp(state.fall_time, UTC)),
            "fall_id": person.fall_id,
        }
        if change == "confirmed":
            data["down_s"] = round(when.timestamp() - (state.down_since or 0.0), 1)
        if change == "recovered":
            data.update(down_s=state.down_s, confirmed=state.confirmed)
        event_id = person.fall_id if change == "detected" else new_event_id()
        return [
            Event(f"fall.{change}", self.camera, data, time=when, model=current(self._model).ref, id=event_id)
        ]
