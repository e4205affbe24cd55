"""One sensor node's link state, from its decoded packets: gaps, reboots and commands. Pure logic.

PROTOCOL.md: `seq` counts a side's packets from 0 after boot and wraps 65535 -> 0; `hello` is sent
once after every boot; `uptime_s` only grows while the node runs. So, per packet:

- a `hello` is a reboot (`node.rebooted` with its `reset_cause`); a hello with seq k > 0 also means
  the k packets sent before it since the boot were lost (`node.gap`);
- otherwise `uptime_s` going backwards, or `seq` falling behind (more than half the ring back), is a
  reboot whose hello was lost: `node.rebooted` (cause from a `health` body if this is one, else
  "unknown"), and seq k > 0 means k packets of the new boot were lost;
- otherwise a jump from the expected `seq` is a gap of that many packets; an exact repeat of the
  last seq is a duplicate and is not accepted.

Packets from another node than the configured one are not accepted either (a swapped board must
not report under this source's location). Commands are encoded here with their own `cmd_id` and
the gateway side's `seq`; replies are matched to them. No I/O: the transport writes the bytes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from gateway.messages import Event, JsonValue, utc_now
from gateway.sources.protocols.base import Ack, Sample
from gateway.sources.protocols.node import COMMAND, Info, NodePacket, NodeSample, encode_packet, split_sample

log = logging.getLogger(__name__)

SEQ_RING = 0x10000
BEHIND = SEQ_RING // 2  # a seq more than half the ring "ahead" is really behind: a reset
MAX_PENDING = 32  # unanswered commands remembered; older ones are forgotten
MAX_RESULTS = 32
INTERVAL_RANGE_S = (5, 3600)  # PROTOCOL.md `set_interval`


@dataclass(frozen=True, slots=True)
class LinkUpdate:
    """What one packet means: events to raise, and whether its contents may be used."""

    events: list[Event]
    accept: bool = True


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A node's reply to one command."""

    cmd_id: int
    cmd: str
    ok: bool
    detail: str
    body: Mapping[str, JsonValue]


@dataclass(slots=True)
class NodeState:
    """What the gateway knows about the node behind one source."""

    node: str | None = None
    fw: str | None = None
    board: str | None = None
    sensors: tuple[str, ...] = ()
    reset_cause: str = "unknown"
    config_error: str | None = None
    last_seq: int | None = None
    uptime_s: float | None = None
    interval_s: float | None = None
    free_mem: int | None = None
    errors: dict[str, int] = field(default_factory=dict)
    packets: int = 0
    missing: int = 0  # packets lost, in total
    reboots: int = 0
    foreign: int = 0  # packets from another node id, ignored


