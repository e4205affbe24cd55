"""A camera's address and settings (`CameraSpec`), its counters, and how OpenCV is asked to open it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import cv2

DEFAULT_FILE_FPS = 25.0  # a file that does not say its frame rate plays at PAL's
END_OF_FILE = "end of file"


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """What the transport needs to know about one configured camera.

    The `*_s` fields are transport timeouts: do not scale them with the simulator's time scale.
    """

    source: str
    url: str
    analysis_fps: float = 10.0
    realtime: bool = True  # files only: play at the file's frame rate (False: evaluation, no drops)
    analysis_width: int = 320
    backoff_min_s: float = 0.5
    backoff_max_s: float = 10.0
    stall_timeout_s: float = 5.0  # no new frame for this long: the stream is stalled
    open_timeout_s: float = 10.0
    # A stream or device that has never opened is reported offline only after this long: a camera
    # powered up with the gateway (or a simulator's, started beside it) is still booting, not broken.
    start_grace_s: float = 10.0
    loop: bool = False  # files only: start again at the end instead of finishing

    def __post_init__(self) -> None:
        if not (self.analysis_fps > 0 and self.analysis_width >= 16 and self.stall_timeout_s > 0):
            raise ValueError(f"camera {self.source}: analysis_fps, analysis_width, stall_timeout_s too small")
        if not 0 < self.backoff_min_s <= self.backoff_max_s:
            raise ValueError(f"camera {self.source}: need 0 < backoff_min_s <= backoff_max_s")

    @property
    def is_file(self) -> bool:
        """Whether the address is a video file (rather than a device or a stream)."""
        return not _is_device(self.url) and ("://" not in self.url or self.url.startswith("file:"))


@dataclass(frozen=True, slots=True)
class CameraCounters:
    """Health counters of one camera (a superset of the published SourceHealth)."""

    source: str
    online: bool
    frames_read: int  # frames grabbed from the stream
    frames_analysed: int  # frames handed to the pipeline
    frames_dropped: int  # frames superseded by a newer one before the analysis wanted one
    read_failures: int
    open_failures: int
    stalls: int
    reconnects: int
    last_frame: datetime | None
    read_cpu_s: float  # CPU time of the reader thread (decoding)
    analysis_cpu_s: float  # CPU time of the analysis thread (downscale, masks, detectors)

    def last_frame_age_s(self, now: datetime) -> float | None:
        """Seconds since the newest frame, None before the first."""
        return None if self.last_frame is None else (now - self.last_frame).total_seconds()


def _is_device(url: str) -> bool:
    return url.isdigit() or url.startswith("/dev/")


def redact(url: str) -> str:
    """The address without credentials, for logs and status reasons (rtsp://user:pw@host/...)."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # IPv6 literal
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def capture_args(spec: CameraSpec) -> tuple[int | str, int, list[int]]:
    """What `cv2.VideoCapture` is called with: the address as given, backend, open parameters."""
    if spec.url.isdigit():
        return int(spec.url), cv2.CAP_ANY, []
    if spec.url.startswith("/dev/"):
        return spec.url, cv2.CAP_V4L2, []
    timeouts = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        round(spec.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        round(spec.stall_timeout_s * 1000),
    ]
    return spec.url, cv2.CAP_FFMPEG, timeouts
