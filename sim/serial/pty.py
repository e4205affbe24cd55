"""A virtual serial port: a real pseudo-terminal behind a stable symlink, which can be unplugged.

The gateway opens the symlink with pyserial exactly as it opens /dev/ttyUSB0 (pyserial's own
test/test_pty.py uses os.openpty the same way). This side holds only the master end.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
import tty
from pathlib import Path
from typing import Self

_CHUNK = 16  # bytes written between pacing sleeps: ~17 ms at 9600 baud


class VirtualPort:
    """The device end of a serial line, exposed at `link` while plugged in."""

    def __init__(self, link: str | os.PathLike[str], baudrate: int = 9600, pace: bool = True) -> None:
        self.link = Path(link)
        self.baudrate, self.pace = baudrate, pace
        self.generation = 0  # incremented by every replug: a new device has appeared
        self._lock = threading.Lock()
        self._master: int | None = None
        self._poll = select.poll()
        self._plug()

    @property
    def plugged(self) -> bool:
        """Whether the port currently exists."""
        return self._master is not None

    @property
    def in_use(self) -> bool:
        """Whether someone (a gateway) has the port open right now."""
        with self._lock:
            master = self._master
            return master is not None and not self._no_listener(master)

    def write(self, data: bytes) -> None:
        """Send bytes to whoever has the port open, at the line rate (10 bits per byte)."""
        step = _CHUNK if self.pace else max(len(data), 1)
        for i in range(0, len(data), step):
            chunk = data[i : i + step]
            with self._lock:
                self._write_now(chunk)
            if self.pace:
                time.sleep(len(chunk) * 10 / self.baudrate)

    def read(self, timeout: float) -> bytes:
        """Bytes sent by the port's user, waiting at most `timeout` seconds; b"" if none."""
        with self._lock:
            master = self._master
            if master is not None and self._poll.poll(timeout * 1000):
                try:
                    return os.read(master, 4096)
                except OSError as error:
                    if error.errno not in (errno.EIO, errno.EAGAIN):
                        raise
        # Unplugged, or EIO because nobody has the port open (Linux reports hangup on the master
        # then, so poll returns at once): wait out the timeout rather than spin.
        time.sleep(timeout)
        return b""

    def unplug(self) -> None:
        """Vanish like a USB adapter: remove the path and hang up on any open reader."""
        with self._lock:
            self.link.unlink(missing_ok=True)
            if self._master is not None:
                self._poll.unregister(self._master)
                os.close(self._master)
                self._master = None

    def replug(self) -> None:
        """Reappear as a new pseudo-terminal at the same path."""
        with self._lock:
            if self._master is None:
                self._plug()
                self.generation += 1

    def close(self) -> None:
        """Unplug for good."""
        self.unplug()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, no CR/LF mapping before the user configures it
        name = os.ttyname(slave)
        os.close(slave)  # the tty keeps its settings while the master is open
        os.set_blocking(master, False)
        self._master = master
        self._poll.register(master, select.POLLIN)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(name)
        tmp.replace(self.link)  # atomic: the path never points at a half-made port

    def _write_now(self, data: bytes) -> None:
        master = self._master
        if master is None or self._no_listener(master):
            return  # like a UART with nothing attached: the bytes are gone, not queued for later
        try:
            os.write(master, data)
        except OSError as error:  # EAGAIN: the reader is not keeping up; drop like an overrun
            if error.errno not in (errno.EAGAIN, errno.EIO):
                raise

    def _no_listener(self, master: int) -> bool:
        probe = select.poll()
        probe.register(master, select.POLLOUT)
        return any(event & select.POLLHUP for _, event in probe.poll(0))
