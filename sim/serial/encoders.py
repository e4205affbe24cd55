"""Byte-exact frames the simulated sensors send, and parsers of the commands they receive.

Written from shared/datasets/PROTOCOLS.md independently of gateway/: a bug shared by an encoder
here and a parser there would otherwise pass every round-trip test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

# --- Nova Fitness SDS011 (PROTOCOLS.md, "Nova Fitness SDS011") -------------------------------


def sds011_data(pm25_x10: int, pm10_x10: int, device_id: int) -> bytes:
    """A 10-byte measurement frame AA C0 ... AB; PM in units of 0.1 µg/m³, little-endian."""
    payload = pm25_x10.to_bytes(2, "little") + pm10_x10.to_bytes(2, "little") + device_id.to_bytes(2, "big")
    return b"\xaa\xc0" + payload + bytes([sum(payload) % 256, 0xAB])


def sds011_reply(cmd_id: int, data: bytes, device_id: int) -> bytes:
    """A 10-byte command reply AA C5 CMD, three data bytes, device id, checksum, AB."""
    payload = bytes([cmd_id]) + data[:3].ljust(3, b"\x00") + device_id.to_bytes(2, "big")
    return b"\xaa\xc5" + payload + bytes([sum(payload) % 256, 0xAB])


@dataclass(frozen=True, slots=True)
class Sds011Command:
    """One 19-byte host command: id, 12 data bytes, addressed device (0xFFFF = all)."""

    cmd_id: int
    data: bytes
    device_id: int

    @property
    def is_set(self) -> bool:
        """Byte 3: 1 = set, 0 = query the current setting."""
        return self.data[0] == 1

    @property
    def value(self) -> int:
        """Byte 4: the mode, sleep/work flag or minutes."""
        return self.data[1]


def _sds011_valid(frame: bytes) -> bool:
    return frame[1] == 0xB4 and frame[18] == 0xAB and sum(frame[2:17]) % 256 == frame[17]


def _pms_valid(frame: bytes) -> bool:
    return frame[1] == 0x4D and sum(frame[:5]) == int.from_bytes(frame[5:7], "big")


def _mhz19_valid(frame: bytes) -> bool:
    return frame[1] == 0x01 and (-sum(frame[1:8])) % 256 == frame[8]


# --- Plantower PMS5003 / PMS5003T (PROTOCOLS.md, "Plantower PMS5003") ------------------------


def pms5003_data(
    cf1: Sequence[int], atm: Sequence[int], counts: Sequence[int], reserved: int = 0x9700
) -> bytes:
    """A 32-byte data frame: 3 CF=1 PM, 3 atmospheric PM, 6 counts, reserved word, 16-bit sum."""
    if (len(cf1), len(atm), len(counts)) != (3, 3, 6):
        raise ValueError("PMS5003 frame needs 3 + 3 + 6 words")
    body = b"BM\x00\x1c" + b"".join(w.to_bytes(2, "big") for w in (*cf1, *atm, *counts, reserved))
    return body + sum(body).to_bytes(2, "big")


def pms5003t_data(pm: Sequence[int], counts: Sequence[int], temperature_x10: int, humidity_x10: int) -> bytes:
    """A PMS5003T frame: counts > 0.3-2.5 µm, then signed temperature and humidity in tenths."""
    if len(counts) != 4:
        raise ValueError("PMS5003T frame has 4 count words")
    temperature = temperature_x10.to_bytes(2, "big", signed=True)
    words = [*counts, int.from_bytes(temperature, "big"), humidity_x10]
    return pms5003_data(pm, pm, words)


def pms5003_ack(cmd: int, data: int) -> bytes:
    """The 8-byte acknowledgement 42 4D 00 04 CMD DATA and the 16-bit sum (e.g. 42 4D 00 04 E1 00 01 74)."""
    body = bytes([0x42, 0x4D, 0x00, 0x04, cmd, data & 0xFF])
    return body + sum(body).to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class PmsCommand:
    """One 7-byte host command: command byte and 16-bit data."""

    cmd: int
    data: int


# --- Winsen MH-Z19B (PROTOCOLS.md, "Winsen MH-Z19 / MH-Z19B") ---------------------------------


def mhz19_response(co2_ppm: int, temperature_c: int, status: int = 0) -> bytes:
    """The 9-byte read response FF 86 CO2H CO2L T+40 status 00 00 checksum."""
    body = bytes([0x86, co2_ppm >> 8, co2_ppm & 0xFF, temperature_c + 40, status, 0, 0])
    return b"\xff" + body + bytes([(-sum(body)) % 256])


@dataclass(frozen=True, slots=True)
class Mhz19Command:
    """One 9-byte host command: command byte and 5 data bytes."""

    cmd: int
    data: bytes


# --- Splitting received bytes into commands ---------------------------------------------------


class CommandReader:
    """Finds fixed-length commands in bytes that may arrive split or mixed with noise."""

    def __init__(self, head: int, length: int, valid: Callable[[bytes], bool]) -> None:
        self._head, self._length, self._valid = head, length, valid
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Return the complete valid commands in the bytes received so far."""
        self._buf += data
        found: list[bytes] = []
        while True:
            start = self._buf.find(self._head)
            if start < 0:
                self._buf.clear()
            del self._buf[: max(start, 0)]
            if len(self._buf) < self._length:
                return found
            frame = bytes(self._buf[: self._length])
            if self._valid(frame):
                found.append(frame)
                del self._buf[: self._length]
            else:
                del self._buf[:1]

    def reset(self) -> None:
        """Forget a partial command (after a power cycle)."""
        self._buf.clear()


def sds011_reader() -> CommandReader:
    """A reader of 19-byte SDS011 commands AA B4 ... AB."""
    return CommandReader(0xAA, 19, _sds011_valid)


def parse_sds011(frame: bytes) -> Sds011Command:
    """The fields of a valid 19-byte SDS011 command."""
    return Sds011Command(frame[2], frame[3:15], int.from_bytes(frame[15:17], "big"))


def pms_reader() -> CommandReader:
    """A reader of 7-byte PMS5003 commands 42 4D ...."""
    return CommandReader(0x42, 7, _pms_valid)


def parse_pms(frame: bytes) -> PmsCommand:
    """The fields of a valid 7-byte PMS5003 command."""
    return PmsCommand(frame[2], int.from_bytes(frame[3:5], "big"))


def mhz19_reader() -> CommandReader:
    """A reader of 9-byte MH-Z19 commands FF 01 ...."""
    return CommandReader(0xFF, 9, _mhz19_valid)


def parse_mhz19(frame: bytes) -> Mhz19Command:
    """The fields of a valid 9-byte MH-Z19 command."""
    return Mhz19Command(frame[2], frame[3:8])
