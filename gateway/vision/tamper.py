"""Camera tampering cues on analysis frames: covered lens, moved view, frozen image.

Each cue is a condition measured on a small grey copy of the (already masked) analysis frame,
held for `<cue>_hold_s` before `camera.tampered` is raised and absent for `clear_hold_s` before
it clears (`camera.tamper_cleared`, if `report_cleared`). Durations are `*_s` settings, so a
simulator's time scale applies, and time is the frames' own, so a file played as fast as
possible sees the same durations as one played in real time.

- covered: the image is black, or its structure (gradient energy relative to brightness) has
  collapsed below a fraction of what this camera normally sees: a hand, tape, paint, a bag.
- moved: the view is cut into 4 x 3 tiles and each textured tile is phase-correlated with the
  same tile of a slowly updated reference; the view has moved when most tiles have shifted or no
  longer match (panned, tilted, rotated, zoomed, re-aimed). People cover a few tiles, a moved
  camera changes all of them. Phase correlation normalises the spectrum, so a change of brightness
  or contrast is invisible to it.
- frozen: consecutive frames are (near) identical while frames keep arriving; a live sensor
  always shows some noise.

Dimming keeps the relative structure and the phase of the view, so neither covered nor moved fires
on it; a room in total darkness does read as covered (the camera is blind), see `dark_level`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

from gateway.messages import Event, Frame, JsonValue
from gateway.vision.regions import Regions

CUES = ("covered", "moved", "frozen")
Grey = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TamperSettings:
    """Thresholds and hold times; every `*_s` is scaled by the simulator's time scale."""

    covered_hold_s: float = 5.0
    moved_hold_s: float = 5.0
    frozen_hold_s: float = 10.0
    clear_hold_s: float = 5.0
    interval_s: float = 0.25  # look at most this often: the cues hold for seconds, the CPU is shared
    moved_accept_s: float = 600.0  # a moved view that stays is learnt as the new normal after this long
    reference_tau_s: float = 60.0  # time constant with which the reference follows a calm view
    smooth_s: float = 1.0  # time constant of the match measure (a passer-by must not look like a move)
    dark_level: float = 10.0  # mean grey (0..255) below which the view is black
    covered_structure: float = 0.3  # structure below this fraction of the learnt normal: covered
    moved_shift: float = 0.02  # a tile shifted by this fraction of the frame width has moved
    moved_match: float = 0.5  # a tile matching below this fraction of its learnt normal has changed
    moved_tiles: float = 0.5  # the view has moved when this fraction of the textured tiles has
    frozen_mad: float = 0.15  # mean absolute grey difference between frames below which they are equal
    report_cleared: bool = True
    width: int = 128  # the grey copy the cues are measured on


@dataclass(frozen=True, slots=True)
class Measures:
    """What one frame shows, for the cues and for the event detail."""

    mean: float
    structure: float  # mean gradient magnitude / mean brightness
    moved: float  # fraction of the textured tiles that shifted or stopped matching, smoothed
    shift: float  # median shift of the textured tiles, fraction of the width
    mad: float  # mean absolute grey difference from the previous frame


class _Cue:
    """Hysteresis for one cue: raised after holding `hold_s`, cleared after `clear_s` without it."""

    def __init__(self, hold_s: float, clear_s: float) -> None:
        self.hold_s, self.clear_s = hold_s, clear_s
        self.active = False
        self.since: float | None = None  # when the current run of the condition (or its absence) began
        self.raised_at = 0.0

    def update(self, condition: bool, t: float) -> bool | None:
        """True when the cue is raised now, False when it clears now, None otherwise."""
        if condition == self.active:
            self.since = None
            return None
        if self.since is None:
            self.since = t
        if t - self.since < (self.hold_s if condition else self.clear_s):
            return None
        self.active, self.since = condition, None
        if condition:
            self.raised_at = t
        return condition


