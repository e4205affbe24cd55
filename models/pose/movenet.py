"""Run the shipped MoveNet ONNX on a BGR frame: full frame letterboxed, or a square crop of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from models.pose.clips import Image

MODEL = Path(__file__).resolve().parent / "movenet_lightning.onnx"
SIZE = 192
Keypoints = npt.NDArray[np.float32]  # (17, 3): x, y in original-frame pixels, score

# COCO-17 order, as MoveNet outputs them
NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
SHOULDERS, HIPS = (5, 6), (11, 12)
TORSO = (*SHOULDERS, *HIPS)


@dataclass(frozen=True, slots=True)
class Window:
    """A square region of the frame, (x0, y0) its top-left corner and ``side`` its size in pixels."""

    x0: float
    y0: float
    side: float

    @classmethod
    def full(cls, width: int, height: int) -> Window:
        """The letterbox of the whole frame: a centred square of side max(width, height)."""
        side = float(max(width, height))
        return cls((width - side) / 2, (height - side) / 2, side)


def session(path: Path = MODEL, threads: int = 1) -> ort.InferenceSession:
    """A CPU session with ``threads`` intra-op threads (1 = the one-core figure of the model card)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def crop(image: Image, window: Window, size: int = SIZE) -> Image:
    """The RGB ``size`` x ``size`` input for ``window`` of a BGR image, zero outside the frame."""
    scale = size / window.side
    # one affine warp crops, pads and resizes; the 0.5 terms keep cv2.resize's pixel-centre convention,
    # so the full-frame window gives the gateway's letterbox (linear, no extra smoothing) exactly
    shift = 0.5 * scale - 0.5
    matrix = np.array(
        [[scale, 0.0, shift - window.x0 * scale], [0.0, scale, shift - window.y0 * scale]], np.float64
    )
    out = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return np.ascontiguousarray(np.asarray(out, np.uint8)[:, :, ::-1])


def infer(sess: ort.InferenceSession, rgb: Image) -> npt.NDArray[np.float32]:
    """MoveNet's raw (17, 3) output for one RGB input: y, x normalised to the input, score."""
    out = sess.run(None, {sess.get_inputs()[0].name: rgb[None]})[0]
    return np.asarray(out, np.float32).reshape(17, 3)


def keypoints(sess: ort.InferenceSession, image: Image, window: Window) -> Keypoints:
    """Keypoints (x, y in frame pixels, score) of the person in ``window`` of a BGR image."""
    raw = infer(sess, crop(image, window))
    x = window.x0 + raw[:, 1] * window.side
    y = window.y0 + raw[:, 0] * window.side
    return np.stack([x, y, raw[:, 2]], axis=1).astype(np.float32)
