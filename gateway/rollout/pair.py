"""One camera's fall detectors, active and shadow, on the same frames.

`FallPair` takes the fall detector's place in the camera's pipeline. Only the active detector's
events are returned to the pipeline (and so to the privacy door); the shadow's go to the comparator
and nowhere else. A failing shadow costs its own frame, never the active's events.

A new shadow starts on a quiet frame: one where the active detector sees nobody still or down (or
after ARM_WITHIN_S regardless). A detector's background model learns from its first frames, and a
person lying still then would be learnt into it and blind the shadow for minutes.
"""

from __future__ import annotations

import logging
import threading
import time

from gateway.messages import Event, Frame
from gateway.rollout.compare import ACTIVE, SHADOW, Comparator, CostMeter
from gateway.vision.fall import FallDetector, Observation
from gateway.vision.pipeline import LogThrottle

log = logging.getLogger(__name__)

ARM_WITHIN_S = 600.0  # a camera never quiet this long gets its shadow anyway


class FallPair:
    """A FrameDetector: the active fall detector, and optionally a shadow beside it."""

    def __init__(
        self, camera: str, active: FallDetector | None, comparator: Comparator, meter: CostMeter
    ) -> None:
        self.camera = camera
        self._active = active
        self._shadow: FallDetector | None = None
        self._pending: tuple[FallDetector, float] | None = None  # a shadow waiting for a quiet frame
        self._comparator = comparator
        self._meter = meter
        self._lock = threading.Lock()  # swaps come from the gateway's loop, frames from the camera's
        self._throttle = LogThrottle(60.0)
        self.shadow_failures = 0

    @property
    def active(self) -> FallDetector | None:
        """The detector whose events actors receive."""
        return self._active

    @property
    def shadow(self) -> FallDetector | None:
        """The detector on trial, whose events nobody receives (running, or waiting to start)."""
        return self._shadow if self._pending is None else self._pending[0]

    @property
    def observations(self) -> list[Observation]:
        """What the active detector saw of each track in the last frame (the commissioning page)."""
        active = self._active
        return [] if active is None else active.observations

    def set(self, active: FallDetector | None, shadow: FallDetector | None) -> None:
        """Replace both (from the gateway's loop): the active at once, a new shadow on a quiet frame."""
        with self._lock:
            self._active = active
            if shadow is not self.shadow:
                self._shadow, self._pending = None, None if shadow is None else (shadow, time.monotonic())

    def promote(self) -> None:
        """The shadow becomes the active detector, with the state it has built on the same frames."""
        with self._lock:
            shadow = self.shadow
            if shadow is not None:
                self._active, self._shadow, self._pending = shadow, None, None

    def on_frame(self, frame: Frame) -> list[Event]:
        """The active detector's events; the shadow's are only compared."""
        with self._lock:
            if self._pending is not None and self._quiet(frame):
                self._shadow, self._pending = self._pending[0], None
            active, shadow = self._active, self._shadow
        events: list[Event] = []
        if active is not None:
            started = time.thread_time_ns()
            events = active.on_frame(frame)
            self._meter.add(ACTIVE, self.camera, time.thread_time_ns() - started)
        if shadow is not None:
            self._comparator.record(ACTIVE, events)
            self._comparator.record(SHADOW, self._run_shadow(shadow, frame))
        return events

    def _quiet(self, frame: Frame) -> bool:
        assert self._pending is not None
        waited = time.monotonic() - self._pending[1]
        return self._active is None or waited >= ARM_WITHIN_S or self._active.quiet(frame.time.timestamp())

    def _run_shadow(self, shadow: FallDetector, frame: Frame) -> list[Event]:
        started = time.thread_time_ns()
        try:
            return shadow.on_frame(frame)
        except Exception:  # the shadow is on trial: its bug costs its frame, never the active's events
            self.shadow_failures += 1
            suppressed = self._throttle.allow("shadow")
            if suppressed is not None:
                log.exception(
                    "camera %s: shadow fall detector failed (%d more hidden)", self.camera, suppressed
                )
            return []
        finally:
            self._meter.add(SHADOW, self.camera, time.thread_time_ns() - started)
