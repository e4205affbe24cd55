"""SDS011 protocol: command bytes from PROTOCOLS.md, real PyPMS captures, and byte scripts.

Each script feeds the decoder bytes as a serial line would deliver them (garbage, split frames,
bad checksums) and asserts exactly what comes out, in order.
"""

from __future__ import annotations

import pytest

from gateway.sources.protocols import sds011
from gateway.sources.protocols.base import (
    Ack,
    ChecksumError,
    Decoded,
    MalformedFrame,
    Sample,
    SensorOptions,
)
from gateway.sources.protocols.framing import MAX_JUNK
from tests.unit.sources.captures import csv_rows, data_frames, hexdump_frames

FRAME = bytes.fromhex("aa c0 06 00 06 00 58 d9 3d ab")  # PROTOCOLS.md example: PM2.5 0.6, PM10 0.6
FRAME_2 = bytes.fromhex("aa c0 09 00 09 00 58 d9 43 ab")  # PM2.5 0.9, PM10 0.9


def feed_all(chunks: list[bytes]) -> list[Decoded]:
    """Feed chunks to one fresh decoder; everything it produced, in order."""
    decoder = sds011.Sds011Decoder()
    return [item for chunk in chunks for item in decoder.feed(chunk)]


def kinds(items: list[Decoded]) -> list[str]:
    """The type names of decoder output, for order-sensitive asserts."""
    return [type(item).__name__ for item in items]


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (sds011.set_reporting_mode(False), "aa b4 02 01 00 00000000000000000000 ff ff 01 ab"),
        (sds011.set_reporting_mode(True), "aa b4 02 01 01 00000000000000000000 ff ff 02 ab"),
        (sds011.query_data(), "aa b4 04 00 00 00000000000000000000 ff ff 02 ab"),
        (sds011.set_sleep(True), "aa b4 06 01 00 00000000000000000000 ff ff 05 ab"),
        (sds011.set_sleep(False), "aa b4 06 01 01 00000000000000000000 ff ff 06 ab"),
        (sds011.set_working_period(5), "aa b4 08 01 05 00000000000000000000 ff ff 0c ab"),
    ],
)
def test_commands_are_byte_exact(built: bytes, expected: str) -> None:
    assert built == bytes.fromhex(expected)


def test_working_period_range_is_checked() -> None:
    assert sds011.set_working_period(30)[4] == 30
    with pytest.raises(ValueError, match="0-30"):
        sds011.set_working_period(31)


def test_capture_decodes_to_pypms_values() -> None:
    frames = hexdump_frames("SDS01x")
    expected = csv_rows("SDS01x")
    assert len(frames) == len(expected) == 10
    decoded = feed_all([b"".join(frames)])
    assert decoded == [Sample({"pm25": float(r["pm25"]), "pm10": float(r["pm10"])}) for r in expected]


def test_data_csv_rows_match_hexdump() -> None:
    assert data_frames("SDS01x") == hexdump_frames("SDS01x")


def test_other_novafitness_model_is_not_a_reading() -> None:
    """SDS198 frames (AA CF ...) share the head byte but are not SDS011 frames."""
    decoded = feed_all(data_frames("SDS198"))
    assert not [d for d in decoded if isinstance(d, Sample)]


def test_garbage_then_frame_split_byte_by_byte() -> None:
    stream = b"\x00\xab\xaa\x13" + FRAME
    decoded = feed_all([bytes([b]) for b in stream])
    assert kinds(decoded) == ["MalformedFrame", "Sample"]
    assert isinstance(decoded[0], MalformedFrame)
    assert decoded[0].raw == b"\x00\xab\xaa\x13"
    assert decoded[1] == Sample({"pm25": 0.6, "pm10": 0.6})


