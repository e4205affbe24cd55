"""Camera transport: opens a camera by address, keeps its newest frame, hands analysis frames on.

Cameras are opened only through `cv2.VideoCapture` with the configured address: a device index
("0") or path (/dev/video0, /dev/v4l/by-id/...) through V4L2, anything else (rtsp://, http(s)://
MJPEG, a file) through FFmpeg with open and read timeouts. Each camera runs two threads of its own:

- the reader grabs every frame as it comes (files with `realtime` are paced at their own frame
  rate) and converts to pixels only the frame the analysis is waiting for, so there is no buffer
  to grow and no stale frame: whatever the analysis gets is the newest frame. (FFmpeg's `grab()`
  still decodes every compressed frame; only the colour conversion is saved, so a camera's floor
  cost follows its frame rate, not the analysis rate: configure cameras at the rate you need.)
- the analysis loop asks for a frame at `analysis_fps`, downscales it to `analysis_width`, blacks
  out the privacy masks and hands the `Frame` to its callback (the camera's pipeline).

Files with `realtime: false` are evaluation runs: every frame is decoded in order, frames are
picked at `analysis_fps` in the file's own time, and the reader waits for the analysis instead
of dropping anything; frame times are the file's, so durations mean the same as in real time.

A stream that fails to open, fails to read or stalls for `stall_timeout_s` is closed and reopened
with exponential back-off and jitter; its loss and return are reported once each (SourceStatus).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

from gateway.messages import Frame, SourceHealth, SourceStatus, utc_now
from gateway.sources.backoff import Backoff
from gateway.sources.camera_spec import (
    DEFAULT_FILE_FPS,
    END_OF_FILE,
    CameraCounters,
    CameraSpec,
    capture_args,
    redact,
)
from gateway.sources.heartbeat import Heartbeat

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
FrameSink = Callable[[Frame], None]
StatusSink = Callable[[SourceStatus], None]
Masker = Callable[[Image], Image]  # blacks out the privacy masks of an analysis-size image, in place

_Item = tuple[Image, int, datetime]  # full-size image, index since (re)open, time


class _Handoff:
    """The one-frame meeting point of reader and analysis: the reader decodes only when asked."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._wanted = False
        self._item: _Item | None = None
        self._closed = False

    @property
    def wanted(self) -> bool:
        """Whether the analysis is waiting for a frame."""
        return self._wanted

    def wait_wanted(self, timeout: float) -> bool:
        """Wait (bounded) until the analysis asks for a frame."""
        with self._cond:
            return self._cond.wait_for(lambda: self._wanted or self._closed, timeout) and self._wanted

    def put(self, item: _Item) -> None:
        """Hand over the frame the analysis asked for."""
        with self._cond:
            self._item, self._wanted = item, False
            self._cond.notify_all()

    def take(self, timeout: float) -> _Item | None:
        """Ask for the next frame and wait (bounded) for it."""
        with self._cond:
            if self._item is None and not self._closed:
                self._wanted = True
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake every waiter for good."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class _Stopped(Exception):
    """The source was stopped while the reader waited."""


