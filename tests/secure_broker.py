"""Test helpers: a Mosquitto with TLS, client certificates and a generated ACL; TLS clients that record.

The broker is `sim.broker.Mosquitto` (free 127.0.0.1 port, stays the current user, bounded start wait,
stderr to a file) with a listener that requires a client certificate from the given CA and takes the
certificate's CN as the username, and an `acl_file` so that anything not granted is denied.
"""

from __future__ import annotations

import os
import pwd
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from gateway.tools.pki import create_ca, make_key_and_csr, sign_csr
from sim.broker import Mosquitto

NOT_AUTHORIZED = 0x87
NO_MATCHING_SUBSCRIBERS = 0x10  # a success: the broker accepted the message, nobody wanted it


@dataclass(frozen=True)
class Ca:
    """A CA's certificate and key."""

    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path, name: str = "edge-local-ca") -> Ca:
        return cls(*create_ca(directory, name))


@dataclass(frozen=True)
class Credentials:
    """What a TLS client presents: the CA it trusts, and optionally its own certificate and key."""

    ca_cert: Path
    cert: Path | None = None
    key: Path | None = None


def issue(ca: Ca, directory: Path, identity: str, server: bool = False) -> Credentials:
    """A fresh key and a certificate for `identity` signed by `ca`."""
    key, csr = make_key_and_csr(directory, identity)
    cert = sign_csr(csr, ca.cert, ca.key, directory / f"{identity}.crt", server=server)
    return Credentials(ca.cert, cert, key)


class SecureMosquitto(Mosquitto):
    """A private Mosquitto whose only listener is mutual TLS with `acl` as its acl_file."""

    def __init__(self, workdir: Path, ca: Ca, acl: str, log_types: tuple[str, ...] = ("all",)) -> None:
        """`log_types`: what the log keeps (every packet by default; a load test keeps less)."""
        super().__init__(workdir)
        server = issue(ca, workdir / "pki", "localhost", server=True)
        (workdir / "acl").write_text(acl)
        user = pwd.getpwuid(os.getuid()).pw_name
        logged = "".join(f"log_type {kind}\n" for kind in log_types)
        self.conf.write_text(
            f"user {user}\npersistence false\nallow_anonymous false\nacl_file {workdir / 'acl'}\n"
            f"log_dest file {workdir / 'mosquitto.log'}\n{logged}"
            f"listener {self.port} 127.0.0.1\ncafile {ca.cert}\ncertfile {server.cert}\n"
            f"keyfile {server.key}\nrequire_certificate true\nuse_identity_as_username true\n"
        )

    def log(self) -> str:
        """The broker's log so far (for assertion messages)."""
        path = self.workdir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_log(self, text: str, timeout: float = 5.0) -> bool:
        """Wait (bounded) until the broker has logged `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


@dataclass
class _State:
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    subacks: dict[int, list[int]] = field(default_factory=dict)
    pubacks: dict[int, int] = field(default_factory=dict)
    connack: int | None = None
    disconnected: bool = False


class _Recording:
    """paho callbacks that record into a `_State`.

    It holds no reference to the client, so a client is never part of a reference cycle and paho's
    `__del__` closes its internal socket pair as soon as the test drops it (in a cycle, the garbage
    collector may finalize those sockets first and raise a ResourceWarning, an error under pytest).
    """

    def __init__(self) -> None:
        self.state = _State()
        self.cond = threading.Condition()

    def attach(self, client: mqtt.Client) -> None:
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish

    def _update(self, change: Callable[[_State], None]) -> None:
        with self.cond:
            change(self.state)
            self.cond.notify_all()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any = None) -> None:
        self._update(lambda s: setattr(s, "connack", rc.value))

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _rc: ReasonCode, _p: Any = None) -> None:
        self._update(lambda s: setattr(s, "disconnected", True))

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._update(lambda s: s.messages.append((msg.topic, bytes(msg.payload))))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        self._update(lambda s: s.subacks.__setitem__(mid, [c.value for c in codes]))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        self._update(lambda s: s.pubacks.__setitem__(mid, rc.value))

    def wait(self, predicate: Callable[[_State], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.state):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(0.1, left))
            return True


class TlsClient:
    """An MQTT 5 client over mutual TLS that records messages, SUBACK and PUBACK reason codes."""

    def __init__(self, broker: SecureMosquitto, creds: Credentials | None, client_id: str = "") -> None:
        """`creds=None` speaks plain MQTT (no TLS) to the TLS port."""
        self.broker = broker
        self._rec = _Recording()
        self.state = self._rec.state
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if creds is not None:
            certfile = str(creds.cert) if creds.cert else None
            keyfile = str(creds.key) if creds.key else None
            self.client.tls_set(ca_certs=str(creds.ca_cert), certfile=certfile, keyfile=keyfile)
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]  # seconds; a refused client stops fast
        self._rec.attach(self.client)

    def wait(self, predicate: Callable[[_State], bool], timeout: float = 5.0) -> bool:
        """Wait (bounded) until predicate(state) holds; return whether it did."""
        return self._rec.wait(predicate, timeout)

    def try_connect(self, timeout: float = 5.0) -> str:
        """Connect; return "connected", or why not (TLS error, refusing CONNACK, dropped connection)."""
        try:
            self.client.connect(self.broker.host, self.broker.port, keepalive=10)
        except (ssl.SSLError, OSError) as exc:
            return f"refused at connect: {type(exc).__name__}: {exc}"
        self.client.loop_start()
        if not self.wait(lambda s: s.connack is not None or s.disconnected, timeout):
            return "no CONNACK within the timeout"
        if self.state.connack == 0:
            return "connected"
        return f"refused: CONNACK {self.state.connack}, disconnected={self.state.disconnected}"

    def connect(self) -> TlsClient:
        """Connect or fail the test with the broker's log."""
        outcome = self.try_connect()
        assert outcome == "connected", f"{outcome}\n{self.broker.log()}"
        return self

    def subscribe(self, *filters: str) -> list[int]:
        """Subscribe (QoS 1) and return the SUBACK reason code of each filter."""
        _rc, mid = self.client.subscribe([(f, 1) for f in filters])
        assert mid is not None, "not connected"
        assert self.wait(lambda s: mid in s.subacks), "no SUBACK"
        return self.state.subacks[mid]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """Publish at QoS 1 and return the PUBACK reason code (0 or 0x10 accepted, 0x87 not authorized)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert self.wait(lambda s: info.mid in s.pubacks), f"no PUBACK for {topic}"
        return self.state.pubacks[info.mid]

    def received(self, payload: bytes, timeout: float = 5.0) -> bool:
        """Whether a message with this payload arrives (bounded wait)."""
        return self.wait(lambda s: any(p == payload for _t, p in s.messages), timeout)

    def payloads(self) -> list[bytes]:
        with self._rec.cond:
            return [p for _t, p in self.state.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
