"""How long Mosquitto takes to read the generated ACL as the city grows, at start and on reload.

The ACL names every gateway (`user gw.<site>.<gateway>` and its five topics, `gateway.tools.acl`), so
it grows with the fleet, and adding a gateway means regenerating it and sending the broker SIGHUP.
Mosquitto's acl_file parser looks up a line's user by walking the list of users read so far, so the
time grows with the square of the fleet; and the broker is single-threaded: while it reads, no
message moves. Measured here on the installed Mosquitto: the time from start until the port accepts,
and after SIGHUP, how long until a new client gets its CONNACK (a message loop that runs again).

A district bridge (docs/fleet.md) is one user at the central broker holding every rule of its
district's gateways, and Mosquitto tries a user's rules one by one for each message: the broker CPU
per message the bridge carries, for a district of the same size, is measured too.
"""

from __future__ import annotations

import random
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.privacy.policy import load_policy
from gateway.tools.acl import AclOptions, mosquitto_acl
from sim.broker import Mosquitto
from tests.fleet.broker import OPERATOR, gateway_name
from tests.fleet.gateways import PREFIX
from tests.fleet.procstat import cpu_s

START_TIMEOUT_S = 300.0
CHECK_CPU_S = 0.5  # broker CPU to spend per bridge measurement (clock ticks are 10 ms)
CHECK_BATCH, CHECK_MAX = 500, 20_000


def connack_s(broker: Mosquitto, timeout: float = START_TIMEOUT_S) -> float:
    """Seconds from now until a fresh client's CONNACK (anonymous: the ACL grants it nothing else)."""
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_connect = lambda *_: done.set()
    start = time.monotonic()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        if not done.wait(timeout):
            raise TimeoutError(f"no CONNACK within {timeout:.0f} s")
        return time.monotonic() - start
    finally:
        client.disconnect()
        client.loop_stop()
        client.on_connect = None


class AclBroker(Mosquitto):
    """A plain loopback Mosquitto with an acl_file, that can be told to reload it."""

    def __init__(self, workdir: Path, acl: str) -> None:
        super().__init__(workdir)
        (workdir / "acl").write_text(acl)
        self.conf.write_text(self.conf.read_text() + f"acl_file {workdir / 'acl'}\n")

    @property
    def pid(self) -> int:
        """The running broker's process id."""
        assert self._proc is not None, "the broker is not running"
        return self._proc.pid

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads its acl_file (what adding a gateway takes)."""
        assert self._proc is not None, "the broker is not running"
        self._proc.send_signal(signal.SIGHUP)


def measure_one(workdir: Path, gateways: int) -> dict[str, Any]:
    """Start a broker with the ACL of `gateways` gateways; its start and reload times."""
    actors = list(load_policy().actors)
    acl = mosquitto_acl(PREFIX, actors, [gateway_name(i) for i in range(gateways)], [OPERATOR])
    broker = AclBroker(workdir, acl)
    started = time.monotonic()
    broker.start(timeout=START_TIMEOUT_S)
    try:
        start_s = time.monotonic() - started
        idle_s = connack_s(broker)
        broker.reload()
        reload_s = connack_s(broker)
    finally:
        broker.stop()
    return {
        "gateways": gateways,
        "acl_lines": acl.count("\n"),
        "acl_kib": round(len(acl) / 1024, 1),
        "start_s": round(start_s, 3),
        "connack_idle_ms": round(1000 * idle_s, 1),
        "connack_after_sighup_s": round(reload_s, 3),
    }


def bridge_check_us(workdir: Path, gateways: int) -> float:
    """Broker CPU per message [us] published by a bridge carrying `gateways` gateways (random ones)."""
    behind = [gateway_name(i) for i in range(gateways)]
    broker = AclBroker(
        workdir, mosquitto_acl(PREFIX, [], [], [OPERATOR], AclOptions(bridges={"district": behind}))
    )
    broker.start(timeout=START_TIMEOUT_S)
    acked = threading.Semaphore(0)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set("bridge.district")  # no password file: the name is taken as given
    client.on_publish = lambda *_: acked.release()
    client.max_inflight_messages_set(100)
    rng = random.Random(7)
    sent, used = 0, 0.0
    try:
        client.connect(broker.host, broker.port)
        client.loop_start()
        before = cpu_s(broker.pid)
        while used < CHECK_CPU_S and sent < CHECK_MAX:  # enough CPU time for the 10 ms clock ticks
            for _ in range(CHECK_BATCH):
                site, gw = rng.choice(behind)
                client.publish(f"{PREFIX}/v1/gemeente/{site}/{gw}/events/air.summary", b"{}", qos=1)
            for _ in range(CHECK_BATCH):
                if not acked.acquire(timeout=60):
                    raise TimeoutError("no PUBACK within 60 s")
            sent += CHECK_BATCH
            used = cpu_s(broker.pid) - before
    finally:
        client.disconnect()
        client.loop_stop()
        broker.stop()
    return 1e6 * used / sent


def measure(sizes: tuple[int, ...], root: Path) -> list[dict[str, Any]]:
    """Each fleet size in turn, each with a fresh broker."""
    out = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"acl-{n}-", dir=root) as tmp:
            row = measure_one(Path(tmp) / "gateways", n)
            row["bridge_cpu_us_per_msg"] = round(bridge_check_us(Path(tmp) / "bridge", n), 1)
            out.append(row)
    return out


def rows(results: list[dict[str, Any]]) -> list[str]:
    """The ACL figures as table lines."""
    header = (
        f"{'gateways':>8} {'ACL lines':>9} {'ACL KiB':>8} {'start s':>8} {'CONNACK after SIGHUP s':>22} "
        f"{'bridge us/msg':>13}"
    )
    lines = ["ACL size: Mosquitto reading the generated acl_file", header, "-" * len(header)]
    lines += [
        f"{r['gateways']:>8,} {r['acl_lines']:>9,} {r['acl_kib']:>8,.0f} {r['start_s']:>8.2f} "
        f"{r['connack_after_sighup_s']:>22.2f} {r['bridge_cpu_us_per_msg']:>13,.1f}"
        for r in results
    ]
    return lines