class _View:
    """The reference view, cut into tiles, and how the current view matches it tile by tile."""

    GRID = (4, 3)

    def __init__(self, valid: npt.NDArray[np.bool_], settings: TamperSettings) -> None:
        self.settings = settings
        height, width = valid.shape
        th, tw = height // self.GRID[1], width // self.GRID[0]
        self.tiles = [
            (slice(r * th, (r + 1) * th), slice(c * tw, (c + 1) * tw))
            for r in range(self.GRID[1])
            for c in range(self.GRID[0])
        ]
        self.usable = np.array([valid[tile].mean() >= 0.75 for tile in self.tiles])
        self.window = np.asarray(cv2.createHanningWindow((tw, th), cv2.CV_32F), np.float32)
        self.reference: Grey | None = None
        self.textured = self.usable.copy()
        self.normal: npt.NDArray[np.float64] | None = None  # each tile's usual match
        self.moved: float | None = None  # smoothed fraction of moved tiles

    def match(self, grey: Grey, dt: float) -> tuple[float, float, npt.NDArray[np.float64]]:
        """(smoothed fraction of moved tiles, median shift, each tile's match) against the reference."""
        ref = self.reference
        responses = np.ones(len(self.tiles))
        if ref is None or not self.textured.any():
            return 0.0, 0.0, responses
        shifts = np.zeros(len(self.tiles))
        for k in np.flatnonzero(self.textured):
            tile = self.tiles[k]
            # OpenCV 5's phaseCorrelate windows its inputs in place: hand it copies.
            (dx, dy), responses[k] = cv2.phaseCorrelate(ref[tile].copy(), grey[tile].copy(), self.window)
            shifts[k] = math.hypot(dx, dy) / grey.shape[1]
        normal = responses if self.normal is None else self.normal
        s = self.settings
        moved = (shifts > s.moved_shift) | (responses < s.moved_match * normal)
        now = float(moved[self.textured].mean())
        a = 1.0 if self.moved is None or s.smooth_s <= 0 else min(1.0, dt / s.smooth_s)
        self.moved = now if self.moved is None else self.moved + a * (now - self.moved)
        return self.moved, float(np.median(shifts[self.textured])), responses

    def learn(self, grey: Grey, responses: npt.NDArray[np.float64], alpha: float) -> None:
        """Follow a calm view slowly (the first one at once)."""
        if self.reference is None:
            self.reference = grey.copy()
        else:
            cv2.accumulateWeighted(grey, self.reference, alpha)
            self.normal = (
                responses if self.normal is None else self.normal + alpha * (responses - self.normal)
            )
        # Tiles without texture above the sensor's noise (a bare wall, a dark corner) match
        # anything or nothing: they have no vote.
        texture = [float(np.abs(np.diff(self.reference[tile], axis=1)).mean()) for tile in self.tiles]
        self.textured = self.usable & (np.array(texture) >= 1.0)

    def forget(self) -> None:
        """Start again from the next calm view (the camera was re-aimed for good)."""
        self.reference, self.normal, self.moved = None, None, None


