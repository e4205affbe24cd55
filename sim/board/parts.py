"""The classes of the `machine` module: Pin, UART, I2C/SoftI2C, WDT, Timer and RTC.

Each is bound to one board session (see `namespace.machine_module`) and reaches the simulated
sensors through the board's wiring and the clock, interrupts and watchdog through its CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.board.bme280 import Bme280
from sim.board.cpu import SoftTimer
from sim.serial.devices import VirtualDevice

if TYPE_CHECKING:
    from sim.board.device import Board


def _pin_id(value: object) -> object:
    return getattr(value, "id", value)


class Part:
    """A `machine` class bound to one board session (`_board` is set when `machine` is built)."""

    _board: Board


class Pin(Part):
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
        if gauge is None or handler is None or not trigger & Pin.IRQ_FALLING:
            return
        cpu.pollers.append(lambda now: cpu.scheduled.extend([lambda: handler(self)] * gauge.tips(now)))


class Uart(Part):
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


class I2c(Part):
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


class SoftI2c(I2c):
    _soft = True


class Wdt(Part):
    def __init__(self, id: int = 0, timeout: int = 5000) -> None:
        cpu = self._board.cpu
        timeout_s = max(1, timeout) / 1000
        cpu.wdt = (timeout_s, cpu.now() + timeout_s)  # once started, it cannot be stopped

    def feed(self) -> None:
        self._board.cpu.feed_wdt()


class Timer(Part):
    ONE_SHOT, PERIODIC = 0, 1

    def __init__(self, id: int = -1, **kwargs: Any) -> None:
        self._timer: SoftTimer | None = None
        if kwargs:
            self.init(**kwargs)

    def init(
        self, *, mode: int = 1, period: float = -1, freq: float = -1, callback: Any = None, **kw: Any
    ) -> None:
        cpu = self._board.cpu
        self.deinit()
        period_s = 1 / freq if freq > 0 else max(period, 1) / 1000
        if callback is not None:
            self._timer = SoftTimer(period_s, cpu.now() + period_s, mode == 1, callback, self)
            cpu.timers.append(self._timer)

    def deinit(self) -> None:
        timers = self._board.cpu.timers
        if self._timer is not None and self._timer in timers:
            timers.remove(self._timer)
        self._timer = None


class Rtc:
    def __init__(self, *args: object) -> None:
        pass

    def datetime(self, value: object = None) -> tuple[int, ...] | None:
        if value is not None:
            return None
        t = time.gmtime()
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_wday, t.tm_hour, t.tm_min, t.tm_sec, 0)
