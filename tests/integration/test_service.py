"""The gateway under a NOTIFY_SOCKET, the way systemd runs it, against a real Mosquitto.

Scenario (in-process): READY=1 once sources and publisher are up, WATCHDOG=1 at half of
WATCHDOG_USEC; a CO2 sensor's serial line stops draining (a real pty nobody reads, so the
gateway's poll write blocks) and the pings stop with `STATUS=hung: serial-co2`; the line drains and
they resume; the main loop sticks (an injected hook) and they stop again; stop: STOPPING=1 and the
retained `offline`.

Scenario (subprocess): `edge-gateway run --log-format json` gets SIGTERM and is gone within 5 s,
having said STOPPING=1, left `offline` retained and logged only JSON lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gateway import service
from gateway.app import Gateway
from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.trust import Trusted
from sim.broker import Mosquitto
from tests.mqtt_helpers import Recorder
from tests.systemd_helpers import NotifySocket

STATUS_TOPIC = "city/v1/site-a/gw-1/status"


class SilentLine:
    """A real serial line (pty) whose far end never reads: fill it and the gateway's writes block."""

    def __init__(self) -> None:
        self.master, self._slave = pty.openpty()
        self.path = os.ttyname(self._slave)
        os.set_blocking(self.master, False)
        self._writer = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)

    def fill(self) -> int:
        """Write into the line until the kernel's buffers are full (bytes written): the tty layer
        moves data on to the reader's side in the background, so full once is not full yet."""
        total = 0
        while True:
            wrote = 0
            with contextlib.suppress(BlockingIOError):
                while True:
                    wrote += os.write(self._writer, b"\0" * 1024)
            if total and not wrote:
                return total
            total += wrote
            time.sleep(0.1)

    def drain(self) -> None:
        """Read everything waiting, so blocked writers go on."""
        while True:
            try:
                if not os.read(self.master, 65536):
                    return
            except BlockingIOError:
                return

    def close(self) -> None:
        for fd in (self._writer, self._slave, self.master):
            os.close(fd)


def config_dict(broker: Mosquitto, tmp_path: Path, port: str) -> dict[str, Any]:
    return {
        "site": "site-a",
        "gateway": "gw-1",
        "mqtt": {"host": broker.host, "port": broker.port, "prefix": "city"},
        "storage": str(tmp_path / "storage"),
        "sensors": [{"id": "co2", "type": "mhz19", "port": port, "mode": "query", "poll_s": 0.1}],
    }


def build(broker: Mosquitto, tmp_path: Path, line: SilentLine) -> Gateway:
    """The gateway of `config_dict`, in process."""
    config = GatewayConfig.model_validate(config_dict(broker, tmp_path, line.path))
    config.storage.mkdir(parents=True)
    trusted = Trusted.load(config.trust.public_key, config.policy, config.trust.models_dir)
    return Gateway(config, trusted, AuditLog(config.storage / "audit.jsonl"))


@pytest.fixture
def line() -> Iterator[SilentLine]:
    silent = SilentLine()
    yield silent
    silent.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(str(tmp_path / "notify"))
    yield listener
    listener.sock.close()


@pytest.fixture
def recorder(broker: Mosquitto) -> Iterator[Recorder]:
    subscriber = Recorder(broker.host, broker.port, STATUS_TOPIC)
    yield subscriber
    subscriber.close()