class CameraSource:
    """One camera in two threads of its own; failures stay inside it."""

    def __init__(self, spec: CameraSpec, black_out: Masker) -> None:
        self.spec = spec
        self._black_out = black_out
        self._on_frame: FrameSink = lambda frame: None
        self._on_status: StatusSink = lambda status: None
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._reader_done = threading.Event()
        self._handoff = _Handoff()
        self._status_lock = threading.Lock()
        self._frames_lost, self._lost_logged = 0, -math.inf  # bugs: counted, logged once a minute
        self._reader = threading.Thread(
            target=self._read_loop, name=f"camera-{spec.source}-read", daemon=True
        )
        self._analyser = threading.Thread(
            target=self._analyse_loop, name=f"camera-{spec.source}", daemon=True
        )
        self.reader_beat, self.analysis_beat = Heartbeat(), Heartbeat()  # read by the service watchdog
        self._online: bool | None = None
        self._frames_read = self._frames_analysed = self._frames_dropped = 0
        self._read_failures = self._open_failures = self._stalls = self._reconnects = self._opens = 0
        self._last_grab: float | None = None  # monotonic time of the newest frame (or of waiting)
        self._last_frame: datetime | None = None
        self._read_cpu_s = self._analysis_cpu_s = 0.0

    def start(self, on_frame: FrameSink, on_status: StatusSink) -> None:
        """Start reading and analysing: frames go to `on_frame`, availability changes to `on_status`."""
        self._on_frame, self._on_status = on_frame, on_status
        # Each camera has threads of its own; OpenCV's worker pool for small per-frame operations
        # cost more than it saved (make bench: 0.004 -> 0.0008 CPU-s per camera-second).
        cv2.setNumThreads(1)
        self.reader_beat.beat()
        self.analysis_beat.beat()
        self._reader.start()
        self._analyser.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop both threads and close the stream."""
        self._stop.set()
        self._handoff.close()
        deadline = time.monotonic() + timeout
        for thread in (self._analyser, self._reader):
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def hung(self) -> list[str]:
        """The names of this camera's threads whose loops are late (stuck)."""
        beats = ((self._reader, self.reader_beat), (self._analyser, self.analysis_beat))
        return [thread.name for thread, beat in beats if not beat.alive()]

    def wait_finished(self, timeout: float) -> bool:
        """Wait (bounded) until a file without `loop` has been played and analysed to its end."""
        return self._finished.wait(timeout)

    def counters(self) -> CameraCounters:
        """A snapshot of the counters."""
        return CameraCounters(
            source=self.spec.source,
            online=bool(self._online),
            frames_read=self._frames_read,
            frames_analysed=self._frames_analysed,
            frames_dropped=self._frames_dropped,
            read_failures=self._read_failures,
            open_failures=self._open_failures,
            stalls=self._stalls,
            reconnects=self._reconnects,
            last_frame=self._last_frame,
            read_cpu_s=self._read_cpu_s,
            analysis_cpu_s=self._analysis_cpu_s,
        )

    def health(self) -> SourceHealth:
        """The counters in the published per-source status shape (frames_ok: frames read)."""
        c = self.counters()
        return SourceHealth(
            c.source, c.online, c.frames_read, c.read_failures, c.stalls, c.reconnects, c.last_frame
        )

    def _set_online(self, online: bool, reason: str) -> bool:
        """Report a change of availability once; True if it was a change."""
        with self._status_lock:  # reader and watchdog may race: one report per change, in order
            if self._online == online:
                return False
            self._online = online
            if online:
                log.info("camera %s online (%s)", self.spec.source, reason)
            else:
                log.warning("camera %s offline: %s", self.spec.source, reason)
            self._on_status(SourceStatus(self.spec.source, utc_now(), online, reason))
            return True

    def _stalled(self, reason: str) -> None:
        if self._set_online(False, reason):
            self._stalls += 1

    # -- reader thread -------------------------------------------------------------------------

    def _read_loop(self) -> None:
        backoff = Backoff(self.spec.backoff_min_s, self.spec.backoff_max_s)
        cpu0 = time.thread_time()
        grace_end = time.monotonic() + (0.0 if self.spec.is_file else self.spec.start_grace_s)
        try:
            while not self._stop.is_set():
                # Opening may block for its own timeout (FFmpeg) before the session beats again.
                self.reader_beat.beat(self.spec.open_timeout_s)
                outcome, delivered = self._open_and_read(cpu0)
                if outcome is None:
                    return
                if outcome == END_OF_FILE and self.spec.loop and delivered:
                    continue  # a looped clip starts again at once, like a camera that never stops
                starting = self._online is None and time.monotonic() < grace_end
                if starting:
                    log.debug("camera %s not open yet: %s", self.spec.source, outcome)
                else:
                    self._set_online(False, outcome)
                if outcome == END_OF_FILE:
                    return
                if delivered:
                    backoff.reset()
                delay = backoff.next()
                if starting:  # try once more as the grace ends, and report that attempt's outcome
                    delay = min(delay, max(0.0, grace_end - time.monotonic()))
                self.reader_beat.beat(delay)
                self._stop.wait(delay)
        finally:
            self.reader_beat.end()  # stopped or played out; an escaping bug is caught inside the loop
            self._reader_done.set()
            self._handoff.close()

    def _open_and_read(self, cpu0: float) -> tuple[str | None, bool]:
        """Open once and read until failure: (why it ended or None if stopped, whether frames came)."""
        target, api, params = capture_args(self.spec)
        where = redact(self.spec.url)
        try:
            cap = cv2.VideoCapture(target, api, params)
        except cv2.error as exc:
            self._open_failures += 1
            return f"cannot open {where}: {str(exc).strip()[:200]}", False
        try:
            if not cap.isOpened():
                self._open_failures += 1
                return f"cannot open {where}", False
            if self._opens:
                self._reconnects += 1
            self._opens += 1
            return self._session(cap, cpu0)
        except _Stopped:
            return None, True
        except cv2.error as exc:
            return f"capture error: {str(exc).strip()[:200]}", True
        except Exception:  # a bug must not end this camera for good: log, back off, reopen
            log.exception("camera %s reader failed; reopening", self.spec.source)
            return "internal error", False
        finally:
            cap.release()

    def _session(self, cap: cv2.VideoCapture, cpu0: float) -> tuple[str | None, bool]:
        """Grab frames from an opened capture until it fails, ends, or the source stops."""
        spec = self.spec
        file_fps = self._file_fps(cap) if spec.is_file else 0.0
        opened, opened_at = time.monotonic(), utc_now()
        evaluation = spec.is_file and not spec.realtime
        picked = 0  # evaluation: frames handed to the analysis, one per 1 / analysis_fps of file time
        index = 0
        while not self._stop.is_set():
            self.reader_beat.beat()
            if (
                spec.is_file
                and spec.realtime
                and self._stop.wait(opened + index / file_fps - time.monotonic())
            ):
                return None, index > 0
            started = time.monotonic()
            if not cap.grab():
                return self._grab_failed(time.monotonic() - started), index > 0
            when = opened_at + timedelta(seconds=index / file_fps) if evaluation else utc_now()
            self._frames_read += 1
            self._last_grab, self._last_frame = time.monotonic(), when
            if index >= 1:  # a second frame: one buffered frame from a hung encoder is not a return
                self._set_online(True, "frames arriving")
            if evaluation:
                if index * spec.analysis_fps + 1e-6 >= picked * file_fps:
                    picked += 1
                    self._deliver_when_wanted(cap, index, when)
            elif self._handoff.wanted:
                self._retrieve(cap, index, when)
            else:
                self._frames_dropped += 1
            self._read_cpu_s = time.thread_time() - cpu0
            index += 1
        return None, index > 0

    def _file_fps(self, cap: cv2.VideoCapture) -> float:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        if 0 < fps <= 1000:
            return fps
        log.warning(
            "camera %s: file has no frame rate; playing at %.0f fps", self.spec.source, DEFAULT_FILE_FPS
        )
        return DEFAULT_FILE_FPS

    def _grab_failed(self, waited: float) -> str:
        if self.spec.is_file:
            return END_OF_FILE
        self._read_failures += 1
        if waited >= 0.9 * self.spec.stall_timeout_s:
            reason = f"no frame for {self.spec.stall_timeout_s:g} s"
            self._stalled(reason)
            return reason
        return "read failed"

    def _deliver_when_wanted(self, cap: cv2.VideoCapture, index: int, when: datetime) -> None:
        """Evaluation: wait for the analysis rather than drop the frame (waiting is not a stall)."""
        while not self._handoff.wait_wanted(0.1):
            if self._stop.is_set():
                raise _Stopped
            self._last_grab = time.monotonic()
            self.reader_beat.beat()
        self._retrieve(cap, index, when)

    def _retrieve(self, cap: cv2.VideoCapture, index: int, when: datetime) -> None:
        ok, image = cap.retrieve()
        if not ok or image is None:
            self._read_failures += 1
            return
        self._handoff.put((np.asarray(image, np.uint8), index, when))

    # -- analysis thread -----------------------------------------------------------------------

    def _analyse_loop(self) -> None:
        period = 1.0 / self.spec.analysis_fps
        paced = self.spec.realtime or not self.spec.is_file
        cpu0 = time.thread_time()
        next_tick = time.monotonic()
        while not self._stop.is_set():
            self.analysis_beat.beat(max(0.0, next_tick - time.monotonic()))
            if paced and self._stop.wait(next_tick - time.monotonic()):
                break
            item = self._handoff.take(timeout=min(0.25, self.spec.stall_timeout_s / 4))
            if item is None:
                if self._reader_done.is_set():
                    break
                self._watchdog()
                continue
            try:
                self._analyse(item)
            except Exception:  # a bug costs this frame, never the camera (the pipeline guards detectors)
                self._frames_lost += 1
                if time.monotonic() - self._lost_logged >= 60.0:
                    self._lost_logged = time.monotonic()
                    log.exception("camera %s: frame lost (%d so far)", self.spec.source, self._frames_lost)
            self._analysis_cpu_s = time.thread_time() - cpu0
            next_tick = max(next_tick + period, time.monotonic())
        self.analysis_beat.end()
        self._finished.set()

    def _watchdog(self) -> None:
        """Report a stall even when the backend's read blocks longer than its timeout."""
        last = self._last_grab
        if self._online and last is not None and time.monotonic() - last > self.spec.stall_timeout_s:
            self._stalled(f"no frame for {self.spec.stall_timeout_s:g} s")

    def _analyse(self, item: _Item) -> None:
        image, index, when = item
        height, width = image.shape[:2]
        target = self.spec.analysis_width
        if width > target:
            size = (target, max(1, round(height * target / width)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        frame = Frame(self.spec.source, when, self._black_out(image), index)  # masks before anyone sees it
        self._frames_analysed += 1
        self._on_frame(frame)


__all__ = ["END_OF_FILE", "CameraCounters", "CameraSource", "CameraSpec", "capture_args", "redact"]
