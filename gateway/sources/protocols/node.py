"""Sensor-node protocol v1 (firmware/PROTOCOL.md): COBS framing, CRC-16/CCITT-FALSE, JSON bodies.

Written from PROTOCOL.md alone, never from firmware/ code. A packet is `version` (1) · `type` ·
`seq` (u16 BE) · JSON body (<= 512 bytes) · CRC-16/CCITT-FALSE (u16 BE) over everything before it,
COBS-encoded and terminated by one 0x00. The decoder splits the stream at 0x00 and checks, in
order, COBS, length, version, CRC, type, JSON and the body's field types; anything else is a
`FrameError`, and decoding resumes at the next 0x00.

A `readings` packet decodes to a `NodeSample`: a `Sample` (so the transport turns it into a
`Reading` unchanged) that also carries `seq`, `uptime_s` and per-key flags for `node_link`.
`hello`, `health` and `reply` packets decode to an `Info`: an `Ack` (a valid frame without a
measurement, which the transport already counts and skips) with the packet's kind, seq and body.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.messages import JsonValue
from gateway.sources.protocols.base import (
    Ack,
    ChecksumError,
    Decoded,
    FrameError,
    MalformedFrame,
    Sample,
    SensorOptions,
    SensorProtocol,
    StreamDecoder,
)

VERSION = 1
HELLO, READINGS, HEALTH, REPLY, COMMAND = 0x01, 0x02, 0x03, 0x04, 0x10
KINDS: Mapping[int, str] = MappingProxyType(
    {HELLO: "hello", READINGS: "readings", HEALTH: "health", REPLY: "reply", COMMAND: "command"}
)
HEADER_LEN, CRC_LEN = 4, 2
MIN_PACKET = HEADER_LEN + CRC_LEN  # PROTOCOL.md: "checks length (>= 6)"
MAX_BODY = 512
MAX_PACKET = HEADER_LEN + MAX_BODY + CRC_LEN
# COBS adds one code byte per 254 data bytes plus one: a longer run without 0x00 is no packet.
MAX_ENCODED = MAX_PACKET + MAX_PACKET // 254 + 1

# Value keys a node may report (PROTOCOL.md, `readings`); unknown keys are ignored like unknown fields.
VALUE_KEYS = (
    "pm1",
    "pm25",
    "pm10",
    "temperature",
    "humidity",
    "pressure",
    "distance_mm",
    "rain_mm",
    "rain_rate_mm_h",
)

# What each sensor a node can carry reports (firmware/README.md "readings"; the names `flash --sensors`
# and the node's `hello` use): what a node measures is the union over the sensors wired to it.
NODE_SENSORS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pms5003": ("pm1", "pm25", "pm10"),
        "sds011": ("pm25", "pm10"),
        "bme280": ("temperature", "humidity", "pressure"),
        "maxbotix": ("distance_mm",),
        "rain": ("rain_mm", "rain_rate_mm_h"),
    }
)

InfoKind = Literal["hello", "health", "reply"]


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR (check 0x29B1)."""
    # binascii.crc_hqx is this CRC with the start value given (0 would be XMODEM); it runs in C.
    return binascii.crc_hqx(data, crc)


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (Cheshire & Baker 1999): the result contains no 0x00."""
    out = bytearray()
    block = bytearray()
    for i, byte in enumerate(data):
        if byte == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
            continue
        block.append(byte)
        if len(block) == 254:
            out += b"\xff" + block
            block.clear()
            if i == len(data) - 1:
                return bytes(out)  # a full block ends the data: no empty block after it (Wikipedia ex. 7, 8)
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Undo `cobs_encode`; raise MalformedFrame for input no encoder could have produced."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        end = i + code
        if code == 0 or end > len(data) or 0 in data[i + 1 : end]:
            raise MalformedFrame("node: invalid COBS encoding", data)
        out += data[i + 1 : end]
        i = end
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode_packet(kind: int, seq: int, body: Mapping[str, Any]) -> bytes:
    """One packet as it goes on the wire: COBS(header + JSON + CRC) + 0x00."""
    if kind not in KINDS or not 0 <= seq <= 0xFFFF:
        raise ValueError(f"node packet type {kind:#04x} / seq {seq} out of range")
    payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    if len(payload) > MAX_BODY:
        raise ValueError(f"node packet body is {len(payload)} bytes; at most {MAX_BODY}")
    packet = bytes([VERSION, kind]) + seq.to_bytes(2, "big") + payload
    packet += crc16_ccitt_false(packet).to_bytes(2, "big")
    return cobs_encode(packet) + b"\x00"


class _Body(BaseModel):
    """Body fields are checked strictly (wrong types are bad frames); unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, allow_inf_nan=False)


