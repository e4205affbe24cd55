"""Cameras through a gateway process: live simulated MJPEG cameras, tampered with, dying, and a fall.

Scenario 1: a gateway analyses a live MJPEG-over-HTTP camera from the video simulator next to a
serial sensor. The lens is covered (`camera.tampered` reaches the police and the municipality, then
`camera.tamper_cleared`); the stream goes down and comes back (`camera.offline`, `camera.online`)
without a restart; the sensor keeps reporting meanwhile; no message on the broker carries image data.

Scenario 2: three cameras, one looping a fall (someone trips on the rug and stays down), another
with someone lying down on a bed on purpose. The ambulance gets `fall.detected` for the hall zone at the
ground-truth impact and `fall.confirmed` after the configured time; the bedroom never alarms, nor
does a third camera where someone sits down on a chair.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
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


def fall_events(run: SiteRun, zone: str | None = None) -> list[dict[str, Any]]:
    """The ambulance's fall events (optionally for one camera's zone)."""
    falls = [e for e in run.events("ambulance") if e["type"].startswith("fall.")]
    return [e for e in falls if zone is None or e["data"].get("zone") == zone]


def impacts(server: MjpegServer, cam_id: str, until: float) -> list[float]:
    """Wall-clock times of every ground-truth fall impact the looping camera has played by ``until``."""
    info = server.feeds[cam_id].info()
    loop_s = info["duration_s"] / info["time_scale"]
    falls = [e["impact_t"] / info["time_scale"] for e in info["events"] if e["type"] == "fall"]
    loops = range(int((until - info["started_at"]) // loop_s) + 1)
    return [info["started_at"] + k * loop_s + t for k in loops for t in falls]


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


def whole_frame(name: str) -> dict[str, Any]:
    return {"name": name, "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}


def test_fall_reaches_the_ambulance_and_everyday_scenes_do_not(tmp_path: Path, broker: Mosquitto) -> None:
    scenes = {
        "hall": load_scene(scene_path("fall_forward")),
        "bedroom": load_scene(scene_path("adl_lie_bed")),
        "kitchen": load_scene(scene_path("adl_sit_chair")),
    }
    server = MjpegServer(scenes, time_scale=1.0).start()
    cameras: list[dict[str, Any]] = [
        {"id": cam, "url": server.url(cam), "fps": 10, "zones": [whole_frame(cam)], "fall": {"confirm_s": 5}}
        for cam in scenes
    ]
    run = SiteRun(tmp_path, broker, "co2_full_room", 50, cameras=cameras)
    try:
        run.start()
        wait(lambda: bool(fall_events(run, "hall")), 70, "fall.detected for the hall")
        wait(lambda: "fall.confirmed" in [e["type"] for e in fall_events(run, "hall")], 30, "fall.confirmed")
        # The bedroom has played its lie-down at least once meanwhile (its loop is 25 s).
        bedroom = server.feeds["bedroom"].info()
        wait(lambda: time.time() > bedroom["started_at"] + bedroom["duration_s"] + 2, 30, "a bedroom loop")
        assert run.stop_gateway() == 0, run.log_tail()

        detected = [e for e in fall_events(run, "hall") if e["type"] == "fall.detected"]
        confirmed = [e for e in fall_events(run, "hall") if e["type"] == "fall.confirmed"]
        truth = impacts(server, "hall", time.time())
        for event in detected:
            # The ambulance's grant rounds times down to 10 s; the detector's own error is under 1.5 s.
            fell_at = datetime.fromisoformat(event["data"]["time_of_fall"]).timestamp()
            assert fell_at % 10 == 0
            assert any(-1.5 < t - fell_at < 11.5 for t in truth), (event, truth)
            assert set(event["data"]) <= {"zone", "confidence", "time_of_fall", "fall_id"}  # the grant
            assert set(event.get("location", {})) <= {"zone"}  # no coordinates for the ambulance
        assert confirmed and confirmed[0]["data"]["zone"] == "hall", confirmed
        # a confirmation names the detection it confirms, by the ambulance's own id for it
        assert confirmed[0]["data"]["fall_id"] in {e["id"] for e in detected}, (confirmed, detected)
        for everyday in ("bedroom", "kitchen"):
            assert fall_events(run, everyday) == [], fall_events(run, everyday)
        for message in run.recorder.messages:
            assert JPEG not in message.payload and PNG not in message.payload
    finally:
        run.close()
        server.stop()
