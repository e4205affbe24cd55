"""Person localisation in one camera's frames: where the people are, as boxes with silhouette masks.

Two locators behind one Protocol, ``PersonLocator.locate(image, dt_s) -> list[PersonDetection]``:

- ``BackgroundLocator`` (the default, no download, works on real footage): OpenCV MOG2 background
  subtraction with its shadow label dropped, opening and closing, and nearby blobs merged into one
  person. The background does not learn where the caller says people are (``keep``), so a person
  lying still after a fall stays foreground, while everything else that stops changing fades in.
  OpenCV 5 no longer ships the HOG people detector or Haar cascades in its main modules, so motion
  is the only detector that needs no model file.
- ``OnnxPersonLocator`` (person_model.py): an integrator's own ONNX person or pose model (e.g. a YOLO
  export), described by a JSON model manifest, so a stronger model drops in without code changes.

Boxes are in pixels of the image handed in; masks are boolean crops of the box at the locator's own
working resolution (silhouette features are ratios). Nothing here leaves the camera's pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
XYXY = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) at working resolution
FloatArray = npt.NDArray[np.float32]

MOG2_FOREGROUND = 255  # MOG2 marks shadows 127 (detectShadows): those pixels are dropped


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in image pixels: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def bottom(self) -> float:
        """Image y of the lowest edge (where the feet are when standing)."""
        return self.y + self.h

    @property
    def centre(self) -> tuple[float, float]:
        """Centre of the box (x, y)."""
        return self.x + self.w / 2.0, self.y + self.h / 2.0

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other`` (0 when disjoint)."""
        ix = max(0.0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0.0, min(self.bottom, other.bottom) - max(self.y, other.y))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class PersonDetection:
    """One person in one frame: box, detector score, and what is known of the silhouette."""

    box: Box
    score: float
    mask: Mask | None = None  # person pixels inside the box, at the locator's working resolution
    keypoints: FloatArray | None = None  # K x 3 (x, y, score) in image pixels, from a pose model


class PersonLocator(Protocol):
    """Finds people in one camera's frames; keeps per-camera state (one instance per camera)."""

    def locate(
        self, image: Image, dt_s: float, keep: Sequence[Box] = (), analysed: Mask | None = None
    ) -> list[PersonDetection]:
        """People in ``image`` (BGR), ``dt_s`` after the previous frame; ``keep``: boxes (image
        pixels) where people are known to be, which must not fade into the background;
        ``analysed``: True where pixels are analysed, at image size (None: all of them; the
        rest is privacy-masked, black and never a person)."""
        ...


# --- background subtraction ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackgroundSettings:
    """Background-subtraction settings; every default says why."""

    work_width: int = 160
    """Frames are shrunk to this width first: a person is still 40+ px tall, and MOG2 costs ~1 ms."""
    absorb_s: float = 5.0
    """Outside the kept boxes, a static change (a moved chair, a lamp, the ghost a person leaves
    where they stood when the camera started) joins the background this fast."""
    var_threshold: float = 6.0
    """MOG2's squared Mahalanobis distance for foreground (~2.5 sigma; OpenCV's default 16 missed
    dark and low-contrast people: 80 % of simulated person-frames found at 16, 84 % at 6)."""
    min_area: float = 0.004
    """Blobs smaller than this fraction of the frame are noise (a person far away is ~1 %)."""
    merge_gap: tuple[float, float] = (0.02, 0.08)
    """Blobs closer than these fractions of the frame height (across, up-down) are one person: a
    body splits mostly into stacked parts (head, torso, legs) where clothing matches the background,
    while two people side by side stay apart."""
    max_foreground: float = 0.6
    """More foreground than this is a global change (lights, camera moved): relearn, report nothing."""
    warmup_frames: int = 10
    """First frames learnt at OpenCV's automatic rate, to build the first background."""


