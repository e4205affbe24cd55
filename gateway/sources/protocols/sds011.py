"""Nova Fitness SDS011 PM sensor: 10-byte frame decoder and 19-byte command builders.

Byte layouts and checksums follow shared/datasets/PROTOCOLS.md, section "Nova Fitness SDS011"
(Laser Dust Sensor Control Protocol V1.3).
"""

from __future__ import annotations

from gateway.sources.protocols.base import (
    Ack,
    ChecksumError,
    MalformedFrame,
    Sample,
    SensorOptions,
    SensorProtocol,
)
from gateway.sources.protocols.framing import ResyncDecoder

HEAD, TAIL = 0xAA, 0xAB
DATA, REPLY = 0xC0, 0xC5  # measurement frame / command reply
FRAME_LEN = 10
ALL_DEVICES = 0xFFFF  # command bytes 15-16 `FF FF` address every sensor on the line

# Command ids (PROTOCOLS.md, SDS011 "Commands host -> sensor")
CMD_REPORTING_MODE = 0x02
CMD_QUERY = 0x04
CMD_SLEEP_WORK = 0x06
CMD_WORKING_PERIOD = 0x08


def command(cmd_id: int, data: bytes = b"", device_id: int = ALL_DEVICES) -> bytes:
    """A 19-byte command: AA B4, id, 12 data bytes, device id, checksum of bytes 2-16, AB."""
    if len(data) > 12:
        raise ValueError(f"SDS011 command data is at most 12 bytes, got {len(data)}")
    body = bytes([cmd_id]) + data.ljust(12, b"\x00") + device_id.to_bytes(2, "big")
    return bytes([HEAD, 0xB4]) + body + bytes([sum(body) & 0xFF, TAIL])


def set_reporting_mode(query: bool) -> bytes:
    """Switch between active reporting (False) and query mode (True)."""
    return command(CMD_REPORTING_MODE, bytes([1, int(query)]))


def query_data() -> bytes:
    """Ask for one measurement frame (query mode)."""
    return command(CMD_QUERY)


def set_sleep(sleep: bool) -> bytes:
    """Put the sensor to sleep (True) or wake it to work (False)."""
    return command(CMD_SLEEP_WORK, bytes([1, 0 if sleep else 1]))


def set_working_period(minutes: int) -> bytes:
    """Report once every `minutes` (1-30) or continuously (0)."""
    if not 0 <= minutes <= 30:
        raise ValueError(f"SDS011 working period must be 0-30 minutes, got {minutes}")
    return command(CMD_WORKING_PERIOD, bytes([1, minutes]))


def decode_frame(frame: bytes) -> Sample | Ack:
    """Decode one complete 10-byte frame, raising a FrameError if it is not valid."""
    if len(frame) != FRAME_LEN or frame[0] != HEAD or frame[1] not in (DATA, REPLY) or frame[9] != TAIL:
        raise MalformedFrame("SDS011: not a 10-byte AA C0/C5 ... AB frame", frame)
    if sum(frame[2:8]) & 0xFF != frame[8]:  # checksum = (byte2 + ... + byte7) & 0xFF
        raise ChecksumError(f"SDS011: checksum {frame[8]:#04x} != {sum(frame[2:8]) & 0xFF:#04x}", frame)
    if frame[1] == REPLY:
        return Ack(frame)
    pm25 = int.from_bytes(frame[2:4], "little")
    pm10 = int.from_bytes(frame[4:6], "little")
    if pm25 == pm10 == 0:  # all-zero payload: fan/laser still starting (PyPMS, ESPHome)
        return Sample({}, frozenset({"warming_up"}))
    return Sample({"pm25": pm25 / 10, "pm10": pm10 / 10})


def _frame_length(buf: bytearray) -> int | None:
    """For a buffer starting with HEAD: 0 = not a frame start, None = need more bytes."""
    if len(buf) < 2:
        return None
    if buf[1] not in (DATA, REPLY):
        return 0
    if len(buf) < FRAME_LEN:
        return None
    return FRAME_LEN if buf[FRAME_LEN - 1] == TAIL else 0


class Sds011Decoder(ResyncDecoder):
    """Resynchronising SDS011 framer (see `framing.ResyncDecoder`)."""

    def __init__(self) -> None:
        super().__init__("SDS011", HEAD, _frame_length, decode_frame)


def _start_commands(opts: SensorOptions) -> list[bytes]:
    return [
        set_sleep(False),
        set_reporting_mode(_query_mode(opts)),
        set_working_period(opts.working_period_min),
    ]


def _poll_command(opts: SensorOptions) -> bytes | None:
    return query_data() if _query_mode(opts) else None


def _query_mode(opts: SensorOptions) -> bool:
    if opts.mode not in ("active", "query", "passive"):
        raise ValueError(f"SDS011: unknown mode {opts.mode!r}")
    return opts.mode != "active"


PROTOCOL = SensorProtocol(
    type="sds011",
    baudrate=9600,
    decoder=Sds011Decoder,
    start_commands=_start_commands,
    poll_command=_poll_command,
    poll_period_s=1.0,  # continuous mode reports once a second (protocol V1.3 §5)
    warmup_s=30.0,  # the datasheet asks for 30 s of fan running before readings are trusted
    value_keys=("pm25", "pm10"),
)
