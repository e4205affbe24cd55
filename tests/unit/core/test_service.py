"""Life under systemd, piece by piece: sd_notify datagrams on a real socket, the watchdog's period,
heartbeats that go stale when a loop sticks, and JSON log lines.

The whole gateway under a NOTIFY_SOCKET is in tests/integration/test_service.py.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.messages import SourceStatus
from gateway.publish.watch import CallbackWatch
from gateway.service import JsonLines, Watchdog, notify, watchdog_period
from gateway.sources.heartbeat import Heartbeat
from gateway.sources.protocols.base import SensorOptions
from gateway.sources.protocols.registry import get_protocol
from gateway.sources.serial import SerialSource, SerialSpec, SourceOutput
from tests.systemd_helpers import NotifySocket


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(str(tmp_path / "notify"))
    yield listener
    listener.sock.close()


def test_notify_sends_one_datagram_to_the_socket(systemd: NotifySocket, tmp_path: Path) -> None:
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "notify")})
    assert systemd.receive(0.1) == ["READY=1"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux only")
def test_notify_speaks_the_abstract_namespace() -> None:
    name = f"edge-gateway-test-{uuid.uuid4().hex}"
    listener = NotifySocket("\0" + name)
    try:
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert listener.receive(0.1) == ["WATCHDOG=1"]
    finally:
        listener.sock.close()


@pytest.mark.parametrize("environ", [{}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "vsock:2:1234"}])
def test_notify_outside_systemd_does_nothing(environ: dict[str, str]) -> None:
    assert not notify("READY=1", environ)


def test_a_vanished_socket_is_a_warning_not_a_crash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert not notify("WATCHDOG=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert "sd_notify WATCHDOG failed" in caplog.text


@pytest.mark.parametrize(
    ("environ", "period"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}, 0.1),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, None),  # for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_ping_period_is_half_of_watchdog_usec(environ: dict[str, str], period: float | None) -> None:
    assert watchdog_period(environ) == period


def test_a_heartbeat_is_late_after_its_wait_and_margin() -> None:
    beat = Heartbeat(hung_after_s=0.05)
    assert not beat.alive() and not beat.started
    beat.beat(waiting_s=0.1)
    time.sleep(0.08)
    assert beat.alive() and beat.started  # still inside the announced wait
    time.sleep(0.12)
    assert not beat.alive()
    beat.end()
    assert beat.alive()  # a loop that ended on purpose is not hung


def test_the_watchdog_pings_only_while_nothing_is_hung(systemd: NotifySocket, tmp_path: Path) -> None:
    """Scenario: ready after a while, pings every 50 ms, a loop sticks (status, no pings), it
    recovers (pings again), stop (STOPPING=1)."""
    ready, hung = threading.Event(), []
    environ = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "100000"}
    stop = threading.Event()
    watchdog = Watchdog(ready.is_set, lambda: list(hung), environ)
    thread = threading.Thread(target=watchdog.run, args=(stop,))
    thread.start()
    try:
        assert systemd.receive(0.2) == []  # nothing before ready
        ready.set()
        assert systemd.wait_for("READY=1", 2) == ["READY=1"]
        assert systemd.receive(0.3).count("WATCHDOG=1") >= 4
        hung.append("serial-co2")
        systemd.wait_for("STATUS=hung: serial-co2", 2)
        assert "WATCHDOG=1" not in systemd.receive(0.3)
        hung.clear()
        assert systemd.wait_for("WATCHDOG=1", 2)[0] == "STATUS=running"
    finally:
        stop.set()
        thread.join(2)
    assert systemd.receive(0.2)[-1] == "STOPPING=1"


def test_a_stop_before_ready_still_says_stopping(systemd: NotifySocket, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    Watchdog(lambda: False, list, {"NOTIFY_SOCKET": str(tmp_path / "notify")}).run(stop)
    assert systemd.receive(0.1) == ["STOPPING=1"]


def test_a_serial_source_stuck_in_its_sink_is_reported_hung(tmp_path: Path) -> None:
    """The source's thread is alive but its loop never comes round: that is a hang."""
    release = threading.Event()

    def stuck_sink(item: SourceOutput) -> None:
        assert isinstance(item, SourceStatus)  # "cannot open": the first thing a missing port says
        release.wait(10)

    protocol = get_protocol("mhz19")
    spec = SerialSpec("co2", str(tmp_path / "no-such-port"), protocol, SensorOptions(), 5.0, 0.0, 10.0)
    source = SerialSource(spec, stuck_sink)
    source.heartbeat.hung_after_s = 0.2
    source.start()
    try:
        assert source.hung() == []
        deadline = time.monotonic() + 5
        while not source.hung() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert source.hung() == ["serial-co2"]
    finally:
        release.set()
        source.stop()
    assert source.hung() == []  # stopped on purpose


def test_json_lines_are_one_object_a_line() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        record = logging.LogRecord("gateway.x", logging.ERROR, __file__, 1, "bad %s\nline", ("thing",), None)
        record.exc_info = sys.exc_info()
    line = JsonLines().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "gateway.x"
    assert entry["message"] == "bad thing\nline"
    assert "KeyError: 'k'" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_a_watched_network_thread_is_alive_until_it_dies_or_sticks_in_a_callback() -> None:
    """paho's thread as the publisher sees it: through the callbacks it runs (tests/integration/
    test_service.py has the whole gateway with a stuck one)."""
    watch = CallbackWatch(hung_after_s=0.05)
    assert watch.alive()  # not started: nothing to watch yet
    watch.expect()
    time.sleep(0.1)
    assert not watch.alive(), "started but never ran a callback"

    release = threading.Event()
    calls = queue.Queue[Callable[[], None] | None]()

    def loop() -> None:  # a network loop running callbacks until it ends (paho's: a callback raised)
        while (call := calls.get()) is not None:
            call()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    calls.put(watch.watched(lambda: None))
    deadline = time.monotonic() + 5
    while watch.thread is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watch.alive()
    calls.put(watch.watched(lambda: release.wait(5) and None))
    time.sleep(0.1)
    assert not watch.alive(), "stuck in a callback"
    release.set()
    deadline = time.monotonic() + 5
    while not watch.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watch.alive()
    calls.put(None)
    thread.join(5)
    assert not watch.alive(), "the thread died"