class TamperDetector:
    """Tamper cues of one camera; satisfies the pipeline's FrameDetector protocol."""

    def __init__(self, source: str, settings: TamperSettings | None = None, regions: Regions | None = None):
        self.source = source
        self.settings = s = settings or TamperSettings()
        self.regions = regions or Regions()
        self.cues = {
            "covered": _Cue(s.covered_hold_s, s.clear_hold_s),
            "moved": _Cue(s.moved_hold_s, s.clear_hold_s),
            "frozen": _Cue(s.frozen_hold_s, s.clear_hold_s),
        }
        self._t0: datetime | None = None
        self._last_t = 0.0
        self._normal_structure = 0.0
        self._previous: Grey | None = None
        self._valid: npt.NDArray[np.bool_] | None = None
        self._view: _View | None = None
        self._responses = np.ones(0)
        self.last: Measures | None = None

    def active(self) -> list[str]:
        """The cues in force."""
        return [name for name, cue in self.cues.items() if cue.active]

    def on_frame(self, frame: Frame) -> list[Event]:
        """Measure one analysis frame and return the tamper events it completes."""
        if self._t0 is None:
            self._t0 = frame.time
        t = (frame.time - self._t0).total_seconds()
        if self.last is not None and t - self._last_t < self.settings.interval_s:
            return []
        dt, self._last_t = max(t - self._last_t, 0.0), t
        grey = self._grey(frame.image)
        m = self._measure(grey, dt)
        self.last = m
        s = self.settings
        covered = m.mean < s.dark_level or m.structure < s.covered_structure * self._normal_structure
        conditions = {
            "covered": covered,
            "moved": not covered and m.moved >= s.moved_tiles,
            "frozen": not covered and m.mad < s.frozen_mad,
        }
        view = self._view
        assert view is not None
        if covered:
            view.moved = None  # what a covered lens "matches" says nothing about the view after it
        moved = self.cues["moved"]
        if moved.active and t - moved.raised_at >= s.moved_accept_s:
            view.forget()
        events = [
            self._event(name, raised, m, t)
            for name, raised in self._update(conditions, t)
            if raised or s.report_cleared
        ]
        if not any(conditions.values()) and not self.active():
            self._learn(grey, m, dt)
        self._previous = grey
        return events

    def _update(self, conditions: dict[str, bool], t: float) -> list[tuple[str, bool]]:
        changes = []
        for name, condition in conditions.items():
            change = self.cues[name].update(condition, t)
            if change is not None:
                changes.append((name, change))
        return changes

    def _grey(self, image: npt.NDArray[np.uint8]) -> Grey:
        height = max(8, round(image.shape[0] * self.settings.width / image.shape[1]))
        small = cv2.resize(image, (self.settings.width, height), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        if self._valid is None or self._valid.shape != grey.shape:
            keep = self.regions.keep(grey.shape[1], grey.shape[0]).astype(np.uint8)
            # Away from mask borders: the edge of a blacked-out area is not the scene's structure.
            self._valid = cv2.erode(keep, np.ones((5, 5), np.uint8)).astype(np.bool_)
            if not self._valid.any():
                self._valid = keep.astype(np.bool_)
            self._view = _View(self._valid, self.settings)
            self._previous = None
        return np.asarray(grey, np.float32)

    def _measure(self, grey: Grey, dt: float) -> Measures:
        valid = self._valid
        assert valid is not None
        mean = float(grey[valid].mean()) if valid.any() else 0.0
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        structure = float(np.abs(gx)[valid].mean() + np.abs(gy)[valid].mean()) / max(mean, 1.0)
        assert self._view is not None
        filled = np.where(valid, grey, mean).astype(np.float32)
        moved, shift, self._responses = self._view.match(filled, dt)
        prev = self._previous
        mad = float(np.abs(grey - prev)[valid].mean()) if prev is not None else math.inf
        return Measures(mean, structure, moved, shift, mad)

    def _learn(self, grey: Grey, m: Measures, dt: float) -> None:
        """Let the reference view, its structure and its match follow a calm view, slowly."""
        valid, view = self._valid, self._view
        assert valid is not None and view is not None
        if m.mean < self.settings.dark_level:
            return
        alpha = min(1.0, dt / self.settings.reference_tau_s)
        first = view.reference is None
        view.learn(np.where(valid, grey, m.mean).astype(np.float32), self._responses, alpha)
        if first:
            self._normal_structure = m.structure
        else:
            self._normal_structure += alpha * (m.structure - self._normal_structure)

    def _event(self, cue: str, raised: bool, m: Measures, t: float) -> Event:
        assert self._t0 is not None
        when = self._t0 + timedelta(seconds=t)
        active: list[JsonValue] = list(self.active())
        if raised:
            data: dict[str, JsonValue] = {"cue": cue, "active": active, "detail": _detail(cue, m)}
            return Event("camera.tampered", self.source, data, time=when)
        duration = round(t - self.cues[cue].raised_at, 1)
        return Event(
            "camera.tamper_cleared",
            self.source,
            {"cue": cue, "active": active, "duration_s": duration},
            time=when,
        )


def _detail(cue: str, m: Measures) -> str:
    if cue == "covered":
        return f"mean brightness {m.mean:.0f}/255, structure {m.structure:.3f}"
    if cue == "moved":
        return f"{m.moved * 100:.0f} % of the view moved, median shift {m.shift * 100:.1f} % of the width"
    return f"mean frame difference {m.mad:.2f} grey levels"
