"""Per-person tracking within one camera: stable track ids and each person's standing height.

Owns the association of this frame's person detections with the tracks of earlier frames (greedy on
box overlap, with a centroid-distance fallback for the fast shape change of a fall, when a tall box
turns into a wide one) and, per track, an estimate of how tall the person is when standing and
where the floor is under them. Those two make the silhouette features scale-free: "height relative
to standing height" works for a person near or far from the camera. Pure logic: time comes from the
caller, so replays give the same tracks.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from gateway.vision.person import Box, PersonDetection


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    """Association and standing-height settings; every default says why."""

    min_iou: float = 0.15
    """Boxes overlapping at least this much are the same person (10 fps: a walker overlaps ~0.6)."""
    centroid_gate: float = 0.8
    """Else, centres closer than this many track heights still match: a falling body's box changes
    shape so fast that its overlap with the previous frame can drop below min_iou."""
    max_missing_s: float = 1.5
    """A track unseen this long is dropped (occlusion behind furniture, a missed frame or two)."""
    min_hits: int = 2
    """Detections before a track is reported: one-frame flickers are not people."""
    upright_ratio: float = 1.6
    """Box height/width from which a person counts as upright (walking ~2-3.5, sitting ~1.2-1.6)."""
    standing_samples: int = 8
    """Upright frames remembered for the standing height (0.8 s at 10 fps): short, because the
    height in pixels changes as fast as the distance to the camera (a third within two seconds
    when someone walks away from it); kept while they sit, crouch or lie."""
    standing_percentile: float = 50.0
    """Standing height = this percentile of the remembered upright heights: the median ignores the
    first frames of a fall, whose box is still tall enough to count as upright."""
    standing_fall_s: float = 6.0
    """The estimate may shrink at most by a factor e per this many seconds of upright frames (~15 %
    a second): fast enough to follow someone walking away from the camera, too slow to follow a
    slow collapse or a slide from a chair, whose box stays tall-ish while the person goes down."""
    move_fraction: float = 0.15
    """A track has moved when its box centre or height changed by this fraction of its size since
    the last move: a person's sway while sitting or lying stays below it, a step does not."""
    edge_px: float = 2.0
    """Boxes this close to the top or bottom edge are cut off: not used for the standing height."""


@dataclass
class Track:
    """One person followed across frames."""

    id: int
    box: Box
    first_seen: float
    last_seen: float
    detection: PersonDetection | None = None  # this frame's detection; None while coasting
    hits: int = 1
    tallest: float = 0.0
    upright: deque[tuple[float, float]] = field(default_factory=deque)  # (height, bottom y)
    percentile: float = 50.0
    standing: float = 0.0  # the rate-limited estimate (0 until the first upright frame)
    standing_at: float = 0.0  # when it was last updated
    moved_at: float = float("-inf")  # when the box last moved (never, for a static blob or a ghost)
    anchor: tuple[float, float, float] = (0.0, 0.0, 0.0)  # centre x, y and height at the last move

    @property
    def standing_height(self) -> float:
        """Estimated standing height in pixels at the person's place (never below 1)."""
        return max(1.0, self.standing if self.upright else self.tallest)

    def _recent_upright(self) -> float:
        heights = sorted(h for h, _ in self.upright)
        rank = (len(heights) - 1) * self.percentile / 100.0  # linear interpolation, as numpy's
        low = int(rank)
        high = min(low + 1, len(heights) - 1)
        return heights[low] + (heights[high] - heights[low]) * (rank - low)

    def add_upright(self, height: float, bottom: float, time_s: float, settings: TrackerSettings) -> None:
        """Remember an upright frame and update the (rate-limited) standing height."""
        self.upright.append((height, bottom))
        while len(self.upright) > settings.standing_samples:
            self.upright.popleft()
        floor = self.standing * math.exp(-(time_s - self.standing_at) / settings.standing_fall_s)
        self.standing, self.standing_at = max(self._recent_upright(), floor), time_s

    @property
    def floor_y(self) -> float:
        """Image y of the floor under the person: their feet when last upright, else the box bottom."""
        if self.upright:
            return float(statistics.median(b for _, b in self.upright))
        return self.box.bottom


