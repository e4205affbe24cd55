"""Virtual SDS011, PMS5003(T) and MH-Z19B sensors as plain state machines, plus fault injection.

No I/O and no threads: `sim.serial.runner` moves the bytes. Time `t` is scenario seconds.
Frames come from `sim.serial.encoders`, never from gateway/ code.

A device given `frozen` plays a stuck sensor while `frozen(t)` is true: it sends the measurement
values of its last frame before the freeze again and again, exactly (noise included, checksums
valid), as a real stuck sensor does; a scenario's `Scenario.frozen_fn` gives its "stuck" windows.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sim.serial import encoders

Truth = Callable[[float], Mapping[str, float]]  # scenario time -> true pm1/pm25/pm10/co2/temperature/humidity
Frozen = Callable[[float], bool]  # scenario time -> whether the sensor is stuck
Pm = tuple[int, int, int]  # PM1, PM2.5, PM10 as a PMS5003 frame carries them [µg/m³]
V = TypeVar("V")

ZERO_FRAMES_S = 3.0  # real SDS011/PMS5003 send all-zero frames while the fan spins up after power-on/wake


class VirtualDevice(Protocol):
    """What a runner drives: bytes in, bytes out, a clock, a power switch."""

    def on_bytes(self, data: bytes, t: float) -> bytes:
        """Take received bytes (possibly a partial command); return the reply bytes."""
        ...

    def frame_due(self, t: float) -> bytes | None:
        """The periodic frame to send now, if any."""
        ...

    def power_on(self, t: float) -> None:
        """Reset as after a power cycle."""
        ...


class _Timer:
    """Active-mode frame timer: at most one frame per call, no burst after a stall."""

    def __init__(self) -> None:
        self.next_t = math.inf

    def restart(self, t: float, period: float) -> None:
        self.next_t = t + period

    def due(self, t: float, period: float) -> bool:
        if t < self.next_t:
            return False
        self.next_t = self.next_t + period if self.next_t + period > t else t + period
        return True


class _Latch(Generic[V]):
    """The last measured values, held unchanged while the sensor is frozen."""

    def __init__(self, frozen: Frozen | None) -> None:
        self._frozen = frozen
        self._held: V | None = None

    def hold(self, t: float, measure: Callable[[], V]) -> V:
        """Measure now, unless frozen at `t` with a value to repeat (a freeze from the start holds its first)."""
        if self._held is None or self._frozen is None or not self._frozen(t):
            self._held = measure()
        return self._held


class _Sensor:
    """Truth plus seeded Gaussian noise, shared by the virtual sensors."""

    def __init__(self, truth: Truth, rng: random.Random, noise: float) -> None:
        self._truth, self._rng, self._noise = truth, rng, noise

    def _value(self, key: str, t: float, floor: float = 0.0) -> float:
        true = self._truth(t).get(key, 0.0)
        return max(floor, true + self._rng.gauss(0.0, self._noise * abs(true) + 0.05))


class VirtualSds011(_Sensor):
    """An SDS011: active or query mode, sleep/work, working period (protocol V1.3)."""

    def __init__(
        self,
        truth: Truth,
        rng: random.Random,
        device_id: int = 0xA160,
        noise: float = 0.02,
        frozen: Frozen | None = None,
    ) -> None:
        super().__init__(truth, rng, noise)
        self.device_id = device_id
        self._latch: _Latch[tuple[int, int]] = _Latch(frozen)
        self.working_period_min = 0  # kept across power cycles, as the sensor stores it (V1.3 §5)
        self._reader = encoders.sds011_reader()
        self._timer = _Timer()
        self.power_on(0.0)

    def power_on(self, t: float) -> None:
        """Power cycle: awake, active reporting, zero frames for a few seconds."""
        self.awake, self.query_mode = True, False
        self._zero_until = t + ZERO_FRAMES_S
        self._timer.restart(t, self._period())
        self._reader.reset()

    def on_bytes(self, data: bytes, t: float) -> bytes:
        """Answer each complete command addressed to this sensor (or to all, FF FF)."""
        replies = b""
        for frame in self._reader.feed(data):
            cmd = encoders.parse_sds011(frame)
            if cmd.device_id in (0xFFFF, self.device_id):
                replies += self._handle(cmd, t)
        return replies

    def frame_due(self, t: float) -> bytes | None:
        """A frame every second (or per working period) in active mode while awake."""
        if self.awake and not self.query_mode and self._timer.due(t, self._period()):
            return self._frame(t)
        return None

    def _handle(self, cmd: encoders.Sds011Command, t: float) -> bytes:
        if not self.awake and not (cmd.cmd_id == 0x06 and cmd.is_set and cmd.value == 1):
            return b""  # a sleeping SDS011 only listens for "work"
        if cmd.cmd_id == 0x04:
            return self._frame(t)
        if cmd.cmd_id == 0x07:
            return encoders.sds011_reply(0x07, bytes([18, 11, 16]), self.device_id)  # firmware date
        if cmd.cmd_id not in (0x02, 0x06, 0x08):
            return b""
        if cmd.is_set:
            self._set(cmd.cmd_id, cmd.value, t)
        state = {0x02: int(self.query_mode), 0x06: int(self.awake), 0x08: self.working_period_min}
        return encoders.sds011_reply(cmd.cmd_id, bytes([int(cmd.is_set), state[cmd.cmd_id]]), self.device_id)

    def _set(self, cmd_id: int, value: int, t: float) -> None:
        if cmd_id == 0x02:
            self.query_mode = value == 1
        elif cmd_id == 0x08:
            self.working_period_min = min(value, 30)
        elif value == 1 and not self.awake:
            self.awake, self._zero_until = True, t + ZERO_FRAMES_S
        else:
            self.awake = value == 1
        self._timer.restart(t, self._period())

    def _period(self) -> float:
        return 1.0 if self.working_period_min == 0 else 60.0 * self.working_period_min

    def _frame(self, t: float) -> bytes:
        if t < self._zero_until:
            return encoders.sds011_data(0, 0, self.device_id)
        pm25, pm10 = self._latch.hold(t, lambda: self._measure(t))
        return encoders.sds011_data(pm25, pm10, self.device_id)

    def _measure(self, t: float) -> tuple[int, int]:
        pm25, pm10 = (min(9999, round(self._value(k, t) * 10)) for k in ("pm25", "pm10"))  # 0.1 µg/m³
        return pm25, pm10


class VirtualPms5003(_Sensor):
    """A PMS5003 (or PMS5003T): active or passive mode, sleep/wake."""

    def __init__(
        self,
        truth: Truth,
        rng: random.Random,
        t_variant: bool = False,
        noise: float = 0.02,
        frozen: Frozen | None = None,
    ) -> None:
        super().__init__(truth, rng, noise)
        self.t_variant = t_variant
        self._latch: _Latch[tuple[Pm, tuple[int, int]]] = _Latch(frozen)
        self._reader = encoders.pms_reader()
        self._timer = _Timer()
        self.power_on(0.0)

    def power_on(self, t: float) -> None:
        """Power cycle: awake, active mode, zero frames for a few seconds."""
        self.awake, self.passive = True, False
        self._zero_until = t + ZERO_FRAMES_S
        self._timer.restart(t, 1.0)
        self._reader.reset()

    def on_bytes(self, data: bytes, t: float) -> bytes:
        """Act on each complete command; ack mode and sleep, answer passive reads with a frame."""
        return b"".join(self._handle(encoders.parse_pms(f), t) for f in self._reader.feed(data))

    def frame_due(self, t: float) -> bytes | None:
        """A frame about every second in active mode while awake."""
        if self.awake and not self.passive and self._timer.due(t, 1.0):
            return self._frame(t)
        return None

    def _handle(self, cmd: encoders.PmsCommand, t: float) -> bytes:
        if cmd.cmd == 0xE4 and cmd.data == 1:  # wake: no ack, frames follow (PyPMS expects data)
            if not self.awake:
                self.awake, self._zero_until = True, t + ZERO_FRAMES_S
                self._timer.restart(t, 1.0)
            return b""
        if not self.awake:
            return b""
        if cmd.cmd == 0xE2:
            return self._frame(t) if self.passive else b""
        if cmd.cmd == 0xE1:
            self.passive = cmd.data == 0
            self._timer.restart(t, 1.0)
        elif cmd.cmd == 0xE4:
            self.awake = False
        else:
            return b""
        return encoders.pms5003_ack(cmd.cmd, cmd.data)

    def _frame(self, t: float) -> bytes:
        if t < self._zero_until:  # the fan is starting: zero PM, frozen or not
            return self._encode((0, 0, 0), self._climate(t), zero=True)
        pm, climate = self._latch.hold(t, lambda: self._measure(t))
        return self._encode(pm, climate, zero=False)

    def _measure(self, t: float) -> tuple[Pm, tuple[int, int]]:
        pm1 = min(1000, round(self._value("pm1", t)))  # whole µg/m³
        pm25 = max(pm1, min(1000, round(self._value("pm25", t))))
        pm10 = max(pm25, min(1000, round(self._value("pm10", t))))
        return (pm1, pm25, pm10), self._climate(t)

    def _climate(self, t: float) -> tuple[int, int]:
        """The 5003T's temperature and humidity [0.1 °C, 0.1 %RH]; (0, 0) for a plain 5003."""
        if not self.t_variant:
            return 0, 0
        temperature = round(self._value("temperature", t, floor=-40.0) * 10)
        humidity = round(min(100.0, self._value("humidity", t)) * 10)
        return temperature, humidity

    def _encode(self, pm: Pm, climate: tuple[int, int], zero: bool) -> bytes:
        # Plausible counts per 0.1 L scaled from the capture (PM2.5 8 -> 210/70/45/30); never N0.3 = 0
        # with PM10 > 0, which PyPMS rejects as inconsistent.
        n03 = 0 if zero else max(1, round(26 * pm[1] + 2 * pm[2]))
        coarse = max(0, pm[2] - pm[1])
        counts = [n03, n03 // 3, n03 // 5, n03 // 7, coarse // 2, coarse // 5]
        if not self.t_variant:
            return encoders.pms5003_data(pm, pm, counts)
        # The 5003T's temperature/humidity sensor does not wait for the fan: live even in zero frames.
        return encoders.pms5003t_data(pm, counts[:4], *climate)


class VirtualMhz19(_Sensor):
    """An MH-Z19B: answers read commands; ABC and calibration commands change state, no reply."""

    def __init__(
        self, truth: Truth, rng: random.Random, noise: float = 0.01, frozen: Frozen | None = None
    ) -> None:
        super().__init__(truth, rng, noise)
        self._latch: _Latch[tuple[int, int]] = _Latch(frozen)
        self.abc = True  # factory default
        self.calibrations: list[tuple[str, int]] = []  # ("zero", 400) / ("span", ppm), in order
        self._reader = encoders.mhz19_reader()

    def power_on(self, t: float) -> None:
        """Power cycle: drop a partial command; ABC and calibration persist."""
        self._reader.reset()

    def on_bytes(self, data: bytes, t: float) -> bytes:
        """Answer each complete read command with CO2 and temperature."""
        return b"".join(self._handle(encoders.parse_mhz19(f), t) for f in self._reader.feed(data))

    def frame_due(self, t: float) -> bytes | None:
        """Never: the MH-Z19B only answers."""
        return None

    def _handle(self, cmd: encoders.Mhz19Command, t: float) -> bytes:
        if cmd.cmd == 0x86:
            return encoders.mhz19_response(*self._latch.hold(t, lambda: self._measure(t)))
        if cmd.cmd == 0x79:
            self.abc = cmd.data[0] == 0xA0
        elif cmd.cmd == 0x87:
            self.calibrations.append(("zero", 400))
        elif cmd.cmd == 0x88:
            self.calibrations.append(("span", int.from_bytes(cmd.data[:2], "big")))
        return b""

    def _measure(self, t: float) -> tuple[int, int]:
        co2 = min(5000, round(self._value("co2", t)))  # 0-5000 ppm range, 1 ppm steps
        temperature = max(-40, min(215, round(self._truth(t).get("temperature", 0.0))))
        return co2, temperature


@dataclass(frozen=True, slots=True)
class Faults:
    """Per-frame fault probabilities, applied only inside the scenario-time windows [start, end)."""

    garbage_p: float = 0.0  # random bytes inserted before the frame
    corrupt_p: float = 0.0  # one checksummed byte flipped, so the checksum no longer matches
    truncate_p: float = 0.0  # frame cut short
    max_garbage: int = 16
    windows: tuple[tuple[float, float], ...] = ((0.0, math.inf),)

    def active(self, t: float) -> bool:
        """Whether faults apply at scenario time t."""
        return any(start <= t < end for start, end in self.windows)


class FrameFaults(Protocol):
    """What a device runner applies to each outgoing frame at scenario time t."""

    def apply(self, frame: bytes, t: float) -> bytes:
        """The frame as it leaves the sensor."""
        ...


class FaultInjector:
    """Applies `Faults` to outgoing frames with its own seeded random stream, and counts them."""

    def __init__(self, faults: Faults, rng: random.Random) -> None:
        self.faults, self._rng = faults, rng
        self.counts: Counter[str] = Counter()

    def apply(self, frame: bytes, t: float) -> bytes:
        """The frame as it leaves the sensor: maybe corrupted, truncated, preceded by garbage."""
        f, rng = self.faults, self._rng
        if not frame or not f.active(t):
            return frame
        if rng.random() < f.corrupt_p and len(frame) > 6:
            i = rng.randrange(4, len(frame) - 2)  # a data byte: every protocol here checksums bytes 4..n-3
            frame = frame[:i] + bytes([frame[i] ^ rng.randrange(1, 256)]) + frame[i + 1 :]
            self.counts["corrupt"] += 1
        if rng.random() < f.truncate_p and len(frame) > 1:
            frame = frame[: rng.randrange(1, len(frame))]
            self.counts["truncate"] += 1
        if rng.random() < f.garbage_p:
            frame = rng.randbytes(rng.randint(1, f.max_garbage)) + frame
            self.counts["garbage"] += 1
        return frame


class FaultSchedule:
    """A sensor's scenario fault windows, each its own injector and random stream; they never overlap."""

    def __init__(self, injectors: Sequence[FaultInjector]) -> None:
        self.injectors = list(injectors)

    def add(self, injector: FaultInjector) -> None:
        """One more window, injected while the device runs (the soak's faults)."""
        self.injectors.append(injector)

    def apply(self, frame: bytes, t: float) -> bytes:
        """Apply the injector whose window covers t (none: the frame unchanged)."""
        for injector in self.injectors:
            if injector.faults.active(t):
                return injector.apply(frame, t)
        return frame
