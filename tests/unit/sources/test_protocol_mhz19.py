"""MH-Z19B protocol: command bytes from PROTOCOLS.md, the real PyPMS capture, and byte scripts."""

from __future__ import annotations

import pytest

from gateway.sources.protocols import mhz19
from gateway.sources.protocols.base import Ack, ChecksumError, Decoded, MalformedFrame, Sample, SensorOptions
from tests.unit.sources.captures import csv_rows, data_frames, hexdump_frames

RESPONSE = bytes.fromhex("ff 86 02 7c 42 00 00 00 ba")  # PROTOCOLS.md: 636 ppm, 26 °C


def feed_all(chunks: list[bytes]) -> list[Decoded]:
    """Feed chunks to one fresh decoder; everything it produced, in order."""
    decoder = mhz19.Mhz19Decoder()
    return [item for chunk in chunks for item in decoder.feed(chunk)]


def kinds(items: list[Decoded]) -> list[str]:
    """The type names of decoder output, for order-sensitive asserts."""
    return [type(item).__name__ for item in items]


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (mhz19.read_co2(), "FF 01 86 00 00 00 00 00 79"),
        (mhz19.set_abc(True), "FF 01 79 A0 00 00 00 00 E6"),
        (mhz19.set_abc(False), "FF 01 79 00 00 00 00 00 86"),
        (mhz19.zero_calibration(), "FF 01 87 00 00 00 00 00 78"),
        (mhz19.span_calibration(1000), "FF 01 88 03 E8 00 00 00 8C"),
    ],
)
def test_commands_are_byte_exact(built: bytes, expected: str) -> None:
    assert built == bytes.fromhex(expected)


def test_span_range_is_checked() -> None:
    with pytest.raises(ValueError, match="span"):
        mhz19.span_calibration(0)


def test_capture_decodes_to_pypms_values() -> None:
    frames = hexdump_frames("MHZ19B")
    rows = csv_rows("MHZ19B")
    assert len(frames) == len(rows) == 10
    # Byte 4 is 0x42 in every frame: 66 - 40 = 26 °C.
    expected = [Sample({"co2": float(row["CO2"]), "temperature": 26.0}) for row in rows]
    assert feed_all([b"".join(frames)]) == expected


def test_data_csv_rows_match_hexdump() -> None:
    assert data_frames("MHZ19B") == hexdump_frames("MHZ19B")


def test_response_split_after_garbage() -> None:
    stream = b"\xff\xff\x01" + RESPONSE
    decoded = feed_all([stream[:4], stream[4:8], stream[8:]])
    assert kinds(decoded) == ["MalformedFrame", "Sample"]
    assert isinstance(decoded[0], MalformedFrame)
    assert decoded[0].raw == b"\xff\xff\x01"
    assert decoded[1] == Sample({"co2": 636.0, "temperature": 26.0})


def test_bad_checksum() -> None:
    bad = RESPONSE[:8] + b"\xbb"
    decoded = feed_all([bad, RESPONSE])
    assert kinds(decoded) == ["ChecksumError", "Sample"]
    assert isinstance(decoded[0], ChecksumError)
    assert decoded[0].raw == bad


def test_own_command_echo_is_not_a_reading() -> None:
    decoded = feed_all([mhz19.read_co2(), RESPONSE])
    assert kinds(decoded) == ["MalformedFrame", "Sample"]


def test_setting_echo_is_an_ack() -> None:
    echo = bytes.fromhex("ff 79 00 00 00 00 00 00 87")
    assert feed_all([echo]) == [Ack(echo)]


def test_all_zero_payload_is_warming_up() -> None:
    zero = bytes.fromhex("ff 86 00 00 00 00 00 00 7a")
    assert feed_all([zero]) == [Sample({}, frozenset({"warming_up"}))]


def test_low_temperature() -> None:
    frame = bytes.fromhex("ff 86 01 90 23 00 00 00")  # 400 ppm, 35 - 40 = -5 °C
    frame += bytes([mhz19.checksum(frame + b"\x00")])
    assert feed_all([frame]) == [Sample({"co2": 400.0, "temperature": -5.0})]


def test_protocol() -> None:
    proto = mhz19.PROTOCOL
    opts = SensorOptions()
    assert (proto.type, proto.baudrate, proto.poll_period_s, proto.warmup_s) == ("mhz19", 9600, 5.0, 180.0)
    assert proto.start_commands(opts) == []
    assert proto.poll_command(opts) == mhz19.read_co2()
    assert proto.poll_command(SensorOptions(mode="query")) == mhz19.read_co2()
    assert isinstance(proto.decoder(), mhz19.Mhz19Decoder)
