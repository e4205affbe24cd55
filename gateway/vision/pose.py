"""A person's pose from a crop around them: the keypoints the fall classifier reads.

The shipped pose model is Google's MoveNet SinglePose Lightning (models/pose/MODEL_CARD.md): one
person per input, so it runs on a square crop around each tracked person, never on the whole frame
of a busy scene. The crop follows the person: it is built from their last confident keypoints when
there are any (crop tracking raised the standing torso score on a real clip from 0.42 to 0.73), and
from their motion blob otherwise. Any single-person model with the same output, or a YOLO pose model
(its best person in the crop), can replace it through a person-model manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from gateway.vision.person import Box, Image
from gateway.vision.person_model import ArrayModel, PersonModel, PersonModelManifest, decode, to_tensor
from gateway.vision.pose_features import Pose

CROP_MARGIN = 1.4  # the crop is this much larger than the person's extent: limbs stretched in a fall
MIN_SIDE_OF_FRAME = 0.2  # a crop below a fifth of the frame height upsamples too much to help
SEEN = 0.3  # a keypoint this confident counts as seen (MoveNet's own demo threshold)
MIN_SEEN = 5  # keypoints seen for a pose to steer the next crop


@dataclass(frozen=True, slots=True)
class Square:
    """A square window of the frame: top-left corner and side, in frame pixels."""

    x0: float
    y0: float
    side: float


class PoseEstimator(Protocol):
    """The keypoints of the one person inside a region of a frame."""

    def estimate(self, image: Image, region: Box) -> Pose:
        """COCO-17 keypoints in frame pixels, scores 0..1 (low everywhere when nobody is there)."""
        ...


def crop_window(region: Box, frame_height: int) -> Square:
    """A square around `region`, enlarged by CROP_MARGIN (may reach outside the frame: zero-padded)."""
    side = max(region.w, region.h) * CROP_MARGIN
    side = max(side, MIN_SIDE_OF_FRAME * frame_height)
    cx, cy = region.centre
    return Square(cx - side / 2, cy - side / 2, side)


def pose_region(pose: Pose) -> Box | None:
    """The extent of a pose's seen keypoints, if enough are seen to steer a crop."""
    seen = pose.score >= SEEN
    if int(seen.sum()) < MIN_SEEN:
        return None
    xs, ys = pose.xy[seen, 0], pose.xy[seen, 1]
    return Box(float(xs.min()), float(ys.min()), float(np.ptp(xs)) + 1.0, float(np.ptp(ys)) + 1.0)


def crop(image: Image, window: Square, size: tuple[int, int]) -> Image:
    """The BGR `size` input for `window` of an image: one affine warp crops, pads and resizes."""
    sx, sy = size[0] / window.side, size[1] / window.side
    matrix = np.array(
        [[sx, 0.0, 0.5 * sx - 0.5 - window.x0 * sx], [0.0, sy, 0.5 * sy - 0.5 - window.y0 * sy]], np.float64
    )
    out = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return np.asarray(out, np.uint8)


class CropPoseEstimator:
    """A single-person (movenet-singlepose) or YOLO pose model run on a crop around one person."""

    def __init__(self, manifest: PersonModelManifest, model: ArrayModel) -> None:
        if manifest.output.decode not in ("movenet-singlepose", "yolo-pose"):
            raise ValueError(f"{manifest.name}: a {manifest.output.decode} model gives no keypoints")
        self.manifest = manifest
        self._model = model

    def estimate(self, image: Image, region: Box) -> Pose:
        """Keypoints of the person in `region` (frame pixels)."""
        spec = self.manifest.input
        window = crop_window(region, image.shape[0])
        points = self._keypoints(self._model.run(to_tensor(crop(image, window, spec.size), spec)))
        in_w, in_h = spec.size
        xy = np.stack(
            [window.x0 + points[:, 0] / in_w * window.side, window.y0 + points[:, 1] / in_h * window.side],
            axis=1,
        )
        return Pose(xy.astype(np.float32), points[:, 2].astype(np.float32))

    def _keypoints(self, output: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
        """(K, 3) x, y in input pixels and score, for the model's best person."""
        out = self.manifest.output
        in_w, in_h = self.manifest.input.size
        if out.decode == "movenet-singlepose":
            raw = np.asarray(output, np.float32).reshape(-1, 3)  # y, x normalised, score
            return np.stack([raw[:, 1] * in_w, raw[:, 0] * in_h, raw[:, 2]], axis=1)
        _, scores, kpts = decode(output, out, (in_w, in_h))
        if kpts is None or len(scores) == 0:
            return np.zeros((max(out.keypoints, 17), 3), np.float32)
        return np.asarray(kpts[int(np.argmax(scores))], np.float32)


def estimator(model: PersonModel) -> CropPoseEstimator:
    """The crop estimator of a verified pose model."""
    return CropPoseEstimator(model.manifest, model.model)
