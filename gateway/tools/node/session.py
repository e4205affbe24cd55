"""A conversation with one sensor node over its serial link: send a command, wait for its reply.

The gateway's own protocol code does the work (`protocols.node` decodes, `NodeLink` encodes commands
and matches replies), so the technician's commands speak exactly what a running gateway speaks.
A node that reboots while asked (an ESP32 board may reset when its USB port is opened) says `hello`;
the command is then sent once more.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import cast

import serial

from gateway.messages import JsonValue
from gateway.sources.node_link import CommandResult, NodeLink
from gateway.sources.protocols.node import PROTOCOL, Info, InfoKind, NodeDecoder, NodeSample
from gateway.sources.serial import ByteStream

FLUSH = b"\x00"  # PROTOCOL.md: an empty frame ends whatever partial frame the node holds, uncounted
STARTUP_S = 5.0  # node uptime before a self-test is fair: streaming sensors send ~2.3 s after waking


class NodeUnreachable(OSError):
    """The port cannot be opened, or nothing answered in time."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A node's reply to one command, and the packet it promised to send after it (if asked for)."""

    node: str  # its id, or "the node" for firmware that does not say it in replies
    result: CommandResult
    follow_up: Mapping[str, JsonValue] | None = None
    hello: Mapping[str, JsonValue] | None = None  # the node said hello while we waited (it rebooted)


@contextlib.contextmanager
def open_port(url: str, baudrate: int = PROTOCOL.baudrate) -> Iterator[ByteStream]:
    """A serial port (by default at the node protocol's rate), held exclusively as the gateway holds
    it; NodeUnreachable saying why it cannot be opened."""
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise NodeUnreachable(port_problem(url, exc)) from None
    try:
        yield cast(ByteStream, port)
    finally:
        port.close()


def port_problem(url: str, exc: BaseException) -> str:
    """One line a technician can act on for a port that would not open."""
    text = str(exc)
    if "Errno 2]" in text:
        return f"no serial port at {url}: check the cable and the port name (ls /dev/serial/by-id/)"
    if "exclusively lock" in text or "Errno 16]" in text:  # pyserial's flock, or EBUSY
        return (
            f"{url} is busy: a running gateway or another program holds it "
            "(stop it, e.g. sudo systemctl stop edge-gateway, then retry)"
        )
    return f"cannot open {url}: {text}"


class NodeSession:
    """Commands to the node on one open port, replies matched by the gateway's `NodeLink`."""

    def __init__(self, port: ByteStream, expected_node: str | None = None) -> None:
        self.port = port
        self.link = NodeLink("node-command", expected_node)
        self._decoder = NodeDecoder()
        self.heard: list[NodeSample | Info] = []
        self.bytes_read = 0

    def ask(
        self,
        cmd: str,
        args: Mapping[str, JsonValue] | None = None,
        timeout_s: float = 5.0,
        then: InfoKind | None = None,
    ) -> Answer:
        """Send `cmd`; its reply (and the `then` packet after it); NodeUnreachable if none in time.

        ValueError (before anything is sent) for a command or arguments the protocol does not allow."""
        deadline = time.monotonic() + timeout_s
        cmd_id = self._send(cmd, args)
        resent, hello = False, None
        result: CommandResult | None = None
        follow_up = None
        while time.monotonic() < deadline:
            for packet in self._receive():
                if isinstance(packet, Info) and packet.kind == "hello":
                    hello = packet.body
                    if result is None and not resent:  # rebooted before it read the command
                        cmd_id, resent = self._send(cmd, args), True
                elif result is not None and isinstance(packet, Info) and packet.kind == then:
                    follow_up = packet.body
                result = result or self.link.result(cmd_id)
            if result is not None and (then is None or follow_up is not None or not result.ok):
                return Answer(self.link.state.node or "the node", result, follow_up, hello)
        what = f"no reply to {cmd}" if result is None else f"no {then} packet after the reply to {cmd}"
        raise NodeUnreachable(f"{what} within {timeout_s:g} s: {self._silence()}")

    def listen(self, seconds: float) -> list[NodeSample | Info]:
        """Every valid packet the node sends within `seconds` (no command sent)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._receive()
        return list(self.heard)

    def _send(self, cmd: str, args: Mapping[str, JsonValue] | None) -> int:
        cmd_id, wire = self.link.command(cmd, args)
        self.port.write(FLUSH + wire)
        return cmd_id

    def _receive(self) -> list[NodeSample | Info]:
        """The valid packets of our node among the bytes waiting now (another node's are ignored)."""
        data = self.port.read(max(1, self.port.in_waiting))
        self.bytes_read += len(data)
        ours = [
            p
            for p in self._decoder.feed(data)
            if isinstance(p, NodeSample | Info) and self.link.on_packet(p).accept
        ]
        self.heard += ours
        return ours

    def _silence(self) -> str:
        if self.link.state.foreign:
            return f"a node with another id answers (expected {self.link.expected_node})"
        if self.heard:
            return "the node sends packets but ignored the command (old firmware?)"
        return "nothing that speaks the node protocol answers (wrong port, no firmware, or no power?)"


def self_test(session: NodeSession, timeout_s: float = 5.0) -> tuple[Answer, Answer]:
    """The node's health, then its self-test; a node that has only just started (after a flash or a
    reset) is given STARTUP_S of uptime first, so a sensor that has not sent yet is not "no answer"."""
    deadline = time.monotonic() + timeout_s + STARTUP_S
    health = session.ask("health", timeout_s=timeout_s, then="health")
    while _uptime(health) < STARTUP_S and time.monotonic() < deadline:
        session.listen(0.25)
        health = session.ask("health", timeout_s=timeout_s, then="health")
    return health, session.ask("self_test", timeout_s=timeout_s)


def _uptime(health: Answer) -> float:
    uptime = (health.follow_up or {}).get("uptime_s")
    return float(uptime) if isinstance(uptime, int | float) else STARTUP_S
