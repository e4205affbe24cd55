"""Live cameras: rendered scenes played in a loop as MJPEG over HTTP on 127.0.0.1, with faults.

`GET /cam/<id>.mjpg` streams `multipart/x-mixed-replace; boundary=frame` with real JPEG frames
(what cheap IP cameras serve and what `cv2.VideoCapture(url)` reads through FFmpeg); `/cam/<id>.jpg`
is one snapshot; `/cam/<id>.json` is the scene's ground truth plus the wall-clock mapping
(scene time = ((now - started_at) * time_scale) mod duration_s); `/cameras` lists the ids.

Faults, per camera, from Python (`MjpegServer.set_fault`) or HTTP (`/fault/<id>?kind=..&seconds=..`):
- `down`: open streams are closed and new requests answered 503 for `seconds` (a dead camera);
- `stall`: connections stay open but no frame comes (a hung encoder);
- `freeze`: the same frame is sent again and again (tamper: frozen image);
- `cover`: near-black frames (tamper: lens covered);
- `shift`: the view is moved by (dx, dy) pixels and rotated by `angle` degrees (tamper: camera moved);
- `none`: clear the fault. Without `seconds` a fault lasts until cleared.
Each camera renders only while someone is watching it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from sim.video.background import U8
from sim.video.render import Renderer
from sim.video.scene import Scene
from sim.video.truth import event_json

FAULT_KINDS = ("none", "down", "stall", "freeze", "cover", "shift")
BOUNDARY = "frame"


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault in force on one camera until `until` (time.monotonic; None: until cleared)."""

    kind: str
    until: float | None = None
    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0


NO_FAULT = Fault("none")


def tamper(frame: U8, fault: Fault) -> U8:
    """The frame as a covered or moved camera would deliver it."""
    if fault.kind == "cover":
        dark: U8 = (frame // 24).astype(np.uint8)
        return dark
    if fault.kind == "shift":
        h, w = frame.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), fault.angle, 1.0)
        m[:, 2] += np.array([fault.dx, fault.dy])
        moved: U8 = cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REFLECT).astype(np.uint8)
        return moved
    return frame


def encode_jpeg(frame: U8, quality: int) -> bytes:
    """JPEG bytes of a BGR frame."""
    # A simulated camera must send real JPEG: encoders are banned outside sim/ only.
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf.tobytes())


