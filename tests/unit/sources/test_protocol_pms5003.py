"""PMS5003 / PMS5003T protocol: command bytes, real PyPMS captures, and byte scripts."""

from __future__ import annotations

import pytest

from gateway.sources.protocols import pms5003
from gateway.sources.protocols.base import (
    Ack,
    ChecksumError,
    Decoded,
    FrameError,
    MalformedFrame,
    Sample,
    SensorOptions,
)
from tests.unit.sources.captures import csv_rows, data_frames, hexdump_frames

# PROTOCOLS.md example: atm PM 0/8/8, counts 210, 70, 45, 30, 0, 0 per 0.1 L
FRAME = bytes.fromhex(
    "424d001c 0000 0008 0008 0000 0008 0008 00d2 0046 002d 001e 0000 0000 9700 02c5".replace(" ", "")
)
FRAME_VALUES = {
    "pm1": 0.0,
    "pm25": 8.0,
    "pm10": 8.0,
    "n0_3": 210,
    "n0_5": 70,
    "n1_0": 45,
    "n2_5": 30,
    "n5_0": 0,
    "n10_0": 0,
}

# PMS5003T rows of data.csv, read word by word from the hex (bytes 10-15 atmospheric PM,
# 16-23 counts > 0.3/0.5/1.0/2.5 µm, 24-25 signed temperature x10, 26-27 humidity x10).
PMS5003T_EXPECTED = [
    ((22, 35, 41), (4104, 1193, 278, 12), 21.2, 22.4),
    ((20, 33, 36), (3528, 1055, 228, 14), 21.2, 22.4),
    ((20, 34, 38), (3840, 1126, 250, 22), 21.2, 22.4),
    ((19, 32, 42), (3750, 1079, 262, 30), 21.2, 22.3),
    ((22, 35, 38), (3816, 1122, 286, 14), 21.2, 22.4),
    ((21, 34, 39), (3837, 1114, 288, 20), 21.2, 22.3),
    ((21, 33, 42), (3759, 1110, 282, 22), 21.2, 22.3),
    ((22, 34, 45), (3837, 1135, 292, 22), 21.3, 22.2),
    ((20, 32, 44), (3786, 1114, 286, 24), 21.3, 22.2),
    ((19, 32, 43), (3603, 1044, 272, 30), 21.3, 22.3),
]


def feed_all(chunks: list[bytes], t_variant: bool = False) -> list[Decoded]:
    """Feed chunks to one fresh decoder; everything it produced, in order."""
    decoder = pms5003.Pms5003Decoder(t_variant)
    return [item for chunk in chunks for item in decoder.feed(chunk)]


def kinds(items: list[Decoded]) -> list[str]:
    """The type names of decoder output, for order-sensitive asserts."""
    return [type(item).__name__ for item in items]


def with_checksum(body: bytes) -> bytes:
    """Append the 16-bit sum of `body` (PROTOCOLS.md, bytes 30-31)."""
    return body + sum(body).to_bytes(2, "big")


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (pms5003.active_mode(), "42 4D E1 00 01 01 71"),
        (pms5003.passive_mode(), "42 4D E1 00 00 01 70"),
        (pms5003.passive_read(), "42 4D E2 00 00 01 71"),
        (pms5003.sleep(), "42 4D E4 00 00 01 73"),
        (pms5003.wake(), "42 4D E4 00 01 01 74"),
    ],
)
def test_commands_are_byte_exact(built: bytes, expected: str) -> None:
    assert built == bytes.fromhex(expected)


def test_datasheet_example() -> None:
    assert feed_all([FRAME]) == [Sample(FRAME_VALUES)]


def test_capture_decodes_to_pypms_values() -> None:
    frames = hexdump_frames("PMSx003")
    rows = csv_rows("PMSx003")
    assert len(frames) == len(rows) == 10
    expected = [
        Sample(
            {
                **{
                    key: float(row[col]) for key, col in (("pm1", "pm01"), ("pm25", "pm25"), ("pm10", "pm10"))
                },
                # PyPMS prints counts as #/cm³ = raw / 100; the gateway keeps raw counts per 0.1 L.
                **{key: round(float(row[key]) * 100) for key in pms5003.COUNT_KEYS},
            }
        )
        for row in rows
    ]
    assert feed_all([b"".join(frames)]) == expected


def test_data_csv_rows_match_hexdump() -> None:
    assert data_frames("PMSx003") == hexdump_frames("PMSx003")