NodeId = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(max_length=256)]


class HelloBody(_Body):
    """`hello`: once after every boot."""

    node: NodeId
    fw: Text
    board: Text
    reset_cause: Text
    sensors: list[Text]
    config_error: Text | None = None


class ReadingsBody(_Body):
    """`readings`: measured values in the gateway's units, flags per key."""

    node: NodeId
    uptime_s: float = Field(ge=0)
    values: dict[str, float]
    flags: dict[str, list[Text]] = Field(default_factory=dict)


class HealthBody(_Body):
    """`health`: every 10th interval and on request."""

    node: NodeId
    uptime_s: float = Field(ge=0)
    reset_cause: Text
    free_mem: int = Field(ge=0)
    interval_s: float = Field(gt=0)
    errors: dict[str, int] = Field(default_factory=dict)


class ReplyBody(_Body):
    """`reply`: one per command; extra fields (e.g. `sensors` of a self-test) are kept in `Info.body`."""

    cmd_id: int
    ok: bool
    detail: Text = ""


_BODIES: Mapping[int, type[_Body]] = MappingProxyType(
    {HELLO: HelloBody, READINGS: ReadingsBody, HEALTH: HealthBody, REPLY: ReplyBody}
)


@dataclass(frozen=True, slots=True)
class NodeSample(Sample):
    """A `readings` packet: a Sample (flags = union over keys) plus what the link layer needs."""

    seq: int = 0
    node: str = ""
    uptime_s: float = 0.0
    key_flags: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Info(Ack):
    """A valid `hello`, `health` or `reply` packet: no measurement, but news for `node_link`."""

    kind: InfoKind = "hello"
    seq: int = 0
    body: Mapping[str, JsonValue] = field(default_factory=dict)


NodePacket = NodeSample | Info


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # e.g. 1e400: standard JSON, but no finite number
        raise ValueError(f"{text} overflows a float")
    return value


def _parse_body(kind: int, raw: bytes, packet: bytes) -> tuple[dict[str, JsonValue], _Body]:
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedFrame(f"node: {KINDS[kind]} body is not UTF-8 JSON", packet) from exc
    if not isinstance(obj, dict):
        raise MalformedFrame(f"node: {KINDS[kind]} body is not a JSON object", packet)
    try:
        return obj, _BODIES[kind].model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise MalformedFrame(f"node: bad {KINDS[kind]} body at {where}: {first['msg']}", packet) from exc


def boot_text(encoded: bytes) -> str | None:
    """The gist of a run that is printable text, not a packet (None otherwise).

    Every packet's second byte is the version, 0x01, which no text has; so text is what a board
    printed, e.g. the ESP32 ROM's reset banner, which firmware >= 1.1.0 closes off with a 0x00
    before its hello (PROTOCOL.md). The ROM's `rst:` line, its own reset reason, is what it returns.
    """
    if not encoded or any(b < 0x20 and b not in b"\r\n\t" for b in encoded) or max(encoded) > 0x7E:
        return None
    lines = encoded.decode("ascii").splitlines()
    return next((line for line in lines if line.startswith("rst:")), lines[0] if lines else "")[:80]


def decode_packet(encoded: bytes) -> NodePacket:
    """Decode one COBS-encoded packet (without its 0x00), or raise a FrameError."""
    text = boot_text(encoded[:MAX_ENCODED])
    if text is not None:
        raise MalformedFrame(f"node: boot text, not a packet (the board was reset?): {text!r}", encoded[:64])
    if len(encoded) > MAX_ENCODED:
        raise MalformedFrame(f"node: {len(encoded)} bytes without a 0x00 delimiter", encoded[:64])
    packet = cobs_decode(encoded)
    if len(packet) < MIN_PACKET or len(packet) > MAX_PACKET:
        raise MalformedFrame(f"node: packet of {len(packet)} bytes", packet)
    if packet[0] != VERSION:
        raise MalformedFrame(f"node: protocol version {packet[0]}, expected {VERSION}", packet)
    crc = int.from_bytes(packet[-CRC_LEN:], "big")
    if crc16_ccitt_false(packet[:-CRC_LEN]) != crc:
        raise ChecksumError(f"node: CRC {crc:#06x} != {crc16_ccitt_false(packet[:-CRC_LEN]):#06x}", packet)
    kind = packet[1]
    if kind not in _BODIES:  # unknown, or a gateway->node command echoed back
        raise MalformedFrame(f"node: packet type {kind:#04x} is not sent by nodes", packet)
    seq = int.from_bytes(packet[2:4], "big")
    obj, body = _parse_body(kind, packet[HEADER_LEN:-CRC_LEN], packet)
    if isinstance(body, ReadingsBody):
        return _sample(seq, body)
    return Info(packet, _info_kind(kind), seq, MappingProxyType(obj))


