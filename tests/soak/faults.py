"""Injecting one planned fault into the soak's site, and timing how the gateway notices and recovers.

Recovery is judged by what an operator can see, never by asking the gateway: its live `online`
status and health messages on the broker, the rows left in its outbox on disk, its log. Each kind of
fault has a bound on its recovery (from the moment the fault is cleared); a stalled link also has one
on how soon the gateway notices (from the moment the link went silent): 1.5 x its MQTT keepalive.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sim.serial.devices import Faults
from tests.soak.schedule import Planned
from tests.soak.site import SoakSite

POLL_S = 0.1
# Longest acceptable recovery after each fault is cleared [s]: paho retries a broker after 1, 2, 4 ...
# up to 30 s; sources reopen after at most 10 s (serial and camera back-off); a gateway restart
# imports onnxruntime and OpenCV and verifies its models first.
RECOVERY_BOUND_S: dict[str, float] = {
    "broker_restart": 40.0,
    "link_stall": 40.0,
    "link_drop": 40.0,
    "gateway_kill": 60.0,
    "disk_full": 30.0,
    "serial_unplug": 30.0,
    "serial_garbage": 15.0,
    "camera_stall": 30.0,
    "camera_down": 30.0,
}
LINE_GARBLE = Faults(garbage_p=0.5, corrupt_p=0.2, truncate_p=0.3)  # garbage, bad checksums, half frames
DISK_UNPLUG_S = 3.0  # during a full disk a sensor drops out: its offline and online events must be stored
NOTICED_EVENT = {
    "serial_unplug": "sensor.offline",
    "camera_stall": "camera.offline",
    "camera_down": "camera.offline",
}


@dataclass
class Outcome:
    """What one fault did: when, for how long, how soon the gateway noticed and recovered."""

    index: int
    kind: str
    target: str
    duration_s: float
    started_wall: float
    started_mono: float
    cleared_mono: float
    bound_s: float
    recovered_s: float | None = None  # None: not within bound_s
    noticed_s: float | None = None
    notice_bound_s: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Recovered within its bound, and noticed within its bound where it has one."""
        noticed = self.notice_bound_s is None or (
            self.noticed_s is not None and self.noticed_s <= self.notice_bound_s
        )
        return self.recovered_s is not None and noticed

    def to_json(self) -> dict[str, Any]:
        """As the report keeps it."""
        return {**asdict(self), "ok": self.ok}