def _str(body: Mapping[str, JsonValue], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def _check_interval(args: Mapping[str, JsonValue]) -> None:
    seconds, persist = args.get("seconds"), args.get("persist", False)
    low, high = INTERVAL_RANGE_S
    well_formed = {"seconds"} <= set(args) <= {"seconds", "persist"} and isinstance(persist, bool)
    if not well_formed or not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ValueError("set_interval takes {'seconds': int, 'persist': bool (optional)}")
    if not low <= seconds <= high:
        raise ValueError(f"set_interval: seconds must be {low}..{high}, got {seconds}")


def _check_sensor(args: Mapping[str, JsonValue]) -> None:
    sensor = args.get("sensor")
    if set(args) != {"sensor"} or not isinstance(sensor, str) or not sensor:
        raise ValueError("sleep/wake take {'sensor': name}")


def _check_none(args: Mapping[str, JsonValue]) -> None:
    if args:
        raise ValueError(f"this command takes no arguments, got {sorted(args)}")


COMMANDS: Mapping[str, Callable[[Mapping[str, JsonValue]], None]] = MappingProxyType(
    {
        "set_interval": _check_interval,
        "identify": _check_none,
        "self_test": _check_none,
        "sleep": _check_sensor,
        "wake": _check_sensor,
        "reboot": _check_none,
        "health": _check_none,
    }
)


class NodeLink:
    """Link state of the node on one source; feed it every decoded packet, in order."""

    def __init__(self, source: str, expected_node: str | None = None) -> None:
        """`expected_node`: the configured node id; None accepts the first node that speaks."""
        self.source = source
        self.expected_node = expected_node
        self.state = NodeState()
        self._next_cmd_id = 1
        self._next_seq = 0
        self._pending: OrderedDict[int, str] = OrderedDict()
        self._results: OrderedDict[int, CommandResult] = OrderedDict()

    # --- node -> gateway -------------------------------------------------------------------------

    def accept(self, item: Sample | Ack) -> tuple[list[Event], list[Sample]]:
        """The transport's hook: events this item raises, and the samples to turn into readings
        (one per sensor group, so one group's warm-up never hides another's values)."""
        if not isinstance(item, NodeSample | Info):
            return [], [item] if isinstance(item, Sample) else []
        update = self.on_packet(item)
        if not update.accept or not isinstance(item, NodeSample):
            return update.events, []
        return update.events, list(split_sample(item).values())

    def on_packet(self, packet: NodePacket, now: datetime | None = None) -> LinkUpdate:
        """Update the state from one packet; the events it causes, and whether to use its contents."""
        when = now or utc_now()
        node = packet.node if isinstance(packet, NodeSample) else _str(packet.body, "node")
        if node is not None and not self._is_ours(node):
            self.state.foreign += 1
            log.warning(
                "source %s: packet from node %r ignored (expected %r)", self.source, node, self._owner
            )
            return LinkUpdate([], accept=False)
        if isinstance(packet, Info) and packet.kind == "hello":
            return LinkUpdate(self._hello(packet, when))
        if packet.seq == self.state.last_seq and not self._went_back(packet):
            return LinkUpdate([], accept=False)  # duplicate: nodes never resend, so it is an echo
        events = self._sequence(packet, when)
        self._remember(packet)
        return LinkUpdate(events)

    @property
    def _owner(self) -> str | None:
        return self.expected_node or self.state.node

    def _is_ours(self, node: str) -> bool:
        if self._owner is None:
            self.state.node = node
        return node == self._owner

    def _hello(self, hello: Info, when: datetime) -> list[Event]:
        body, state = hello.body, self.state
        state.fw, state.board = _str(body, "fw"), _str(body, "board")
        sensors = body.get("sensors")
        state.sensors = tuple(s for s in sensors if isinstance(s, str)) if isinstance(sensors, list) else ()
        state.config_error = _str(body, "config_error")
        events = [self._rebooted(_str(body, "reset_cause") or "unknown", "hello", when)]
        events += self._gap(hello.seq, 0, when)  # packets 0 .. seq-1 of this boot never arrived
        state.uptime_s = None
        state.last_seq = hello.seq
        state.packets += 1
        return events

    def _went_back(self, packet: NodePacket) -> bool:
        uptime = _uptime(packet)
        return uptime is not None and self.state.uptime_s is not None and uptime < self.state.uptime_s

    def _sequence(self, packet: NodePacket, when: datetime) -> list[Event]:
        last = self.state.last_seq
        if last is None:
            return []  # first packet heard: nothing to compare with yet
        expected = (last + 1) % SEQ_RING
        ahead = (packet.seq - expected) % SEQ_RING
        how = "uptime" if self._went_back(packet) else "seq_reset" if ahead >= BEHIND else None
        if how is None:
            return self._gap(packet.seq, expected, when)
        cause = _str(packet.body, "reset_cause") if isinstance(packet, Info) else None
        return [self._rebooted(cause or "unknown", how, when), *self._gap(packet.seq, 0, when)]

    def _rebooted(self, cause: str, how: str, when: datetime) -> Event:
        state = self.state
        state.reboots += 1
        state.reset_cause = cause
        data: dict[str, JsonValue] = {
            "node": state.node,
            "reset_cause": cause,
            "detected_by": how,
            "previous_uptime_s": state.uptime_s,
            "fw": state.fw,
        }
        if how == "hello":
            data["config_error"] = state.config_error
        log.info("source %s: node %s rebooted (%s, %s)", self.source, state.node, cause, how)
        return Event(type="node.rebooted", source=self.source, data=data, time=when)

    def _gap(self, seq: int, expected: int, when: datetime) -> list[Event]:
        missing = (seq - expected) % SEQ_RING
        if missing == 0:
            return []
        self.state.missing += missing
        data: dict[str, JsonValue] = {
            "node": self.state.node,
            "missing": missing,
            "expected_seq": expected,
            "seq": seq,
        }
        return [Event(type="node.gap", source=self.source, data=data, time=when)]

    def _remember(self, packet: NodePacket) -> None:
        state = self.state
        state.last_seq = packet.seq
        state.packets += 1
        uptime = _uptime(packet)
        if uptime is not None:
            state.uptime_s = uptime
        if isinstance(packet, Info) and packet.kind == "health":
            self._health(packet.body)
        elif isinstance(packet, Info) and packet.kind == "reply":
            self._reply(packet.body)

    def _health(self, body: Mapping[str, JsonValue]) -> None:
        state = self.state
        state.reset_cause = _str(body, "reset_cause") or state.reset_cause
        free, interval, errors = body.get("free_mem"), body.get("interval_s"), body.get("errors")
        state.free_mem = free if isinstance(free, int) else state.free_mem
        state.interval_s = float(interval) if isinstance(interval, int | float) else state.interval_s
        if isinstance(errors, dict):
            state.errors = {k: v for k, v in errors.items() if isinstance(v, int)}

    def _reply(self, body: Mapping[str, JsonValue]) -> None:
        cmd_id, ok = body.get("cmd_id"), body.get("ok")
        if not isinstance(cmd_id, int) or cmd_id not in self._pending:
            log.info("source %s: reply to unknown command %r ignored", self.source, cmd_id)
            return
        cmd = self._pending.pop(cmd_id)
        result = CommandResult(cmd_id, cmd, ok is True, _str(body, "detail") or "", body)
        self._results[cmd_id] = result
        while len(self._results) > MAX_RESULTS:
            self._results.popitem(last=False)

    # --- gateway -> node -------------------------------------------------------------------------

    def command(self, cmd: str, args: Mapping[str, JsonValue] | None = None) -> tuple[int, bytes]:
        """Encode a command for the node: (cmd_id, bytes to write). ValueError for a bad command."""
        check = COMMANDS.get(cmd)
        if check is None:
            raise ValueError(f"unknown node command {cmd!r}; known: {', '.join(sorted(COMMANDS))}")
        given = dict(args or {})
        check(given)
        sensor = given.get("sensor")
        if sensor is not None and self.state.sensors and sensor not in self.state.sensors:
            raise ValueError(f"{cmd}: node has no sensor {sensor!r}; it has {', '.join(self.state.sensors)}")
        cmd_id = self._next_cmd_id
        self._next_cmd_id = cmd_id % 0xFFFF + 1  # 1 .. 65535, never 0
        wire = encode_packet(COMMAND, self._next_seq, {"cmd_id": cmd_id, "cmd": cmd, "args": given})
        self._next_seq = (self._next_seq + 1) % SEQ_RING
        self._pending[cmd_id] = cmd
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return cmd_id, wire

    def result(self, cmd_id: int) -> CommandResult | None:
        """The node's reply to a command, once it has arrived."""
        return self._results.get(cmd_id)

    @property
    def pending(self) -> list[int]:
        """Ids of commands sent and not answered yet (oldest first)."""
        return list(self._pending)


def _uptime(packet: NodePacket) -> float | None:
    if isinstance(packet, NodeSample):
        return packet.uptime_s
    uptime = packet.body.get("uptime_s")
    return float(uptime) if isinstance(uptime, int | float) and not isinstance(uptime, bool) else None
