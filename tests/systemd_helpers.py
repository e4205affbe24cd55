"""Test helper: what systemd listens on for sd_notify, as a real socket."""

from __future__ import annotations

import socket
import time


class NotifySocket:
    """What systemd listens on: a bound AF_UNIX datagram socket (a path, or "\\0name" for abstract)."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)

    def receive(self, seconds: float) -> list[str]:
        """Every datagram that arrives within `seconds`."""
        got, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                got.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        return got

    def wait_for(self, message: str, seconds: float) -> list[str]:
        """Datagrams up to and including `message` (bounded wait)."""
        got, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                got.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            if got[-1] == message:
                return got
        raise AssertionError(f"no {message!r} within {seconds} s; got {got}")