def wait_for(predicate: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until `predicate()` held (polled), None if it did not within `timeout`."""
    began = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            return None
        time.sleep(POLL_S)


class Injector:
    """Runs planned faults against one site, one at a time."""

    def __init__(self, site: SoakSite, rng: random.Random) -> None:
        self.site, self.rng = site, rng

    def run(self, planned: Planned) -> Outcome:
        """Inject, hold for its duration, clear, and time the recovery."""
        site = self.site
        began, wall, log_at = time.monotonic(), time.time(), site.log_size()
        frames = self._frames(planned.target)
        detail: dict[str, Any] = {}
        clear = getattr(self, f"_{planned.kind}")(planned, detail)
        time.sleep(planned.duration_s)
        clear()
        cleared = time.monotonic()
        outcome = Outcome(
            planned.index, planned.kind, planned.target, planned.duration_s, wall, began, cleared,
            RECOVERY_BOUND_S[planned.kind], detail=detail,
        )  # fmt: skip
        probe = self._probe(planned, cleared, frames, log_at)
        outcome.recovered_s = wait_for(probe, outcome.bound_s)
        self._noticed(outcome)
        if planned.kind in ("disk_full", "serial_garbage"):
            detail["log"] = self._log_lines(log_at)
        return outcome

    # --- the faults: each injects and returns how to clear it ---

    def _broker_restart(self, planned: Planned, detail: dict[str, Any]) -> Callable[[], None]:
        broker = self.site.broker
        broker.kill()

        def restart() -> None:
            broker.start()

        return restart

    def _link_stall(self, planned: Planned, detail: dict[str, Any]) -> Callable[[], None]:
        self.site.proxy.stall()
        return self.site.proxy.resume

    def _link_drop(self, planned: Planned, detail: dict[str, Any]) -> Callable[[], None]:
        self.site.proxy.drop()
        return lambda: None

    def _gateway_kill(self, planned: Planned, detail: dict[str, Any]) -> Callable[[], None]:
        detail["undelivered_at_kill"] = self.site.undelivered()
        self.site.kill_gateway()
        return self.site.start_gateway

    def _disk_full(self, planned: Planned, detail: dict[str, Any]) -> Callable[[], None]:
        disk = self.site.disk
        assert disk is not None, "disk_full needs the small disk"
        detail["filled_bytes"] = disk.fill()
        self.site.sim.unplug(planned.target, DISK_UNPLUG_S)
        return disk.free

    def _serial_unplug(self, planned: Planned, detail: dict[str, Any]) -> Callable[[], None]:
        self.site.sim.unplug(planned.target, planned.duration_s)
        return lambda: None  # its runner plugs it back in

    def _serial_garbage(self, planned: Planned, detail: dict[str, Any]) -> Callable[[], None]:
        rng = random.Random(self.rng.random())
        injector = self.site.sim.garble(planned.target, planned.duration_s, LINE_GARBLE, rng)
        return lambda: detail.update(garbled=dict(injector.counts))

    def _camera_stall(self, planned: Planned, detail: dict[str, Any]) -> Callable[[], None]:
        return self._camera(planned, "stall")

    def _camera_down(self, planned: Planned, detail: dict[str, Any]) -> Callable[[], None]:
        return self._camera(planned, "down")

    def _camera(self, planned: Planned, kind: str) -> Callable[[], None]:
        camera = self.site.camera
        assert camera is not None, "camera faults need the camera"
        camera.set_fault(planned.target, kind)
        return lambda: camera.set_fault(planned.target, "none")

    # --- watching ---

    def _probe(self, planned: Planned, cleared: float, frames: int, log_at: int) -> Callable[[], bool]:
        kind, target = planned.kind, planned.target
        if kind in ("broker_restart", "link_stall", "link_drop"):
            return lambda: self._connected_after(cleared) and self.site.undelivered() == 0
        if kind == "gateway_kill":
            return lambda: self._connected_after(cleared) and self._all_back(cleared)
        if kind == "disk_full":
            return lambda: self._disk_back(log_at)
        return lambda: self._source_back(target, cleared, frames)

    def _connected_after(self, mono: float) -> bool:
        status = self.site.arrivals.newest(f"/{self.site.site_id}/gw-sim/status")
        return status is not None and status.mono >= mono and status.payload == b"online"

    def _all_back(self, mono: float) -> bool:
        """Every port reopened, every camera online again, the outbox drained."""
        ports = all(port.in_use for port in self.site.sim.ports.values() if port.plugged)
        cameras = self.site.camera is None or self._source_back("cam-1", mono, -1)
        return ports and cameras and self.site.undelivered() == 0

    def _disk_back(self, log_at: int) -> bool:
        """Alive, outbox drained, and if it said it could not write, it said it can again."""
        log = self.site.log_since(log_at)
        said_back = "cannot write" not in log or "writable again" in log
        return self.site.gateway_pid is not None and said_back and self.site.undelivered() == 0

    def _health(self, source: str) -> tuple[float, dict[str, Any]] | None:
        arrival = self.site.arrivals.newest(f"/sources/{source}/status")
        return None if arrival is None else (arrival.mono, json.loads(arrival.payload))

    def _frames(self, source: str) -> int:
        health = self._health(source) if source else None
        return -1 if health is None else int(health[1]["frames_ok"])

    def _source_back(self, source: str, mono: float, frames: int) -> bool:
        """A health message after `mono` says the source is online and reads more frames than `frames`."""
        health = self._health(source)
        if health is None or health[0] < mono:
            return False
        return health[1]["state"] == "online" and int(health[1]["frames_ok"]) > frames

    def _noticed(self, outcome: Outcome) -> None:
        if outcome.kind == "link_stall":
            keepalive = self.site.options.keepalive_s
            closes = [t for t in self.site.proxy.client_closes if t >= outcome.started_mono]
            outcome.notice_bound_s = 1.5 * keepalive
            outcome.noticed_s = round(closes[0] - outcome.started_mono, 2) if closes else None
        elif outcome.kind in NOTICED_EVENT:
            wanted = NOTICED_EVENT[outcome.kind]
            for arrival in self.site.arrivals.events_after(outcome.started_mono):
                body = json.loads(arrival.payload)
                if body["type"] == wanted and body.get("source") == outcome.target:
                    outcome.noticed_s = round(arrival.mono - outcome.started_mono, 2)
                    break

    def _log_lines(self, log_at: int, most: int = 8) -> list[str]:
        """The gateway's warnings and errors since `log_at` (the first few, shortened)."""
        lines = self.site.log_since(log_at).splitlines()
        loud = [line for line in lines if "WARNING" in line or "ERROR" in line or "Traceback" in line]
        return [line[:240] for line in loud[:most]]
