"""Simulated cameras over RTSP: an MjpegServer's cameras relayed as RTP/JPEG by gst-rtsp-server.

`RtspServer(mjpeg).start()` serves every camera of a running `MjpegServer` at
`rtsp://127.0.0.1:PORT/<id>` (a free loopback port), both RTP over UDP and interleaved in the RTSP
TCP connection, what IP cameras serve and `cv2.VideoCapture(url, cv2.CAP_FFMPEG)` reads.

Each RTSP client gets its own pipeline `souphttpsrc -> multipartdemux -> jpegparse -> rtpjpegpay`
(RFC 2435) reading the camera's MJPEG stream, so the JPEGs are the MjpegServer's own (no re-encoding)
and its faults reach RTSP clients unchanged: `down` ends open sessions (RTCP BYE, the reader sees the
end of the stream) and answers new DESCRIBEs with 503; `stall` leaves sessions open with no frame;
`freeze`, `cover` and `shift` change the pictures.

The RTSP server is GStreamer's (Debian 12: gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good;
jpegparse comes from gstreamer1.0-plugins-bad, a dependency). Its Python binding, python3-gi, is
bound to the system interpreter (PyGObject from PyPI would compile against development headers), so
this file is also a script that `/usr/bin/python3` runs: `rtsp.py serve PORT ID=MJPEG_URL...` prints
`ready <port>` and serves until its standard input closes; `rtsp.py check` says what is missing.
Only the standard library is imported at module level for that reason.
"""

from __future__ import annotations

import collections
import re
import selectors
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from sim.video.server import MjpegServer

SYSTEM_PYTHON = "/usr/bin/python3"  # the interpreter python3-gi is installed for
DEBIAN_PACKAGES = ("python3-gi", "gir1.2-gst-rtsp-server-1.0", "gstreamer1.0-plugins-good")
ELEMENTS = ("souphttpsrc", "multipartdemux", "jpegparse", "rtpjpegpay")
START_TIMEOUT_S = 20.0  # the first run builds GStreamer's plugin registry
_CAMERA_ID = re.compile(r"[A-Za-z0-9_.-]+")


class RtspServerError(OSError):
    """The RTSP server could not be started (GStreamer missing, or it failed)."""


def rtsp_support(python: str = SYSTEM_PYTHON) -> str | None:
    """None when the RTSP server can run here, else what is missing and how to install it."""
    try:
        done = subprocess.run(
            [python, str(Path(__file__).resolve()), "check"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    if done.returncode == 0:
        return None
    missing = (done.stdout.strip() or done.stderr.strip()).splitlines()[-1:] or ["unknown error"]
    return f"{missing[0]} (apt-get install {' '.join(DEBIAN_PACKAGES)})"


class RtspServer:
    """Every camera of an MjpegServer, relayed over RTSP on 127.0.0.1 by a GStreamer child process."""

    def __init__(self, mjpeg: MjpegServer, port: int = 0, *, python: str = SYSTEM_PYTHON) -> None:
        bad = [cam_id for cam_id in mjpeg.feeds if not _CAMERA_ID.fullmatch(cam_id)]
        if bad:
            raise ValueError(f"camera ids must match {_CAMERA_ID.pattern} to be RTSP paths: {bad}")
        self._mjpeg, self._python, self._requested_port = mjpeg, python, port
        self._proc: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._drainer: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port bound (valid after start)."""
        if self._port == 0:
            raise ValueError("the RTSP server is not started")
        return self._port

    def url(self, cam_id: str) -> str:
        """The RTSP URL of a camera."""
        if cam_id not in self._mjpeg.feeds:
            raise ValueError(f"no camera {cam_id!r}")
        return f"rtsp://127.0.0.1:{self.port}/{cam_id}"

    def start(self) -> RtspServer:
        """Start the RTSP server; returns once it listens (RtspServerError if it cannot)."""
        mounts = [f"{cam_id}={self._mjpeg.url(cam_id)}" for cam_id in self._mjpeg.feeds]
        port = self._port or self._requested_port  # started again: on the same port, like a rebooted camera
        command = [self._python, str(Path(__file__).resolve()), "serve", str(port), *mounts]
        try:
            proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as exc:
            raise RtspServerError(f"cannot run {self._python}: {exc}") from exc
        self._proc = proc
        assert proc.stderr is not None and proc.stdout is not None  # PIPE was asked for
        self._drainer = threading.Thread(
            target=self._drain, args=(proc.stderr,), name="rtsp-stderr", daemon=True
        )
        self._drainer.start()
        line = _read_line(proc.stdout, START_TIMEOUT_S)
        if not line.startswith("ready "):
            self.stop()
            why = " | ".join(self._stderr) or line or "no answer"
            raise RtspServerError(f"the RTSP server did not start: {why}")
        self._port = int(line.split()[1])
        return self

    def stop(self) -> None:
        """Stop the server (its sessions end)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the child exits when its standard input closes
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._drainer is not None:
            self._drainer.join(timeout=5)  # its last words, for the error message

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self._stderr.append(raw.decode(errors="replace").rstrip())
        stream.close()


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """One line from a child's stdout, or "" if none comes within `timeout` seconds."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return stream.readline().decode(errors="replace").strip()


# --- the child process: run by the system Python, which has python3-gi --------------------------


def _check() -> list[str]:
    """What is missing for `serve`: GI typelibs or GStreamer elements."""
    try:
        import gi  # type: ignore[import-not-found]  # python3-gi: system interpreter only

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import Gst  # type: ignore[import-not-found]  # as above
    except (ImportError, ValueError) as exc:
        return [f"GStreamer RTSP server binding missing: {exc}"]
    Gst.init(None)
    return [f"GStreamer element {name} missing" for name in ELEMENTS if Gst.ElementFactory.find(name) is None]


def _serve(port: int, mounts: dict[str, str]) -> None:
    """Serve each MJPEG URL at /<id> until standard input closes."""
    import gi  # python3-gi: system interpreter only (ignored once, in _check)

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    for cam_id, url in mounts.items():
        factory = GstRtspServer.RTSPMediaFactory()
        # Not shared: each client reads the camera itself, so a `down` camera ends every session
        # and the next DESCRIBE fails as the camera's HTTP answer (503) does.
        factory.set_shared(False)
        factory.set_launch(
            f'( souphttpsrc location="{url}" is-live=true do-timestamp=true '
            "! multipartdemux ! jpegparse ! rtpjpegpay name=pay0 pt=26 )"
        )
        server.get_mount_points().add_factory(f"/{cam_id}", factory)
    if server.attach(None) == 0:
        raise OSError(f"cannot listen on 127.0.0.1:{port}")
    loop = GLib.MainLoop()

    def watch_parent() -> None:
        sys.stdin.buffer.read()  # returns when the parent closes the pipe or dies
        GLib.idle_add(loop.quit)

    threading.Thread(target=watch_parent, daemon=True).start()
    print(f"ready {server.get_bound_port()}", flush=True)
    loop.run()


def _main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        missing = _check()
        print("\n".join(missing) or "ok")
        return 1 if missing else 0
    if len(argv) >= 2 and argv[0] == "serve":
        mounts = {cam_id: url for cam_id, _, url in (mount.partition("=") for mount in argv[2:])}
        try:
            _serve(int(argv[1]), mounts)
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    print("usage: rtsp.py check | serve PORT ID=MJPEG_URL...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
