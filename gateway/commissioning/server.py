"""The commissioning page's HTTP server: stdlib `http.server`, on the configured local address only.

Routes: `GET /login`, `POST /login`, `POST /logout`; behind the login `GET /` (the page),
`GET /api/state` (JSON: cameras, people, tamper cues, sensor values and health) and
`GET /camera/<id>.jpg?after=<frame>` (the newest masked preview, waiting up to `FRAME_WAIT_S` for a
frame other than `after`). Every answer says `Cache-Control: no-store`; a strict Content-Security-
Policy allows only this origin's own script and style. Requests whose Host is not the listen address
are refused (DNS rebinding), and so are POSTs from another origin. Without a configured password
(allowed on loopback only, config.py) there is no login: anyone on this device may look.

A failure to listen (port taken) is logged and the gateway runs on without the page.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gateway.commissioning import password
from gateway.commissioning.auth import LoginLimiter, Session, Sessions, csrf_ok
from gateway.commissioning.preview import jpeg
from gateway.commissioning.settings import CommissioningConfig
from gateway.commissioning.views import CameraView, SensorFeed, state
from gateway.config import GatewayConfig
from gateway.vision.pipeline import CameraPipeline

log = logging.getLogger(__name__)

COOKIE = "commissioning_session"
FRAME_WAIT_S = 2.0  # a preview request waits this long for a new frame (the page's pace = the camera's)
MAX_FORM = 4096  # bytes; a login form is a few dozen
REQUEST_TIMEOUT_S = 15.0  # a client that stops talking frees its thread
CAMERA_PATH = re.compile(r"/camera/(?P<id>[a-z0-9][a-z0-9_-]{0,63})\.jpg")
HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make form POSTs say Origin: null
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
STATIC = {"/static/page.js": "text/javascript", "/static/page.css": "text/css"}


def _asset(name: str) -> str:
    return (resources.files("gateway.commissioning") / "static" / name).read_text(encoding="utf-8")


class Page:
    """What every request handler shares: the views, the sessions, the login limiter."""

    def __init__(self, config: GatewayConfig, sensors: SensorFeed) -> None:
        self.config, self.settings = config, config.commissioning
        self.cameras: dict[str, CameraView] = {}
        self.sensors = sensors
        self.sessions, self.limiter = Sessions(), LoginLimiter()
        stored = self.settings.password_hash
        self.password = None if stored is None else password.parse(stored)
        self.checking = threading.Lock()  # one scrypt at a time: each takes 128 MiB
        self.hosts = _hosts(self.settings)
        self.secure_cookie = self.settings.address.is_loopback  # browsers keep Secure cookies on loopback
        self.assets = {name: _asset(name.removeprefix("/static/")) for name in STATIC}
        self.index, self.login = _asset("index.html"), _asset("login.html")

    def state(self) -> dict[str, Any]:
        """The page's JSON state."""
        return state(self.config, list(self.cameras.values()), self.sensors)


def _hosts(settings: CommissioningConfig) -> set[str]:
    """The Host headers a browser sends for the listen address (others are DNS rebinding)."""
    address, port = settings.address, settings.port
    host = f"[{address}]" if address.version == 6 else str(address)
    names = {f"{host}:{port}"}
    if address.is_loopback:
        names.add(f"localhost:{port}")
    return names