# MOG2 takes a stationary change into the background after about 0.11 / learning_rate frames
# (measured with OpenCV 5.0 at varThreshold 16); used to turn absorb_s into a per-frame rate.
_ABSORB_FRAMES_PER_RATE = 0.11


class BackgroundLocator:
    """People as moving foreground blobs (MOG2, shadows dropped, morphology, blob merging).

    Inside the boxes the caller asks to ``keep`` the background does not learn, so a person lying
    still stays foreground; elsewhere static changes fade in within ``absorb_s``. MOG2 has one
    learning rate per frame, so with boxes to keep each frame is applied twice: without learning, to
    find the foreground, then to learn from a copy whose kept boxes show the background image (plus
    noise of the measured level, so the model's variance there stays honest).
    """

    def __init__(self, settings: BackgroundSettings | None = None) -> None:
        self.settings = settings or BackgroundSettings()
        self._mog = cv2.createBackgroundSubtractorMOG2(
            history=500, varThreshold=self.settings.var_threshold, detectShadows=True
        )
        self._frames = 0
        self._rng = np.random.default_rng(0)
        self._sigma: float | None = None
        self._background: Image | None = None
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 9))  # tall: joins a body's parts

    def foreground(
        self, image: Image, dt_s: float, keep: Sequence[Box] = (), analysed: Mask | None = None
    ) -> Mask:
        """The cleaned foreground mask at working resolution; learns outside ``keep`` (image pixels).

        ``analysed`` (image size, True where not privacy-masked) only changes the global-change
        guard: the foreground fraction is measured over the analysed area, since masked pixels are
        black and never foreground, and would otherwise dilute the fraction until the guard can
        never trip (half the frame masked: 60 % of the frame is more than the analysed half).
        """
        height, width = image.shape[:2]
        scale = min(1.0, self.settings.work_width / width)
        size = (round(width * scale), round(height * scale))
        small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        area = None if analysed is None else _analysed_at(analysed, size)
        self._frames += 1
        if self._frames <= self.settings.warmup_frames:
            raw = self._mog.apply(small, learningRate=-1.0)
        elif not keep:  # nothing to protect: MOG2 classifies each pixel before it learns from it
            raw = self._mog.apply(small, learningRate=self._rate(dt_s))
        else:
            raw = self._mog.apply(small, learningRate=0.0)
            self._learn(small, dt_s, [_scaled(b, scale, small.shape) for b in keep])
        fg = (raw == MOG2_FOREGROUND).astype(np.uint8)
        if _fraction(fg, area) > self.settings.max_foreground:
            self._mog.apply(small, learningRate=1.0)  # a new scene: start again from this frame
            self._background = None
            return np.zeros(fg.shape, dtype=np.bool_)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._open)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self._close)
        return fg.astype(np.bool_)

    def _rate(self, dt_s: float) -> float:
        return min(1.0, _ABSORB_FRAMES_PER_RATE * max(dt_s, 1e-3) / self.settings.absorb_s)

    def _learn(self, small: Image, dt_s: float, keep: list[tuple[slice, slice]]) -> None:
        # The background image and the sensor noise change slowly: both refreshed every 10 frames.
        background, sigma = self._background, self._sigma
        if self._frames % 10 == 0 or background is None or sigma is None:
            background = self._background = np.asarray(self._mog.getBackgroundImage(), np.uint8)
            residual = np.abs(small[::4, ::4].astype(np.int16) - background[::4, ::4].astype(np.int16))
            sigma = self._sigma = max(1.0, 1.4826 * float(np.median(residual)))
        small = small.copy()
        for rows, cols in keep:
            patch = background[rows, cols].astype(np.float32)
            patch += self._rng.standard_normal(patch.shape, dtype=np.float32) * np.float32(sigma)
            small[rows, cols] = np.clip(patch, 0, 255).astype(np.uint8)
        self._mog.apply(small, learningRate=self._rate(dt_s))

    def locate(
        self, image: Image, dt_s: float, keep: Sequence[Box] = (), analysed: Mask | None = None
    ) -> list[PersonDetection]:
        """People in ``image`` as merged foreground blobs, largest first."""
        fg = self.foreground(image, dt_s, keep, analysed)
        scale = image.shape[1] / fg.shape[1]
        found = [
            PersonDetection(Box(x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale), 1.0, mask)
            for (x0, y0, x1, y1), mask in blobs(fg, self.settings)
        ]
        return sorted(found, key=lambda d: -d.box.w * d.box.h)


