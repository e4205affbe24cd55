"""Crop tracking for MoveNet: the next frame's input is a square around this frame's keypoints."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from models.pose.clips import Image
from models.pose.movenet import Keypoints, Window, keypoints

VISIBLE = 0.3  # a keypoint with this score or more counts as seen
MIN_SEEN = 5  # fewer seen keypoints than this: the person is lost
ENLARGE = 1.5  # crop side / the larger side of the seen keypoints' bounding box
MIN_SIDE = 0.25  # smallest crop, as a fraction of the frame's larger side: a few keypoints make a tiny box


def seen(kpts: Keypoints) -> int:
    """How many keypoints score VISIBLE or more."""
    return int((kpts[:, 2] >= VISIBLE).sum())


def window_around(kpts: Keypoints, width: int, height: int) -> Window | None:
    """A square ENLARGE times the seen keypoints' box, or None when the person is lost."""
    if seen(kpts) < MIN_SEEN:
        return None
    points = kpts[kpts[:, 2] >= VISIBLE, :2]
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    longest = float(max(width, height))
    side = float(np.clip(max(x1 - x0, y1 - y0) * ENLARGE, MIN_SIDE * longest, longest))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Window(float(cx - side / 2), float(cy - side / 2), side)


class CropTracker:
    """Runs MoveNet on a crop around the previous keypoints; on the full frame when lost."""

    def __init__(self, sess: ort.InferenceSession) -> None:
        self._sess = sess
        self._window: Window | None = None
        self.fallbacks = 0  # frames whose crop lost the person and were run again on the full frame

    def __call__(self, image: Image) -> Keypoints:
        """Keypoints (frame pixels) for the next frame of the clip."""
        height, width = image.shape[:2]
        full = Window.full(width, height)
        kpts = keypoints(self._sess, image, self._window or full)
        if self._window is not None and seen(kpts) < MIN_SEEN:
            self.fallbacks += 1
            kpts = keypoints(self._sess, image, full)
        self._window = window_around(kpts, width, height)
        return kpts
