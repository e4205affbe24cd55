"""Cameras through a gateway process: a simulated MJPEG camera is covered, then its stream dies.

Scenario: a gateway analyses a live MJPEG-over-HTTP camera from the video simulator next to a serial
sensor. The lens is covered (`camera.tampered` reaches the police and the municipality, then
`camera.tamper_cleared`); the stream goes down and comes back (`camera.offline`, `camera.online`)
without a restart; the sensor keeps reporting meanwhile; no message on the broker carries image data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.broker import Mosquitto
from sim.video import load_scene, scene_path
from sim.video.server import MjpegServer
from tests.e2e.harness import SiteRun

JPEG, PNG = b"\xff\xd8\xff", b"\x89PNG"


@pytest.fixture
def camera() -> Iterator[MjpegServer]:
    server = MjpegServer({"hall": load_scene(scene_path("adl_walk_across"))}, time_scale=1.0).start()
    yield server
    server.stop()


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def sensor_frames(run: SiteRun) -> int:
    """The serial sensor's latest frames_ok count from its retained health topic."""
    health = [m.json() for m in run.recorder.messages if m.topic.endswith("/sources/mhz-room/status")]
    return int(health[-1]["frames_ok"]) if health else 0


def types(run: SiteRun, actor: str) -> list[str]:
    return [e["type"] for e in run.events(actor) if e["type"].startswith("camera.")]


def test_camera_tamper_and_outage(tmp_path: Path, broker: Mosquitto, camera: MjpegServer) -> None:
    cameras: list[dict[str, Any]] = [{"id": "hall", "url": camera.url("hall"), "fps": 10}]
    run = SiteRun(tmp_path, broker, "co2_full_room", 50, cameras=cameras)
    try:
        run.start()
        wait(lambda: "camera.online" in types(run, "gemeente"), 30, "camera.online")
        camera.set_fault("hall", "cover", seconds=8)
        wait(lambda: "camera.tampered" in types(run, "politie"), 30, "camera.tampered for politie")
        wait(lambda: "camera.tamper_cleared" in types(run, "gemeente"), 40, "camera.tamper_cleared")
        tampered = next(e for e in run.events("politie") if e["type"] == "camera.tampered")
        assert tampered["data"] == {"cue": "covered"}
        assert tampered["time"].endswith(":00Z")  # politie's time resolution is one minute

        frames_before = sensor_frames(run)
        camera.set_fault("hall", "down", seconds=6)
        wait(lambda: "camera.offline" in types(run, "gemeente"), 30, "camera.offline")
        online = types(run, "gemeente").count("camera.online")
        wait(lambda: types(run, "gemeente").count("camera.online") > online, 40, "camera back online")
        wait(lambda: sensor_frames(run) > frames_before, 20, "the serial sensor to keep reporting")
        assert run.stop_gateway() == 0, run.log_tail()
        for message in run.recorder.messages:
            assert JPEG not in message.payload and PNG not in message.payload
            message.payload.decode("utf-8")
    finally:
        run.close()
