"""A private Mosquitto on a free loopback port, for `make run` and the tests (no system service)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(Exception):
    """Mosquitto is missing or did not start."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_mosquitto() -> str:
    """The mosquitto executable, or BrokerError saying how to install it."""
    found = shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)
    if found is None:
        raise BrokerError(
            "mosquitto is not installed: run `make setup` as root or `sudo apt-get install mosquitto`"
        )
    return found


class Mosquitto:
    """One mosquitto process bound to 127.0.0.1; restartable on the same port."""

    def __init__(self, workdir: Path, port: int | None = None, persistent: bool = False) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        # persistent: sessions and queued messages survive a kill (saved on every change).
        persistence = (
            f"persistence true\npersistence_location {workdir}/\nautosave_on_changes true\nautosave_interval 1\n"
            if persistent
            else "persistence false\n"
        )
        # Stay the current user: as root, mosquitto would switch to "mosquitto" and lose access to workdir.
        user = pwd.getpwuid(os.getuid()).pw_name
        self.conf.write_text(
            f"user {user}\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n{persistence}"
            f"log_dest file {workdir / 'mosquitto.log'}\nmax_queued_messages 100000\n"
        )

    def start(self, timeout: float = 10.0) -> Mosquitto:
        """Start and wait (bounded) until the port accepts connections."""
        with (self.workdir / "mosquitto.stderr").open("ab") as stderr:
            self._proc = subprocess.Popen(
                [find_mosquitto(), "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # Ctrl-C in a terminal is for whoever started it: it stops us
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with {self._proc.returncode}; see {self.workdir}/mosquitto.log"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after a bounded wait)."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def kill(self) -> None:
        """Kill the broker abruptly, as a crash or power loss would."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            self._proc = None
