"""An integrator's ONNX person or pose model, run as its JSON manifest describes it.

``PersonModelManifest`` (format 1) names the ONNX file, its input tensor (size, layout, dtype,
colour order, letterbox or stretch, normalisation) and how its output decodes into people
(YOLO boxes, YOLO pose keypoints, or rows already through NMS), with thresholds. Both files are
read only through a verified, signed models manifest. ``OnnxPersonLocator`` is a ``PersonLocator``
(person.py) that can borrow a ``BackgroundLocator``'s mask for each box, so silhouette features
stay as complete as with background subtraction alone.
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
from gateway.vision.person import BackgroundLocator, Box, FloatArray, Image, Mask, PersonDetection
from gateway.yamlfile import Strict


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
    # K * (x, y, score) (YOLOv8-pose); xyxy-score-class: rows x1 y1 x2 y2 score class (NMS included);
    # movenet-singlepose: [1, 1, K, 3] y, x (0..1 of the input), score of the one person in the input
    # (MoveNet); run on a crop around each person, never as a whole-frame locator
    decode: Literal["yolo-boxes", "yolo-pose", "xyxy-score-class", "movenet-singlepose"]
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
    return to_tensor(np.asarray(canvas, np.uint8), spec), geometry


def to_tensor(canvas: Image, spec: InputSpec) -> npt.NDArray[np.generic]:
    """The model's input tensor (batch 1) from a BGR image already at the input size."""
    if spec.color == "RGB":
        canvas = canvas[:, :, ::-1]
    if spec.dtype == "uint8":
        tensor: npt.NDArray[np.generic] = np.ascontiguousarray(canvas)
    else:
        pixels = canvas.astype(np.float32) * np.float32(spec.scale)
        tensor = (pixels - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    if spec.layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor[None])


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
        if manifest.output.decode == "movenet-singlepose":
            raise ValueError(f"{manifest.name}: a single-pose model poses crops; it cannot find people")
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


@dataclass(frozen=True, slots=True)
class PersonModel:
    """A verified ONNX person or pose model and the manifest that says how to run it (shareable
    between cameras: onnxruntime sessions run concurrently; each camera gets its own locator)."""

    manifest: PersonModelManifest
    model: OnnxModel

    def locator(self, background: BackgroundLocator | None = None) -> OnnxPersonLocator:
        """A locator for one camera (with its own background model, if given)."""
        return OnnxPersonLocator(self.manifest, self.model, background)


def load_person_model(verified: VerifiedManifest, manifest_file: str) -> PersonModel:
    """The model described by ``manifest_file`` (e.g. ``person/yolo.json``) of a signed models manifest.

    Both the JSON manifest and the ONNX file it names are read only through ``verified``, so an
    unsigned or changed file is refused like any other model; so is a manifest that does not parse.
    """
    try:
        manifest = PersonModelManifest.from_json(verified.read_verified(manifest_file))
    except (ManifestError, PersonManifestError) as exc:
        raise ModelIntegrityError(f"refusing person model manifest {manifest_file}: {exc}") from exc
    return PersonModel(manifest, OnnxModel.from_signed(verified, manifest.file, manifest.name))


def load_onnx_locator(
    verified: VerifiedManifest, manifest_file: str, background: BackgroundLocator | None = None
) -> OnnxPersonLocator:
    """One camera's locator for ``manifest_file`` of a signed models manifest (see load_person_model)."""
    return load_person_model(verified, manifest_file).locator(background)
