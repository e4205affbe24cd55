"""The doctor's camera check: does the address open in OpenCV as the gateway opens it, at what
resolution and frame rate? Bounded: a camera that hangs in its open is reported, not waited for."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from gateway.config import CameraConfig
from gateway.sources.camera_spec import CameraSpec, capture_args, redact
from gateway.tools.doctor.report import Finding, Status

OPEN_TIMEOUT_S = 5.0
SAMPLE_S = 2.0  # frames read to measure a stream's rate
SAMPLE_FRAMES = 40
MIN_WIDTH = 320  # the analysis runs at 320 px wide; less cannot show a person well


@dataclass
class Seen:
    """What reading the camera for a moment showed."""

    opened: bool = False
    frames: int = 0
    width: int = 0
    height: int = 0
    reported_fps: float = 0.0  # what the container or driver says
    measured_fps: float | None = None  # frames over time (streams and devices)
    frame_count: int = 0  # files only
    first_frame_s: float | None = None
    done: bool = False


def _read(spec: CameraSpec, seen: Seen) -> None:
    target, api, params = capture_args(spec)
    cap = cv2.VideoCapture(target, api, params)
    try:
        seen.opened = cap.isOpened()
        if not seen.opened:
            return
        seen.reported_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        seen.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if spec.is_file else 0
        start = time.monotonic()
        times: list[float] = []
        while len(times) < SAMPLE_FRAMES and time.monotonic() - start < SAMPLE_S + OPEN_TIMEOUT_S:
            ok, frame = cap.read()
            if not ok:
                break
            times.append(time.monotonic())
            seen.height, seen.width = frame.shape[:2]
            if seen.first_frame_s is None:
                seen.first_frame_s = times[0] - start
            if times[-1] - times[0] >= SAMPLE_S:
                break
        seen.frames = len(times)
        if len(times) > 2 and not spec.is_file:
            seen.measured_fps = (len(times) - 1) / (times[-1] - times[0])
    finally:
        cap.release()
        seen.done = True


def check_camera(camera: CameraConfig, index: int) -> Finding:
    """Open the camera, read it for a moment, and judge it against the config."""
    spec = CameraSpec(camera.id, camera.url, open_timeout_s=OPEN_TIMEOUT_S, stall_timeout_s=OPEN_TIMEOUT_S)
    subject = f"{camera.id} at {redact(camera.url)}"
    seen = Seen()
    reader = threading.Thread(target=_read, args=(spec, seen), name=f"doctor-{camera.id}", daemon=True)
    reader.start()
    reader.join(OPEN_TIMEOUT_S + SAMPLE_S + 3.0)
    if not seen.done:
        found = f"no answer within {OPEN_TIMEOUT_S + SAMPLE_S + 3.0:g} s (OpenCV still waits)"
        return Finding("camera", subject, Status.FAIL, found, _open_hint(spec, index))
    if not seen.opened or not seen.frames:
        found = "does not open" if not seen.opened else "opens, but sends no frame"
        return Finding("camera", subject, Status.FAIL, found, _open_hint(spec, index))
    return _judge(camera, spec, seen, subject)


def _judge(camera: CameraConfig, spec: CameraSpec, seen: Seen, subject: str) -> Finding:
    rate = seen.measured_fps if seen.measured_fps is not None else seen.reported_fps
    how = "measured" if seen.measured_fps is not None else "file" if spec.is_file else "reported"
    found = f"{seen.width}x{seen.height}, {rate:.1f} fps ({how})"
    if spec.is_file and seen.frame_count and seen.reported_fps:
        found += f", {seen.frame_count / seen.reported_fps:.1f} s long"
    details = {
        "width": seen.width,
        "height": seen.height,
        "fps": round(rate, 2),
        "fps_source": how,
        "first_frame_s": round(seen.first_frame_s or 0.0, 3),
    }
    if rate and rate < camera.fps * 0.9:
        action = f"the camera sends fewer frames than cameras[].fps {camera.fps:g}: lower it or raise the camera's rate"
        return Finding("camera", subject, Status.WARN, found, action, details)
    if seen.width < MIN_WIDTH:
        action = f"fall detection needs at least {MIN_WIDTH} px wide: choose a larger stream"
        return Finding("camera", subject, Status.WARN, found, action, details)
    return Finding("camera", subject, Status.OK, found, details=details)


def _open_hint(spec: CameraSpec, index: int) -> str:
    url = spec.url
    if url.isdigit() or url.startswith("/dev/"):
        return "check the device exists (ls /dev/video*), the user is in group video, and no other program holds it"
    if spec.is_file:
        if not Path(url).exists():
            return f"no such file: fix cameras[{index}].url"
        return "the file is not a video OpenCV can decode"
    return f"check cameras[{index}].url, the credentials and that the camera is on (try: ffprobe URL)"
