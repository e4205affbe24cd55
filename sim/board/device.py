"""`Board`: one simulated board put together, powered on and run.

It owns the two threads of a real board: the USB serial chip (moving bytes between the pty and
the console, Ctrl-C as an interrupt, an erased ESP32's ROM chatter) and the CPU (boot, soft and
hard resets). The REPL, the interpreter, imports and the hardware are its collaborators.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Self

from gateway.tools.flash.job import FIRMWARE_DIR  # the firmware edge-gateway flash ships
from sim.board.console import Console, Stdout
from sim.board.cpu import PWRON_RESET, SOFT_RESET, Cpu, Halt, Reset, SoftReset
from sim.board.fs import BoardFs
from sim.board.imports import Importer
from sim.board.interpreter import Interpreter
from sim.board.kinds import BOARDS, ESP32_BLANK, ESP32_ROM_RESET
from sim.board.mpy import MpySources
from sim.board.namespace import board_builtins, builtin_modules
from sim.board.repl import SOFT_REBOOT, Repl
from sim.board.wiring import Wiring, build_wiring, default_truth
from sim.serial.devices import Truth
from sim.serial.pty import VirtualPort


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
        self.truth: Truth = default_truth
        self.uid = hashlib.sha256(str(self.workdir).encode()).digest()[: self.kind.uid_len]
        self.reset_cause = PWRON_RESET
        self._wiring = (Wiring(), (-1, -1))
        self.pin_values: dict[object, int] = {}  # output pins as the firmware set them (e.g. the LED)
        self.stdout = Stdout(self.cpu, self.console)
        self.interpreter = Interpreter(self.cpu, self.console)
        mpy = MpySources(self.firmware, self.kind.arch)
        self.importer = Importer(self.fs, self.interpreter, mpy, lambda: builtin_modules(self))
        self.repl = Repl(self.console, self.cpu, self.fs, self.interpreter, self.kind.machine)
        self.cpu.on_error = lambda exc: self.console.write_text(
            "Unhandled exception in callback\n" + self.interpreter.traceback(exc)
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
            except Halt:
                return
            except Reset as reset:
                cause = reset.cause
                self._hard_reset(reset)

    def _hard_reset(self, reset: Reset) -> None:
        self.console.clear_input()
        self.console.drain()
        if self.kind.native_usb:
            self.port.unplug()  # the RP2040's USB device disappears until the firmware is back up
        self.cpu.halt.wait(0.05 + reset.after_s / self.cpu.scale)
        self.cpu.power_on()
        self.repl.raw = False
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
                self.repl.run()
            except SoftReset:
                self.console.write(SOFT_REBOOT)
                self.reset_cause = SOFT_RESET if self.kind.soft_cause else self.reset_cause

    def _new_session(self) -> None:
        self.cpu.soft_reset()
        self.fs.cwd = "/"
        self.interpreter.new_session(board_builtins(self))

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
        raise SoftReset
