"""Rendered scenes as video files (MJPEG .avi, mp4v .mp4) with their ground truth JSON beside them.

Both containers were checked with this OpenCV build (5.0, FFmpeg backend): MJPG in AVI and mp4v
(MPEG-4 part 2) in MP4 write and read back frame-exact. H.264 (`avc1`) is not available here: the
wheel's FFmpeg only offers the hardware `h264_v4l2m2m` encoder.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from sim.video.render import Renderer
from sim.video.scene import Scene
from sim.video.truth import scene_truth, truth_path, write_truth

CODECS = {".avi": "MJPG", ".mp4": "mp4v"}


class VideoWriteError(OSError):
    """OpenCV could not open a writer for the requested file and codec."""


def render_to_file(scene: Scene, path: Path) -> Path:
    """Render every frame of `scene` into `path` (.avi or .mp4); write `<path>.json` ground truth.

    Returns the ground-truth path.
    """
    fourcc = CODECS.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"{path}: unsupported video type; use one of {', '.join(CODECS)}")
    renderer = Renderer(scene)
    cam = renderer.camera
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter.fourcc(*fourcc), renderer.fps, (cam.width, cam.height)
    )
    if not writer.isOpened():
        raise VideoWriteError(f"{path}: OpenCV cannot write {fourcc} here")
    frames = []
    try:
        for _, frame, truth in renderer.frames():
            writer.write(frame)
            frames.append(truth)
    finally:
        writer.release()
    document = scene_truth(scene, renderer.fps, renderer.duration_s, renderer.events, frames)
    out = truth_path(path)
    write_truth(out, document)
    return out
