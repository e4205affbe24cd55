"""Board code run under CPython the way MicroPython's VM runs it.

One soft-reboot session's namespace (`globals`, `sys.modules`), the trace hook through which Ctrl-C,
resets and halts reach pure loops, and tracebacks printed as MicroPython prints them: only board
files' frames, `OSError: [Errno 2] ENOENT`.
"""

from __future__ import annotations

import errno
import sys
import traceback
import types
from typing import Any

from sim.board.console import CTRL_C, Console
from sim.board.cpu import Cpu, Halt, Reset, SoftReset


class Interpreter:
    """Runs board code in one session's namespace, as MicroPython's `parse_compile_execute` does."""

    def __init__(self, cpu: Cpu, console: Console) -> None:
        self.cpu, self.console = cpu, console
        self.modules: dict[str, types.ModuleType] = {}  # the session's sys.modules
        self.globals: dict[str, Any] = {}
        self.files: set[str] = {"<stdin>"}  # board code: traced, and shown in tracebacks

    def new_session(self, builtins: dict[str, Any]) -> None:
        """A soft reboot: no modules, fresh globals."""
        self.modules, self.files = {}, {"<stdin>"}
        self.globals = {"__name__": "__main__", "__builtins__": builtins}

    def run(self, code: bytes, filename: str, single: bool) -> str:
        """Run code in the board's namespace; the MicroPython-style traceback if it raised."""
        self.cpu.intr_char = CTRL_C
        sys.settrace(self._trace)
        try:
            self.files.add(filename)
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
        except (Halt, Reset, SoftReset):
            raise
        except SystemExit:
            raise SoftReset from None
        except BaseException as exc:  # noqa: BLE001  # whatever the code raised is printed, as MicroPython does
            if self.cpu.pending_reset is not None or self.cpu.halt.is_set():
                self.cpu.checkpoint(user=False)
            return self.traceback(exc)
        finally:
            sys.settrace(None)
            self.cpu.intr_char = -1
            self.cpu.interrupt.clear()
        return ""

    def exec_module(self, module: types.ModuleType, source: str, filename: str) -> None:
        """Run an imported module's code; it is in sys.modules while it runs, as in MicroPython."""
        self.files.add(filename)
        self.modules[module.__name__] = module
        try:
            exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102  # importing board code
        except BaseException:
            self.modules.pop(module.__name__, None)
            raise

    def _trace(self, frame: types.FrameType, event: str, arg: object) -> Any:
        """Ctrl-C, resets and halts reach pure loops in board code (MicroPython checks in its VM)."""
        if frame.f_code.co_filename not in self.files:
            return None
        return self._trace_line

    def _trace_line(self, frame: types.FrameType, event: str, arg: object) -> Any:
        cpu = self.cpu
        if event == "line" and (cpu.interrupt.is_set() or cpu.pending_reset or cpu.halt.is_set()):
            cpu.checkpoint()
        return self._trace_line

    def traceback(self, exc: BaseException) -> str:
        """What MicroPython prints for an exception: board frames only, its OSError format."""
        lines = ["Traceback (most recent call last):"]
        lines += [
            f'  File "{f.filename}", line {f.lineno}, in {f.name}'
            for f in traceback.extract_tb(exc.__traceback__)
            if f.filename in self.files
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
