"""The commissioning page in headless Chromium, on a running gateway with a live camera and a sensor.

Scenario: a gateway (in-process, real Mosquitto) analyses a simulated MJPEG-over-HTTP camera in which
someone walks across the room, with a privacy mask over the top-left corner, and polls a simulated
MH-Z19 CO2 sensor on a pseudo-terminal; its commissioning page listens on a loopback port with a
password. Debian's Chromium, driven by Playwright, is sent to the login page when it asks for the
page; a wrong password is refused (401, "Wrong password."); the right one shows the camera's preview,
whose masked corner is black both in the served JPEG and on the screen, the walking person's box in
the people list, and the sensor's CO2 value. A browser without the session cookie gets 401 for the
state and the previews. Three clicks on the picture print the camera's masks, the new polygon last, in
the config's fractions. A request naming another host is refused (DNS rebinding); logging out ends
the session, so its cookie no longer opens anything. Every answer says `Cache-Control: no-store`.
"""

from __future__ import annotations

import dataclasses
import http.client
import random
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from ruamel.yaml import YAML

from gateway.app import Gateway
from gateway.audit import AuditLog
from gateway.commissioning.password import hash_password
from gateway.config import CameraConfig, GatewayConfig
from gateway.trust import Trusted
from sim.broker import Mosquitto, free_port
from sim.serial.devices import VirtualMhz19
from sim.serial.pty import VirtualPort
from sim.serial.runner import DeviceRunner, ScenarioClock
from sim.video import load_scene, scene_path
from sim.video.server import MjpegServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "ladder-and-a-torch"
MASK = [[0.0, 0.0], [0.4, 0.0], [0.4, 0.35], [0.0, 0.35]]  # top-left: a neighbour's window, say
# The probe's flags (machines/python.md): no sandbox as root, and no calls home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (.ci/setup.sh installs it as root)",
    ),
]


@pytest.fixture
def camera() -> Iterator[MjpegServer]:
    scene = load_scene(scene_path("adl_walk_across"))
    small = dataclasses.replace(scene, camera=dataclasses.replace(scene.camera, resolution=(320, 240)))
    server = MjpegServer({"hall": small}).start()
    yield server
    server.stop()


@pytest.fixture
def co2(tmp_path: Path) -> Iterator[Path]:
    link = tmp_path / "dev" / "co2"
    device = VirtualMhz19(lambda t: {"co2": 640.0, "temperature": 21.0}, random.Random(1), noise=0.0)
    with VirtualPort(link) as port, DeviceRunner(device, port, ScenarioClock()):
        yield link


