"""Which sensor answers on a serial port: every registered protocol's decoder listens, and asks.

At each baud rate the registered protocols use (9600 for the sensors, 115200 for nodes), the
port is opened once and every decoder of that rate is fed the same bytes; a protocol has answered
when its decoder yields valid (checksummed) samples. Sensors that only answer a request (MH-Z19,
an SDS011 or PMS5003 left in query mode) are sent their protocol's poll command: the request a
running gateway sends every poll period, a read that changes nothing on any sensor. A node is sent
`health` and `self_test` through the gateway's own node link. Every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from itertools import pairwise

from gateway.sources.protocols.base import FrameError, Sample, SensorOptions, SensorProtocol, StreamDecoder
from gateway.sources.protocols.registry import PROTOCOLS
from gateway.sources.serial import ByteStream
from gateway.tools.node.session import NodeSession, NodeUnreachable, self_test

LISTEN_S = 3.0  # active sensors send every 1-2.3 s (PMS5003 datasheet): two frames fit
ASK_S = 1.0  # a request-response sensor answers within ~100 ms
NODE_S = 2.0  # per node command
ENOUGH = 2  # valid frames that settle it early (one is accepted at the end of a window)
PMS_COUNTS = ("n0_3", "n0_5", "n1_0", "n2_5", "n5_0", "n10_0")

Opener = Callable[[str, int], AbstractContextManager[ByteStream]]


@dataclass(frozen=True, slots=True)
class Heard:
    """A protocol that answered: how many valid frames, the last values, and what else it said."""

    type: str
    frames: int
    values: Mapping[str, float] = field(default_factory=dict)
    detail: Mapping[str, object] = field(default_factory=dict)  # a node's id, sensors, health


@dataclass
class Probe:
    """What a port said: the protocol that answered (if any), and the noise around it."""

    heard: Heard | None = None
    bytes_seen: dict[int, int] = field(default_factory=dict)  # baud -> bytes received
    bad_frames: int = 0
    rejected: str = ""  # a node that answered but not as configured (another id)


def baud_rates(first: str | None) -> list[int]:
    """The registered protocols' baud rates, the configured type's first."""
    rates = sorted({p.baudrate for p in PROTOCOLS.values()})
    if first is not None and first in PROTOCOLS:
        rates.sort(key=lambda b: b != PROTOCOLS[first].baudrate)
    return rates


def probe_port(url: str, opener: Opener, configured: str | None = None, node_id: str | None = None) -> Probe:
    """Try every baud rate (the configured type's first) until a protocol answers."""
    probe = Probe()
    for baud in baud_rates(configured):
        with opener(url, baud) as port:
            if baud == PROTOCOLS["node"].baudrate:
                _ask_node(port, probe, node_id)
            else:
                _listen_and_ask(port, baud, probe, configured)
        if probe.heard is not None:
            break
    return probe


class _Ear:
    """Every decoder of one baud rate, fed the same bytes; the samples each has decoded."""

    def __init__(self, baud: int) -> None:
        self.protocols = [p for p in PROTOCOLS.values() if p.baudrate == baud and p.type != "node"]
        self.decoders: dict[str, StreamDecoder] = {p.type: p.decoder() for p in self.protocols}
        self.samples: dict[str, list[Sample]] = {p.type: [] for p in self.protocols}
        self.bad = 0

    def feed(self, data: bytes) -> None:
        for type_, decoder in self.decoders.items():
            for item in decoder.feed(data):
                if isinstance(item, Sample):
                    self.samples[type_].append(item)
                elif isinstance(item, FrameError):
                    self.bad += 1

    def best(self, enough: int) -> Heard | None:
        counts = {t: len(s) for t, s in self.samples.items() if len(s) >= enough}
        if not counts:
            return None
        most = max(counts.values())
        winners = sorted(t for t, n in counts.items() if n == most)
        chosen = _pms_variant(self.samples["pms5003"]) if "pms5003" in winners else winners[0]
        last = self.samples[chosen][-1]
        return Heard(chosen, most, dict(last.values), {"flags": sorted(last.flags)} if last.flags else {})


def _pms_variant(samples: list[Sample]) -> str:
    """PMS5003 and PMS5003T frames share a layout; a 5003T's last two count words are temperature and
    humidity, which break the counts' order (particles > 0.3 µm >= > 0.5 µm >= ... >= > 10 µm)."""
    for sample in samples:
        counts = [sample.values[k] for k in PMS_COUNTS if k in sample.values]
        if len(counts) == len(PMS_COUNTS) and any(a < b for a, b in pairwise(counts)):
            return "pms5003t"
    return "pms5003"


def _read_until(port: ByteStream, ear: _Ear, seconds: float, enough: int) -> int:
    """Feed the ear for up to `seconds`, or until some protocol has `enough` frames; bytes read."""
    total = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and ear.best(enough) is None:
        data = port.read(max(1, port.in_waiting))
        total += len(data)
        ear.feed(data)
    return total


def _requests(ear: _Ear, configured: str | None) -> Iterator[tuple[str, bytes]]:
    """Each protocol's poll command in query mode, the configured type's first, each request once."""
    ordered = sorted(ear.protocols, key=lambda p: p.type != configured)
    sent: set[bytes] = set()
    for protocol in ordered:
        request = _poll(protocol)
        if request is not None and request not in sent:
            sent.add(request)
            yield protocol.type, request


def _poll(protocol: SensorProtocol) -> bytes | None:
    return protocol.poll_command(SensorOptions(mode="query"))


def _listen_and_ask(port: ByteStream, baud: int, probe: Probe, configured: str | None) -> None:
    ear = _Ear(baud)
    requests = list(_requests(ear, configured))
    if requests and requests[0][0] == configured:  # a sensor that only answers: ask it at once
        port.write(requests.pop(0)[1])
    seen = _read_until(port, ear, LISTEN_S, ENOUGH)
    for _type, request in requests:
        if ear.best(1) is not None:
            break
        port.write(request)
        seen += _read_until(port, ear, ASK_S, 1)
    probe.bytes_seen[baud] = seen
    probe.bad_frames += ear.bad
    probe.heard = ear.best(1)


def _ask_node(port: ByteStream, probe: Probe, node_id: str | None) -> None:
    session = NodeSession(port)
    try:
        health, test = self_test(session, NODE_S)
    except NodeUnreachable:
        probe.bytes_seen[PROTOCOLS["node"].baudrate] = session.bytes_read
        return
    probe.bytes_seen[PROTOCOLS["node"].baudrate] = session.bytes_read
    sensors = test.result.body.get("sensors")
    detail: dict[str, object] = {
        "node": health.node,
        "self_test": dict(sensors) if isinstance(sensors, dict) else {},
        "health": dict(health.follow_up or {}),
    }
    probe.heard = Heard("node", len(session.heard), {}, detail)
    if node_id is not None and health.node != node_id:
        probe.rejected = f"node {health.node} answers, but the config expects node_id {node_id}"
