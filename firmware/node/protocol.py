"""Node protocol v1 (firmware/PROTOCOL.md): packets, their wire framing, and the command schema."""

import json

from node import cobs
from node.crc16 import crc16

try:
    from micropython import const
except ImportError:  # CPython

    def const(x: int) -> int:  # type: ignore[misc]  # MicroPython's const is an identity at run time
        return x


try:
    from typing import Any
except ImportError:  # MicroPython: annotations are never evaluated
    pass

VERSION = const(1)
HELLO = const(0x01)
READINGS = const(0x02)
HEALTH = const(0x03)
REPLY = const(0x04)
COMMAND = const(0x10)
MAX_BODY = const(512)
_HEADER = const(4)  # version, type, seq (u16 BE)
# Largest frame on the wire, without the 0x00: header + body + crc, plus COBS's one byte per 254.
MAX_FRAME = const(4 + 512 + 2 + 3)
_HOST_BREAK = b"\r\x03"  # mpremote/pyboard's interrupt; never the start of a v1 frame (see README)


class BadFrame(ValueError):
    """A frame that is not a valid v1 packet: it is counted and dropped, never answered."""


class Packet:
    """One decoded packet: its type, sequence number and JSON body."""

    def __init__(self, ptype: int, seq: int, body: "dict[str, Any]") -> None:
        self.ptype = ptype
        self.seq = seq
        self.body = body


def encode(ptype: int, seq: int, body: "dict[str, Any]") -> bytes:
    """The wire bytes of one packet: COBS(version type seq body crc) followed by 0x00."""
    data = json.dumps(body, separators=(",", ":")).encode()
    if len(data) > MAX_BODY:
        raise ValueError("body is %d bytes, over %d" % (len(data), MAX_BODY))
    if not 0 <= seq <= 0xFFFF or not 0 <= ptype <= 0xFF:
        raise ValueError("seq or type out of range")
    raw = bytearray(_HEADER + len(data) + 2)
    raw[0] = VERSION
    raw[1] = ptype
    raw[2] = seq >> 8
    raw[3] = seq & 0xFF
    raw[_HEADER : _HEADER + len(data)] = data
    crc = crc16(memoryview(raw)[: _HEADER + len(data)])
    raw[-2] = crc >> 8
    raw[-1] = crc & 0xFF
    return cobs.encode(raw) + b"\x00"


def decode(frame: bytes) -> Packet:
    """Decode one frame (COBS, without its 0x00); raise BadFrame saying why it is not a packet."""
    try:
        raw = cobs.decode(frame)
    except cobs.CobsError as e:
        raise BadFrame("cobs: %s" % e) from None
    if len(raw) < _HEADER + 2:
        raise BadFrame("short: %d bytes" % len(raw))
    if raw[0] != VERSION:
        raise BadFrame("version %d" % raw[0])
    if crc16(raw[:-2]) != (raw[-2] << 8 | raw[-1]):
        raise BadFrame("crc")
    if len(raw) - _HEADER - 2 > MAX_BODY:
        raise BadFrame("body over %d bytes" % MAX_BODY)
    try:
        body = json.loads(raw[_HEADER:-2].decode())
    except (ValueError, UnicodeError):
        raise BadFrame("json") from None
    if type(body) is not dict:
        raise BadFrame("body is not an object")
    return Packet(raw[1], raw[2] << 8 | raw[3], body)


def command(packet: Packet) -> "tuple[int, str, dict[str, Any]]":
    """(cmd_id, cmd, args) of a command packet; wrong types are a BadFrame (PROTOCOL.md)."""
    if packet.ptype != COMMAND:
        raise BadFrame("type 0x%02x is not for a node" % packet.ptype)
    body = packet.body
    cmd_id, cmd, args = body.get("cmd_id"), body.get("cmd"), body.get("args", {})
    # type() rather than isinstance: on CPython bool is an int, and true is no cmd_id.
    if type(cmd_id) is not int or type(cmd) is not str or type(args) is not dict:
        raise BadFrame("command fields have wrong types")
    return cmd_id, cmd, args


class FrameReader:
    """Splits a byte stream at 0x00 into packets; bad frames are counted and dropped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self.bad = 0
        self.last_error = ""
        self.host_break = False  # set when a host sent "\r\x03" (Ctrl-C) at a frame start

    def feed(self, data: bytes) -> "list[Packet]":
        """Take bytes from the link; return the complete, valid packets among them."""
        packets = []
        for byte in data:
            if byte:
                if len(self._buf) < MAX_FRAME:
                    self._buf.append(byte)
                    if len(self._buf) == 2 and self._buf == _HOST_BREAK:
                        self.host_break = True
                else:
                    self._overflow = True
                continue
            if self._overflow:
                self._drop("over %d bytes" % MAX_FRAME)
            elif self._buf:
                try:
                    packets.append(decode(bytes(self._buf)))
                except BadFrame as e:
                    self._drop(str(e))
            self._buf = bytearray()
            self._overflow = False
        return packets

    def _drop(self, why: str) -> None:
        self.bad += 1
        self.last_error = why
