"""One camera's pipeline: its source, its frame detectors, and the one way out (events, statuses).

Frames never leave: the source hands each analysis frame to this pipeline, which shows it to the
camera's detectors in the camera's own analysis thread and passes on only what they conclude
(`Event`), the camera's availability among them (`camera.online`/`camera.offline`). A detector that raises costs one frame,
logged with its traceback at most once a minute per detector, never the camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from gateway.config import CameraConfig
from gateway.events import status_event
from gateway.inference.slots import Slot
from gateway.messages import Event, Frame, SourceStatus
from gateway.sources.camera import CameraSource, CameraSpec
from gateway.timescale import scale_durations
from gateway.trust import Untrusted
from gateway.vision.fall import FallDetector, FallModel, FallSettings
from gateway.vision.person import BackgroundLocator, PersonLocator
from gateway.vision.person_model import PersonModel
from gateway.vision.pose import PoseEstimator, estimator
from gateway.vision.regions import Regions
from gateway.vision.tamper import TamperDetector, TamperSettings

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]


class FrameDetector(Protocol):
    """Anything that turns analysis frames into events (fall detector, tamper detector)."""

    def on_frame(self, frame: Frame) -> list[Event]:
        """The events this frame completes (usually none)."""
        ...


def camera_regions(config: CameraConfig) -> Regions:
    """A configured camera's zones and privacy masks."""
    return Regions([(zone.name, zone.polygon) for zone in config.zones], config.masks)


def camera_spec(config: CameraConfig) -> CameraSpec:
    """Transport settings for one configured camera.

    The transport's timeouts are wall-clock properties of a stream: they are not time-scaled.
    """
    return CameraSpec(source=config.id, url=config.url, analysis_fps=config.fps, realtime=config.realtime)


class LogThrottle:
    """At most one log record per key and period; the rest are counted and mentioned next time."""

    def __init__(self, period_s: float = 60.0) -> None:
        self.period_s = period_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> int | None:
        """None if this record should be suppressed, else how many were suppressed since the last."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._suppressed.pop(key, 0)


class CameraPipeline:
    """One camera: source -> detectors -> emit, all inside the camera's own threads."""

    def __init__(self, source: CameraSource, detectors: Sequence[FrameDetector], emit: Emit) -> None:
        self.source = source
        self.detectors = list(detectors)
        self._emit = emit
        self._throttle = LogThrottle(60.0)
        self.detector_failures = 0
        self.emit_failures = 0

    def start(self) -> None:
        """Start the camera; from now on events and statuses go to `emit`."""
        self.source.start(self._on_frame, self._on_status)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the camera (its detectors see no more frames)."""
        self.source.stop(timeout)

    def _on_frame(self, frame: Frame) -> None:
        events: list[Event] = []
        for detector in self.detectors:
            try:
                events.extend(detector.on_frame(frame))
            except Exception:  # a detector bug costs this frame for this detector, not the camera
                self.detector_failures += 1
                suppressed = self._throttle.allow(type(detector).__name__)
                if suppressed is not None:
                    log.exception(
                        "camera %s: %s failed on frame %d; frame skipped (%d more failures hidden)",
                        frame.source,
                        type(detector).__name__,
                        frame.index,
                        suppressed,
                    )
        for event in events:
            self._send(event)

    def _on_status(self, status: SourceStatus) -> None:
        self._send(status_event(status, "camera"))

    def _send(self, item: Event) -> None:
        try:
            self._emit(item)
        except Exception:  # the consumer's problem must not stop this camera either
            self.emit_failures += 1
            suppressed = self._throttle.allow("emit")
            if suppressed is not None:
                log.exception("camera %s: emit failed (%d more failures hidden)", item.source, suppressed)


DEFAULT_POSE_MODEL = "person/movenet.json"  # the shipped MoveNet manifest in the signed models


def _named(camera: CameraConfig, people: Mapping[str, PersonModel]) -> PersonModel | None:
    """The person model a camera names, if any; Untrusted if the signed manifest lacks it."""
    name = camera.fall.person_model
    if name is None:
        return None
    if name not in people:
        listed = ", ".join(people) or "none"
        raise Untrusted(
            "model",
            f"camera {camera.id}: fall.person_model {name} is not in the signed models manifest "
            f"(person models listed: {listed})",
        )
    return people[name]


def perception(
    camera: CameraConfig, people: Mapping[str, PersonModel]
) -> tuple[PersonLocator, PoseEstimator | None] | None:
    """How a camera finds people and their poses, or None if it cannot have poses. By default
    motion (background subtraction) finds people and the shipped MoveNet poses them. A named model
    replaces what it can do: a single-pose model replaces MoveNet; a YOLO pose model finds people
    with their keypoints; a box-only model finds people and MoveNet still poses them."""
    named = _named(camera, people)
    default = people.get(DEFAULT_POSE_MODEL)
    shipped = None if default is None else estimator(default)
    decode = None if named is None else named.manifest.output.decode
    if named is None or decode == "movenet-singlepose":
        pose = shipped if named is None else estimator(named)
        return None if pose is None else (BackgroundLocator(), pose)
    locator: PersonLocator = named.locator(BackgroundLocator())
    if decode == "yolo-pose":
        return locator, None
    return None if shipped is None else (locator, shipped)


def fall_detector(
    camera: CameraConfig,
    fall_model: FallModel | Slot[FallModel] | None,
    people: Mapping[str, PersonModel],
    settings: FallSettings | None = None,
) -> FallDetector | None:
    """A camera's fall detector (its own locator and tracker), None without a fall or pose model.

    `settings` default to the camera's config; a rollout bundle brings its own (gateway/rollout/)."""
    seeing = perception(camera, people)
    if fall_model is None or seeing is None:
        return None
    # Not time-scaled: simulated cameras stream in real time whatever the sensors' pace.
    settings = settings or FallSettings(confirm_s=camera.fall.confirm_s)
    locator, pose = seeing
    return FallDetector(camera.id, settings, camera_regions(camera), fall_model, locator=locator, pose=pose)


def build_camera(
    camera: CameraConfig,
    fall_model: Slot[FallModel] | None,
    people: Mapping[str, PersonModel],
    emit: Emit,
    time_scale: float = 1.0,
) -> CameraPipeline:
    """One camera's isolated pipeline: tamper cues always, falls when enabled and models are shipped."""
    regions = camera_regions(camera)
    source = CameraSource(camera_spec(camera), regions.black_out)
    tamper = TamperDetector(camera.id, scale_durations(TamperSettings(), 1.0 / time_scale), regions)
    detectors: list[FrameDetector] = [tamper]
    if camera.fall.enabled:
        fall = fall_detector(camera, fall_model, people)
        if fall is None:
            log.warning(
                "camera %s: no fall or pose model in the signed manifest; fall detection off", camera.id
            )
        else:
            detectors.append(fall)
    return CameraPipeline(source, detectors, emit)
