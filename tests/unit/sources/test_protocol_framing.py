"""The shared resynchronising framer, driven by a toy protocol so only the framing is under test.

Toy frames are 4 bytes: 7E, kind (01 data, 02 ack), value, (kind + value) & 0xFF. Each script
feeds bytes as a serial line would deliver them and asserts exactly what comes out, in order.
"""

from __future__ import annotations

from gateway.sources.protocols.base import Ack, ChecksumError, Decoded, MalformedFrame, Sample
from gateway.sources.protocols.framing import MAX_JUNK, ResyncDecoder

H = bytes.fromhex


def toy_length(buf: bytearray) -> int | None:
    """4 after a known kind byte, 0 after any other, None while incomplete."""
    if len(buf) < 2:
        return None
    if buf[1] not in (1, 2):
        return 0
    return 4 if len(buf) >= 4 else None


def toy_decode(frame: bytes) -> Sample | Ack:
    """A value sample or an ack; ChecksumError on a bad sum."""
    if (frame[1] + frame[2]) & 0xFF != frame[3]:
        raise ChecksumError("TOY: checksum", frame)
    return Ack(frame) if frame[1] == 2 else Sample({"v": float(frame[2])})


def toy() -> ResyncDecoder:
    return ResyncDecoder("TOY", 0x7E, toy_length, toy_decode)


def described(items: list[Decoded]) -> list[tuple[str, bytes | float]]:
    """(type, raw bytes or sample value) for order- and content-sensitive asserts."""
    return [(type(d).__name__, d.values["v"] if isinstance(d, Sample) else d.raw) for d in items]


def test_garbage_run_is_reported_once_before_the_next_frame() -> None:
    decoder = toy()
    assert decoder.feed(H("00 11 7e 22")) == []  # 7E 22 is no frame start, but nothing is complete yet
    decoded = decoder.feed(H("7e 01 05 06 7e 02 00 02"))
    assert described(decoded) == [
        ("MalformedFrame", H("00 11 7e 22")),
        ("Sample", 5.0),
        ("Ack", H("7e 02 00 02")),
    ]
    assert str(decoded[0]) == "TOY: bytes outside any frame"


def test_frame_split_byte_by_byte() -> None:
    decoder = toy()
    out = [d for b in H("7e 01 09 0a") for d in decoder.feed(bytes([b]))]
    assert described(out) == [("Sample", 9.0)]


def test_bad_frame_is_reported_once_and_a_frame_inside_it_is_found() -> None:
    # A truncated frame (7E 01) runs into a good one: the candidate 7E 01 7E 01 fails its checksum,
    # then scanning resumes inside it; its bytes are not reported again as garbage.
    decoded = toy().feed(H("7e 01 7e 01 05 06"))
    assert described(decoded) == [("ChecksumError", H("7e 01 7e 01")), ("Sample", 5.0)]


def test_endless_garbage_is_reported_in_bounded_runs() -> None:
    decoder = toy()
    decoded = decoder.feed(bytes(1000))
    assert described(decoded) == [("MalformedFrame", bytes(MAX_JUNK))] * (1000 // MAX_JUNK)
    rest = 1000 % MAX_JUNK
    assert described(decoder.feed(H("7e 01 01 02"))) == [("MalformedFrame", bytes(rest)), ("Sample", 1.0)]


def test_reset_turns_the_partial_frame_into_garbage() -> None:
    decoder = toy()
    assert decoder.feed(H("7e 01 05")) == []
    decoder.reset()
    decoded = decoder.feed(H("7e 01 07 08"))
    assert described(decoded) == [("MalformedFrame", H("7e 01 05")), ("Sample", 7.0)]
    assert isinstance(decoded[0], MalformedFrame)


def test_reset_after_a_bad_frame_does_not_report_its_bytes_twice() -> None:
    decoder = toy()
    assert described(decoder.feed(H("7e 01 7e 01"))) == [("ChecksumError", H("7e 01 7e 01"))]
    decoder.reset()  # 7E 01 left in the buffer was already reported inside the ChecksumError
    assert described(decoder.feed(H("7e 01 02 03"))) == [("Sample", 2.0)]
