"""The camera transport on a simulated RTSP camera: rendered scenes as RTP/JPEG from gst-rtsp-server.

Scenario: a simulated camera is served as MJPEG over HTTP and relayed over RTSP on 127.0.0.1.
OpenCV plays the RTSP stream as it chooses by default (RTP interleaved in the RTSP connection: it
sets FFmpeg's rtsp_flags=prefer_tcp), and with UDP or TCP forced by OPENCV_FFMPEG_CAPTURE_OPTIONS. The gateway's CameraSource reads it
and analyses frames at 10 fps. The camera then dies for 2 s: the source reports it offline once,
retries (DESCRIBE is answered 503) and reports it online again when frames come back. A camera
whose encoder hangs is reported stalled and recovers; so is an RTSP server that is restarted.

The RTSP server is a Debian package that .ci/setup.sh installs: this suite fails in CI if it is
missing, and skips elsewhere with the command that installs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace

import cv2
import numpy as np
import pytest

from gateway.sources.camera import CameraSource
from gateway.vision.regions import Regions
from sim.video import MjpegServer, load_scene, scene_path
from sim.video.rtsp import RtspServer, rtsp_support
from tests.integration.test_camera_source import Collector, live_spec, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gstreamer() -> None:
    """The RTSP server can run here (fail in CI, where .ci/setup.sh installs it; skip elsewhere)."""
    missing = rtsp_support()
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"RTSP server missing in CI (.ci/setup.sh installs it): {missing}")
    pytest.skip(f"RTSP server missing: {missing}")  # a developer machine without the Debian packages


@pytest.fixture(scope="module")
def servers(gstreamer: None) -> Iterator[tuple[MjpegServer, RtspServer]]:
    """Camera `hall` as MJPEG over HTTP and over RTSP, both on free loopback ports."""
    scene = replace(load_scene(scene_path("adl_walk_across")), duration_s=10.0)
    mjpeg = MjpegServer({"hall": scene}).start()
    rtsp = RtspServer(mjpeg)
    try:
        yield mjpeg, rtsp.start()
    finally:
        rtsp.stop()
        mjpeg.stop()


@pytest.fixture
def cameras(servers: tuple[MjpegServer, RtspServer]) -> Iterator[tuple[MjpegServer, RtspServer]]:
    """The servers with no fault in force, before and after the test."""
    servers[0].set_fault("hall", "none")
    yield servers
    servers[0].set_fault("hall", "none")


@pytest.mark.parametrize("transport", ["", "rtsp_transport;udp", "rtsp_transport;tcp"])
def test_opencv_plays_the_stream(
    cameras: tuple[MjpegServer, RtspServer], transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, rtsp = cameras
    if transport:
        monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", transport)
    else:
        monkeypatch.delenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", raising=False)  # what CameraSource gets
    cap = cv2.VideoCapture(rtsp.url("hall"), cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000])
    try:
        assert cap.isOpened()
        frames = []
        for _ in range(10):
            ok, frame = cap.read()
            assert ok
            frames.append(frame)
    finally:
        cap.release()
    assert frames[0].shape == (480, 640, 3)
    assert not np.array_equal(frames[0], frames[-1])  # live: noise and motion change the pixels


def test_camera_source_reads_rtsp_and_reports_a_dead_camera_once(
    cameras: tuple[MjpegServer, RtspServer],
) -> None:
    mjpeg, rtsp = cameras
    out = Collector()
    cam = CameraSource(live_spec("cam-rtsp", rtsp.url("hall")), Regions().black_out)
    cam.start(out.frame, out.status)
    try:
        assert out.next_status(10).online
        wait_until(lambda: len(out.frames) >= 10, 10, "10 frames analysed")
        assert out.frames[0].image.shape == (240, 320, 3)  # downscaled for analysis

        mjpeg.set_fault("hall", "down", seconds=2.0)
        down_at = time.monotonic()
        offline = out.next_status(5)
        assert not offline.online and offline.source == "cam-rtsp"
        assert time.monotonic() - down_at < 2.0  # the session ended; not a 1 s stall timeout plus
        wait_until(lambda: cam.counters().open_failures >= 1, 3, "a refused reopening")

        back = out.next_status(10)
        assert back.online and time.monotonic() - down_at >= 2.0
        frames_back = len(out.frames)
        wait_until(lambda: len(out.frames) >= frames_back + 5, 10, "frames again")
        assert out.statuses.empty()  # offline and online once each
        counters = cam.counters()
        assert counters.reconnects == 1 and counters.stalls == 0
    finally:
        cam.stop()


def test_a_hung_camera_is_reported_stalled_and_recovers(cameras: tuple[MjpegServer, RtspServer]) -> None:
    mjpeg, rtsp = cameras
    out = Collector()
    cam = CameraSource(live_spec("cam-rtsp", rtsp.url("hall")), Regions().black_out)
    cam.start(out.frame, out.status)
    try:
        assert out.next_status(10).online
        mjpeg.set_fault("hall", "stall")
        offline = out.next_status(5)
        assert not offline.online and offline.reason == "no frame for 1 s"
        mjpeg.set_fault("hall", "none")
        assert out.next_status(10).online
        assert cam.counters().stalls == 1
    finally:
        cam.stop()


def test_a_restarted_rtsp_server_is_found_again_on_its_port(cameras: tuple[MjpegServer, RtspServer]) -> None:
    mjpeg, _ = cameras
    rtsp = RtspServer(mjpeg).start()
    out = Collector()
    cam = CameraSource(live_spec("cam-rtsp", rtsp.url("hall")), Regions().black_out)
    cam.start(out.frame, out.status)
    try:
        assert out.next_status(10).online
        port = rtsp.port
        rtsp.stop()
        assert not out.next_status(5).online
        wait_until(lambda: cam.counters().open_failures >= 2, 5, "refused reopenings")
        rtsp.start()
        assert rtsp.port == port and out.next_status(10).online
        assert out.statuses.empty() and cam.counters().reconnects == 1
    finally:
        cam.stop()
        rtsp.stop()
