"""Person localisation in one camera's frames: where the people are, as boxes with silhouette masks.

Owns two locators behind one Protocol, ``PersonLocator.locate(image, dt_s) -> list[PersonDetection]``:

- ``BackgroundLocator`` (the default, no download, works on real footage): OpenCV MOG2 background
  subtraction with its shadow label dropped, opening and closing, and nearby blobs merged into one
  person. The background does not learn where the caller says people are (``keep``), so a person
  lying still after a fall stays foreground, while everything else that stops changing fades in.
  OpenCV 5 no longer ships the HOG people detector or Haar cascades in its main modules, so motion
  is the only detector that needs no model file.
- ``OnnxPersonLocator``: an integrator's own ONNX person or pose model (e.g. a YOLO export), described
  by a JSON model manifest (``PersonModelManifest``: input tensor, layout, normalisation, output
  decoding, thresholds), so a stronger model drops in without code changes.

Boxes are in pixels of the image handed in; masks are boolean crops of the box at the locator's own
working resolution (silhouette features are ratios). Nothing here leaves the camera's pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field, ValidationError

from gateway.inference.runner import ModelIntegrityError, OnnxModel
from gateway.security.signing import ManifestError, VerifiedManifest
from gateway.yamlfile import Strict

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


# --- pluggable ONNX person / pose model --------------------------------------------------------------


class PersonManifestError(ValueError):
    """A person-model manifest that cannot be used (bad JSON, field or value): fatal, not retried."""


class InputSpec(Strict):
    """The model's input tensor and how a BGR frame becomes it."""

    name: str = Field(min_length=1)
    shape: tuple[int, int, int, int] = Field(description="Batch 1, e.g. [1, 3, 640, 640] for NCHW")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    dtype: Literal["float32", "uint8"] = "float32"
    color: Literal["RGB", "BGR"] = "RGB"
    resize: Literal["letterbox", "stretch"] = "letterbox"
    pad_value: int = Field(114, ge=0, le=255)
    scale: float = Field(1.0 / 255.0, gt=0, description="Applied first: pixel * scale")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def size(self) -> tuple[int, int]:
        """Input width and height in pixels."""
        _, a, b, c = self.shape
        return (c, b) if self.layout == "NCHW" else (b, a)


class OutputSpec(Strict):
    """How the output tensor decodes into person boxes (and keypoints)."""

    name: str = Field(min_length=1)
    # yolo-boxes: rows of box, [objectness], class scores (YOLOv5/v8); yolo-pose: rows of box, score,
    # K * (x, y, score) (YOLOv8-pose); xyxy-score-class: rows x1 y1 x2 y2 score class (NMS included)
    decode: Literal["yolo-boxes", "yolo-pose", "xyxy-score-class"]
    transpose: bool = Field(False, description="Output is [1, C, N] (YOLOv8) rather than [1, N, C]")
    box: Literal["cxcywh", "xyxy"] = "cxcywh"
    normalized: bool = Field(False, description="Box coordinates are 0..1 of the input, not pixels")
    objectness: bool = Field(False, description="A YOLOv5-style objectness column follows the box")
    classes: int = Field(1, ge=1, description="Class-score columns (yolo-boxes)")
    person_class: int = Field(0, ge=0)
    keypoints: int = Field(0, ge=0, description="Keypoints per person (yolo-pose), e.g. 17 for COCO")


class Thresholds(Strict):
    """Decision thresholds of the person model."""

    score: float = Field(0.4, gt=0, le=1)
    nms_iou: float = Field(0.45, gt=0, le=1)


class PersonModelManifest(Strict):
    """The JSON file that describes an integrator's ONNX person or pose model (format 1)."""

    format: Literal[1]
    name: str = Field(min_length=1, max_length=64)
    file: str = Field(min_length=1, description="ONNX file, relative to the models manifest directory")
    input: InputSpec
    output: OutputSpec
    thresholds: Thresholds = Field(default_factory=Thresholds)
    max_detections: int = Field(20, ge=1, le=200)

    @classmethod
    def from_json(cls, text: str | bytes) -> PersonModelManifest:
        """Parse and validate a manifest; PersonManifestError names each bad field."""
        try:
            return cls.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise PersonManifestError(f"person model manifest: invalid JSON: {exc}") from exc
        except ValidationError as exc:
            lines = [f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()]
            raise PersonManifestError("person model manifest: " + "; ".join(lines)) from exc


class ArrayModel(Protocol):
    """One-input, one-output model (``gateway.inference.runner.OnnxModel`` is one)."""

    def run(self, inputs: npt.ArrayLike) -> npt.NDArray[np.generic]:
        """The output tensor for ``inputs``."""
        ...


def preprocess(
    image: Image, spec: InputSpec
) -> tuple[npt.NDArray[np.generic], tuple[float, float, float, float]]:
    """The model's input tensor for a BGR ``image``, and (scale x, scale y, pad x, pad y) to map back."""
    height, width = image.shape[:2]
    in_w, in_h = spec.size
    if spec.resize == "stretch":
        canvas = cv2.resize(image, (in_w, in_h), interpolation=cv2.INTER_LINEAR)
        geometry = (in_w / width, in_h / height, 0.0, 0.0)
    else:
        ratio = min(in_w / width, in_h / height)
        new_w, new_h = round(width * ratio), round(height * ratio)
        pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
        canvas = np.full((in_h, in_w, 3), spec.pad_value, dtype=np.uint8)
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
        geometry = (ratio, ratio, float(pad_x), float(pad_y))
    if spec.color == "RGB":
        canvas = canvas[:, :, ::-1]
    if spec.dtype == "uint8":
        tensor: npt.NDArray[np.generic] = np.ascontiguousarray(canvas)
    else:
        pixels = canvas.astype(np.float32) * np.float32(spec.scale)
        tensor = (pixels - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    if spec.layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor[None]), geometry


