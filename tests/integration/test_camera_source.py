"""The camera transport on real encoded video: an MJPG file and an MJPEG-over-HTTP stream.

Scenarios: a 2 s, 30 fps file plays in real time and is analysed at 10 fps; the same file in
evaluation mode is decoded whole, frame after frame, with no drop even for a slow consumer; a live
stream with a slow consumer is analysed on its newest frame only; privacy masks are black in every
analysis frame; a stream whose server is killed goes offline and comes back by itself when the
server returns on the same port, while a second camera keeps delivering; a stream that stops
sending is reported stalled; an address that does not answer is reported once however often it
is retried, and not before its start grace, so a camera that comes up within it is never reported
offline; a detector that raises costs a frame, not the camera.

Each frame carries its number as the grey level of a block, so the tests can see which frame the
analysis really got.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gateway.messages import Event, Frame, SourceStatus
from gateway.sources.camera import CameraSource, CameraSpec, capture_args, redact
from gateway.vision.pipeline import CameraPipeline
from gateway.vision.regions import Regions

FILE_FPS = 30.0
FILE_FRAMES = 60
LEVEL_STEP = 4  # grey level per frame number (JPEG keeps a flat block within +-2)
LEFT_HALF = ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))


def picture(number: int, width: int = 640, height: int = 480) -> npt.NDArray[np.uint8]:
    """A frame whose right-hand block shows `number` as its grey level; texture on the left."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, : width // 2] = 200
    cv2.putText(img, "cam", (10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 2, (30, 30, 30), 5)
    img[:, width // 2 :] = 10 + LEVEL_STEP * (number % 60)
    return img


def number_of(frame: Frame) -> int:
    """The frame number an analysis frame shows (modulo 60)."""
    h, w = frame.image.shape[:2]
    block = frame.image[h // 4 : 3 * h // 4, w // 2 + w // 8 : w - w // 8]
    return round((float(block.mean()) - 10) / LEVEL_STEP)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s, 30 fps, 640x480 Motion-JPEG AVI."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FILE_FPS, (640, 480))
    assert writer.isOpened()
    for number in range(FILE_FRAMES):
        writer.write(picture(number))
    writer.release()
    return path


class Collector:
    """What a camera hands on: frames (with the wall time they came) and statuses."""

    def __init__(self, work_s: float = 0.0) -> None:
        self.frames: list[Frame] = []
        self.arrived: list[float] = []
        self.statuses: queue.Queue[SourceStatus] = queue.Queue()
        self.work_s = work_s
        self.source: CameraSource | None = None
        self.behind: list[int] = []  # frames read but not shown to us, when each frame arrived

    def frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.arrived.append(time.monotonic())
        if self.source is not None:
            self.behind.append(self.source.counters().frames_read - 1 - frame.index)
        if self.work_s:
            time.sleep(self.work_s)  # a slow detector

    def status(self, status: SourceStatus) -> None:
        self.statuses.put(status)

    def next_status(self, timeout: float) -> SourceStatus:
        return self.statuses.get(timeout=timeout)


def play_file(video: Path, realtime: bool, fps: float = 10.0, work_s: float = 0.0) -> tuple[Collector, float]:
    out = Collector(work_s)
    source = CameraSource(CameraSpec("cam-file", str(video), fps, realtime=realtime), Regions().black_out)
    started = time.monotonic()
    source.start(out.frame, out.status)
    try:
        assert source.wait_finished(10.0)
    finally:
        source.stop()
    out.source = source
    return out, time.monotonic() - started


def test_a_file_in_real_time_plays_at_its_own_rate_analysed_at_10_fps(video: Path) -> None:
    out, elapsed = play_file(video, realtime=True)
    assert out.source is not None
    counters = out.source.counters()
    assert counters.frames_read == FILE_FRAMES
    assert 1.8 <= elapsed <= 2.6  # 60 frames at 30 fps
    assert 18 <= len(out.frames) <= 21 and counters.frames_analysed == len(out.frames)
    assert counters.frames_dropped == FILE_FRAMES - len(out.frames)
    gaps = np.diff(out.arrived)
    assert abs(float(np.median(gaps)) - 0.1) < 0.02
    assert [number_of(f) for f in out.frames] == [f.index for f in out.frames]
    assert out.frames[0].image.shape == (240, 320, 3)  # downscaled for analysis
    assert [out.next_status(1).online, out.next_status(1).online] == [True, False]


def test_a_file_in_evaluation_mode_is_decoded_whole_as_fast_as_analysed(video: Path) -> None:
    out, elapsed = play_file(video, realtime=False)
    assert out.source is not None
    assert out.source.counters().frames_read == FILE_FRAMES
    assert [f.index for f in out.frames] == list(range(0, FILE_FRAMES, 3))  # 10 of every 30 frames
    assert [number_of(f) for f in out.frames] == [f.index for f in out.frames]
    assert out.source.counters().frames_dropped == 0
    assert elapsed < 1.5
    # Frame times are the file's own: 0.1 s apart, whatever the wall clock did.
    steps = {round((b.time - a.time).total_seconds(), 6) for a, b in pairwise(out.frames)}
    assert steps == {0.1}


def test_evaluation_mode_never_drops_a_frame_for_a_slow_consumer(video: Path) -> None:
    out, _ = play_file(video, realtime=False, fps=FILE_FPS, work_s=0.01)
    assert [f.index for f in out.frames] == list(range(FILE_FRAMES))
    assert [number_of(f) for f in out.frames] == list(range(FILE_FRAMES))


def test_masks_are_black_in_every_analysis_frame(video: Path) -> None:
    out = Collector()
    regions = Regions(masks=[LEFT_HALF])
    source = CameraSource(CameraSpec("cam-masked", str(video), realtime=False), regions.black_out)
    source.start(out.frame, out.status)
    assert source.wait_finished(10.0)
    source.stop()
    assert out.frames
    for frame in out.frames:
        assert not frame.image[:, :160].any()  # the mask, at the analysis size
        assert frame.image[:, 162:].min() > 0  # the rest is analysed as it came


def test_a_looped_file_starts_again_without_going_offline(video: Path) -> None:
    out = Collector()
    spec = CameraSpec("cam-loop", str(video), FILE_FPS, realtime=False, loop=True)
    source = CameraSource(spec, Regions().black_out)
    source.start(out.frame, out.status)
    try:
        wait_until(lambda: len(out.frames) > 2 * FILE_FRAMES, 10, "two and a bit loops")
    finally:
        source.stop()
    indices = [f.index for f in out.frames]
    assert indices[: 2 * FILE_FRAMES] == list(range(FILE_FRAMES)) * 2
    assert [s.online for s in list(out.statuses.queue)] == [True]


def test_addresses_open_as_given_and_credentials_never_show() -> None:
    assert capture_args(CameraSpec("c", "0"))[:2] == (0, cv2.CAP_ANY)
    assert capture_args(CameraSpec("c", "/dev/video2"))[:2] == ("/dev/video2", cv2.CAP_V4L2)
    target, api, params = capture_args(CameraSpec("c", "rtsp://u:pw@10.0.0.5:554/s", stall_timeout_s=3))
    assert (target, api) == ("rtsp://u:pw@10.0.0.5:554/s", cv2.CAP_FFMPEG)
    assert params == [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 3000]
    assert redact("rtsp://u:pw@10.0.0.5:554/s") == "rtsp://***@10.0.0.5:554/s"
    assert redact("http://127.0.0.1:8080/a.mjpg") == "http://127.0.0.1:8080/a.mjpg"
    assert CameraSpec("c", "/srv/clip.avi").is_file and not CameraSpec("c", "/dev/video0").is_file
    assert not CameraSpec("c", "http://h/x").is_file and CameraSpec("c", "file:///srv/clip.avi").is_file


# -- MJPEG over HTTP ---------------------------------------------------------------------------


class MjpegServer:
    """A tiny multipart/x-mixed-replace server on 127.0.0.1 that can be killed and restarted."""

    def __init__(self, fps: float = 25.0) -> None:
        self.fps = fps
        self.port = 0
        self.stalled = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._stop = threading.Event()
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                server._connections.append(self.connection)
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                server.stream(self.wfile)

        self._stop.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        self._threads.append(thread)
        return self

    def stream(self, out: BufferedIOBase) -> None:
        number = 0
        while not self._stop.wait(1 / self.fps):
            if self.stalled.is_set():
                continue
            ok, jpeg = cv2.imencode(".jpg", picture(number, 320, 240))  # noqa: TID251  # the test plays the camera
            assert ok
            part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
            try:
                out.write(part + jpeg.tobytes() + b"\r\n")
            except OSError:
                return
            number += 1

    def kill(self) -> None:
        """Stop listening and cut every open stream."""
        assert self._httpd is not None
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        for conn in self._connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        self._connections.clear()
        for thread in self._threads:
            thread.join(5)
        self._threads.clear()


@pytest.fixture
def servers() -> Iterator[list[MjpegServer]]:
    made: list[MjpegServer] = []
    yield made
    for server in made:
        if not server._stop.is_set():
            server.kill()


def live_spec(source: str, url: str) -> CameraSpec:
    """A live camera with test-sized timeouts: retried every 0.1-0.4 s, stalled after 1 s, 1 s to start."""
    return CameraSpec(
        source,
        url,
        10.0,
        backoff_min_s=0.1,
        backoff_max_s=0.4,
        stall_timeout_s=1.0,
        open_timeout_s=2.0,
        start_grace_s=1.0,
    )


def test_a_killed_stream_comes_back_by_itself_and_the_other_camera_carries_on(
    servers: list[MjpegServer],
) -> None:
    a, b = MjpegServer().start(), MjpegServer().start()
    servers.extend([a, b])
    out_a, out_b = Collector(), Collector()
    cam_a = CameraSource(live_spec("cam-a", a.url), Regions().black_out)
    cam_b = CameraSource(live_spec("cam-b", b.url), Regions().black_out)
    cam_a.start(out_a.frame, out_a.status)
    cam_b.start(out_b.frame, out_b.status)
    try:
        assert out_a.next_status(5).online and out_b.next_status(5).online
        wait_until(lambda: len(out_a.frames) >= 5, 5, "camera a analyses frames")

        a.kill()
        offline = out_a.next_status(5)
        assert not offline.online and offline.source == "cam-a"
        b_when_a_went = len(out_b.frames)
        wait_until(lambda: len(out_b.frames) >= b_when_a_went + 10, 3, "camera b carries on")
        assert cam_a.counters().open_failures >= 2 and out_a.statuses.empty()  # retried, reported once

        a.start()  # same port
        back = out_a.next_status(5)
        assert back.online and back.source == "cam-a"
        frames_back = len(out_a.frames)
        wait_until(lambda: len(out_a.frames) >= frames_back + 5, 5, "camera a analyses again")
        assert out_a.frames[-1].index < 30  # counted from the reopening
        assert cam_a.counters().reconnects >= 1 and cam_a.health().online
        assert out_b.statuses.empty() and cam_b.counters().reconnects == 0
        assert cam_b.health().frames_ok >= cam_b.counters().frames_analysed >= b_when_a_went + 10
    finally:
        cam_a.stop()
        cam_b.stop()


def test_a_stream_that_stops_sending_is_reported_stalled_and_recovers(servers: list[MjpegServer]) -> None:
    server = MjpegServer().start()
    servers.append(server)
    out = Collector()
    cam = CameraSource(live_spec("cam-stall", server.url), Regions().black_out)
    cam.start(out.frame, out.status)
    try:
        assert out.next_status(5).online
        server.stalled.set()
        stalled_at = time.monotonic()
        offline = out.next_status(5)
        assert not offline.online and offline.reason == "no frame for 1 s"
        assert 0.8 <= time.monotonic() - stalled_at <= 3.0
        server.stalled.clear()
        assert out.next_status(5).online
        assert cam.counters().stalls == 1
    finally:
        cam.stop()


def test_a_live_stream_with_a_slow_consumer_gets_the_newest_frame(servers: list[MjpegServer]) -> None:
    server = MjpegServer(fps=25).start()
    servers.append(server)
    out = Collector(work_s=0.3)
    cam = CameraSource(live_spec("cam-slow", server.url), Regions().black_out)
    out.source = cam
    cam.start(out.frame, out.status)
    try:
        wait_until(lambda: len(out.frames) >= 6, 10, "six slow frames")
    finally:
        cam.stop()
    steps = np.diff([f.index for f in out.frames[1:]])
    assert steps.min() >= 5  # about 0.3 s of frames superseded between two analyses
    assert max(out.behind[1:]) <= 1  # what we got was the newest frame read
    assert [number_of(f) for f in out.frames] == [f.index % 60 for f in out.frames]
    assert cam.counters().frames_dropped >= cam.counters().frames_read - len(out.frames) - 1


def free_port() -> int:
    with socket.socket() as probe:  # a free port with nobody listening
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_address_that_never_answers_is_reported_once_after_the_start_grace() -> None:
    out = Collector()
    cam = CameraSource(live_spec("cam-none", f"http://127.0.0.1:{free_port()}/x.mjpg"), Regions().black_out)
    started = time.monotonic()
    cam.start(out.frame, out.status)
    try:
        first = out.next_status(5)
        waited = time.monotonic() - started
        wait_until(lambda: cam.counters().open_failures >= 6, 5, "more attempts")
    finally:
        cam.stop()
    assert not first.online and first.reason.startswith("cannot open http://127.0.0.1:")
    assert waited >= 1.0  # not before the camera had its start grace (live_spec: 1 s)
    assert out.statuses.empty()


def test_a_camera_that_comes_up_within_the_start_grace_is_never_reported_offline(
    servers: list[MjpegServer],
) -> None:
    late = MjpegServer()
    late.port = free_port()
    spec = dataclasses.replace(live_spec("cam-late", late.url), start_grace_s=30.0)
    out = Collector()
    cam = CameraSource(spec, Regions().black_out)
    cam.start(out.frame, out.status)
    try:
        wait_until(lambda: cam.counters().open_failures >= 2, 5, "the camera tried before its server was up")
        servers.append(late.start())
        first = out.next_status(5)
    finally:
        cam.stop()
    assert first.online and first.reason == "frames arriving"


class Exploding:
    def __init__(self) -> None:
        self.calls = 0

    def on_frame(self, frame: Frame) -> list[Event]:
        self.calls += 1
        raise ZeroDivisionError("a detector bug")


class Counting:
    def on_frame(self, frame: Frame) -> list[Event]:
        return [Event("camera.tampered", frame.source, {"cue": "frozen", "n": frame.index})]


@pytest.mark.logged_exceptions  # provokes it: a detector that raises on every frame
def test_a_failing_detector_costs_frames_not_the_camera(
    video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emitted: list[Event] = []
    source = CameraSource(CameraSpec("cam-p", str(video), realtime=False), Regions().black_out)
    exploding = Exploding()
    pipeline = CameraPipeline(source, [exploding, Counting()], emitted.append)
    with caplog.at_level(logging.ERROR, logger="gateway.vision.pipeline"):
        pipeline.start()
        assert source.wait_finished(10.0)
        pipeline.stop()
    events = [e for e in emitted if e.type == "camera.tampered"]
    assert len(events) == exploding.calls == 20 == pipeline.detector_failures
    assert [e.type for e in emitted if e.type != "camera.tampered"] == ["camera.online", "camera.offline"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None  # once a minute, with its traceback
    assert "Exploding" in errors[0].getMessage()
