"""Saying, in words a technician can act on, why the broker cannot be reached: once at once, then at
most once a minute until it can, and once when it is back (Home Assistant's log-when-unavailable)."""

from __future__ import annotations

import logging
import socket
import ssl
import time

log = logging.getLogger("gateway.publish.mqtt")

REPEAT_S = 60.0  # an unreachable broker is mentioned again this often, never more


_WORDS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "refused (nothing listens on that port, or a firewall rejects it)"),
    (TimeoutError, "timeout (no answer: wrong address, or the network drops the packets)"),
)


def reason(exc: BaseException | None) -> str:
    """A short, actionable name for why a connection attempt failed."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate does not verify ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {getattr(exc, 'reason', None) or exc}"
    if isinstance(exc, socket.gaierror):
        return f"the name does not resolve ({exc.strerror})"
    words = next((text for kind, text in _WORDS if isinstance(exc, kind)), None)
    if words is None and isinstance(exc, OSError):
        words = exc.strerror or str(exc) or type(exc).__name__
    return words or "unknown"


class Reachability:
    """Tracks failed attempts to reach one broker address and logs them without a storm."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.failures = 0
        self.last_reason: str | None = None  # why the latest attempt failed; None once connected
        self._since: float | None = None
        self._last_log = float("-inf")

    def failed(self, exc: BaseException | None) -> None:
        """One failed attempt (from paho's thread, inside its `except OSError`)."""
        self._failed(reason(exc))

    def refused(self, connack: str) -> None:
        """The broker answered but refused this client (CONNACK): credentials or authorisation."""
        self._failed(f"auth: the broker refused this client ({connack})")

    def _failed(self, why: str) -> None:
        now = time.monotonic()
        self.failures += 1
        self.last_reason = why
        if self._since is None:
            self._since = now
        if now - self._last_log >= REPEAT_S:
            self._last_log = now
            log.warning("cannot reach the broker %s%s: %s", self.address, self._waited(now), why)

    def _waited(self, now: float) -> str:
        if self._since is None or self.failures <= 1:
            return ""
        return f" for {now - self._since:.0f} s ({self.failures} attempts)"

    def describe(self) -> str:
        """Now, in a few words: "cannot reach it for 12 s (3 attempts): refused (...)" or ""."""
        if self.last_reason is None:
            return ""
        return f"cannot reach it{self._waited(time.monotonic())}: {self.last_reason}"

    def connected(self) -> None:
        """The connection is up: say so once if it had been failing."""
        if self._since is not None:
            log.warning("reached the broker %s after %.0f s", self.address, time.monotonic() - self._since)
        self._since, self.failures, self._last_log, self.last_reason = None, 0, float("-inf"), None