def test_pms5003t_rows() -> None:
    frames = data_frames("PMS5003T")
    assert len(frames) == len(PMS5003T_EXPECTED)
    decoded = feed_all(frames, t_variant=True)
    expected = [
        Sample(
            {
                **dict(zip(("pm1", "pm25", "pm10"), map(float, pm), strict=True)),
                **dict(zip(("n0_3", "n0_5", "n1_0", "n2_5"), counts, strict=True)),
                "temperature": temperature,
                "humidity": humidity,
            }
        )
        for pm, counts, temperature, humidity in PMS5003T_EXPECTED
    ]
    assert decoded == expected


def test_negative_temperature_is_signed() -> None:
    body = bytearray(FRAME[:30])
    body[24:26] = (-55).to_bytes(2, "big", signed=True)  # -5.5 °C
    (sample,) = feed_all([with_checksum(bytes(body))], t_variant=True)
    assert isinstance(sample, Sample)
    assert sample.values["temperature"] == -5.5


def test_pms3003_frames_are_rejected() -> None:
    """Length field 0x0014 (PMS3003) is not a PMS5003 frame: no reading, only garbage reports."""
    decoded = feed_all([*data_frames("PMS3003"), FRAME])
    assert kinds(decoded) == ["MalformedFrame", "Sample"]


def test_ack_frame() -> None:
    ack = bytes.fromhex("42 4d 00 04 e1 00 01 74")  # passive-mode acknowledgement
    assert feed_all([ack, FRAME]) == [Ack(ack), Sample(FRAME_VALUES)]


def test_bad_checksum_then_good_frame_split() -> None:
    bad = FRAME[:-1] + b"\x00"
    decoded = feed_all([bad[:7], bad[7:] + FRAME[:3], FRAME[3:]])
    assert kinds(decoded) == ["ChecksumError", "Sample"]
    assert isinstance(decoded[0], ChecksumError)
    assert decoded[0].raw == bad


def test_truncated_frame_then_good_frame() -> None:
    decoded = feed_all([FRAME[:20] + FRAME])
    assert kinds(decoded) == ["ChecksumError", "Sample"]
    assert decoded[1] == Sample(FRAME_VALUES)


def test_garbage_run_reported_once() -> None:
    decoded = feed_all([b"\x01\x02BM\x00\x14\x42\x03", FRAME])
    assert kinds(decoded) == ["MalformedFrame", "Sample"]
    assert isinstance(decoded[0], MalformedFrame)
    assert decoded[0].raw == b"\x01\x02BM\x00\x14\x42\x03"


def test_inconsistent_frame_is_an_error() -> None:
    body = bytearray(FRAME[:30])
    body[16:18] = b"\x00\x00"  # N0.3 = 0 while PM10 = 8
    frame = with_checksum(bytes(body))
    (error,) = feed_all([frame])
    assert type(error) is FrameError
    assert error.raw == frame


def test_all_zero_payload_is_warming_up() -> None:
    zero = with_checksum(b"BM\x00\x1c" + bytes(24) + b"\x97\x00")
    assert feed_all([zero]) == [Sample({}, frozenset({"warming_up"}))]


def test_pms5003t_zero_particles_is_warming_up_despite_temperature() -> None:
    body = b"BM\x00\x1c" + bytes(20) + (212).to_bytes(2, "big") + (224).to_bytes(2, "big") + b"\x9a\x00"
    assert feed_all([with_checksum(body)], t_variant=True) == [Sample({}, frozenset({"warming_up"}))]


def test_decode_frame_rejects_wrong_length() -> None:
    with pytest.raises(MalformedFrame):
        pms5003.decode_frame(FRAME[:31])


@pytest.mark.parametrize(("mode", "passive"), [("active", False), ("passive", True), ("query", True)])
def test_protocol_commands(mode: str, passive: bool) -> None:
    opts = SensorOptions(mode=mode)
    for proto in (pms5003.PROTOCOL, pms5003.PROTOCOL_T):
        mode_cmd = pms5003.passive_mode() if passive else pms5003.active_mode()
        assert proto.start_commands(opts) == [pms5003.wake(), mode_cmd]
        assert proto.poll_command(opts) == (pms5003.passive_read() if passive else None)
        assert (proto.baudrate, proto.poll_period_s, proto.warmup_s) == (9600, 1.0, 30.0)


def test_protocol_variants_decode_differently() -> None:
    t_frame = data_frames("PMS5003T")[0]
    (plain,) = pms5003.PROTOCOL.decoder().feed(t_frame)
    (variant,) = pms5003.PROTOCOL_T.decoder().feed(t_frame)
    assert isinstance(plain, Sample)
    assert isinstance(variant, Sample)
    assert "temperature" not in plain.values
    assert variant.values["temperature"] == 21.2
    assert (pms5003.PROTOCOL.type, pms5003.PROTOCOL_T.type) == ("pms5003", "pms5003t")