def _analysed_at(analysed: Mask, size: tuple[int, int]) -> Mask:
    """The analysed area at working ``size``: a working pixel counts only if all it covers does
    (INTER_AREA mixes neighbours, so a pixel touching the mask is partly black)."""
    if analysed.shape[::-1] != size:
        shrunk = cv2.resize(analysed.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        return np.asarray(shrunk >= 1.0 - 1e-6, np.bool_)
    return analysed


def _fraction(fg: npt.NDArray[np.uint8], area: Mask | None) -> float:
    """Share of the analysed ``area`` (all of ``fg`` for None) that is foreground."""
    if area is None:
        return float(fg.mean())
    count = int(area.sum())
    return float(fg[area].sum()) / count if count else 0.0


def _scaled(box: Box, scale: float, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """Rows and columns of ``box`` (image pixels) at working scale, grown by a tenth on each side."""
    pad_x, pad_y = 0.1 * box.w, 0.1 * box.h
    x0, x1 = max(0, int((box.x - pad_x) * scale)), min(shape[1], int((box.x + box.w + pad_x) * scale) + 1)
    y0, y1 = max(0, int((box.y - pad_y) * scale)), min(shape[0], int((box.bottom + pad_y) * scale) + 1)
    return slice(y0, y1), slice(x0, x1)


def blobs(fg: Mask, settings: BackgroundSettings) -> list[tuple[XYXY, Mask]]:
    """Connected components of ``fg``, near ones merged; each (x0, y0, x1, y1) with its mask crop."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    area = fg.shape[0] * fg.shape[1]
    keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= settings.min_area * area * 0.25]
    gap = (settings.merge_gap[0] * fg.shape[0], settings.merge_gap[1] * fg.shape[0])
    groups = _merge([(i, _xyxy(stats[i])) for i in keep], gap)
    out = []
    for members, (x0, y0, x1, y1) in groups:
        member = np.zeros(count, np.bool_)
        member[members] = True
        crop = member[labels[y0:y1, x0:x1]]  # a lookup: several times faster than np.isin
        if crop.sum() >= settings.min_area * area:
            out.append(((x0, y0, x1, y1), crop))
    return out


def _xyxy(stat: npt.NDArray[np.int32]) -> XYXY:
    x, y = int(stat[cv2.CC_STAT_LEFT]), int(stat[cv2.CC_STAT_TOP])
    return x, y, x + int(stat[cv2.CC_STAT_WIDTH]), y + int(stat[cv2.CC_STAT_HEIGHT])


def _near(a: XYXY, b: XYXY, gap: tuple[float, float]) -> bool:
    gx, gy = gap
    return a[0] - gx <= b[2] and b[0] - gx <= a[2] and a[1] - gy <= b[3] and b[1] - gy <= a[3]


def _merge(items: list[tuple[int, XYXY]], gap: tuple[float, float]) -> list[tuple[list[int], XYXY]]:
    """Transitive merge of boxes closer than ``gap`` (across, up-down) pixels."""
    groups = [([label], box) for label, box in items]
    i = 0
    while i < len(groups):
        j = next((j for j in range(len(groups)) if j != i and _near(groups[i][1], groups[j][1], gap)), None)
        if j is None:
            i += 1
            continue
        (la, a), (lb, b) = groups[i], groups[j]
        groups[i] = (la + lb, (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
        del groups[j]
        i = 0  # the grown box may now reach earlier ones
    return groups
