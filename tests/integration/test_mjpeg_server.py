"""The simulated MJPEG cameras, read the way a gateway reads a camera: cv2.VideoCapture on an HTTP URL.

Scenario: two cameras on one loopback server. A reader opens one stream and gets real JPEG frames.
The camera then dies for 1.5 s: the open stream ends, a new connection is refused (503), and after
the outage a new connection streams again. The tamper faults change what the frames show.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace

import cv2
import numpy as np
import pytest

from sim.video import MjpegServer, load_scene, scene_path

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[MjpegServer]:
    scene = replace(load_scene(scene_path("adl_walk_across")), duration_s=10.0)
    srv = MjpegServer({"hall": scene, "bed": scene}, time_scale=1.0).start()
    yield srv
    srv.stop()


def _read(cap: cv2.VideoCapture, n: int) -> list[np.ndarray]:
    frames = []
    for _ in range(n):
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    return frames


def test_stream_is_multipart_jpeg(server: MjpegServer) -> None:
    with urllib.request.urlopen(server.url("hall"), timeout=5) as resp:
        assert resp.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
        head = resp.read(200)
    assert head.startswith(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ")
    jpeg = head.split(b"\r\n\r\n", 1)[1]
    assert jpeg[:3] == b"\xff\xd8\xff"  # JPEG SOI + marker
    with urllib.request.urlopen(server.url("bed").replace(".mjpg", ".jpg"), timeout=5) as resp:
        image = cv2.imdecode(np.frombuffer(resp.read(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (480, 640, 3)


def test_opencv_reads_the_stream(server: MjpegServer) -> None:
    cap = cv2.VideoCapture(server.url("hall"), cv2.CAP_FFMPEG)
    assert cap.isOpened()
    frames = _read(cap, 10)
    cap.release()
    assert frames[0].shape == (480, 640, 3)
    assert not np.array_equal(frames[0], frames[-1])  # live: noise and motion change the pixels


def test_camera_down_then_back(server: MjpegServer) -> None:
    cap = cv2.VideoCapture(server.url("hall"), cv2.CAP_FFMPEG)
    _read(cap, 3)
    server.set_fault("hall", "down", seconds=1.5)
    deadline = time.monotonic() + 3
    while cap.read()[0]:
        assert time.monotonic() < deadline, "stream did not end"
    cap.release()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url("hall"), timeout=5)
    assert refused.value.code == 503
    refused.value.close()
    other = cv2.VideoCapture(server.url("bed"), cv2.CAP_FFMPEG)  # one camera down, the other unharmed
    _read(other, 2)
    other.release()
    time.sleep(1.6)
    back = cv2.VideoCapture(server.url("hall"), cv2.CAP_FFMPEG)
    assert back.isOpened()
    _read(back, 3)
    back.release()


def test_tamper_faults(server: MjpegServer) -> None:
    cap = cv2.VideoCapture(server.url("hall"), cv2.CAP_FFMPEG)
    normal = _read(cap, 2)[-1]
    server.set_fault("hall", "freeze")
    frozen = _read(cap, 4)[1:]
    assert all(np.array_equal(frozen[0], f) for f in frozen)
    server.set_fault("hall", "cover")
    covered = _read(cap, 3)[-1]
    assert covered.mean() < 15 < normal.mean()
    with urllib.request.urlopen(
        f"http://127.0.0.1:{server.port}/fault/hall?kind=shift&dx=60&angle=5"
    ) as resp:
        assert resp.status == 200
    shifted = _read(cap, 3)[-1]
    assert float(np.abs(shifted.astype(int) - normal.astype(int)).mean()) > 10
    server.set_fault("hall", "none")
    cap.release()