class Tracker:
    """Associates detections with tracks frame by frame; one instance per camera."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._tracks: list[Track] = []
        self._next_id = 1
        self.dropped: list[Track] = []  # tracks ended by the last update

    @property
    def tracks(self) -> list[Track]:
        """All live tracks, reported or not yet."""
        return list(self._tracks)

    def update(self, detections: list[PersonDetection], time_s: float, height: int) -> list[Track]:
        """Match ``detections`` (from an image ``height`` pixels tall) at ``time_s``; reported tracks."""
        pairs = self._associate(detections)
        matched_tracks = {id(t) for t, _ in pairs}
        for track in self._tracks:
            if id(track) not in matched_tracks:
                track.detection = None
        for track, det in pairs:
            self._observe(track, det, time_s, height)
        used = {id(d) for _, d in pairs}
        for det in detections:
            if id(det) not in used:
                track = Track(self._next_id, det.box, time_s, time_s)
                track.percentile = self.settings.standing_percentile
                track.anchor = (*det.box.centre, det.box.h)
                track.moved_at = self._inherited_motion(det.box)
                self._next_id += 1
                self._observe(track, det, time_s, height)
                track.hits = 1
                self._tracks.append(track)
        limit = self.settings.max_missing_s
        self.dropped = [t for t in self._tracks if time_s - t.last_seen > limit]
        self._tracks = [t for t in self._tracks if time_s - t.last_seen <= limit]
        return [t for t in self._tracks if t.hits >= self.settings.min_hits]

    def _inherited_motion(self, box: Box) -> float:
        """A new blob overlapping a known person is a part of them (split off by the segmentation):
        it has moved when they last did. A blob appearing on its own has not moved yet."""
        overlapping = [t.moved_at for t in self._tracks if t.box.iou(box) > 0.0]
        return max(overlapping, default=float("-inf"))

    def _score(self, track: Track, det: PersonDetection) -> float:
        overlap = track.box.iou(det.box)
        if overlap >= self.settings.min_iou:
            return 1.0 + overlap
        (tx, ty), (dx, dy) = track.box.centre, det.box.centre
        distance = float(np.hypot(tx - dx, ty - dy)) / max(track.box.h, track.box.w, 1.0)
        return 1.0 - distance / self.settings.centroid_gate if distance < self.settings.centroid_gate else 0.0

    def _associate(self, detections: list[PersonDetection]) -> list[tuple[Track, PersonDetection]]:
        candidates = sorted(
            ((self._score(t, d), i, j) for i, t in enumerate(self._tracks) for j, d in enumerate(detections)),
            reverse=True,
        )
        pairs, taken_t, taken_d = [], set(), set()
        for score, i, j in candidates:
            if score > 0 and i not in taken_t and j not in taken_d:
                pairs.append((self._tracks[i], detections[j]))
                taken_t.add(i)
                taken_d.add(j)
        return pairs

    def _observe(self, track: Track, det: PersonDetection, time_s: float, height: int) -> None:
        track.box, track.detection, track.last_seen = det.box, det, time_s
        track.hits += 1
        (cx, cy), (ax, ay, ah) = det.box.centre, track.anchor
        size = self.settings.move_fraction * max(det.box.h, det.box.w, 1.0)
        if np.hypot(cx - ax, cy - ay) > size or abs(det.box.h - ah) > size:
            track.moved_at, track.anchor = time_s, (cx, cy, det.box.h)
        box, edge = det.box, self.settings.edge_px
        track.tallest = max(track.tallest, box.h)
        cut = box.y <= edge or box.bottom >= height - edge
        if not cut and box.h >= self.settings.upright_ratio * box.w:
            track.add_upright(box.h, box.bottom, time_s, self.settings)
