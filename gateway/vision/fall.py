"""The fall detector of one camera: frames -> people -> tracks -> silhouettes -> fall model -> events.

Owns the fall events (type names and payloads are a public contract):

- ``fall.detected``: a fall motion ended with the person low or lying. The ONNX fall model reads a
  3 s window of the person's silhouette features (see silhouette.py) and must say "a fall just
  ended" on ``detect_windows`` consecutive frames, and the person must be low or lying now.
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
from gateway.vision.person import BackgroundLocator, Box, PersonLocator
from gateway.vision.regions import Regions
from gateway.vision.silhouette import FeatureHistory, Silhouette, silhouette
from gateway.vision.tracking import Track, Tracker, TrackerSettings

FALL_DETECTED: Final = "fall.detected"
FALL_CONFIRMED: Final = "fall.confirmed"
FALL_RECOVERED: Final = "fall.recovered"
MODEL_NAME: Final = "fall"
MODEL_FILE: Final = "fall/fall_model.onnx"
ADOPT_WITHIN_S: Final = 1.0  # a track this young, starting where a vanished fallen person lay, is them

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
    low_ratio: float = 0.6
    """Down: shorter than this fraction of the standing height..."""
    lying_ratio: float = 1.0
    """...or a box at least as wide as tall (height/width at most this)."""
    confirm_s: float = 10.0
    """Still down this long after the fall: fall.confirmed (the issue's default)."""
    recover_s: float = 2.0
    """Upright this long: fall.recovered (a stumble back to the knees is not recovery)."""
    upright_ratio: float = 0.8
    """Upright: at least this fraction of the standing height and taller than wide."""
    min_history_s: float = 1.0
    """A track is scored only after this much history: a person walking in is not a fall."""
    keep_still_s: float = 60.0
    """A person who moved within this time stays foreground however still they are (the background
    does not learn where they are); after that only someone who fell does. Someone who sits still
    longer fades into the background and is found again when they move."""
    hold_down_s: float = 900.0
    """A fallen person who vanishes (motionless long enough to join the background, or hidden) is
    remembered this long, so their getting up still ends the fall."""
    tracker: TrackerSettings = field(default_factory=TrackerSettings)


class FallState:
    """One person's fall state machine, shared by the camera path and the UR Fall evaluation.

    ``step`` takes the person's latest silhouette and model probability and returns the transition
    it completes: "detected", "confirmed", "recovered" or None.
    """

    def __init__(self, settings: FallSettings) -> None:
        self.settings = settings
        self.down_since: float | None = None  # detection time, while a fall is in progress
        self.fall_time = 0.0  # when the body came down (fastest descent), seconds
        self.confidence = 0.0
        self.confirmed = False
        self.down_s = 0.0  # at recovery: seconds from detection until upright again
        self._up_since: float | None = None
        self._streak = 0
        self._best = 0.0

    @property
    def active(self) -> bool:
        """A fall has been detected and the person has not got up since."""
        return self.down_since is not None

    def is_down(self, s: Silhouette) -> bool:
        """Low or lying."""
        return s.height_ratio <= self.settings.low_ratio or s.height_width <= self.settings.lying_ratio

    def is_upright(self, s: Silhouette) -> bool:
        """Standing (or walking) again."""
        return s.height_ratio >= self.settings.upright_ratio and s.height_width > 1.0

    def step(self, now: float, history: FeatureHistory, probability: float | None) -> str | None:
        """Advance to ``now`` with the person's history (latest silhouette last); the transition."""
        current = history.latest
        if current is None:
            return self.tick(now)
        if self.down_since is not None:
            return self._while_down(now, current)
        if probability is None or probability < self.settings.threshold:
            self._streak, self._best = 0, 0.0
            return None
        self._streak += 1
        self._best = max(self._best, probability)
        if self._streak < self.settings.detect_windows or not self.is_down(current):
            return None
        self.down_since, self.fall_time = now, fall_time(history, now)
        self.confidence, self.confirmed, self._up_since = round(self._best, 3), False, None
        self._streak, self._best = 0, 0.0
        return "detected"

    def tick(self, now: float) -> str | None:
        """Advance time without seeing the person (hidden, or still long enough to be background)."""
        return self._maybe_confirm(now) if self.down_since is not None else None

    def _while_down(self, now: float, current: Silhouette) -> str | None:
        assert self.down_since is not None
        if not self.is_upright(current):
            self._up_since = None
            return self._maybe_confirm(now)
        self._up_since = now if self._up_since is None else self._up_since
        if now - self._up_since < self.settings.recover_s:
            return self._maybe_confirm(now)
        self.down_s = round(self._up_since - self.down_since, 1)
        self.down_since = None
        return "recovered"

    def _maybe_confirm(self, now: float) -> str | None:
        assert self.down_since is not None
        if self.confirmed or now - self.down_since < self.settings.confirm_s:
            return None
        self.confirmed = True
        return "confirmed"


def fall_time(history: FeatureHistory, now: float) -> float:
    """When the body came down: the fastest descent among the remembered samples (else ``now``)."""
    samples = history.samples()
    if not samples:
        return now
    return min(samples, key=lambda item: item[1].vertical_speed)[0]


@dataclass(frozen=True, slots=True)
class Observation:
    """What the detector saw of one reported track in the last frame (for tools; never published)."""

    track: int
    box: Box
    silhouette: Silhouette | None  # None while the track coasts without a detection
    probability: float | None  # None until the track has min_history_s of history


@dataclass
class _Person:
    state: FallState
    history: FeatureHistory = field(default_factory=FeatureHistory)
    fall_id: str = ""
    zone: str | None = None
    box: Box | None = None  # where the person was when the fall was detected; never published


class FallDetector:
    """Fall events for one camera (a FrameDetector): ``on_frame(frame) -> list[Event]``."""

    def __init__(
        self,
        camera: str,
        settings: FallSettings,
        zones: Regions,
        model: FallModel | Slot[FallModel],
        *,
        locator: PersonLocator | None = None,
    ) -> None:
        self.camera = camera
        self.settings = settings
        self._zones = zones
        self._model = model
        self._locator = locator or BackgroundLocator()
        self._tracker = Tracker(settings.tracker)
        self._people: dict[int, _Person] = {}
        self._orphans: list[_Person] = []  # falls whose person is no longer tracked
        self._last: float | None = None
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
        scores = self._observe(tracks, now)
        self.observations = [
            Observation(
                t.id,
                t.box,
                self._people[t.id].history.latest if t.detection is not None else None,
                scores.get(t.id),
            )
            for t in tracks
        ]
        events: list[Event] = []
        for track in tracks:
            person = self._people[track.id]
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

    def _keep(self, now: float) -> list[Box]:
        """Where the background must not learn: people who moved lately, and everyone who fell."""
        boxes = [
            t.box
            for t in self._tracker.tracks
            if now - t.moved_at <= self.settings.keep_still_s
            or (t.id in self._people and self._people[t.id].state.active)
        ]
        return boxes + [p.box for p in self._orphans if p.box is not None]

    def _observe(self, tracks: list[Track], now: float) -> dict[int, float]:
        """Add this frame's silhouettes; model probabilities of the tracks with enough history."""
        ids, windows = [], []
        for track in tracks:
            person = self._people.setdefault(track.id, _Person(FallState(self.settings)))
            if track.detection is not None:
                person.history.add(now, silhouette(track.detection, track))
            # No detection this frame, no new decision: a person walking behind furniture or out of
            # view leaves a shrinking box that would otherwise look like going down.
            if track.detection is not None and person.history.span_s >= self.settings.min_history_s:
                ids.append(track.id)
                windows.append(person.history.window(now))
        if not windows:
            return {}
        probabilities = current(self._model).score(np.stack(windows).astype(np.float32))
        return {i: float(p) for i, p in zip(ids, probabilities, strict=True)}

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
