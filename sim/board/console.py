"""The USB serial line seen from the board, and the streams board code reads and writes over it.

`Console` holds the bytes between the I/O thread (the USB serial chip) and the CPU thread;
`Stdin`, `Stdout` and `Poll` are `sys.stdin`, `sys.stdout` and `select.poll` on top of it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.board.cpu import Cpu

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5  # the REPL's control keys on the line


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


class Stdin:
    """sys.stdin (and .buffer): bytes the host sent while code runs."""

    def __init__(self, cpu: Cpu, console: Console, text: bool) -> None:
        self._cpu, self._console, self._text = cpu, console, text
        self.buffer = self if not text else Stdin(cpu, console, text=False)

    def read(self, n: int = 1) -> str | bytes:
        data = bytearray()
        while len(data) < max(1, n):
            self._cpu.checkpoint()
            data += self._console.take(max(1, n) - len(data), 0.005)
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


class Stdout:
    """sys.stdout: text is cooked (\\n -> \\r\\n); sys.stdout.buffer writes bytes as they are."""

    def __init__(self, cpu: Cpu, console: Console, text: bool = True) -> None:
        self._cpu, self._console, self._text = cpu, console, text
        self.buffer = self if not text else Stdout(cpu, console, text=False)

    def write(self, data: str | bytes | bytearray | memoryview) -> int:
        self._cpu.checkpoint()
        if isinstance(data, str):
            self._console.write_text(data)
        else:
            self._console.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


class Poll:
    """select.poll over sys.stdin (the only stream a node polls)."""

    def __init__(self, cpu: Cpu, console: Console) -> None:
        self._cpu, self._console = cpu, console
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
            else time.monotonic() + timeout / 1000 / self._cpu.scale
        )
        while True:
            self._cpu.checkpoint()
            if self._console.waiting() and self._registered:
                return [(self._registered[0], 1)]
            if time.monotonic() >= end:
                return []
            self._console.take(0, 0.002)

    def ipoll(self, timeout: int = -1, flags: int = 0) -> Iterator[tuple[object, int]]:
        return iter(self.poll(timeout))
