"""The namespace board code sees: its builtins and MicroPython's built-in modules.

`os`, `sys`, `time`, `micropython`, `gc`, `hashlib`, `binascii`, `select` and `machine` behave like
MicroPython's (errors as `OSError: [Errno 2] ENOENT`, no `hexdigest`, `ticks_*` wrapping at 2**30);
the `machine` classes themselves live in `parts`. Each session (soft reboot) gets fresh ones.
"""

from __future__ import annotations

import binascii
import builtins
import errno
import hashlib
import os
import sys
import time
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.board.console import Poll, Stdin
from sim.board.cpu import DEEPSLEEP_RESET, HARD_RESET, PWRON_RESET, SOFT_RESET, WDT_RESET
from sim.board.kinds import MP_VERSION
from sim.board.parts import I2c, Part, Pin, Rtc, SoftI2c, Timer, Uart, Wdt

if TYPE_CHECKING:
    from sim.board.device import Board

TICKS_PERIOD = 1 << 30  # MicroPython's ticks_ms/us wrap here


def board_builtins(board: Board) -> dict[str, Any]:
    """CPython's builtins less the REPL helpers, with the board's open, print, input and import."""
    names = dict(vars(builtins))
    for name in ("exit", "quit", "breakpoint", "copyright", "credits", "license"):
        names.pop(name, None)
    stdout = board.stdout

    def board_print(*args: object, sep: str = " ", end: str = "\n", file: Any = None) -> None:
        (file or stdout).write(sep.join(map(str, args)) + end)

    def board_input(prompt: str = "") -> str:
        stdout.write(prompt)
        line = stdin.readline()
        return (line.decode() if isinstance(line, bytes) else line).rstrip("\r\n")

    def board_help(*args: object) -> None:
        stdout.write("Welcome to MicroPython (simulated by edge-sim board)\n")

    stdin = Stdin(board.cpu, board.console, text=True)
    names.update(open=board.fs.open, print=board_print, input=board_input, help=board_help)
    names["__import__"] = board.importer.import_
    return names


def builtin_modules(board: Board) -> dict[str, types.ModuleType]:
    """A fresh set of MicroPython's built-in modules for one board session."""
    cpu, console = board.cpu, board.console
    return {
        "os": _os_module(board),
        "sys": _sys_module(board),
        "time": _time_module(board),
        "micropython": _micropython_module(board),
        "gc": new_module(
            "gc",
            collect=lambda: None,
            mem_free=lambda: 110_000,
            mem_alloc=lambda: 20_000,
            threshold=lambda *a: -1,
            enable=lambda: None,
            disable=lambda: None,
        ),
        "hashlib": new_module(
            "hashlib",
            sha256=lambda data=None: _Hash("sha256", data),
            sha1=lambda data=None: _Hash("sha1", data),
            md5=lambda data=None: _Hash("md5", data),
        ),
        "binascii": binascii,
        "select": new_module(
            "select", poll=lambda: Poll(cpu, console), POLLIN=1, POLLOUT=4, POLLERR=8, POLLHUP=16
        ),
        "machine": machine_module(board),
    }


def _os_module(board: Board) -> types.ModuleType:
    fs, kind = board.fs, board.kind

    def mkdir(path: str) -> None:
        fs.call(lambda: fs.host(path).mkdir())

    def remove(path: str) -> None:
        if fs.host(path).is_dir():
            raise OSError(errno.EISDIR)
        fs.call(lambda: fs.host(path).unlink())

    return new_module(
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
        uname=lambda: new_module("uname", sysname=kind.name, machine=kind.machine, release="1.29.0"),
        urandom=os.urandom,
        sync=lambda: None,
        dupterm=lambda *a: None,
        sep="/",
    )


def _sys_module(board: Board) -> types.ModuleType:
    kind, stdout, interpreter = board.kind, board.stdout, board.interpreter
    return new_module(
        "sys",
        platform=kind.name,
        implementation=new_module(
            "implementation",
            name="micropython",
            version=(1, 29, 0, ""),
            _machine=kind.machine,
            _mpy=6 | (3 << 8) | (kind.mpy_arch << 10),
        ),
        version="3.4.0; " + MP_VERSION,
        version_info=(3, 4, 0),
        byteorder="little",
        maxsize=2**31 - 1,
        path=["", ".frozen", "/lib"],
        modules=interpreter.modules,
        stdin=Stdin(board.cpu, board.console, text=True),
        stdout=stdout,
        stderr=stdout,
        argv=[],
        exit=sys.exit,
        print_exception=lambda exc, file=None: (file or stdout).write(interpreter.traceback(exc)),
    )


def _time_module(board: Board) -> types.ModuleType:
    cpu = board.cpu
    t0 = time.time()

    def ticks(unit: float) -> Callable[[], int]:
        return lambda: int(cpu.now() * unit) % TICKS_PERIOD

    return new_module(
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
    )


def _micropython_module(board: Board) -> types.ModuleType:
    cpu = board.cpu

    def kbd_intr(char: int) -> None:
        cpu.intr_char = char

    return new_module(
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
    )


def machine_module(board: Board) -> types.ModuleType:
    """A fresh `machine` module for one board session."""
    kind, cpu = board.kind, board.cpu
    return new_module(
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
        Pin=_bind(Pin, "Pin", board),
        UART=_bind(Uart, "UART", board),
        I2C=_bind(I2c, "I2C", board),
        SoftI2C=_bind(SoftI2c, "SoftI2C", board),
        WDT=_bind(Wdt, "WDT", board),
        Timer=_bind(Timer, "Timer", board),
        RTC=Rtc,
    )


def _bind(cls: type[Part], name: str, board: Board) -> type:
    return type(name, (cls,), {"_board": board})


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


def new_module(module_name: str, /, **attrs: object) -> types.ModuleType:
    """A module object with these attributes."""
    module = types.ModuleType(module_name)
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def _ticks_diff(a: int, b: int) -> int:
    half = TICKS_PERIOD // 2
    return ((a - b + half) % TICKS_PERIOD) - half