def test_ready_watchdog_hangs_and_stopping(
    broker: Mosquitto,
    tmp_path: Path,
    line: SilentLine,
    systemd: NotifySocket,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway = build(broker, tmp_path, line)
    gateway.heartbeat.hung_after_s = 0.5
    (source,) = gateway.sensors.sources
    source.heartbeat.hung_after_s = 0.5
    environ = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}  # ping each 0.1 s
    stop, stuck, entered = threading.Event(), threading.Event(), threading.Event()
    stuck.set()  # set: the hook lets the main loop through; cleared: it holds it
    runner = threading.Thread(target=service.run, args=(gateway, stop, environ))
    runner.start()
    try:
        assert systemd.wait_for("READY=1", 20) == ["READY=1"]
        assert systemd.receive(0.5).count("WATCHDOG=1") >= 3

        assert line.fill() > 0  # the next poll command cannot be written
        systemd.wait_for("STATUS=hung: serial-co2", 10)
        assert "WATCHDOG=1" not in systemd.receive(0.5)
        line.drain()
        assert systemd.wait_for("WATCHDOG=1", 10)[0] == "STATUS=running"

        tick = gateway.health.tick

        def stuck_tick(interval_s: float) -> None:
            entered.set()
            stuck.wait(30)
            tick(interval_s)

        monkeypatch.setattr(gateway.health, "tick", stuck_tick)
        assert entered.wait(5)
        stuck.clear()
        systemd.wait_for("STATUS=hung: main", 10)
        assert "WATCHDOG=1" not in systemd.receive(0.5)
        stuck.set()
        systemd.wait_for("WATCHDOG=1", 10)
    finally:
        stuck.set()
        stop.set()
        runner.join(20)
        line.drain()
    assert not runner.is_alive()
    assert systemd.receive(0.3)[-1] == "STOPPING=1"
    retained = recorder.wait_for(lambda ms: bool(ms) and ms[-1].payload == b"offline", 10)
    assert retained[-1].payload == b"offline"


def test_sigterm_stops_the_service_within_five_seconds(
    broker: Mosquitto, tmp_path: Path, line: SilentLine, systemd: NotifySocket, recorder: Recorder
) -> None:
    path = tmp_path / "gateway.yaml"
    with path.open("w") as fh:
        YAML(typ="safe", pure=True).dump(config_dict(broker, tmp_path, line.path), fh)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    command = [Path(sys.executable).parent / "edge-gateway", "run", "-c", str(path), "--log-format", "json"]
    gateway = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert systemd.wait_for("READY=1", 30)[-1] == "READY=1"
        assert systemd.receive(1.2).count("WATCHDOG=1") >= 2  # every 0.5 s
        assert recorder.wait_for(lambda ms: any(m.payload == b"online" for m in ms), 10)
        sent = time.monotonic()
        gateway.send_signal(signal.SIGTERM)
        code = gateway.wait(10)
        took = time.monotonic() - sent
    finally:
        if gateway.poll() is None:
            gateway.kill()
        _, stderr = gateway.communicate(10)
    print(f"SIGTERM to exit: {took:.2f} s")
    assert code == 0, stderr
    assert took < 5.0
    assert "STOPPING=1" in systemd.receive(0.3)
    assert recorder.wait_for(lambda ms: ms[-1].payload == b"offline", 5)[-1].payload == b"offline"
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(entry["message"] == "connected to the broker" for entry in lines)


def test_a_stuck_network_thread_stops_the_pings(
    broker: Mosquitto,
    tmp_path: Path,
    line: SilentLine,
    systemd: NotifySocket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """paho's network thread runs our callbacks: stuck in one (here the command handler, held by a
    hook), nothing is published or acknowledged while every other loop beats. The pings stop with
    `STATUS=hung: mqtt-network` and resume once it returns."""
    gateway = build(broker, tmp_path, line)
    gateway.publisher.network.hung_after_s = 0.5
    held, entered = threading.Event(), threading.Event()
    receive = gateway.ops.remote.receive

    def stuck_receive(payload: bytes) -> None:
        entered.set()
        held.wait(30)
        receive(payload)

    monkeypatch.setattr(gateway.ops.remote, "receive", stuck_receive)
    environ = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}
    stop = threading.Event()
    runner = threading.Thread(target=service.run, args=(gateway, stop, environ))
    runner.start()
    operator = Recorder(broker.host, broker.port, "city/v1/site-a/gw-1/replies/config")
    try:
        assert systemd.wait_for("READY=1", 20) == ["READY=1"]
        assert systemd.wait_for("WATCHDOG=1", 5)
        assert operator.client.publish(gateway.ops.remote.topic, b"not a command", qos=1).rc == 0
        assert entered.wait(10)
        systemd.wait_for("STATUS=hung: mqtt-network", 10)
        assert "WATCHDOG=1" not in systemd.receive(0.5)
        held.set()
        assert systemd.wait_for("WATCHDOG=1", 10)[0] == "STATUS=running"
    finally:
        held.set()
        stop.set()
        runner.join(20)
        operator.close()
    assert not runner.is_alive()
