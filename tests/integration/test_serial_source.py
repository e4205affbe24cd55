"""The serial transport against virtual sensors on real pseudo-terminals.

Scenarios: an SDS011 streams, is unplugged (its path vanishes) and plugged back in, and the
source recovers by itself; an SDS011 in query mode is polled; a line full of garbage and bad
checksums yields bad-frame counts and only true readings.
"""

from __future__ import annotations

import queue
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.messages import Reading, SourceStatus
from gateway.sources.protocols.base import SensorOptions
from gateway.sources.protocols.registry import get_protocol
from gateway.sources.serial import SerialSource, SerialSpec, SourceOutput
from sim.serial.devices import FaultInjector, Faults, VirtualSds011
from sim.serial.pty import VirtualPort
from sim.serial.runner import DeviceRunner, ScenarioClock

PM25 = 12.3


def truth(t: float) -> dict[str, float]:
    return {"pm25": PM25, "pm10": 20.0}


class Bench:
    """A virtual SDS011 on a pty, a SerialSource reading it, and the source's outputs."""

    def __init__(self, tmp_path: Path, mode: str = "active", faults: Faults | None = None) -> None:
        self.port = VirtualPort(tmp_path / "ttyVIRT0", pace=False)
        clock = ScenarioClock(time_scale=10)
        # Frozen: every measurement frame repeats the first exactly, so any other value is wrong.
        device = VirtualSds011(truth, random.Random(1), frozen=lambda t: True)
        injector = FaultInjector(faults, random.Random(2)) if faults else None
        self.runner = DeviceRunner(device, self.port, clock, injector).start()
        self.out: queue.Queue[SourceOutput] = queue.Queue()
        spec = SerialSpec(
            source="pm-1",
            port=str(tmp_path / "ttyVIRT0"),
            protocol=get_protocol("sds011"),
            options=SensorOptions(mode=mode),
            poll_s=0.1,
            warmup_s=0.0,
            offline_after_s=1.0,
        )
        self.source = SerialSource(spec, self.out.put)
        self.source.start()

    def next(self, kind: type, timeout: float = 10.0) -> SourceOutput:
        """The next output of a kind, skipping others (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.out.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, Reading) and "warming_up" in item.flags:
                continue  # the device's all-zero frames after power-on
            if isinstance(item, kind):
                return item
        raise AssertionError(f"no {kind.__name__} within {timeout} s")

    def close(self) -> None:
        self.source.stop()
        self.runner.stop()
        self.port.close()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    b = Bench(tmp_path)
    yield b
    b.close()


def test_unplug_and_replug_recovers_by_itself(bench: Bench) -> None:
    online = bench.next(SourceStatus)
    assert isinstance(online, SourceStatus) and online.online
    first = bench.next(Reading)
    assert isinstance(first, Reading) and abs(first.values["pm25"] - PM25) < 1

    bench.port.unplug()
    offline = bench.next(SourceStatus)
    assert isinstance(offline, SourceStatus) and not offline.online

    bench.port.replug()
    back = bench.next(SourceStatus)
    assert isinstance(back, SourceStatus) and back.online
    assert isinstance(bench.next(Reading), Reading)
    health = bench.source.health()
    assert health.online and health.reconnects >= 1 and health.frames_ok >= 2


def test_query_mode_polls(tmp_path: Path) -> None:
    b = Bench(tmp_path, mode="query")
    try:
        readings = [b.next(Reading) for _ in range(3)]
        assert all(isinstance(r, Reading) and abs(r.values["pm25"] - PM25) < 1 for r in readings)
    finally:
        b.close()


def test_garbage_and_bad_checksums_never_yield_wrong_readings(tmp_path: Path) -> None:
    b = Bench(tmp_path, faults=Faults(garbage_p=0.5, corrupt_p=0.3, truncate_p=0.2))
    try:
        readings = [b.next(Reading) for _ in range(20)]
        values = {tuple(sorted(r.values.items())) for r in readings if isinstance(r, Reading)}
        assert len(values) == 1, values
        assert b.source.health().bad_frames > 0
    finally:
        b.close()
