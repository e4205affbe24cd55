"""Properties every registered decoder must hold, checked with hypothesis.

Frames come from the simulator's own encoders (sim/serial/encoders.py) and validity is judged
here by the PROTOCOLS.md rules, written a third time, so no single implementation grades itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sources.protocols import mhz19, pms5003, sds011
from gateway.sources.protocols.base import Ack, Decoded, FrameError, Sample, StreamDecoder
from gateway.sources.protocols.registry import PROTOCOLS, get_protocol
from sim.serial import encoders

SETTINGS = settings(max_examples=150, derandomize=True, database=None, deadline=None)
WORD = st.integers(0, 0xFFFF)


def _sds_valid(f: bytes) -> bool:
    return (
        len(f) == 10 and f[0] == 0xAA and f[1] in (0xC0, 0xC5) and f[9] == 0xAB and sum(f[2:8]) % 256 == f[8]
    )


def _pms_valid(f: bytes) -> bool:
    ok_length = len(f) in (8, 32) and int.from_bytes(f[2:4], "big") == len(f) - 4
    return ok_length and f[:2] == b"BM" and sum(f[:-2]) == int.from_bytes(f[-2:], "big")


def _mhz_valid(f: bytes) -> bool:
    return len(f) == 9 and f[0] == 0xFF and f[1] in (0x86, 0x79, 0x87, 0x88) and (-sum(f[1:8])) % 256 == f[8]


@dataclass(frozen=True)
class Case:
    """One protocol under test: how to decode, what counts as valid, how to make frames."""

    decoder: Callable[[], StreamDecoder]
    decode_frame: Callable[[bytes], Sample | Ack]
    valid: Callable[[bytes], bool]
    lengths: tuple[int, ...]
    head: int
    frames: st.SearchStrategy[tuple[bytes, Sample]]  # (encoded frame, the sample it must decode to)


def _sds_frames() -> st.SearchStrategy[tuple[bytes, Sample]]:
    pm = st.tuples(WORD, WORD).filter(any)
    return st.builds(
        lambda p, dev: (
            encoders.sds011_data(p[0], p[1], dev),
            Sample({"pm25": p[0] / 10, "pm10": p[1] / 10}),
        ),
        pm,
        WORD,
    )


def _pms_sample(atm: tuple[int, ...], counts: tuple[int, ...]) -> Sample:
    pm = dict(zip(("pm1", "pm25", "pm10"), map(float, atm), strict=True))
    return Sample({**pm, **dict(zip(pms5003.COUNT_KEYS, counts, strict=True))})


def _pms_frames() -> st.SearchStrategy[tuple[bytes, Sample]]:
    words = st.tuples(st.tuples(WORD, WORD, WORD), st.tuples(WORD, WORD, WORD), st.tuples(*[WORD] * 6))
    consistent = words.filter(lambda w: any(w[1] + w[2]) and not (w[2][0] == 0 and w[1][2] > 0))
    return consistent.map(lambda w: (encoders.pms5003_data(*w), _pms_sample(w[1], w[2])))


def _pms_t_frame(pm: tuple[int, ...], counts: tuple[int, ...], temp: int, hum: int) -> tuple[bytes, Sample]:
    values = {
        **dict(zip(("pm1", "pm25", "pm10"), map(float, pm), strict=True)),
        **dict(zip(pms5003.COUNT_KEYS[:4], counts, strict=True)),
        "temperature": temp / 10,
        "humidity": hum / 10,
    }
    return encoders.pms5003t_data(pm, counts, temp, hum), Sample(values)


def _pms_t_frames() -> st.SearchStrategy[tuple[bytes, Sample]]:
    pm = st.tuples(WORD, WORD, st.integers(0, 2000))
    counts = st.tuples(st.integers(1, 0xFFFF), WORD, WORD, WORD)
    return st.builds(_pms_t_frame, pm, counts, st.integers(-400, 1000), st.integers(0, 1000))


def _mhz_frames() -> st.SearchStrategy[tuple[bytes, Sample]]:
    fields = st.tuples(WORD, st.integers(-40, 215), st.integers(0, 255)).filter(lambda f: f != (0, -40, 0))
    return fields.map(
        lambda f: (
            encoders.mhz19_response(f[0], f[1], f[2]),
            Sample({"co2": float(f[0]), "temperature": float(f[1])}),
        )
    )


CASES = {
    "sds011": Case(sds011.Sds011Decoder, sds011.decode_frame, _sds_valid, (10,), 0xAA, _sds_frames()),
    "pms5003": Case(pms5003.Pms5003Decoder, pms5003.decode_frame, _pms_valid, (8, 32), 0x42, _pms_frames()),
    "pms5003t": Case(
        lambda: pms5003.Pms5003Decoder(t_variant=True),
        lambda f: pms5003.decode_frame(f, t_variant=True),
        _pms_valid,
        (8, 32),
        0x42,
        _pms_t_frames(),
    ),
    "mhz19": Case(mhz19.Mhz19Decoder, mhz19.decode_frame, _mhz_valid, (9,), 0xFF, _mhz_frames()),
}


def decode_in_chunks(case: Case, stream: bytes, cuts: list[int]) -> list[Decoded]:
    """Feed `stream` split at `cuts`; never raises if the decoder keeps its contract."""
    decoder = case.decoder()
    bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    return [item for a, b in pairwise(bounds) for item in decoder.feed(stream[a:b])]


def valid_samples(case: Case, stream: bytes) -> list[Sample]:
    """The samples of every valid frame at any offset, in stream order (overlaps included)."""
    found = []
    for i in range(len(stream)):
        for n in case.lengths:
            frame = stream[i : i + n]
            if case.valid(frame):
                try:
                    result = case.decode_frame(frame)
                except FrameError:
                    continue
                if isinstance(result, Sample):
                    found.append(result)
    return found


def assert_samples_from_valid_frames(case: Case, stream: bytes, decoded: list[Decoded]) -> None:
    """Every Sample decoded is, in order, the sample of a valid frame present in the stream."""
    candidates = iter(valid_samples(case, stream))
    for item in decoded:
        assert isinstance(item, Sample | Ack | FrameError)
        if isinstance(item, FrameError):
            assert item.raw, "every FrameError carries its raw bytes"
        if isinstance(item, Sample):
            assert any(item == c for c in candidates), f"{item} is not from a valid frame"


def signature(items: list[Decoded]) -> list[tuple[str, object]]:
    """Comparable form of decoder output (exceptions compare by identity otherwise)."""
    return [(type(i).__name__, i.raw if isinstance(i, FrameError | Ack) else i) for i in items]


@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(stream=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_random_bytes_never_crash_or_invent_samples(name: str, stream: bytes, cuts: list[int]) -> None:
    case = CASES[name]
    decoded = decode_in_chunks(case, stream, cuts)
    assert_samples_from_valid_frames(case, stream, decoded)
    assert signature(decoded) == signature(decode_in_chunks(case, stream, []))


MUTATION = st.tuples(
    st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 10_000), st.integers(1, 255)
)


def mutate(stream: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    """Apply byte flips, insertions and deletions at positions taken modulo the length."""
    out = bytearray(stream)
    for op, pos, value in mutations:
        i = pos % (len(out) + 1)
        if op == "insert":
            out[i:i] = bytes([value])
        elif i < len(out):
            if op == "flip":
                out[i] ^= value
            else:
                del out[i]
    return bytes(out)


@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(data=st.data())
def test_mutated_streams_never_invent_samples(name: str, data: st.DataObject) -> None:
    case = CASES[name]
    frames = data.draw(st.lists(case.frames, min_size=1, max_size=6))
    stream = mutate(b"".join(f for f, _ in frames), data.draw(st.lists(MUTATION, max_size=6)))
    cuts = data.draw(st.lists(st.integers(0, 300), max_size=6))
    decoded = decode_in_chunks(case, stream, cuts)
    assert_samples_from_valid_frames(case, stream, decoded)
    assert signature(decoded) == signature(decode_in_chunks(case, stream, []))


@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(data=st.data())
def test_frame_in_garbage_decoded_exactly_once(name: str, data: st.DataObject) -> None:
    case = CASES[name]
    frame, expected = data.draw(case.frames)
    # Garbage without the head byte cannot start a frame that swallows the real one.
    garbage = st.binary(max_size=300).map(lambda b: b.replace(bytes([case.head]), b""))
    stream = data.draw(garbage) + frame + data.draw(garbage)
    decoded = decode_in_chunks(case, stream, data.draw(st.lists(st.integers(0, 700), max_size=10)))
    assert [d for d in decoded if isinstance(d, Sample)] == [expected]
    assert not [d for d in decoded if isinstance(d, Ack)]


@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(data=st.data())
def test_round_trip_sim_encoder_to_gateway_decoder(name: str, data: st.DataObject) -> None:
    case = CASES[name]
    frames = data.draw(st.lists(case.frames, min_size=1, max_size=5))
    decoded = case.decoder().feed(b"".join(f for f, _ in frames))
    assert decoded == [expected for _, expected in frames]


def test_sim_replies_decode_as_acks() -> None:
    sds_reply = encoders.sds011_reply(0x06, b"\x01\x00", 0xA160)
    assert sds011.Sds011Decoder().feed(sds_reply) == [Ack(sds_reply)]
    pms_ack = encoders.pms5003_ack(0xE1, 0)
    assert pms_ack == bytes.fromhex("42 4d 00 04 e1 00 01 74")
    assert pms5003.Pms5003Decoder().feed(pms_ack) == [Ack(pms_ack)]


@SETTINGS
@given(minutes=st.integers(0, 30), query=st.booleans(), sleep=st.booleans())
def test_gateway_sds011_commands_parse_in_sim(minutes: int, query: bool, sleep: bool) -> None:
    reader = encoders.sds011_reader()
    stream = sds011.set_working_period(minutes) + sds011.set_reporting_mode(query) + sds011.set_sleep(sleep)
    cmds = [encoders.parse_sds011(f) for f in reader.feed(stream)]
    assert [(c.cmd_id, c.is_set, c.value, c.device_id) for c in cmds] == [
        (0x08, True, minutes, 0xFFFF),
        (0x02, True, int(query), 0xFFFF),
        (0x06, True, int(not sleep), 0xFFFF),
    ]


def test_gateway_pms_and_mhz19_commands_parse_in_sim() -> None:
    built = [pms5003.active_mode(), pms5003.passive_mode(), pms5003.passive_read(), pms5003.sleep()]
    parsed = [encoders.parse_pms(f) for f in encoders.pms_reader().feed(b"".join([*built, pms5003.wake()]))]
    assert [(c.cmd, c.data) for c in parsed] == [(0xE1, 1), (0xE1, 0), (0xE2, 0), (0xE4, 0), (0xE4, 1)]
    stream = mhz19.read_co2() + mhz19.set_abc(False) + mhz19.span_calibration(2000)
    mh = [encoders.parse_mhz19(f) for f in encoders.mhz19_reader().feed(stream)]
    assert [(c.cmd, c.data[:2]) for c in mh] == [(0x86, b"\0\0"), (0x79, b"\0\0"), (0x88, b"\x07\xd0")]


def test_registry_knows_every_type() -> None:
    assert set(PROTOCOLS) == {"sds011", "pms5003", "pms5003t", "mhz19", "maxbotix", "node"}
    for name, proto in PROTOCOLS.items():
        assert proto.type == name
        assert get_protocol(name) is proto


def test_registry_unknown_type_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="maxbotix, mhz19, node, pms5003, pms5003t, sds011"):
        get_protocol("sds021")
