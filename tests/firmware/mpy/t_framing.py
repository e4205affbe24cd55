"""Node protocol v1 framing (PROTOCOL.md): CRC and COBS vectors, packets, the stream reader."""

from node import cobs, protocol
from node.crc16 import crc16

import gw
from check import eq, raises

H = bytes.fromhex

# Cheshire & Baker's encoding as tabulated on Wikipedia ("Consistent Overhead Byte Stuffing"),
# without the 0x00 delimiter.
COBS_VECTORS = [
    (H("00"), H("0101")),
    (H("0000"), H("010101")),
    (H("001100"), H("01021101")),
    (H("11220033"), H("0311220233")),
    (H("11223344"), H("0511223344")),
    (H("11000000"), H("0211010101")),
]
# encode(REPLY, seq 0x0100, {"ok": true}): CRC by CPython's binascii.crc_hqx(raw, 0xFFFF) = 0x11E5,
# and the seq's 0x00 stuffed: the code byte 04 points at it.
REPLY_WIRE = H("04 01 04 01 0e 7b 22 6f 6b 22 3a 74 72 75 65 7d 11 e5 00".replace(" ", ""))


def test_crc_check_value():
    eq(crc16(b"123456789"), 0x29B1)
    eq(crc16(b""), 0xFFFF)
    eq(crc16(b"56789", crc16(b"1234")), 0x29B1, "continued")


def test_cobs_vectors():
    for data, encoded in COBS_VECTORS:
        eq(cobs.encode(data), encoded, data)
        eq(cobs.decode(encoded), data, encoded)


def test_cobs_long_runs():
    run = bytes(range(1, 255))  # 254 non-zero bytes: one full block, no trailing empty block
    eq(cobs.encode(run), b"\xff" + run)
    eq(cobs.encode(b"\x00" + run), b"\x01\xff" + run)
    eq(cobs.encode(run + b"\xff"), b"\xff" + run + b"\x02\xff")
    for data in (run, run * 3, bytes(600), run + b"\x00" + run):
        eq(cobs.decode(cobs.encode(data)), data)
        eq(gw.unstuff(cobs.encode(data)), data, "gateway-side decoder")


def test_cobs_rejects_malformed():
    raises(cobs.CobsError, cobs.decode, H("05 11 22"))  # block runs past the end
    raises(cobs.CobsError, cobs.decode, H("03 11 00 22"))  # zero inside a frame


def test_packet_wire_bytes_are_exact():
    eq(protocol.encode(protocol.REPLY, 0x0100, {"ok": True}), REPLY_WIRE)


def test_packet_round_trip_through_both_sides():
    body = {
        "node": "node-0042",
        "values": {"pm25": 8, "temperature": 21.5},
        "flags": {"pm10": ["warming_up"]},
    }
    wire = protocol.encode(protocol.READINGS, 65535, body)
    eq(wire.count(b"\x00"), 1)
    eq(wire[-1], 0)
    eq(gw.parse(wire), [(protocol.READINGS, 65535, body)])
    p = protocol.decode(wire[:-1])
    eq((p.ptype, p.seq, p.body), (protocol.READINGS, 65535, body))
    ours = protocol.decode(gw.packet(protocol.COMMAND, 7, {"cmd_id": 1, "cmd": "identify"})[:-1])
    eq((ours.ptype, ours.seq, ours.body["cmd"]), (protocol.COMMAND, 7, "identify"))


def test_encode_refuses_what_the_protocol_cannot_carry():
    raises(ValueError, protocol.encode, protocol.HELLO, 65536, {})
    raises(ValueError, protocol.encode, protocol.HELLO, 0, {"x": "a" * 510})  # body over 512 bytes
    eq(len(protocol.encode(protocol.HELLO, 0, {"x": "a" * 504})) > 512, True)  # exactly 512 is fine


def _corrupt(wire, at, value):
    raw = bytearray(gw.unstuff(wire[:-1]))
    raw[at] = value
    return cobs.encode(bytes(raw))


def test_bad_frames_are_named():
    good = protocol.encode(protocol.COMMAND, 1, {"cmd_id": 1, "cmd": "identify"})
    cases = [
        (_corrupt(good, 0, 2), "version"),
        (_corrupt(good, 6, ord("X")), "crc"),
        (cobs.encode(b"\x01\x10\x00"), "short"),
        (H("05 11 22"), "cobs"),
        (cobs.encode(_with_crc(b"\x01\x10\x00\x01{nope")), "json"),
        (cobs.encode(_with_crc(b"\x01\x10\x00\x01[1]")), "object"),
    ]
    for frame, why in cases:
        e = raises(protocol.BadFrame, protocol.decode, frame)
        eq(why in str(e), True, "%s in %r" % (why, str(e)))


def _with_crc(raw):
    c = gw.crc_ccitt_false(raw)
    return raw + bytes([c >> 8, c & 0xFF])


def test_command_fields_with_wrong_types_are_bad_frames():
    for body in (
        {"cmd_id": "1", "cmd": "identify"},
        {"cmd_id": True, "cmd": "identify"},
        {"cmd_id": 1, "cmd": 5},
        {"cmd_id": 1, "cmd": "sleep", "args": []},
        {"cmd": "identify"},
    ):
        packet = protocol.Packet(protocol.COMMAND, 0, body)
        raises(protocol.BadFrame, protocol.command, packet)
    eq(
        protocol.command(protocol.Packet(protocol.COMMAND, 0, {"cmd_id": 3, "cmd": "identify", "extra": 1})),
        (3, "identify", {}),
        "unknown fields ignored, args default to {}",
    )
    raises(protocol.BadFrame, protocol.command, protocol.Packet(protocol.HELLO, 0, {"cmd_id": 1, "cmd": "x"}))


def test_reader_splits_joins_and_resynchronises():
    one = gw.command(1, 11, "identify")
    two = gw.command(2, 12, "self_test")
    bad = bytearray(gw.command(3, 13, "identify"))
    bad[5] ^= 0x01  # a flipped bit: CRC fails
    stream = b"\xff\xfe garbage\x00" + one + bytes(bad) + two
    reader = protocol.FrameReader()
    got = []
    for i in range(len(stream)):  # one byte at a time: frames split anywhere
        got += reader.feed(stream[i : i + 1])
    eq([p.body["cmd_id"] for p in got], [11, 12])
    eq(reader.bad, 2, "the garbage and the corrupted frame")
    eq(reader.feed(b"\x00\x00\x00"), [], "empty frames are no frames")
    eq(reader.bad, 2)


def test_reader_drops_oversized_frames_and_recovers():
    reader = protocol.FrameReader()
    eq(reader.feed(b"\x05" * 2000 + b"\x00"), [])
    eq(reader.bad, 1)
    eq(len(reader.feed(gw.command(1, 1, "identify"))), 1)


def test_reader_recognises_a_hosts_ctrl_c():
    reader = protocol.FrameReader()
    reader.feed(gw.command(0, 1, "identify"))
    eq(reader.host_break, False)
    reader.feed(b"\r\x03")  # what mpremote sends to interrupt a program
    eq(reader.host_break, True)