def _rows(output: npt.NDArray[np.generic], spec: OutputSpec) -> npt.NDArray[np.float32]:
    array = np.asarray(output, dtype=np.float32)
    array = array.reshape(array.shape[-2:]) if array.ndim == 3 else array
    if array.ndim != 2:
        raise PersonManifestError(
            f"output {spec.name}: expected a 2-D or [1, ., .] tensor, got {array.shape}"
        )
    return array.T if spec.transpose else array


def _xyxy_boxes(raw: FloatArray, spec: OutputSpec, size: tuple[int, int]) -> FloatArray:
    boxes = raw.copy()
    if spec.normalized:
        boxes *= np.asarray([size[0], size[1], size[0], size[1]], np.float32)
    if spec.box == "cxcywh":
        cx, cy, w, h = boxes.T
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes


def decode(
    output: npt.NDArray[np.generic], spec: OutputSpec, size: tuple[int, int]
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Person boxes (xyxy, input pixels), scores and keypoints (N, K, 3) from the raw output."""
    rows = _rows(output, spec)
    if spec.decode == "xyxy-score-class":
        person = rows[:, 5].round() == spec.person_class
        rows = rows[person]
        return _xyxy_boxes(rows[:, :4], spec.model_copy(update={"box": "xyxy"}), size), rows[:, 4], None
    if spec.decode == "yolo-pose":
        scores = rows[:, 4]
        kpts = rows[:, 5 : 5 + 3 * spec.keypoints].reshape(len(rows), spec.keypoints, 3)
        if spec.normalized:
            kpts = kpts * np.asarray([size[0], size[1], 1.0], np.float32)
        return _xyxy_boxes(rows[:, :4], spec, size), scores, kpts
    first = 5 if spec.objectness else 4
    scores = rows[:, first + spec.person_class]
    if spec.objectness:
        scores = scores * rows[:, 4]
    return _xyxy_boxes(rows[:, :4], spec, size), scores, None


def nms(boxes: FloatArray, scores: FloatArray, iou: float, limit: int) -> list[int]:
    """Indices kept by OpenCV's greedy non-maximum suppression (boxes xyxy), best first."""
    xywh = [[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in boxes]
    kept = cv2.dnn.NMSBoxes(xywh, [float(v) for v in scores], 0.0, iou, top_k=limit)
    return [int(i) for i in np.asarray(kept).reshape(-1)]


class OnnxPersonLocator:
    """People from an integrator's ONNX model, decoded as its manifest says.

    With a ``background`` locator, each box also gets the foreground mask inside it, so the silhouette
    features (occupancy, ellipse) are as complete as with background subtraction alone.
    """

    def __init__(
        self, manifest: PersonModelManifest, model: ArrayModel, background: BackgroundLocator | None = None
    ) -> None:
        self.manifest = manifest
        self._model = model
        self._background = background

    def locate(
        self, image: Image, dt_s: float, keep: Sequence[Box] = (), analysed: Mask | None = None
    ) -> list[PersonDetection]:
        """People in ``image`` (BGR) above the manifest's score threshold, after NMS."""
        fg = None if self._background is None else self._background.foreground(image, dt_s, keep, analysed)
        tensor, (sx, sy, px, py) = preprocess(image, self.manifest.input)
        boxes, scores, kpts = decode(self._model.run(tensor), self.manifest.output, self.manifest.input.size)
        good = np.flatnonzero(scores >= self.manifest.thresholds.score)
        kept = good[
            nms(boxes[good], scores[good], self.manifest.thresholds.nms_iou, self.manifest.max_detections)
        ]
        height, width = image.shape[:2]
        out = []
        for i in kept:
            x0, x1 = np.clip((boxes[i, [0, 2]] - px) / sx, 0, width)
            y0, y1 = np.clip((boxes[i, [1, 3]] - py) / sy, 0, height)
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            points = None if kpts is None else kpts[i].copy()
            if points is not None:
                points[:, :2] = (points[:, :2] - np.array([px, py], np.float32)) / np.array(
                    [sx, sy], np.float32
                )
            box = Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0))
            out.append(PersonDetection(box, float(scores[i]), _crop(fg, box, width), points))
        return out


def _crop(fg: Mask | None, box: Box, width: int) -> Mask | None:
    if fg is None:
        return None
    s = fg.shape[1] / width
    x0, y0 = int(box.x * s), int(box.y * s)
    x1, y1 = max(x0 + 1, round((box.x + box.w) * s)), max(y0 + 1, round(box.bottom * s))
    crop = fg[y0:y1, x0:x1]
    return crop if crop.any() else None


def load_onnx_locator(
    verified: VerifiedManifest, manifest_file: str, background: BackgroundLocator | None = None
) -> OnnxPersonLocator:
    """The locator for ``manifest_file`` (e.g. ``person/yolo.json``) of a signed models manifest.

    Both the JSON manifest and the ONNX file it names are read only through ``verified``, so an
    unsigned or changed file is refused like any other model.
    """
    try:
        manifest = PersonModelManifest.from_json(verified.read_verified(manifest_file))
    except ManifestError as exc:
        raise ModelIntegrityError(f"refusing person model manifest {manifest_file}: {exc}") from exc
    model = OnnxModel.from_signed(verified, manifest.file, manifest.name)
    return OnnxPersonLocator(manifest, model, background)