@pytest.fixture
def site(broker: Mosquitto, camera: MjpegServer, co2: Path, tmp_path: Path) -> Iterator[str]:
    """A running gateway with its commissioning page; yields the page's base URL."""
    listen = f"127.0.0.1:{free_port()}"
    config = GatewayConfig.model_validate(
        {
            "site": "site-a",
            "gateway": "gw-1",
            "mqtt": {"host": broker.host, "port": broker.port},
            "storage": str(tmp_path / "storage"),
            "cameras": [
                {
                    "id": "hall",
                    "url": camera.url("hall"),
                    "masks": [MASK],
                    "zones": [{"name": "floor", "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}],
                }
            ],
            "sensors": [{"id": "co2", "type": "mhz19", "port": str(co2), "mode": "query", "poll_s": 0.5}],
            "commissioning": {
                "enabled": True,
                "listen": listen,
                "password_hash": hash_password(PASSWORD, log2_n=14),  # the cheapest cost allowed: a fast test
            },
        }
    )
    config.storage.mkdir(parents=True)
    trusted = Trusted.load(config.trust.public_key, config.policy, config.trust.models_dir)
    gateway = Gateway(config, trusted, AuditLog(config.storage / "audit.jsonl"))
    stop = threading.Event()
    runner = threading.Thread(target=gateway.run, args=(stop,))
    runner.start()
    try:
        wait_listening(listen, 20.0)
        yield f"http://{listen}"
    finally:
        stop.set()
        runner.join(20)
    assert not runner.is_alive()


def wait_listening(listen: str, timeout: float) -> None:
    """Until the page accepts connections (the gateway starts it in its own thread)."""
    host, port = listen.split(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def masked_region(image: np.ndarray, margin: int = 3) -> np.ndarray:
    """The pixels inside MASK, less a margin where JPEG and scaling blur the mask's edge."""
    height, width = image.shape[:2]
    return image[margin : int(0.35 * height) - margin, margin : int(0.4 * width) - margin]


def test_the_page_shows_masked_views_people_and_sensors_to_a_logged_in_browser(
    site: str, tmp_path: Path
) -> None:
    shots = tmp_path
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.goto(f"{site}/")
            assert page.url == f"{site}/login"

            page.fill("#password", "not-the-password")
            with page.expect_response(f"{site}/login") as answer:
                page.click("button[type=submit]")
            assert answer.value.status == 401
            expect(page.locator("#message")).to_have_text("Wrong password.")

            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{site}/")
            preview = page.locator("#camera-hall img.preview")
            expect(preview).to_have_attribute("data-frame", re.compile(r"\d+"), timeout=20_000)
            expect(page.locator("#camera-hall .person").first).to_contain_text("#", timeout=30_000)
            expect(page.locator("#sensor-co2 .values")).to_contain_text("co2 640", timeout=20_000)
            expect(page.locator("#camera-hall .badge").first).to_have_text("online")

            served = context.request.get(f"{site}/camera/hall.jpg")
            assert served.status == 200
            assert served.headers["cache-control"] == "no-store, max-age=0"
            image = cv2.imdecode(np.frombuffer(served.body(), np.uint8), cv2.IMREAD_COLOR)
            assert image.shape[:2] == (240, 320)
            assert masked_region(image).max() <= 8  # black, give or take JPEG's rounding
            assert image[int(0.6 * 240) :, :].mean() > 30  # the rest of the room is there

            shot = cv2.imdecode(np.frombuffer(preview.screenshot(), np.uint8), cv2.IMREAD_COLOR)
            assert masked_region(shot, margin=8).max() <= 12
            assert shot[int(0.6 * shot.shape[0]) :, :].mean() > 30

            overlay = page.locator("#camera-hall svg")
            box = overlay.bounding_box()
            assert box is not None
            drawn = [(0.5, 0.1), (0.9, 0.1), (0.9, 0.3)]
            for x, y in drawn:
                overlay.click(position={"x": x * box["width"], "y": y * box["height"]})
            snippet = page.locator("#camera-hall pre.snippet").inner_text()
            pasted = YAML(typ="safe").load(snippet)["masks"]
            assert pasted[0] == MASK and len(pasted) == 2
            assert np.allclose(pasted[1], drawn, atol=0.005)
            CameraConfig(id="hall", url="0", masks=pasted)  # what the page prints is a valid config value

            state = context.request.get(f"{site}/api/state").json()
            (hall,) = state["cameras"]
            assert hall["masks"] == [MASK] and hall["people"]
            page.screenshot(path=str(shots / "commissioning.png"), full_page=True)  # for a person to look at

            stranger = browser.new_context()
            for path in ("/api/state", "/camera/hall.jpg"):
                assert stranger.request.get(f"{site}{path}").status == 401
            outsider = stranger.new_page()
            outsider.goto(f"{site}/")
            assert outsider.url == f"{site}/login"

            page.click("#logout button")
            page.wait_for_url(f"{site}/login")
            assert context.request.get(f"{site}/api/state").status == 401
        finally:
            browser.close()


def test_a_request_for_another_host_is_refused(site: str) -> None:
    host, port = site.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("GET", "/login", headers={"Host": f"rebound.example:{port}"})
    assert connection.getresponse().status == 421
    connection.close()
