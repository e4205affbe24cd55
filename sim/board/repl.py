"""MicroPython's REPL protocol, byte for byte as `shared/runtime/pyexec.c` speaks it.

The friendly REPL (echo, `>>> `), Ctrl-A raw REPL (`raw REPL; CTRL-B to exit\\r\\n>`, Ctrl-D ->
`OK` + output + `\\x04` + traceback + `\\x04` + `>`), raw-paste mode (`\\x05A\\x01` -> `R\\x01`, a
256-byte flow-control window acknowledged with `\\x01`, `\\x04` at the end), Ctrl-B, Ctrl-C, and
Ctrl-D for a soft reboot; plus running boot.py and main.py (`pyexec_file_if_exists`).
"""

from __future__ import annotations

from sim.board.console import CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E, Console
from sim.board.cpu import Cpu, SoftReset
from sim.board.fs import BoardFs
from sim.board.interpreter import Interpreter
from sim.board.kinds import MP_VERSION

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
SOFT_REBOOT = b"MPY: soft reboot\r\n"
PASTE_WINDOW = 256  # MICROPY_REPL_STDIN_BUFFER_MAX: raw-paste flow-control window


class Repl:
    """The board's side of the serial console: boot files, then the friendly or raw REPL."""

    def __init__(
        self, console: Console, cpu: Cpu, fs: BoardFs, interpreter: Interpreter, machine: str
    ) -> None:
        """`machine` is the board's name in the banner."""
        self.console, self.cpu, self.fs, self.interpreter = console, cpu, fs, interpreter
        self.machine = machine
        self.raw = False  # pyexec_mode_kind: friendly or raw REPL

    def run(self) -> None:
        """boot.py, main.py (unless the raw REPL was asked for), then the REPL until a soft reset."""
        if self.run_file("boot.py") and not self.raw:
            self.run_file("main.py")
        while True:
            if self.raw:
                self._raw_repl()
            else:
                self._friendly_repl()

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
                raise SoftReset
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
        self.console.write_text(f'{MP_VERSION}; {self.machine}\nType "help()" for more information.\n')
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
                raise SoftReset
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

    def run_file(self, name: str) -> bool:
        """pyexec_file_if_exists: False only if it raised."""
        host = self.fs.host(name)
        if not host.is_file():
            return True
        return self._execute(host.read_bytes(), raw=False, filename=name)

    def _execute(self, code: bytes, raw: bool, filename: str = "<stdin>") -> bool:
        """parse_compile_execute: run, print output, \\x04 framing in raw mode. False if it raised."""
        error = self.interpreter.run(code, filename, single=not raw and filename == "<stdin>")
        if raw:
            self.console.write(b"\x04")
        if error:
            self.console.write_text(error)
        if raw:
            self.console.write(b"\x04")
        return not error