def test_bad_checksum_is_one_error_and_next_frame_survives() -> None:
    bad = FRAME[:8] + b"\x00" + FRAME[9:]
    decoded = feed_all([bad + FRAME_2])
    assert kinds(decoded) == ["ChecksumError", "Sample"]
    assert isinstance(decoded[0], ChecksumError)
    assert decoded[0].raw == bad
    assert decoded[1] == Sample({"pm25": 0.9, "pm10": 0.9})


def test_truncated_frame_then_frame() -> None:
    decoded = feed_all([FRAME[:6], FRAME_2])
    assert kinds(decoded) == ["MalformedFrame", "Sample"]
    assert isinstance(decoded[0], MalformedFrame)
    assert decoded[0].raw == FRAME[:6]


def test_frame_hidden_inside_a_false_start() -> None:
    """AA C0 followed by a real frame: the false start is skipped, the real frame found."""
    decoded = feed_all([b"\xaa\xc0" + FRAME])
    assert kinds(decoded) == ["MalformedFrame", "Sample"]


def test_frame_hidden_inside_a_bad_checksum_candidate() -> None:
    """A false start whose tail lands on 0xAB inside the real frame: rescan from the next byte."""
    real = bytes.fromhex("aa c0 06 00 ab 00 58 d9 e2 ab")  # PM10 low byte is 0xAB
    decoded = feed_all([b"\xaa\xc0\x01\x02\x03" + real])
    assert kinds(decoded) == ["ChecksumError", "Sample"]
    assert isinstance(decoded[0], ChecksumError)
    assert decoded[0].raw == b"\xaa\xc0\x01\x02\x03" + real[:5]
    assert decoded[1] == Sample({"pm25": 0.6, "pm10": 17.1})


def test_command_reply_is_an_ack() -> None:
    reply = bytes.fromhex("aa c5 02 01 01 00 a1 60 05 ab")  # set query mode, device A160
    assert feed_all([reply]) == [Ack(reply)]


def test_all_zero_payload_is_warming_up() -> None:
    zero = bytes.fromhex("aa c0 00 00 00 00 58 d9 31 ab")
    assert feed_all([zero]) == [Sample({}, frozenset({"warming_up"}))]


def test_reset_drops_partial_frame() -> None:
    decoder = sds011.Sds011Decoder()
    assert decoder.feed(FRAME[:5]) == []
    decoder.reset()
    decoded = decoder.feed(FRAME_2)
    assert kinds(decoded) == ["MalformedFrame", "Sample"]
    assert isinstance(decoded[0], MalformedFrame)
    assert decoded[0].raw == FRAME[:5]


def test_endless_garbage_is_reported_in_bounded_runs() -> None:
    decoded = feed_all([bytes(range(0x20, 0x80)) * 100])  # 9600 bytes, no head byte
    assert all(isinstance(d, MalformedFrame) and len(d.raw) == MAX_JUNK for d in decoded)
    assert len(decoded) == 9600 // MAX_JUNK


def test_decode_frame_rejects_wrong_length() -> None:
    with pytest.raises(MalformedFrame):
        sds011.decode_frame(FRAME[:9])


def test_protocol_active_mode() -> None:
    proto = sds011.PROTOCOL
    opts = SensorOptions(mode="active", working_period_min=0)
    assert (proto.type, proto.baudrate, proto.poll_period_s, proto.warmup_s) == ("sds011", 9600, 1.0, 30.0)
    assert proto.start_commands(opts) == [
        sds011.set_sleep(False),
        sds011.set_reporting_mode(False),
        sds011.set_working_period(0),
    ]
    assert proto.poll_command(opts) is None
    assert isinstance(proto.decoder(), sds011.Sds011Decoder)


def test_protocol_query_mode() -> None:
    opts = SensorOptions(mode="query", working_period_min=3)
    assert sds011.PROTOCOL.start_commands(opts)[1:] == [
        sds011.set_reporting_mode(True),
        sds011.set_working_period(3),
    ]
    assert sds011.PROTOCOL.poll_command(opts) == sds011.query_data()


def test_protocol_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        sds011.PROTOCOL.poll_command(SensorOptions(mode="burst"))
