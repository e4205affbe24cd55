"""The commissioning page's HTTP answers, over real loopback sockets (the browser test is integration).

Scenarios: the login sets an HttpOnly, SameSite=Strict, Secure session cookie; wrong passwords are
answered 401 and, past five from one address, 429 even for the right one; state and previews need
the session; a preview has the camera's masks black even if a frame reached it unmasked; logging out
needs the session's CSRF token; a form from another origin, an oversized form, a foreign Host and a
garbled cookie are refused; every answer says no-store; without a password (loopback only) there is
no login; a port already taken costs the page, not the gateway; disabled, nothing is attached.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import cv2
import numpy as np
import pytest

from gateway.commissioning.password import hash_password
from gateway.commissioning.server import PageServer, serve
from gateway.config import GatewayConfig
from gateway.messages import Frame, Reading, SourceHealth, utc_now
from gateway.sources.camera import CameraSource, CameraSpec
from gateway.vision.pipeline import CameraPipeline
from gateway.vision.regions import Regions
from sim.broker import free_port

PASSWORD = "a ladder and a torch"
FORM = urlencode({"password": PASSWORD})
HASH = hash_password(PASSWORD, log2_n=14)
MASK = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]


@dataclass
class Sensors:
    """The sensors' side of the page: newest readings and counters (what SensorPipeline offers)."""

    latest: Mapping[str, Mapping[str, Reading]] = field(default_factory=dict)

    def health(self) -> list[SourceHealth]:
        return []


def config(port: int, password_hash: str | None = HASH, enabled: bool = True) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "site": "s",
            "gateway": "g",
            "mqtt": {"host": "127.0.0.1"},
            "storage": "/tmp/unused",
            "cameras": [{"id": "hall", "url": "/dev/video-none", "masks": [MASK]}],
            "commissioning": {
                "enabled": enabled,
                "listen": f"127.0.0.1:{port}",
                "password_hash": password_hash,
            },
        }
    )


def pipeline() -> CameraPipeline:
    """A camera's pipeline that is never started: the test hands frames to the page itself."""
    return CameraPipeline(CameraSource(CameraSpec("hall", "/dev/video-none"), Regions().black_out), [], print)


