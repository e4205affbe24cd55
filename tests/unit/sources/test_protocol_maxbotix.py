"""MaxBotix HRXL-MaxSonar-WR protocol: byte scripts from PROTOCOLS.md and hypothesis properties.

A MaxBotix line carries no checksum, so each script feeds what a serial line delivers after a
power-on (header text), during normal ranging, out of range (5000 / 5003 / 9999), inside the
blanking distance and with lost or garbled bytes, and asserts exactly what comes out, in order.
Validity in the properties is judged by a regex written here from PROTOCOLS.md, not by the module.
"""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sources.protocols import maxbotix
from gateway.sources.protocols.base import Ack, Decoded, FrameError, MalformedFrame, Sample
from gateway.sources.protocols.registry import get_protocol

SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None)
# The power-on header of an MB7386 as EnviroDIY's MaxBotixSonar.cpp documents it.
HEADER = b"HRXL-MaxSonar-WRL\rPN:MB7386\rCopyright 2011-2013\rMaxBotix Inc.\rRoHS 1.8b090  0713\rTempI\r"


def feed_all(chunks: list[bytes]) -> list[Decoded]:
    decoder = maxbotix.MaxbotixDecoder()
    return [item for chunk in chunks for item in decoder.feed(chunk)]


def distances(items: list[Decoded]) -> list[float]:
    return [i.values["distance_mm"] for i in items if isinstance(i, Sample) and i.values]


def test_ranges_decode_to_millimetres() -> None:
    assert feed_all([b"R1234\rR0301\rR4999\r"]) == [
        Sample({"distance_mm": 1234.0}),
        Sample({"distance_mm": 301.0}),
        Sample({"distance_mm": 4999.0}),
    ]


def test_power_on_header_is_acknowledged_not_an_error() -> None:
    out = feed_all([HEADER + b"R2000\r"])
    assert [type(i) for i in out] == [Ack] * 6 + [Sample]
    assert out[1] == Ack(b"PN:MB7386")
    assert distances(out) == [2000.0]


def test_no_target_and_blanking_carry_flags_but_no_value() -> None:
    out = feed_all([b"R5000\rR9999\rR5003\rR0300\rR0000\r"])
    assert out == [
        Sample({}, frozenset({"no_target"})),
        Sample({}, frozenset({"no_target"})),
        Sample({}, frozenset({"no_target"})),  # House Mill's MB7389 reports 5003 out of range
        Sample({}, frozenset({"blanked"})),
        Sample({}, frozenset({"blanked"})),  # EnviroDIY's "garbled parse" zero
    ]


def test_split_anywhere_gives_the_same_result() -> None:
    stream = HEADER + b"R1234\rR5003\rR0777\r"
    whole = feed_all([stream])
    for cut in range(len(stream) + 1):
        assert feed_all([stream[:cut], stream[cut:]]) == whole
    assert feed_all([bytes([b]) for b in stream]) == whole


def test_garbled_tokens_are_malformed_and_never_ranges() -> None:
    out = feed_all([b"R12a4\rR123\rR12345\r\x00\xff\x13\r1234\r"])
    assert all(isinstance(i, MalformedFrame) for i in out)
    assert [i.raw for i in out if isinstance(i, FrameError)] == [
        b"R12a4",
        b"R123",
        b"R12345",
        b"\x00\xff\x13",
        b"1234",
    ]


def test_a_lost_cr_costs_the_first_range_only() -> None:
    out = feed_all([b"R1234R1240\r"])
    assert [type(i) for i in out] == [MalformedFrame, Sample]
    assert out[0].raw == b"R1234"  # type: ignore[union-attr]
    assert distances(out) == [1240.0]


def test_a_line_without_cr_is_bounded() -> None:
    out = feed_all([b"x" * 100, b"R1500\r"])
    assert [type(i) for i in out] == [MalformedFrame, MalformedFrame, MalformedFrame, Sample]
    assert sum(len(i.raw) for i in out if isinstance(i, FrameError)) == 100


def test_reset_drops_the_partial_line() -> None:
    decoder = maxbotix.MaxbotixDecoder()
    assert decoder.feed(b"R12") == []
    decoder.reset()
    assert decoder.feed(b"R1300\r") == [Sample({"distance_mm": 1300.0})]


def test_protocol_is_free_running_at_6_hz() -> None:
    proto = get_protocol("maxbotix")
    assert proto.baudrate == 9600
    assert proto.poll_command(maxbotix.SensorOptions()) is None
    assert proto.start_commands(maxbotix.SensorOptions()) == []
    assert 0.15 <= proto.poll_period_s <= 0.2
    assert proto.value_keys == ("distance_mm",)


# --- properties ----------------------------------------------------------------------------

VALID_TOKEN = re.compile(rb"R(\d{4})\r")
TOKEN = st.integers(0, 9999).map(lambda d: b"R%04d\r" % d)
NOISE = st.sampled_from([b"R", b"\r", b"0", b"9", b"PN:MB7389\r", b"\x00", b"\xff", b"R12"])


def assert_only_valid_tokens(stream: bytes, decoded: list[Decoded]) -> None:
    """Every range decoded is a 4-digit token directly before a CR in the stream, in order."""
    tokens = [int(m.group(1)) for m in VALID_TOKEN.finditer(stream)]
    found = distances(decoded)
    it = iter(tokens)
    assert all(any(d == tok for tok in it) for d in found), (found, tokens)
    assert all(300 < d < 5000 or 5003 < d < 9999 for d in found)


def signature(items: list[Decoded]) -> list[tuple[str, object]]:
    """Comparable decoder output (exceptions compare by identity otherwise)."""
    return [(type(i).__name__, i.raw if isinstance(i, FrameError | Ack) else i) for i in items]


def decode_in_chunks(stream: bytes, cuts: list[int]) -> list[Decoded]:
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    return feed_all([stream[a:b] for a, b in pairwise(bounds)])


@SETTINGS
@given(stream=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_random_bytes_never_crash_or_invent_ranges(stream: bytes, cuts: list[int]) -> None:
    decoded = decode_in_chunks(stream, cuts)
    assert_only_valid_tokens(stream, decoded)
    assert signature(decoded) == signature(decode_in_chunks(stream, []))


@SETTINGS
@given(
    parts=st.lists(st.one_of(TOKEN, NOISE), max_size=30),
    mutations=st.lists(st.tuples(st.integers(0, 500), st.integers(0, 255)), max_size=6),
    cuts=st.lists(st.integers(0, 300), max_size=6),
)
def test_mutated_streams_never_invent_ranges(
    parts: list[bytes], mutations: list[tuple[int, int]], cuts: list[int]
) -> None:
    stream = bytearray(b"".join(parts))
    for pos, value in mutations:
        if stream:
            stream[pos % len(stream)] = value
    decoded = decode_in_chunks(bytes(stream), cuts)
    assert_only_valid_tokens(bytes(stream), decoded)


@SETTINGS
@given(distance=st.integers(301, 4999), garbage=st.binary(max_size=60))
def test_a_range_after_garbage_and_a_cr_is_decoded_exactly_once(distance: int, garbage: bytes) -> None:
    out = feed_all([garbage + b"\r" + b"R%04d\r" % distance])
    assert distances(out)[-1] == float(distance)
    assert distances(out).count(float(distance)) == 1 + VALID_TOKEN.findall(garbage + b"\r").count(
        b"%04d" % distance
    )
