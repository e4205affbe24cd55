"""The board's CPU as user code feels it: the clock, Ctrl-C, the watchdog, soft timers and resets.

The exceptions here unwind whatever board code runs when the simulator halts or the board resets;
`machine.reset_cause()` values live here too, since a reset is the CPU's business.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.board.console import Console

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5


class Halt(BaseException):
    """The simulator is shutting down: unwind whatever runs."""


class Reset(BaseException):
    """A hard reset (watchdog, machine.reset, deep sleep): unwind and boot again."""

    def __init__(self, cause: int, after_s: float = 0.0) -> None:
        super().__init__(cause)
        self.cause, self.after_s = cause, after_s


class SoftReset(BaseException):
    """Ctrl-D or sys.exit(): MicroPython's soft reboot."""


@dataclass
class SoftTimer:
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
        self.pending_reset: Reset | None = None
        self.wdt: tuple[float, float] | None = None  # (timeout, deadline) in board seconds
        self.timers: list[SoftTimer] = []
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
        self.pending_reset = Reset(cause, after_s)
        raise self.pending_reset

    def checkpoint(self, user: bool = True) -> None:
        """Where MicroPython's VM would notice pending work: raise or run what is due."""
        if self.halt.is_set():
            raise Halt
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
            except (Halt, Reset, SoftReset, KeyboardInterrupt):
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
