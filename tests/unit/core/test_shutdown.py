"""Stopping a gateway whose broker does not answer takes a bounded time, and keeps the outbox.

Scenario: the broker's address is a loopback port where a socket accepts connections and never
says a word (a broker hung mid-handshake), or where nothing listens at all. The gateway runs with
an event in its outbox; SIGTERM (the stop event) must bring `run` back within about two seconds,
and the unsent event is still in the outbox for the next start.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.messages import Event
from gateway.outbox import Outbox
from gateway.trust import Trusted
from sim.broker import free_port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never replies."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        accepted: list[socket.socket] = []
        server.settimeout(0.1)
        done = threading.Event()

        def accept() -> None:
            while not done.is_set():
                try:
                    accepted.append(server.accept()[0])
                except TimeoutError:
                    continue
                except OSError:
                    return

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield int(server.getsockname()[1])
        done.set()
        thread.join(2)
        for conn in accepted:
            conn.close()


def build(tmp_path: Path, port: int) -> Gateway:
    config = GatewayConfig.model_validate(
        {
            "site": "s",
            "gateway": "g",
            "mqtt": {"host": "127.0.0.1", "port": port, "keepalive_s": 60},
            "storage": str(tmp_path),
        }
    )
    trusted = Trusted.load(config.trust.public_key, config.policy, config.trust.models_dir)
    return Gateway(config, trusted, AuditLog(tmp_path / "audit.jsonl"))


@pytest.mark.parametrize("broker", ["silent", "closed"])
def test_stop_returns_within_two_seconds_when_the_broker_does_not_answer(
    tmp_path: Path, silent_port: int, broker: str
) -> None:
    gateway = build(tmp_path, silent_port if broker == "silent" else free_port())
    gateway.handle(Event(type="air.band_changed", source="pm-1", data={"band": "good"}))
    assert len(gateway.outbox) > 0
    stop = threading.Event()
    runner = threading.Thread(target=gateway.run, args=(stop,), daemon=True)
    runner.start()
    began = time.monotonic()
    stop.set()
    runner.join(10)
    took = time.monotonic() - began
    assert not runner.is_alive()
    assert took < 2.5, f"stop took {took:.1f} s"
    kept = Outbox(tmp_path / "outbox.sqlite3")
    assert len(kept) > 0, "the unsent event stays in the outbox"
    kept.close()
