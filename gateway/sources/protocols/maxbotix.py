"""MaxBotix HRXL-MaxSonar-WR ultrasonic range finders (MB736x RS232 / MB738x TTL): line decoder.

Facts from shared/datasets/PROTOCOLS.md, section "MaxBotix HRXL-MaxSonar-WR": free-running at
~6 Hz, 9600 8N1, each range is ASCII `R` + four digits (mm) + CR, no checksum. After power-on the
sensor prints a few CR-terminated header lines (part number, copyright, firmware), which are
acknowledged and skipped, never counted as errors.

The only integrity check is the framing, so a range is accepted only as exactly `R` + 4 digits
directly before a CR: a line whose tail is a valid token after lost bytes yields that token and
reports the prefix as garbage; anything else that is not header text is a `MalformedFrame`.
"""

from __future__ import annotations

from gateway.sources.protocols.base import (
    Ack,
    Decoded,
    MalformedFrame,
    Sample,
    SensorOptions,
    SensorProtocol,
    StreamDecoder,
)

CR = 0x0D
TOKEN_LEN = 5  # R + 4 digits
MAX_LINE = 48  # longer than any header line seen; bounds the buffer on a line without CR
# "A range value of 5000 or 9999 corresponds to no target"; House Mill's MB7389 reports 5003 instead.
NO_TARGET_MM = frozenset({5000, 5003, 9999})
BLANKING_MM = 300  # 5-m models read 300 for anything closer (10-m models: 500, checked by the filter)


def _is_token(line: bytes) -> bool:
    return len(line) == TOKEN_LEN and line[0] == ord("R") and line[1:].isdigit()


def _is_header(line: bytes) -> bool:
    """Printable power-on text (e.g. `PN:MB7389`, `TempI`), never a damaged range token."""
    if not line.isascii() or not all(0x20 <= b < 0x7F for b in line):
        return False
    damaged_range = line[:1] == b"R" and line[1:2].isdigit()
    return len(line) >= 4 and any(chr(b).isalpha() for b in line) and not damaged_range


def decode_range(token: bytes) -> Sample:
    """Decode `R` + 4 digits (no CR) into a Sample, or raise MalformedFrame."""
    if not _is_token(token):
        raise MalformedFrame("MaxBotix: not an R#### range token", token)
    distance = int(token[1:])
    if distance in NO_TARGET_MM:
        return Sample({}, frozenset({"no_target"}))
    if distance <= BLANKING_MM:
        return Sample({}, frozenset({"blanked"}))
    return Sample({"distance_mm": float(distance)})


def decode_line(line: bytes) -> list[Decoded]:
    """Everything one CR-terminated line (CR stripped) decodes to, in order."""
    if not line:
        return []
    tail = line[-TOKEN_LEN:]
    if _is_token(tail):
        prefix = line[:-TOKEN_LEN]
        garbage: list[Decoded] = [MalformedFrame("MaxBotix: bytes before a range", prefix)] if prefix else []
        return [*garbage, decode_range(tail)]
    if _is_header(line):
        return [Ack(line)]
    return [MalformedFrame("MaxBotix: garbled line", line)]


class MaxbotixDecoder(StreamDecoder):
    """Splits the stream at CR; each line is a range, a header line or garbage."""

    def __init__(self) -> None:
        self._line = bytearray()

    def reset(self) -> None:
        """Drop the partial line."""
        self._line.clear()

    def feed(self, data: bytes) -> list[Decoded]:
        """Consume `data`; return what every line completed by it decodes to."""
        out: list[Decoded] = []
        *lines, rest = data.split(b"\r")
        for line in lines:
            self._extend(line, out)
            out += decode_line(bytes(self._line))
            self._line.clear()
        self._extend(rest, out)
        return out

    def _extend(self, part: bytes, out: list[Decoded]) -> None:
        """Append bytes without CR, reporting each MAX_LINE run as garbage."""
        self._line += part
        while len(self._line) > MAX_LINE:
            out.append(MalformedFrame("MaxBotix: line without CR", bytes(self._line[:MAX_LINE])))
            del self._line[:MAX_LINE]


def _no_commands(opts: SensorOptions) -> list[bytes]:
    return []  # free-running: the sensor has no command input on its serial line


def _no_poll(opts: SensorOptions) -> bytes | None:
    return None


PROTOCOL = SensorProtocol(
    type="maxbotix",
    baudrate=9600,
    decoder=MaxbotixDecoder,
    start_commands=_no_commands,
    poll_command=_no_poll,
    poll_period_s=1 / 6,  # free-running at ~6 Hz: the expected frame period
    warmup_s=1.0,  # header lines and the first range cycle after power-on: about a second
    value_keys=("distance_mm",),
)