class CameraFeed:
    """One live camera: a scene looped in (time-scaled) real time, newest JPEG kept for the clients."""

    def __init__(self, cam_id: str, scene: Scene, time_scale: float = 1.0, quality: int = 80) -> None:
        self.id, self.scene, self.time_scale, self.quality = cam_id, scene, time_scale, quality
        self.renderer = Renderer(scene)
        self.started_at = time.time()
        self._fault = NO_FAULT
        self._down_epoch = 0
        self._cond = threading.Condition()
        self._seq = 0
        self._jpeg = b""
        self._clients = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cam-{cam_id}", daemon=True)

    # --- control -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start playing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop playing and wake every client."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def set_fault(self, fault: Fault) -> None:
        """Put a fault in force (replacing any other)."""
        with self._cond:
            self._fault = fault
            if fault.kind == "down":
                self._down_epoch += 1
            self._cond.notify_all()

    def fault(self) -> Fault:
        """The fault in force now (expired ones are cleared)."""
        with self._cond:
            if self._fault.until is not None and time.monotonic() >= self._fault.until:
                self._fault = NO_FAULT
            return self._fault

    @property
    def down_epoch(self) -> int:
        """Counts `down` faults: a stream opened in an earlier epoch must close."""
        return self._down_epoch

    def stopped(self) -> bool:
        """Whether the feed has been stopped."""
        return self._stop.is_set()

    # --- clients -------------------------------------------------------------------------------

    def attach(self) -> None:
        """A client starts watching."""
        with self._cond:
            self._clients += 1
            self._cond.notify_all()

    def detach(self) -> None:
        """A client stops watching."""
        with self._cond:
            self._clients -= 1

    def next_frame(self, after: int, timeout: float, epoch: int | None = None) -> tuple[int, bytes] | None:
        """The first JPEG newer than sequence number `after`; None on timeout, stop or a new `down` epoch."""

        def cut() -> bool:
            return self._stop.is_set() or (epoch is not None and epoch != self._down_epoch)

        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or cut(), timeout=timeout)
            if self._seq > after and not cut():
                return self._seq, self._jpeg
            return None

    def info(self) -> dict[str, Any]:
        """Ground truth and the wall-clock mapping of this camera's loop."""
        r = self.renderer
        return {
            "camera": self.id,
            "scene": self.scene.name,
            "seed": self.scene.seed,
            "fps": r.fps,
            "duration_s": r.duration_s,
            "time_scale": self.time_scale,
            "started_at": self.started_at,
            "events": [event_json(e) for e in r.events],
            "fault": self.fault().kind,
        }

    # --- the producer --------------------------------------------------------------------------

    def _run(self) -> None:
        period = 1.0 / self.renderer.fps
        next_tick = time.monotonic()
        index = 0
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._clients > 0 or self._stop.is_set(), timeout=0.5)
            fault = self.fault()
            if self._clients > 0 and fault.kind not in ("down", "stall"):
                jpeg = self._jpeg if fault.kind == "freeze" and self._jpeg else self._render(index, fault)
                with self._cond:
                    self._seq += 1
                    self._jpeg = jpeg
                    self._cond.notify_all()
                index += 1
            next_tick = max(next_tick + period, time.monotonic() - period)
            self._stop.wait(max(next_tick - time.monotonic(), 0.0))

    def _render(self, index: int, fault: Fault) -> bytes:
        t = ((time.time() - self.started_at) * self.time_scale) % self.renderer.duration_s
        frame, _ = self.renderer.render(t, index)
        return encode_jpeg(tamper(frame, fault), self.quality)


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the server's feeds."""

    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a camera does not log every request."""

    def do_GET(self) -> None:
        """Streams, snapshots, truth, camera list and the fault switch."""
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if parts == ["cameras"]:
            self._json(200, {"cameras": sorted(self.server.feeds)})
        elif len(parts) == 2 and parts[0] == "fault":
            self._fault(parts[1], parse_qs(url.query))
        elif len(parts) == 2 and parts[0] == "cam" and "." in parts[1]:
            cam_id, ext = parts[1].rsplit(".", 1)
            self._camera(cam_id, ext)
        else:
            self._json(404, {"error": "not found"})

    do_POST = do_GET

    def _camera(self, cam_id: str, ext: str) -> None:
        feed = self.server.feeds.get(cam_id)
        if feed is None or ext not in ("mjpg", "jpg", "json"):
            self._json(404, {"error": f"no camera {cam_id!r}"})
        elif ext == "json":
            self._json(200, feed.info())
        elif feed.fault().kind == "down":
            self._json(503, {"error": "camera down"})
        elif ext == "jpg":
            self._snapshot(feed)
        else:
            self._stream(feed)

    def _json(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, cam_id: str, query: Mapping[str, list[str]]) -> None:
        def arg(name: str, default: float = 0.0) -> float:
            return float(query.get(name, [default])[0])

        kind = query.get("kind", ["none"])[0]
        if cam_id not in self.server.feeds or kind not in FAULT_KINDS:
            self._json(400, {"error": f"camera {cam_id!r} or kind {kind!r} unknown; kinds: {FAULT_KINDS}"})
            return
        seconds = arg("seconds", -1.0)
        self.server.owner.set_fault(
            cam_id, kind, None if seconds < 0 else seconds, (arg("dx"), arg("dy"), arg("angle"))
        )
        self._json(200, {"camera": cam_id, "fault": kind})

    def _snapshot(self, feed: CameraFeed) -> None:
        feed.attach()
        try:
            got = feed.next_frame(0, timeout=5.0)
        finally:
            feed.detach()
        if got is None:
            self._json(503, {"error": "no frame"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(got[1])))
        self.end_headers()
        self.wfile.write(got[1])

    def _stream(self, feed: CameraFeed) -> None:
        epoch = feed.down_epoch
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        feed.attach()
        seq = 0
        try:
            while not feed.stopped() and feed.down_epoch == epoch:
                got = feed.next_frame(seq, timeout=0.5, epoch=epoch)
                if got is None:
                    continue
                seq, jpeg = got
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpeg + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away: normal for a stream
        finally:
            feed.detach()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    feeds: dict[str, CameraFeed]
    owner: MjpegServer


class MjpegServer:
    """Several simulated cameras on one loopback HTTP server."""

    def __init__(
        self,
        cameras: Mapping[str, Scene],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        time_scale: float = 1.0,
        quality: int = 80,
    ) -> None:
        self.feeds = {
            cam_id: CameraFeed(cam_id, scene, time_scale, quality) for cam_id, scene in cameras.items()
        }
        self._http = _Server((host, port), _Handler)
        self._http.feeds = self.feeds
        self._http.owner = self
        self._thread = threading.Thread(target=self._http.serve_forever, name="mjpeg-http", daemon=True)

    @property
    def port(self) -> int:
        """The TCP port bound (useful with port 0)."""
        return int(self._http.server_address[1])

    def url(self, cam_id: str) -> str:
        """The stream URL of a camera."""
        return f"http://127.0.0.1:{self.port}/cam/{cam_id}.mjpg"

    def start(self) -> MjpegServer:
        """Start the cameras and the HTTP server."""
        for feed in self.feeds.values():
            feed.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every stream and stop."""
        for feed in self.feeds.values():
            feed.stop()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    def set_fault(
        self,
        cam_id: str,
        kind: str,
        seconds: float | None = None,
        shift: tuple[float, float, float] = (0, 0, 0),
    ) -> None:
        """Put a fault on a camera for `seconds` (None: until kind "none"); `shift` = (dx, dy, angle) for "shift"."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
        until = None if seconds is None else time.monotonic() + seconds
        self.feeds[cam_id].set_fault(Fault(kind, until, *shift))
