"""Node protocol v1 (firmware/PROTOCOL.md): CRC and COBS vectors, byte scripts, and properties.

Packets here come from this file's own encoder (bitwise CRC, the textbook pointer-patching COBS
loop), written from PROTOCOL.md a second time, so the gateway's encoder never grades its decoder.
Each script feeds bytes as a serial line delivers them and asserts exactly what comes out.
"""

from __future__ import annotations

import binascii
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sources.protocols import node
from gateway.sources.protocols.base import (
    ChecksumError,
    Decoded,
    FrameError,
    MalformedFrame,
    Sample,
    SensorOptions,
)
from gateway.sources.protocols.node import Info, NodeDecoder, NodeSample

SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None)


def crc_bitwise(data: bytes, crc: int = 0xFFFF) -> int:
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = (crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def cobs_pointer(data: bytes) -> bytes:
    """Wikipedia's reference C encoder, transcribed: patch each block's code byte when it closes."""
    out = bytearray([0])
    code_at: int | None = 0
    code = 1
    for i, byte in enumerate(data):
        if byte:
            out.append(byte)
            code += 1
        if not byte or code == 0xFF:
            assert code_at is not None
            out[code_at], code = code, 1
            code_at = None
            if not byte or i < len(data) - 1:  # a full block at the very end opens no new block
                code_at = len(out)
                out.append(0)
    if code_at is not None:
        out[code_at] = code
    return bytes(out)


def packet(kind: int, seq: int, body: dict[str, Any] | bytes, version: int = 1) -> bytes:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    inner = bytes([version, kind]) + seq.to_bytes(2, "big") + raw
    return cobs_pointer(inner + crc_bitwise(inner).to_bytes(2, "big")) + b"\x00"


def readings(seq: int, values: dict[str, float], flags: dict[str, list[str]] | None = None) -> bytes:
    body = {"node": "node-0042", "uptime_s": 10 + seq, "values": values, "flags": flags or {}}
    return packet(0x02, seq, body)


HELLO = {
    "node": "node-0042",
    "fw": "1.0.0",
    "board": "esp32",
    "reset_cause": "power_on",
    "sensors": ["pms5003", "bme280"],
    "config_error": None,
}


def feed_all(chunks: list[bytes]) -> list[Decoded]:
    decoder = NodeDecoder()
    return [item for chunk in chunks for item in decoder.feed(chunk)]


def test_crc_check_value() -> None:
    assert node.crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc_bitwise(b"123456789") == 0x29B1


def test_crc_is_binascii_crc_hqx_from_0xffff() -> None:
    # CRC-16/CCITT-FALSE is XMODEM's CRC (binascii.crc_hqx) started from 0xFFFF instead of 0.
    rng = random.Random(20260131)
    for _ in range(2000):
        data = rng.randbytes(rng.randrange(0, 600))
        init = rng.choice([0xFFFF, 0x0000, rng.randrange(0x10000)])
        assert node.crc16_ccitt_false(data, init) == crc_bitwise(data, init) == binascii.crc_hqx(data, init)


@pytest.mark.parametrize(
    ("data", "encoded"),
    [  # Wikipedia "Consistent Overhead Byte Stuffing", examples 1-11 (without the 00 delimiter)
        ("00", "01 01"),
        ("00 00", "01 01 01"),
        ("00 11 00", "01 02 11 01"),
        ("11 22 00 33", "03 11 22 02 33"),
        ("11 22 33 44", "05 11 22 33 44"),
        ("11 00 00 00", "02 11 01 01 01"),
        (bytes(range(1, 255)).hex(), "ff" + bytes(range(1, 255)).hex()),
        (bytes(range(255)).hex(), "01 ff" + bytes(range(1, 255)).hex()),
        (bytes(range(1, 256)).hex(), "ff" + bytes(range(1, 255)).hex() + "02 ff"),
        (bytes(range(2, 256)).hex() + "00", "ff" + bytes(range(2, 256)).hex() + "01 01"),
        (bytes(range(3, 256)).hex() + "00 01", "fe" + bytes(range(3, 256)).hex() + "02 01"),
    ],
)
def test_cobs_wikipedia_examples(data: str, encoded: str) -> None:
    raw, wire = bytes.fromhex(data), bytes.fromhex(encoded)
    assert node.cobs_encode(raw) == wire
    assert node.cobs_decode(wire) == raw
    assert cobs_pointer(raw) == wire


@pytest.mark.parametrize("bad", ["", "00", "05 11 22", "02 11 00 01", "03 11"])
def test_cobs_rejects_what_no_encoder_produces(bad: str) -> None:
    if not bad:
        assert node.cobs_decode(b"") == b""
        return
    with pytest.raises(MalformedFrame, match="COBS"):
        node.cobs_decode(bytes.fromhex(bad))


def test_readings_packet_is_a_sample_with_link_fields() -> None:
    wire = readings(7, {"pm25": 12.5, "humidity": 81, "co2_future": 5}, {"pm25": ["warming_up"]})
    [item] = feed_all([wire])
    assert isinstance(item, NodeSample) and isinstance(item, Sample)
    assert dict(item.values) == {"pm25": 12.5, "humidity": 81.0}  # unknown value keys are ignored
    assert item.flags == {"warming_up"}
    assert item.key_flags == {"pm25": frozenset({"warming_up"})}
    assert (item.seq, item.node, item.uptime_s) == (7, "node-0042", 17.0)


def test_split_sample_keeps_each_groups_flags_apart() -> None:
    wire = readings(
        3,
        {"pm25": 0, "humidity": 91.5, "distance_mm": 1840, "rain_mm": 0.4},
        {"pm25": ["warming_up"], "pm10": ["warming_up"], "rain_rate_mm_h": ["sensor_error"]},
    )
    [item] = feed_all([wire])
    assert isinstance(item, NodeSample)
    assert node.split_sample(item) == {
        "air": Sample({"pm25": 0.0, "humidity": 91.5}, frozenset({"warming_up"})),
        "water": Sample({"distance_mm": 1840.0}),
        "rain": Sample({"rain_mm": 0.4}, frozenset({"sensor_error"})),
    }


def test_hello_health_reply_are_infos() -> None:
    health = {"node": "node-0042", "uptime_s": 600, "reset_cause": "watchdog", "free_mem": 81000}
    health |= {"interval_s": 60, "errors": {"pms5003": 2}, "future": [1]}
    reply = {"cmd_id": 3, "ok": True, "detail": "", "sensors": {"bme280": "ok", "pms5003": "no answer"}}
    items = feed_all([packet(0x01, 0, HELLO), packet(0x03, 1, health), packet(0x04, 2, reply)])
    assert [(type(i).__name__, getattr(i, "kind", None), getattr(i, "seq", None)) for i in items] == [
        ("Info", "hello", 0),
        ("Info", "health", 1),
        ("Info", "reply", 2),
    ]
    assert isinstance(items[2], Info)
    assert items[2].body["sensors"] == {"bme280": "ok", "pms5003": "no answer"}


def test_script_garbage_split_packets_and_bad_crc() -> None:
    """Boot text, a packet split mid-byte-run, a corrupted packet, then a good one after it."""
    good1, good2 = readings(1, {"pm10": 20}), readings(2, {"pm10": 21})
    corrupted = bytearray(readings(3, {"pm10": 22}))
    corrupted[12] ^= 0x01
    items = feed_all([b"MPY: soft reboot\r\n\x00", good1[:9], good1[9:] + bytes(corrupted), good2])
    assert [type(i).__name__ for i in items] == [
        "MalformedFrame",
        "NodeSample",
        "ChecksumError",
        "NodeSample",
    ]
    assert [i.values["pm10"] for i in items if isinstance(i, Sample)] == [20.0, 21.0]


# An ESP32's ROM at 115200 baud on UART0 (the node's USB link) after machine.reset(), then what
# MicroPython prints before main.py: one run without a 0x00, up to 700 bytes with a verbose bootloader.
ROM_BANNER = (
    b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
    b"configsip: 0, SPIWP:0xee\r\nclk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
    b"mode:DIO, clock div:2\r\nload:0x3fff0030,len:4540\r\nho 0 tail 12 room 4\r\nload:0x40078000,len:12344\r\n"
    b"ho 0 tail 12 room 4\r\nload:0x40080400,len:4124\r\nentry 0x40080680\r\n"
)


@pytest.mark.parametrize("banner", [ROM_BANNER, ROM_BANNER * 3], ids=["banner", "long-banner"])
def test_a_reset_banner_closed_off_by_a_delimiter_leaves_hello_intact(banner: bytes) -> None:
    """Firmware >= 1.1.0 writes 0x00 before hello: the ROM's text is one frame error of its own, named
    by the ROM's reset line, and the hello after it decodes with the firmware's reset cause."""
    hello = packet(0x01, 0, {**HELLO, "reset_cause": "hard"})
    items = feed_all([banner[:100], banner[100:], b"\x00" + hello, readings(1, {"pm25": 4})])
    assert [type(i).__name__ for i in items] == ["MalformedFrame", "Info", "NodeSample"]
    assert "boot text" in str(items[0]) and "rst:0xc (SW_CPU_RESET)" in str(items[0])
    assert isinstance(items[1], Info) and items[1].body["reset_cause"] == "hard"


def test_without_the_delimiter_the_banner_swallows_hello() -> None:
    """Firmware 1.0.0: banner and hello are one run, one bad frame; the reboot is seen only later."""
    items = feed_all([ROM_BANNER + packet(0x01, 0, HELLO), readings(1, {"pm25": 4})])
    assert [type(i).__name__ for i in items] == ["MalformedFrame", "NodeSample"]


@pytest.mark.parametrize(
    ("wire", "error", "match"),
    [
        (packet(0x02, 1, {"node": "n", "uptime_s": 1, "values": {"pm25": "12"}}), MalformedFrame, "values"),
        (packet(0x02, 1, {"node": "n", "uptime_s": 1, "values": {"pm25": True}}), MalformedFrame, "values"),
        (packet(0x02, 1, {"node": "n", "values": {}}), MalformedFrame, "uptime_s"),
        (packet(0x02, 1, b'{"node":"n","uptime_s":1,"values":{"pm25":NaN}}'), MalformedFrame, "JSON"),
        (packet(0x02, 1, b'{"node":"n","uptime_s":1,"values":{"pm25":1e999}}'), MalformedFrame, "JSON"),
        (packet(0x02, 1, b"[1, 2]"), MalformedFrame, "object"),
        (packet(0x02, 1, b"\xff\xfe"), MalformedFrame, "UTF-8"),
        (packet(0x01, 0, {**HELLO, "sensors": "pms5003"}), MalformedFrame, "sensors"),
        (packet(0x04, 0, {"cmd_id": 1, "ok": "yes"}), MalformedFrame, "ok"),
        (packet(0x10, 0, {"cmd_id": 1, "cmd": "reboot", "args": {}}), MalformedFrame, "not sent by nodes"),
        (packet(0x07, 0, {}), MalformedFrame, "not sent by nodes"),
        (packet(0x02, 1, {"node": "n", "uptime_s": 1, "values": {}}, version=2), MalformedFrame, "version"),
        (cobs_pointer(b"\x01\x02\x00") + b"\x00", MalformedFrame, "3 bytes"),
        (packet(0x02, 1, b"{" + b" " * 600 + b"}"), MalformedFrame, "bytes"),
    ],
)
def test_bad_packets_are_named_errors(wire: bytes, error: type[FrameError], match: str) -> None:
    [item] = feed_all([wire])
    assert isinstance(item, error)
    assert match in str(item)


def test_crc_error_is_a_checksum_error() -> None:
    inner = b"\x01\x02\x00\x01" + b'{"node":"n","uptime_s":1,"values":{}}'
    wire = cobs_pointer(inner + ((crc_bitwise(inner) ^ 0x8000).to_bytes(2, "big"))) + b"\x00"
    [item] = feed_all([wire])
    assert isinstance(item, ChecksumError)


def test_overlong_run_is_reported_once_then_resynchronises() -> None:
    good = readings(5, {"pm25": 3})
    items = feed_all([b"\x01" * 400, b"\x02" * 400, b"\x03" * 400, b"\x00", good])
    assert [type(i).__name__ for i in items] == ["MalformedFrame", "NodeSample"]
    assert "without a 0x00" in str(items[0])


def test_reset_drops_the_partial_packet() -> None:
    decoder = NodeDecoder()
    good = readings(5, {"pm25": 3})
    assert decoder.feed(good[:10]) == []
    decoder.reset()
    tail = decoder.feed(good[10:])
    assert len(tail) == 1 and isinstance(tail[0], FrameError)
    assert decoder.feed(good) == feed_all([good])


def test_gateway_encoder_round_trips_through_the_decoder() -> None:
    body = {"cmd_id": 9, "ok": True, "detail": "done"}
    compact = json.dumps(body, separators=(",", ":")).encode()
    assert node.encode_packet(0x04, 65535, body) == packet(0x04, 65535, compact)
    with pytest.raises(ValueError, match="at most 512"):
        node.encode_packet(0x04, 1, {"detail": "x" * 600})


def test_protocol_facts() -> None:
    assert node.PROTOCOL.type == "node" and node.PROTOCOL.baudrate == 115200
    assert node.PROTOCOL.start_commands(SensorOptions()) == []
    assert node.PROTOCOL.poll_command(SensorOptions()) is None


# --- properties -------------------------------------------------------------------------------

VALUES = st.dictionaries(
    st.sampled_from(node.VALUE_KEYS), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), max_size=5
)
GOOD = st.builds(lambda seq, values: (readings(seq, values), values), st.integers(0, 0xFFFF), VALUES)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[dict[str, float]]]:
    """Good packets, garbage and mutated packets; and the values of the good ones, in order."""
    parts: list[bytes] = []
    expected: list[dict[str, float]] = []
    for _ in range(draw(st.integers(1, 8))):
        wire, values = draw(GOOD)
        choice = draw(st.sampled_from(["good", "garbage", "mutated"]))
        if choice == "good":
            parts.append(wire)
            expected.append({k: float(v) for k, v in values.items()})
        elif choice == "garbage":
            parts.append(draw(st.binary(max_size=80)) + b"\x00")  # ends at a delimiter: next one survives
        else:
            pos = draw(st.integers(0, len(wire) - 2))
            flip = draw(st.integers(1, 255))
            mutated = bytearray(wire)
            mutated[pos] ^= flip
            parts.append(bytes(mutated) + b"\x00")
    return parts, expected


@SETTINGS
@given(streams(), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_streams_yield_exactly_the_good_packets(
    stream: tuple[list[bytes], list[dict[str, float]]], cuts: list[int]
) -> None:
    parts, expected = stream
    data = b"".join(parts)
    chunks, i = [], 0
    for n in cuts * (len(data) // max(1, sum(cuts)) + 1):
        chunks.append(data[i : i + n])
        i += n
    items = feed_all(chunks)
    got = [dict(item.values) for item in items if isinstance(item, Sample)]
    assert got == expected


@SETTINGS
@given(st.binary(max_size=2000), st.integers(1, 100))
def test_random_bytes_never_crash_and_never_yield_a_reading(data: bytes, step: int) -> None:
    items = feed_all([data[i : i + step] for i in range(0, len(data), step)])
    assert all(isinstance(item, FrameError) for item in items)
