"""The soak's site: a real Mosquitto, a link proxy, simulated sensors and a camera, one gateway process.

Everything the faults act on, and everything the soak observes: the messages that reach a
subscriber (each stamped on arrival), the gateway's outbox on its storage, its log and audit log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.privacy.projection import actor_id
from sim.broker import Mosquitto
from sim.scenario import load_scenario, scenario_path
from sim.site import SimulatedSite
from sim.video import load_scene, scene_path
from sim.video.server import MjpegServer
from tests.e2e.harness import kill, stop
from tests.link_proxy import StallingProxy
from tests.mqtt_helpers import OBSERVERS, Received, Recorder
from tests.soak.disk import SmallDisk

BIN = Path(sys.executable).parent
CAMERA_SCENE = "adl_walk_across"  # someone walking: motion, tracking and pose keep running
WHOLE_FRAME = [[0, 0], [1, 0], [1, 1], [0, 1]]
OFFLINE_AFTER_S = 3.0
SETTLE_S = 10.0  # a sensor the scenario itself unplugs is left alone this long before and after


@dataclass(frozen=True, slots=True)
class Arrival:
    """A message as the subscriber got it, with its arrival on both clocks."""

    wall: float
    mono: float
    topic: str
    payload: bytes


@dataclass
class Arrivals:
    """Every message any Recorder receives (an OBSERVERS hook), newest state per topic kept apart."""

    events: list[Arrival] = field(default_factory=list)
    latest: dict[str, Arrival] = field(default_factory=dict)  # non-event topics: the newest message
    others: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _keys: set[tuple[str, str]] = field(default_factory=set)

    def __call__(self, message: Received) -> None:
        if message.retain:
            return  # a retained message replayed to a (re)subscribing client: old news
        arrival = Arrival(time.time(), time.monotonic(), message.topic, message.payload)
        with self.lock:
            if "/events/" in message.topic:
                self.events.append(arrival)
                self._keys.add((message.topic, str(json.loads(message.payload).get("id"))))
            else:
                self.latest[message.topic] = arrival
                self.others += 1

    def newest(self, suffix: str) -> Arrival | None:
        """The newest message on the topic ending in `suffix`."""
        with self.lock:
            return next((a for t, a in self.latest.items() if t.endswith(suffix)), None)

    def delivered(self) -> set[tuple[str, str]]:
        """(topic, id) of every event message that arrived."""
        with self.lock:
            return set(self._keys)

    def events_after(self, mono: float) -> list[Arrival]:
        """Event messages that arrived after `mono`."""
        with self.lock:
            return [a for a in self.events if a.mono >= mono]


class AuditTail:
    """The publication records of the gateway's audit log, read as it grows.

    Plain reads through /proc/<pid>/root reach the small disk; SQLite would resolve that link to a
    path in this mount namespace, so the outbox itself is not read from here."""

    def __init__(self, storage: Callable[[], Path]) -> None:
        self._storage = storage
        self._offset = 0
        self._records: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        """Every publication record so far (all files again if the log was rotated)."""
        path = self._storage() / "audit.jsonl"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return list(self._records)
        if size < self._offset:  # rotated or rewritten: read every file from the start
            self._offset, self._records = 0, []
            for older in sorted(self._storage().glob("audit.jsonl.*")):
                self._records += _publications(older.read_bytes())
        with path.open("rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        self._records += _publications(complete)
        return list(self._records)


def audited_keys(audited: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """(topic, payload id) of every audited event publication. The audit log names an event by the
    gateway's own id; each actor's message carries that actor's id for it (an aggregate's id is the
    actor's already)."""
    keys = set()
    for a in audited:
        topic, event_id = str(a["topic"]), str(a["event_id"])
        if "/events/" in topic:
            actor_own = re.fullmatch(r"[0-9a-f]{32}", event_id) is not None
            keys.add((topic, event_id if actor_own else actor_id(str(a["actor"]), event_id)))
    return keys


def _publications(data: bytes) -> list[dict[str, Any]]:
    found = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn line after a kill or a full disk
        if isinstance(record, dict) and record.get("kind") == "publication":
            found.append(record["detail"])
    return found


@dataclass(frozen=True, slots=True)
class SiteOptions:
    """What the soak's site is made of."""

    workdir: Path
    scenario: str = "default"
    time_scale: float = 20.0
    keepalive_s: int = 5
    camera: bool = True
    disk_mb: int = 24


