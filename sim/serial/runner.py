"""Runs one virtual device on one virtual port in a thread, on a scaled scenario clock."""

from __future__ import annotations

import threading
import time
from typing import Protocol, Self

from sim.serial.devices import FrameFaults, VirtualDevice
from sim.serial.pty import VirtualPort

POLL_S = 0.005  # longest wait for host bytes: a 1 s frame period stays on time even at time_scale 20


class Clock(Protocol):
    """Scenario time in seconds."""

    def now(self) -> float:
        """Seconds since the scenario started."""
        ...


class ScenarioClock:
    """Scenario seconds = wall seconds since construction × time_scale."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self._start = time.monotonic()

    def now(self) -> float:
        """Scenario seconds elapsed."""
        return (time.monotonic() - self._start) * self.time_scale

    def wall(self, scenario_seconds: float) -> float:
        """The wall-clock duration of a scenario interval."""
        return scenario_seconds / self.time_scale


class DeviceRunner:
    """A thread that feeds host bytes to a device and writes its replies and periodic frames."""

    def __init__(
        self, device: VirtualDevice, port: VirtualPort, clock: Clock, faults: FrameFaults | None = None
    ) -> None:
        self.device, self.port, self.clock, self.faults = device, port, clock, faults
        self._windows: list[tuple[float, float]] = []  # scheduled unplugs, scenario time [start, end)
        self._in_window = False
        self._generation = port.generation
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sim-{port.link.name}", daemon=True)

    def start(self) -> Self:
        """Power the device on and start serving the port."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (the port stays as it is)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def schedule_unplug(self, start: float, end: float) -> None:
        """Unplug the port (and power the device off) for scenario times [start, end)."""
        if end <= start:
            raise ValueError(f"unplug window must end after it starts: [{start}, {end})")
        with self._lock:
            self._windows.append((start, end))

    def unplug_for(self, seconds: float) -> None:
        """Unplug now for `seconds` of scenario time."""
        now = self.clock.now()
        self.schedule_unplug(now, now + seconds)

    def _run(self) -> None:
        self.device.power_on(self.clock.now())
        while not self._stop.is_set():
            self._step(self.clock.now())

    def _step(self, t: float) -> None:
        self._follow_schedule(t)
        if self.port.generation != self._generation:  # replugged (by us or the test): new power cycle
            self._generation = self.port.generation
            self.device.power_on(t)
        if not self.port.plugged:
            self._stop.wait(POLL_S)
            return
        data = self.port.read(POLL_S)
        if data:
            self._send(self.device.on_bytes(data, self.clock.now()))
        frame = self.device.frame_due(self.clock.now())
        if frame is not None:
            self._send(frame)

    def _follow_schedule(self, t: float) -> None:
        with self._lock:
            inside = any(start <= t < end for start, end in self._windows)
            self._windows = [w for w in self._windows if w[1] > t]
        if inside and not self._in_window:
            self.port.unplug()
        elif self._in_window and not inside:
            self.port.replug()
        self._in_window = inside

    def _send(self, frame: bytes) -> None:
        if frame and self.faults is not None:
            frame = self.faults.apply(frame, self.clock.now())
        if frame:
            self.port.write(frame)