def _info_kind(kind: int) -> InfoKind:
    return "hello" if kind == HELLO else "health" if kind == HEALTH else "reply"


def _sample(seq: int, body: ReadingsBody) -> NodeSample:
    values = {k: v for k, v in body.values.items() if k in VALUE_KEYS}
    key_flags = {k: frozenset(f) for k, f in body.flags.items() if f}
    flags = frozenset(flag for names in key_flags.values() for flag in names)
    return NodeSample(
        MappingProxyType(values), flags, seq, body.node, body.uptime_s, MappingProxyType(key_flags)
    )


# Which detector each value key feeds: a flag belongs to its own group only, so a warming particulate
# sensor does not taint the level reading of the same node (the flood filter drops flagged ranges).
GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "air": ("pm1", "pm25", "pm10", "temperature", "humidity", "pressure"),
        "water": ("distance_mm",),
        "rain": ("rain_mm", "rain_rate_mm_h"),
    }
)


def split_sample(sample: NodeSample) -> dict[str, Sample]:
    """One plain Sample per group that has values or flags, each with its own keys' flags only."""
    out = {}
    for group, keys in GROUPS.items():
        values = {k: v for k, v in sample.values.items() if k in keys}
        flags = frozenset(f for k in keys for f in sample.key_flags.get(k, ()))
        if values or flags:
            out[group] = Sample(MappingProxyType(values), flags)
    return out


class NodeDecoder(StreamDecoder):
    """Splits the stream at 0x00; each run between delimiters is one packet or one bad frame."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overlong = False  # the current run passed MAX_ENCODED and was already reported

    def reset(self) -> None:
        """Drop the partial packet (its tail, up to the next 0x00, will then be a bad frame)."""
        self._buf.clear()
        self._overlong = False

    def feed(self, data: bytes) -> list[Decoded]:
        """Consume `data`; return node packets and frame errors completed by it, in order."""
        out: list[Decoded] = []
        for run in self._runs(data):
            try:
                out.append(decode_packet(run))
            except FrameError as error:
                out.append(error)
        return out

    def _runs(self, data: bytes) -> list[bytes]:
        runs: list[bytes] = []
        *complete, rest = bytes(data).split(b"\x00")
        for part in complete:
            whole = bytes(self._buf) + part
            self._buf.clear()
            if self._overlong:
                self._overlong = False  # already reported; resynchronised at this 0x00
            elif whole:  # consecutive 0x00 bytes are empty runs, not frames
                runs.append(whole)
        if not self._overlong:
            self._buf += rest
            if len(self._buf) > MAX_ENCODED:
                runs.append(bytes(self._buf))  # decode_packet reports it as too long
                self._buf.clear()
                self._overlong = True
        return runs


def _no_commands(opts: SensorOptions) -> list[bytes]:
    return []  # a node streams on its own interval; commands are sent through `node_link`


def _no_poll(opts: SensorOptions) -> bytes | None:
    return None


PROTOCOL = SensorProtocol(
    type="node",
    baudrate=115200,
    decoder=NodeDecoder,
    start_commands=_no_commands,
    poll_command=_no_poll,
    poll_period_s=60.0,  # the node's default interval (PROTOCOL.md node config `interval_s`)
    warmup_s=0.0,  # the node flags warming sensors itself, per key
    value_keys=VALUE_KEYS,
)

__all__ = [
    "NODE_SENSORS",
    "PROTOCOL",
    "HealthBody",
    "HelloBody",
    "Info",
    "NodeDecoder",
    "NodePacket",
    "NodeSample",
    "ReadingsBody",
    "ReplyBody",
    "cobs_decode",
    "cobs_encode",
    "crc16_ccitt_false",
    "decode_packet",
    "encode_packet",
    "split_sample",
]