class Client:
    """A browser's requests, by hand."""

    def __init__(self, port: int) -> None:
        self.port, self.cookie = port, ""

    def request(
        self, method: str, path: str, body: str = "", headers: Mapping[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = {"Host": f"127.0.0.1:{self.port}", "Origin": f"http://127.0.0.1:{self.port}"}
        if self.cookie:
            sent["Cookie"] = self.cookie
        if body:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        assert response.getheader("Cache-Control") == "no-store, max-age=0"
        return response, data

    def login(self, password: str) -> int:
        response, _ = self.request("POST", "/login", urlencode({"password": password}))
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";")[0]
        return response.status


@pytest.fixture
def page() -> Iterator[tuple[PageServer, Client]]:
    stop = threading.Event()
    server = serve(config(free_port()), [pipeline()], Sensors(), stop)
    assert server is not None
    yield server, Client(server.server_address[1])
    stop.set()


def test_login_sets_a_strict_session_cookie_and_opens_state_and_previews(
    page: tuple[PageServer, Client],
) -> None:
    server, client = page
    assert client.request("GET", "/api/state")[0].status == 401
    assert client.request("GET", "/")[0].getheader("Location") == "/login"
    response, _ = client.request("POST", "/login", FORM)
    assert response.status == 303 and response.getheader("Location") == "/"
    cookie = response.getheader("Set-Cookie") or ""
    assert {"HttpOnly", "SameSite=Strict", "Secure", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    client.cookie = cookie.split(";")[0]

    state = json.loads(client.request("GET", "/api/state")[1])
    assert state["cameras"][0]["id"] == "hall" and state["cameras"][0]["masks"] == [MASK]

    view = server.page.cameras["hall"]
    white = np.full((240, 320, 3), 255, np.uint8)  # unmasked on purpose: the preview masks again
    view.on_frame(Frame("hall", utc_now(), white, 7))
    response, body = client.request("GET", "/camera/hall.jpg")
    assert response.status == 200 and response.getheader("X-Frame-Index") == "7"
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image[:116, :156].max() <= 4 and image[136:, 176:].min() >= 240  # JPEG rings near the edge
    assert client.request("GET", "/camera/nowhere.jpg")[0].status == 404
    assert client.request("GET", "/camera/hall.jpg?after=" + "9" * 5000)[0].status == 200
    assert (
        client.request("GET", "/camera/hall.jpg", headers={"Cookie": "commissioning_session=forged"})[
            0
        ].status
        == 401
    )


def test_wrong_passwords_are_refused_then_rate_limited(page: tuple[PageServer, Client]) -> None:
    _, client = page
    for _ in range(5):
        response, body = client.request("POST", "/login", "password=guess-guess")
        assert response.status == 401 and b"Wrong password." in body and not response.getheader("Set-Cookie")
    response, body = client.request("POST", "/login", FORM)
    assert response.status == 429 and b"Too many wrong passwords" in body


def test_logout_needs_the_csrf_token(page: tuple[PageServer, Client]) -> None:
    _, client = page
    assert client.login(PASSWORD) == 303
    _, index = client.request("GET", "/")
    token = index.decode().split('name="csrf" value="')[1].split('"')[0]
    assert len(token) >= 40
    assert client.request("POST", "/logout", "csrf=wrong")[0].status == 403
    assert client.request("GET", "/api/state")[0].status == 200
    assert client.request("POST", "/logout", f"csrf={token}")[0].status == 303
    assert client.request("GET", "/api/state")[0].status == 401


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Origin": "http://evil.example"}, FORM, 403),
        ({"Origin": "null"}, FORM, 403),
        ({"Host": "evil.example"}, FORM, 421),
        ({}, "password=" + "x" * 5000, 413),
        ({}, "&".join(f"f{i}=1" for i in range(20)), 400),
    ],
)
def test_foreign_or_oversized_logins_are_refused(
    page: tuple[PageServer, Client], headers: dict[str, str], body: str, status: int
) -> None:
    _, client = page
    response, _ = client.request("POST", "/login", body, headers)
    assert response.status == status and not response.getheader("Set-Cookie")


def test_localhost_is_this_page_and_a_garbled_cookie_is_no_session(page: tuple[PageServer, Client]) -> None:
    _, client = page
    assert client.request("GET", "/login", headers={"Host": f"localhost:{client.port}"})[0].status == 200
    assert client.request("GET", "/api/state", headers={"Cookie": '"\\x00; ==;;'})[0].status == 401


def test_every_answer_has_a_strict_content_security_policy(page: tuple[PageServer, Client]) -> None:
    _, client = page
    for path in ("/login", "/static/page.js", "/api/state", "/nowhere"):
        policy = client.request("GET", path)[0].getheader("Content-Security-Policy") or ""
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_without_a_password_loopback_needs_no_login(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    with caplog.at_level(logging.WARNING, "gateway.commissioning"):
        server = serve(config(free_port(), password_hash=None), [pipeline()], Sensors(), stop)
    assert server is not None
    try:
        client = Client(server.server_address[1])
        response, body = client.request("GET", "/")
        assert response.status == 200 and b'name="csrf" value=""' in body
        assert client.request("GET", "/api/state")[0].status == 200
        assert client.request("POST", "/login", "password=anything")[0].getheader("Location") == "/"
    finally:
        stop.set()
    assert "without a password: anyone on this device may look" in caplog.text


def test_a_port_already_taken_costs_the_page_not_the_gateway(
    page: tuple[PageServer, Client], caplog: pytest.LogCaptureFixture
) -> None:
    _, client = page
    camera = pipeline()
    with caplog.at_level(logging.ERROR, "gateway.commissioning"):
        assert serve(config(client.port), [camera], Sensors(), threading.Event()) is None
    assert "cannot listen on 127.0.0.1:" in caplog.text and "runs without it" in caplog.text
    assert camera.detectors == []


def test_disabled_nothing_listens_and_nothing_is_attached() -> None:
    camera = pipeline()
    assert serve(config(free_port(), enabled=False), [camera], Sensors(), threading.Event()) is None
    assert camera.detectors == []
