"""Running under systemd: READY, WATCHDOG and STOPPING over $NOTIFY_SOCKET, and JSON log lines.

sd_notify(3) is one datagram per message to the AF_UNIX socket named in $NOTIFY_SOCKET ('@' at
the start: Linux's abstract namespace); outside systemd the variable is unset and nothing is sent.
With `WatchdogSec=`, $WATCHDOG_USEC says how often systemd wants `WATCHDOG=1`: we ping at half
that, and only while the main loop, every source's threads and the publisher's (paho's network
thread, the outbox drain) beat in time, so a hung gateway is killed and restarted
(`Restart=on-failure`) instead of sitting silent on its lamp post.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from gateway.metrics import serve as serve_metrics
from gateway.service_state import write_state

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)

READY_POLL_S = 0.05  # how often readiness is looked at before READY=1
CHECK_S = 5.0  # how often hung loops are looked for when systemd asks for no watchdog
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def notify(message: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send one sd_notify message; False (and nothing sent) outside systemd."""
    address = environ.get("NOTIFY_SOCKET", "")
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        return False  # unset, or a transport this does not speak (vsock)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError as exc:  # systemd away (e.g. re-executing itself): nothing to tell now
            log.warning("sd_notify %s failed: %s", message.split("=")[0], exc)
            return False
    return True


def watchdog_period(environ: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC; None if no watchdog is asked for."""
    pid = environ.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 else None


class Watchdog:
    """READY=1 once `ready()`, WATCHDOG=1 while `hung()` names nothing, STOPPING=1 once stopped."""

    def __init__(
        self,
        ready: Callable[[], bool],
        hung: Callable[[], list[str]],
        environ: Mapping[str, str],
        on_ready: Callable[[], None] = lambda: None,
    ) -> None:
        self._ready, self._hung, self._environ, self._on_ready = ready, hung, environ, on_ready

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set (in a thread of its own)."""
        while not self._ready():
            if stop.wait(READY_POLL_S):
                break
        else:
            self._send("READY=1")
            self._on_ready()
            self._watch(stop)
        self._send("STOPPING=1")

    def _watch(self, stop: threading.Event) -> None:
        period = watchdog_period(self._environ)
        reported: list[str] = []
        while True:
            hung = self._hung()
            if hung != reported:
                if hung:
                    log.error("%s hung: no more watchdog pings, systemd will restart", ", ".join(hung))
                else:
                    log.warning("every loop beats again: watchdog pings resume")
                self._send(f"STATUS=hung: {', '.join(hung)}" if hung else "STATUS=running")
                reported = hung
            if not hung and period is not None:
                self._send("WATCHDOG=1")
            if stop.wait(period or CHECK_S):
                return

    def _send(self, message: str) -> None:
        notify(message, self._environ)


def hung_loops(gateway: Gateway) -> list[str]:
    """The gateway's loops that are late: its main loop, each sensor's and each camera's threads, and
    the publisher's (paho's network thread and the outbox drain)."""
    hung = [] if gateway.heartbeat.alive() else ["main"]
    cameras = [n for c in gateway.cameras for n in c.source.hung()]
    return hung + gateway.sensors.hung() + cameras + gateway.publisher.hung()


def run(gateway: Gateway, stop: threading.Event, environ: Mapping[str, str] = os.environ) -> None:
    """`gateway.run(stop)`, telling systemd (and `<storage>/service.json`) when it is ready, alive and
    stopping, and serving its metrics if configured: both watch the gateway from outside, so the
    composition root knows neither."""
    storage = gateway.config.storage
    watchdog = Watchdog(
        lambda: gateway.heartbeat.started,
        lambda: hung_loops(gateway),
        environ,
        on_ready=lambda: write_state(storage, "ready"),
    )
    thread = threading.Thread(target=watchdog.run, args=(stop,), name="sd-notify", daemon=True)
    thread.start()
    metrics = serve_metrics(gateway)
    try:
        gateway.run(stop)
    finally:
        stop.set()  # also after a fatal error, so systemd hears STOPPING=1
        thread.join(1.0)
        if metrics is not None:
            metrics.close()
        write_state(storage, "stopped")


class LogFormat(StrEnum):
    """How `edge-gateway run` writes its log to stderr."""

    text = "text"
    json = "json"


class JsonLines(logging.Formatter):
    """One JSON object a line, for journald (`journalctl -u edge-gateway -o cat | jq`)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON; a traceback goes in `exception`, newlines escaped."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, fmt: LogFormat = LogFormat.text) -> None:
    """The root logger to stderr at `level`, as text lines or JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if fmt is LogFormat.json else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
