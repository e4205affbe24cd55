"""Winsen MH-Z19B CO2 sensor: 9-byte response decoder and 9-byte command builders.

Byte layouts and the checksum follow shared/datasets/PROTOCOLS.md, section "Winsen MH-Z19 / MH-Z19B".
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

HEAD = 0xFF
FRAME_LEN = 9

# Command bytes (PROTOCOLS.md, MH-Z19: read, ABC, zero-point and span calibration)
CMD_READ, CMD_ABC, CMD_ZERO, CMD_SPAN = 0x86, 0x79, 0x87, 0x88
# The datasheet gives no reply to ABC/calibration; accept an echo of them as an Ack, not as garbage.
_ACKED = (CMD_ABC, CMD_ZERO, CMD_SPAN)


def checksum(frame: bytes) -> int:
    """(0x100 - (byte1 + ... + byte7)) & 0xFF, the rule for commands and responses alike."""
    return (0x100 - (sum(frame[1:8]) & 0xFF)) & 0xFF


def command(cmd: int, data: bytes = b"") -> bytes:
    """A 9-byte command: FF 01 CMD, five data bytes, checksum."""
    if len(data) > 5:
        raise ValueError(f"MH-Z19 command data is at most 5 bytes, got {len(data)}")
    body = bytes([HEAD, 0x01, cmd]) + data.ljust(5, b"\x00")
    return body + bytes([checksum(body)])


def read_co2() -> bytes:
    """Ask for CO2 and temperature: FF 01 86 00 00 00 00 00 79."""
    return command(CMD_READ)


def set_abc(on: bool) -> bytes:
    """Switch automatic baseline calibration on (A0) or off (00)."""
    return command(CMD_ABC, bytes([0xA0 if on else 0x00]))


def zero_calibration() -> bytes:
    """Declare the current air to be 400 ppm (zero point)."""
    return command(CMD_ZERO)


def span_calibration(ppm: int) -> bytes:
    """Declare the current air to be `ppm` (span point, after a zero calibration)."""
    if not 0 < ppm <= 0xFFFF:
        raise ValueError(f"MH-Z19 span must be 1-65535 ppm, got {ppm}")
    return command(CMD_SPAN, ppm.to_bytes(2, "big"))


def decode_frame(frame: bytes) -> Sample | Ack:
    """Decode one complete 9-byte response, raising a FrameError if it is not valid."""
    if len(frame) != FRAME_LEN or frame[0] != HEAD or frame[1] not in (CMD_READ, *_ACKED):
        raise MalformedFrame("MH-Z19: not a 9-byte FF 86 response", frame)
    if checksum(frame) != frame[8]:
        raise ChecksumError(f"MH-Z19: checksum {frame[8]:#04x} != {checksum(frame):#04x}", frame)
    if frame[1] != CMD_READ:
        return Ack(frame)
    if not any(frame[2:8]):  # all-zero payload: still preheating (PyPMS mhz19b)
        return Sample({}, frozenset({"warming_up"}))
    # Byte 4 is temperature + 40 °C (undocumented, as ESPHome reads it); byte 5 is a status byte.
    return Sample({"co2": float(frame[2] * 256 + frame[3]), "temperature": float(frame[4] - 40)})


def _frame_length(buf: bytearray) -> int | None:
    """For a buffer starting with HEAD: 0 = not a frame start, None = need more bytes."""
    if len(buf) < 2:
        return None
    if buf[1] not in (CMD_READ, *_ACKED):
        return 0
    return FRAME_LEN if len(buf) >= FRAME_LEN else None


class Mhz19Decoder(ResyncDecoder):
    """Resynchronising MH-Z19 framer (see `framing.ResyncDecoder`)."""

    def __init__(self) -> None:
        super().__init__("MH-Z19", HEAD, _frame_length, decode_frame)


def _start_commands(opts: SensorOptions) -> list[bytes]:
    # Nothing: ABC and calibration persist in the sensor and are site decisions (ABC assumes the
    # sensor regularly sees ~400 ppm, PROTOCOLS.md), so (re)opening the port must not change them.
    return []


def _poll_command(opts: SensorOptions) -> bytes | None:
    return read_co2()  # the MH-Z19B only ever answers; it has no active mode


PROTOCOL = SensorProtocol(
    type="mhz19",
    baudrate=9600,
    decoder=Mhz19Decoder,
    start_commands=_start_commands,
    poll_command=_poll_command,
    poll_period_s=5.0,
    warmup_s=180.0,  # 3 minutes preheat (datasheet; PyPMS PREHEAT = 180)
    value_keys=("co2", "temperature"),
)
