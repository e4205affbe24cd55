"""Plantower PMS5003 and PMS5003T: 32-byte frame decoder and 7-byte command builders.

Offsets, lengths and checksums follow shared/datasets/PROTOCOLS.md, section "Plantower PMS5003".
"""

from __future__ import annotations

import struct
from functools import partial

from gateway.sources.protocols.base import (
    Ack,
    ChecksumError,
    FrameError,
    MalformedFrame,
    Sample,
    SensorOptions,
    SensorProtocol,
)
from gateway.sources.protocols.framing import ResyncDecoder

HEAD = 0x42  # "BM" = 42 4D
DATA_LENGTH, ACK_LENGTH = 28, 4  # bytes 2-3: 13 data words + checksum / mode-sleep acknowledgement
COUNT_KEYS = ("n0_3", "n0_5", "n1_0", "n2_5", "n5_0", "n10_0")  # particles per 0.1 L, bytes 16-27


def command(cmd: int, data: int) -> bytes:
    """A 7-byte command: 42 4D CMD DATAH DATAL and the 16-bit sum of those five bytes."""
    body = bytes([0x42, 0x4D, cmd]) + data.to_bytes(2, "big")
    return body + sum(body).to_bytes(2, "big")


def active_mode() -> bytes:
    """Send a frame about every second without being asked."""
    return command(0xE1, 1)


def passive_mode() -> bytes:
    """Send frames only when asked with `passive_read`."""
    return command(0xE1, 0)


def passive_read() -> bytes:
    """Ask for one frame in passive mode."""
    return command(0xE2, 0)


def sleep() -> bytes:
    """Stop the fan and the laser."""
    return command(0xE4, 0)


def wake() -> bytes:
    """Start the fan; readings settle after about 30 s."""
    return command(0xE4, 1)


def decode_frame(frame: bytes, t_variant: bool = False) -> Sample | Ack:
    """Decode one complete data (32-byte) or ack (8-byte) frame, raising a FrameError if invalid."""
    length = int.from_bytes(frame[2:4], "big")
    if frame[:2] != b"BM" or length not in (DATA_LENGTH, ACK_LENGTH) or len(frame) != length + 4:
        raise MalformedFrame("PMS5003: not a BM frame of length 28 or 4", frame)
    checksum = int.from_bytes(frame[-2:], "big")
    if sum(frame[:-2]) != checksum:  # 16-bit sum of every byte before the checksum
        raise ChecksumError(f"PMS5003: checksum {checksum:#06x} != {sum(frame[:-2]):#06x}", frame)
    if length == ACK_LENGTH:
        return Ack(frame)
    words = struct.unpack(">12H", frame[4:28])  # bytes 28-29 are version/error code, not data
    # All-zero particle payload: fan still starting (PyPMS). The 5003T's temperature and humidity
    # words are live meanwhile, but a frame of zero PM must not pass for clean air.
    if not any(words[:10] if t_variant else words):
        return Sample({}, frozenset({"warming_up"}))
    if words[6] == 0 and words[5] > 0:  # PyPMS: PM10 mass without any particle > 0.3 µm is impossible
        raise FrameError(f"PMS5003: inconsistent frame, PM10={words[5]} but N0.3=0", frame)
    # Atmospheric-environment PM (bytes 10-15), not the CF=1 "standard particle" words.
    values: dict[str, float] = {k: float(w) for k, w in zip(("pm1", "pm25", "pm10"), words[3:6], strict=True)}
    if t_variant:  # PMS5003T: the last two count words are temperature and humidity
        values.update(zip(COUNT_KEYS[:4], words[6:10], strict=True))
        values["temperature"] = struct.unpack(">h", frame[24:26])[0] / 10  # signed, 0.1 °C
        values["humidity"] = words[11] / 10  # 0.1 %RH
    else:
        values.update(zip(COUNT_KEYS, words[6:12], strict=True))
    return Sample(values)


def _frame_length(buf: bytearray) -> int | None:
    """For a buffer starting with HEAD: 0 = not a frame start, None = need more bytes."""
    if len(buf) >= 2 and buf[1] != 0x4D:
        return 0
    if len(buf) < 4:
        return None
    length = int.from_bytes(buf[2:4], "big")
    if length not in (DATA_LENGTH, ACK_LENGTH):  # PMS3003 (20) or PMS5003ST (36) are not ours
        return 0
    return length + 4 if len(buf) >= length + 4 else None


class Pms5003Decoder(ResyncDecoder):
    """Resynchronising PMS5003(T) framer (see `framing.ResyncDecoder`)."""

    def __init__(self, t_variant: bool = False) -> None:
        super().__init__("PMS5003", HEAD, _frame_length, partial(decode_frame, t_variant=t_variant))


def _start_commands(opts: SensorOptions) -> list[bytes]:
    return [wake(), passive_mode() if _passive(opts) else active_mode()]


def _poll_command(opts: SensorOptions) -> bytes | None:
    return passive_read() if _passive(opts) else None


def _passive(opts: SensorOptions) -> bool:
    if opts.mode not in ("active", "query", "passive"):
        raise ValueError(f"PMS5003: unknown mode {opts.mode!r}")
    return opts.mode != "active"


def _protocol(type_: str, t_variant: bool, keys: tuple[str, ...]) -> SensorProtocol:
    return SensorProtocol(
        type=type_,
        baudrate=9600,
        decoder=partial(Pms5003Decoder, t_variant),
        start_commands=_start_commands,
        poll_command=_poll_command,
        poll_period_s=1.0,  # active mode sends about once a second
        warmup_s=30.0,  # fan stabilisation after wake (ESPHome STABILISING_MS = 30000)
        value_keys=keys,
    )


PROTOCOL = _protocol("pms5003", False, ("pm1", "pm25", "pm10"))
PROTOCOL_T = _protocol("pms5003t", True, ("pm1", "pm25", "pm10", "temperature", "humidity"))
