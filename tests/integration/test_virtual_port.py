"""A simulated SDS011 on a real pseudo-terminal, read with pyserial exactly like /dev/ttyUSB0.

Scenario time runs 20x faster than the wall clock; every wait polls against a deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import serial

from gateway.sources.protocols import sds011
from gateway.sources.protocols.base import Ack, Decoded, MalformedFrame, Sample
from sim.serial.devices import FaultInjector, Faults, VirtualSds011
from sim.serial.pty import VirtualPort
from sim.serial.runner import DeviceRunner, ScenarioClock

pytestmark = pytest.mark.integration

TIME_SCALE = 20.0
DEADLINE_S = 5.0


def truth(t: float) -> Mapping[str, float]:
    """Steady air."""
    return {"pm25": 12.0, "pm10": 20.0}


@pytest.fixture
def link(tmp_path: Path) -> Path:
    """Where the virtual sensor appears, like /dev/serial/by-id/... on a gateway."""
    return tmp_path / "dev" / "pm-hall"


@pytest.fixture
def runner(link: Path) -> Iterator[DeviceRunner]:
    """A virtual SDS011 served on `link`."""
    device = VirtualSds011(truth, random.Random(1))
    with VirtualPort(link) as port, DeviceRunner(device, port, ScenarioClock(TIME_SCALE)) as running:
        yield running


def open_port(path: Path) -> serial.SerialBase:
    """Open the way the gateway does: an address string through serial_for_url."""
    return serial.serial_for_url(str(path), baudrate=9600, timeout=0.05)


def read_until(port: serial.SerialBase, want: Callable[[list[Decoded]], bool]) -> list[Decoded]:
    """Decode what arrives until `want` holds; fail at the deadline."""
    decoder, got = sds011.Sds011Decoder(), []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        got += decoder.feed(port.read(64))
        if want(got):
            return got
    pytest.fail(f"condition not met within {DEADLINE_S} s; decoded {got}")


def readings(items: list[Decoded]) -> list[Sample]:
    """Samples that carry values (not warming up)."""
    return [i for i in items if isinstance(i, Sample) and i.values]


def wait_for(condition: Callable[[], bool]) -> None:
    """Poll `condition` until true; fail at the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {DEADLINE_S} s")
        time.sleep(0.01)


def test_active_frames_reach_pyserial(runner: DeviceRunner, link: Path) -> None:
    with open_port(link) as port:
        got = read_until(port, lambda items: len(readings(items)) >= 3)
    for sample in readings(got):
        assert sample.values["pm25"] == pytest.approx(12.0, abs=1.5)


def test_query_mode_conversation(runner: DeviceRunner, link: Path) -> None:
    with open_port(link) as port:
        read_until(port, lambda items: len(readings(items)) >= 1)  # past the all-zero start-up frames
        port.write(sds011.set_reporting_mode(True))
        read_until(port, lambda items: Ack(bytes.fromhex("aa c5 02 01 01 00 a1 60 05 ab")) in items)
        port.write(sds011.query_data())
        got = read_until(port, lambda items: len(readings(items)) >= 1)
    assert readings(got)[0].values["pm10"] == pytest.approx(20.0, abs=2.0)
    assert isinstance(runner.device, VirtualSds011)
    assert runner.device.query_mode


def test_unplug_then_replug(runner: DeviceRunner, link: Path) -> None:
    with open_port(link) as port:
        read_until(port, lambda items: len(readings(items)) >= 1)
        runner.unplug_for(30.0)  # scenario seconds: 1.5 s of wall time
        wait_for(lambda: not link.exists())
        deadline = time.monotonic() + DEADLINE_S
        with pytest.raises(serial.SerialException):
            while time.monotonic() < deadline:
                port.read(64)
    with pytest.raises(serial.SerialException):
        open_port(link)
    wait_for(link.exists)
    with open_port(link) as port:
        got = read_until(port, lambda items: len(readings(items)) >= 2)
    assert readings(got)[-1].values["pm25"] == pytest.approx(12.0, abs=1.5)


def test_faults_reach_the_decoder(link: Path) -> None:
    device = VirtualSds011(truth, random.Random(2))
    injector = FaultInjector(Faults(garbage_p=0.5, corrupt_p=0.2), random.Random(3))
    with (
        VirtualPort(link) as vport,
        DeviceRunner(device, vport, ScenarioClock(TIME_SCALE), injector),
        open_port(link) as port,
    ):
        read_until(
            port,
            lambda items: len(readings(items)) >= 5 and any(isinstance(i, MalformedFrame) for i in items),
        )
    assert injector.counts["garbage"] > 0


def test_port_drops_bytes_nobody_reads(link: Path) -> None:
    with VirtualPort(link, pace=False) as vport:
        assert vport.read(0.01) == b""  # nobody has the slave open: EIO handled, no spin
        vport.write(b"stale" * 10)  # a UART with nothing attached loses these
        with open_port(link) as port:
            vport.write(b"fresh")
            deadline = time.monotonic() + DEADLINE_S
            data = b""
            while len(data) < 5 and time.monotonic() < deadline:
                data += port.read(5)
            port.write(b"hello")
            wait_for(lambda: vport.read(0.05) == b"hello")
    assert data == b"fresh"


def test_writes_are_paced_at_the_baud_rate(link: Path) -> None:
    with VirtualPort(link, baudrate=9600) as vport, open_port(link):
        start = time.monotonic()
        vport.write(bytes(96))  # 960 bits at 9600 baud
        assert time.monotonic() - start >= 0.095