class SoakSite:
    """Broker, proxy, sensors, camera and gateway for one soak; `close` tears everything down."""

    def __init__(self, options: SiteOptions) -> None:
        self.options = options
        work = options.workdir
        self.broker = Mosquitto(work / "broker", persistent=True).start()
        self.proxy = StallingProxy(self.broker.host, self.broker.port)
        disk = SmallDisk.open(work / "storage", options.disk_mb)
        self.disk: SmallDisk | None = disk if isinstance(disk, SmallDisk) else None
        self.disk_unavailable = disk if isinstance(disk, str) else ""
        scenario = load_scenario(scenario_path(options.scenario))
        self.sim = SimulatedSite(scenario, work / "sim", options.time_scale, pace=False).open_ports()
        self.camera: MjpegServer | None = None
        cameras: list[dict[str, Any]] = []
        if options.camera:
            self.camera = MjpegServer({"cam-1": load_scene(scene_path(CAMERA_SCENE))}).start()
            zones = [{"name": "room", "polygon": WHOLE_FRAME}]
            cameras = [{"id": "cam-1", "url": self.camera.url("cam-1"), "fps": 2, "zones": zones}]
        # A silent port counts as offline after OFFLINE_AFTER_S of wall time, not 10 s / time scale:
        # on a loaded 2-core machine half a second without a frame is a scheduling hiccup.
        sensors = self.sim.gateway_config("", 0, work)["sensors"]
        assert isinstance(sensors, list)
        for sensor in sensors:
            sensor["offline_after_s"] = OFFLINE_AFTER_S * options.time_scale
        self.config = self.sim.write_gateway_config(
            work / "gateway.yaml",
            "127.0.0.1",
            self.proxy.port,
            work / "storage",
            sensors=sensors,
            mqtt={
                "host": "127.0.0.1",
                "port": self.proxy.port,
                "prefix": "city",
                "keepalive_s": options.keepalive_s,
            },
            health_interval_s=1.0,
            cameras=cameras,
        )
        self.site_id = str(self.sim.gateway_config("", 0, work)["site"])
        self.arrivals = Arrivals()
        OBSERVERS.append(self.arrivals)
        self.recorder = Recorder(
            self.broker.host,
            self.broker.port,
            "city/v1/#",
            session=f"soak-{os.getpid()}",
            keep=lambda _m: False,
        )
        self.log = work / "gateway.log"
        self.gateway: subprocess.Popen[bytes] | None = None
        self.rounds: list[float] = []  # wall time at which each play of the scenario began
        self.starts: list[float] = []  # wall time of each gateway start
        self._audit = AuditTail(lambda: self.storage)

    # --- the gateway process ---

    def start_gateway(self) -> None:
        """Start the gateway (inside the small disk's namespace when there is one)."""
        self.starts.append(time.time())
        argv = [str(BIN / "edge-gateway"), "run", "--config", str(self.config)]
        if self.disk is not None:
            argv = self.disk.command(argv)
        with self.log.open("ab") as log:
            self.gateway = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1")
            )

    def kill_gateway(self) -> None:
        """SIGKILL, as a power cut or the kernel's OOM killer would."""
        assert self.gateway is not None
        kill(self.gateway)
        self.gateway = None

    def stop_gateway(self) -> int:
        """SIGTERM and wait (bounded): the exit code."""
        assert self.gateway is not None
        code, self.gateway = stop(self.gateway, 30.0), None
        return code

    @property
    def gateway_pid(self) -> int | None:
        """The running gateway's pid (None while it is down)."""
        return None if self.gateway is None or self.gateway.poll() is not None else self.gateway.pid

    def play(self) -> None:
        """Power the devices on, on a fresh scenario clock (again, after a play has ended)."""
        if self.rounds:
            self.sim.stop_devices()
        self.sim.start()
        self.rounds.append(self.sim.started_at)

    def quiet(self, sensor_id: str, seconds: float) -> bool:
        """Whether the scenario leaves a sensor plugged in from SETTLE_S ago until `seconds` (plus
        SETTLE_S) from now, so that an injected fault's events are the injected fault's own."""
        scale, now = self.options.time_scale, self.sim.clock.now()
        lo, hi = now - SETTLE_S * scale, now + (seconds + SETTLE_S) * scale
        windows = [w for w in self.sim.scenario.transport_faults(sensor_id) if w.kind == "unplug"]
        return self.sim.ports[sensor_id].plugged and not any(w.at < hi and w.until > lo for w in windows)

    # --- what the gateway has stored ---

    @property
    def storage(self) -> Path:
        """The gateway's storage directory as this process reaches it."""
        return self.disk.outside if self.disk is not None else self.options.workdir / "storage"

    def audited(self) -> list[dict[str, Any]]:
        """Every publication the gateway's audit log has recorded so far (read incrementally)."""
        return self._audit.read()

    def undelivered(self) -> int:
        """Audited event publications that have not reached the subscriber (yet)."""
        return len(audited_keys(self.audited()) - self.arrivals.delivered())

    def log_size(self) -> int:
        """The gateway log's length now (to read what comes after)."""
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, offset: int) -> str:
        """The gateway log from `offset` on."""
        with self.log.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    def close(self) -> None:
        """Stop everything this site started."""
        if self.gateway is not None:
            self.gateway.kill()
            self.gateway.wait(10)
            self.gateway = None
        self.sim.close()
        if self.camera is not None:
            self.camera.stop()
        self.recorder.close()
        if self.arrivals in OBSERVERS:
            OBSERVERS.remove(self.arrivals)
        self.proxy.close()
        self.broker.stop()
        if self.disk is not None:
            self.disk.free()
            self.disk.close()