class Handler(BaseHTTPRequestHandler):
    """One request to the commissioning page."""

    server: PageServer
    protocol_version = "HTTP/1.1"  # keep-alive: the preview loop reuses its connection
    timeout = REQUEST_TIMEOUT_S
    server_version = "edge-gateway-commissioning"
    sys_version = ""

    @property
    def page(self) -> Page:
        """The shared state of the page."""
        return self.server.page

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the debug log, not to stderr."""
        log.debug("%s %s", self.client_address[0], format % args)

    # -- answers ---------------------------------------------------------------------------------

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in {**HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, status: HTTPStatus, text: str) -> None:
        self._send(status, f"{text}\n".encode(), "text/plain; charset=utf-8")

    def _redirect(self, where: str, headers: dict[str, str] | None = None) -> None:
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": where, **(headers or {})})

    def _login_page(self, status: HTTPStatus, message: str = "") -> None:
        body = self.page.login.replace("{{message}}", message).replace("{{site}}", self.page.config.site)
        self._send(status, body.encode(), "text/html; charset=utf-8")

    # -- checks ----------------------------------------------------------------------------------

    def _host_ok(self) -> bool:
        if self.headers.get("Host", "") in self.page.hosts:
            return True
        self._text(HTTPStatus.MISDIRECTED_REQUEST, "this page answers only on its own address")
        return False

    def _session(self) -> Session | None:
        try:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return None
        morsel = cookie.get(COOKIE)
        return self.page.sessions.get(morsel.value if morsel else None)

    def _authorised(self) -> Session | bool:
        """The session; True if no password is configured; False (and answered) if not logged in."""
        if self.page.password is None:
            return True
        session = self._session()
        if session is not None:
            return session
        if self.path.split("?")[0] == "/":
            self._redirect("/login")
        else:
            self._text(HTTPStatus.UNAUTHORIZED, "log in first")
        return False

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        if origin is None or urlsplit(origin).netloc in self.page.hosts:
            return True
        self._text(HTTPStatus.FORBIDDEN, "a form from another site")
        return False

    def _form(self) -> dict[str, str] | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_FORM:
            self._text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a form is at most {MAX_FORM} bytes")
            return None
        try:
            fields = parse_qs(self.rfile.read(length).decode("utf-8", "replace"), max_num_fields=8)
        except ValueError:  # more fields than any form of this page has
            self._text(HTTPStatus.BAD_REQUEST, "not a form of this page")
            return None
        return {key: values[0] for key, values in fields.items()}

    # -- routes ----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        """Pages, state, previews."""
        if not self._host_ok():
            return
        path, _, query = self.path.partition("?")
        if path == "/login":
            self._login_page(HTTPStatus.OK)
            return
        if path in STATIC:
            self._send(HTTPStatus.OK, self.page.assets[path].encode(), f"{STATIC[path]}; charset=utf-8")
            return
        session = self._authorised()
        if session is False:
            return
        if path == "/":
            csrf = session.csrf if isinstance(session, Session) else ""
            body = self.page.index.replace("{{csrf}}", csrf).replace("{{site}}", self.page.config.site)
            self._send(HTTPStatus.OK, body.encode(), "text/html; charset=utf-8")
        elif path == "/api/state":
            self._send(HTTPStatus.OK, json.dumps(self.page.state()).encode(), "application/json")
        elif (match := CAMERA_PATH.fullmatch(path)) is not None:
            self._preview(match["id"], parse_qs(query).get("after", [""])[0])
        else:
            self._text(HTTPStatus.NOT_FOUND, "no such page")

    def _preview(self, camera: str, after: str) -> None:
        view = self.page.cameras.get(camera)
        if view is None:
            self._text(HTTPStatus.NOT_FOUND, f"no camera {camera}")
            return
        seen = int(after) if after.isdigit() and len(after) <= 12 else None  # a frame number, not a bignum
        snapshot = view.wait_newer(seen, FRAME_WAIT_S)
        if snapshot is None:
            self._text(HTTPStatus.SERVICE_UNAVAILABLE, f"no frame from camera {camera} yet")
            return
        self._send(
            HTTPStatus.OK,
            jpeg(snapshot, view.regions),
            "image/jpeg",
            {"X-Frame-Index": str(snapshot.frame.index)},
        )

    def do_POST(self) -> None:
        """Log in, log out."""
        if not self._host_ok() or not self._same_origin():
            return
        path = self.path.partition("?")[0]
        form = self._form()
        if form is None:
            return
        if path == "/login":
            self._login(form.get("password", ""))
        elif path == "/logout":
            session = self._session()
            if session is None or not csrf_ok(session, form.get("csrf")):
                self._text(HTTPStatus.FORBIDDEN, "not logged in, or a form without its token")
                return
            self.page.sessions.end(session.id)
            self._redirect("/login", {"Set-Cookie": self._cookie("", expire=True)})
        else:
            self._text(HTTPStatus.NOT_FOUND, "no such form")

    def _login(self, given: str) -> None:
        page, client = self.page, self.client_address[0]
        if page.password is None:
            self._redirect("/")
            return
        wait = page.limiter.wait_s(client)
        if wait > 0:
            log.warning(
                "commissioning page: login from %s refused for %.0f s (too many failures)", client, wait
            )
            self._login_page(
                HTTPStatus.TOO_MANY_REQUESTS, f"Too many wrong passwords: try again in {wait:.0f} s."
            )
            return
        with page.checking:
            right = password.verify(given, page.password)
        if not right:
            page.limiter.failed(client)
            log.warning("commissioning page: wrong password from %s", client)
            self._login_page(HTTPStatus.UNAUTHORIZED, "Wrong password.")
            return
        page.limiter.succeeded(client)
        session = page.sessions.create()
        log.info("commissioning page: %s logged in", client)
        self._redirect("/", {"Set-Cookie": self._cookie(session.id)})

    def _cookie(self, value: str, expire: bool = False) -> str:
        flags = "; HttpOnly; SameSite=Strict; Path=/" + ("; Secure" if self.page.secure_cookie else "")
        return f"{COOKIE}={value}{flags}" + ("; Max-Age=0" if expire else "")


class PageServer(ThreadingHTTPServer):
    """The listening socket and one thread per connection (daemon threads: they end with the gateway)."""

    daemon_threads = True

    def __init__(self, page: Page) -> None:
        self.page = page
        settings = page.settings
        self.address_family = socket.AF_INET6 if settings.address.version == 6 else socket.AF_INET
        super().__init__((str(settings.address), settings.port), Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that goes away mid-answer is normal; anything else is a bug worth its traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("commissioning page: %s went away (%s)", client_address[0], error)
        else:
            log.exception("commissioning page: a request from %s failed", client_address[0])

    def _stop_on(self, stop: threading.Event) -> None:
        stop.wait()
        self.shutdown()

    def run(self, stop: threading.Event) -> None:
        """Serve until `stop` is set (in a thread of its own)."""
        threading.Thread(target=self._stop_on, args=(stop,), name="commissioning-stop", daemon=True).start()
        try:
            self.serve_forever(poll_interval=0.5)
        finally:
            self.server_close()


def serve(
    config: GatewayConfig, cameras: Sequence[CameraPipeline], sensors: SensorFeed, stop: threading.Event
) -> PageServer | None:
    """Start the commissioning page if the config enables it (before the cameras start); it stops with `stop`."""
    settings = config.commissioning
    if not settings.enabled:
        return None
    page = Page(config, sensors)
    try:
        server = PageServer(page)
    except OSError as exc:
        log.error(
            "commissioning page: cannot listen on %s (%s); the gateway runs without it", settings.listen, exc
        )
        return None
    for pipeline, camera in zip(cameras, config.cameras, strict=True):
        page.cameras[camera.id] = CameraView(pipeline, camera)
    if settings.password_hash is None:
        log.warning(
            "commissioning page on http://%s/ without a password: anyone on this device may look",
            settings.listen,
        )
    elif settings.address.is_loopback:
        log.info("commissioning page on http://%s/", settings.listen)
    else:
        log.warning(
            "commissioning page on http://%s/: plain HTTP, so the password and the pictures cross the LAN "
            "unencrypted; keep it to a trusted segment and switch it off after the visit",
            settings.listen,
        )
    threading.Thread(target=server.run, args=(stop,), name="commissioning", daemon=True).start()
    return server
