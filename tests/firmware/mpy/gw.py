"""The gateway's end of the link, written independently of firmware/node (a bug shared by the node's
encoder and a decoder built from the same code could not show up in the tests otherwise).
"""

import json

POLY = 0x1021


def crc_ccitt_false(data):
    """CRC-16/CCITT-FALSE, bit by bit, MSB first."""
    reg = 0xFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (reg >> 15) & 1
            reg = (reg << 1) & 0xFFFF
            if top ^ ((byte >> bit) & 1):
                reg ^= POLY
    return reg


def unstuff(frame):
    """COBS decode, block by block."""
    out = []
    i = 0
    while i < len(frame):
        code = frame[i]
        if code == 0:
            raise ValueError("zero in a COBS frame")
        out.extend(frame[i + 1 : i + code])
        i += code
        if code < 0xFF and i < len(frame):
            out.append(0)
    return bytes(out)


def stuff(data):
    """COBS encode: a block closes at each zero and after 254 data bytes."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte:
            block.append(byte)
            if len(block) < 254:
                continue
            out.append(0xFF)
        else:
            out.append(len(block) + 1)
        out.extend(block)
        block = bytearray()
    out.append(len(block) + 1)
    out.extend(block)
    return bytes(out)


def packet(ptype, seq, body):
    """Wire bytes of a packet as the gateway would send it."""
    raw = bytes([1, ptype, seq >> 8, seq & 0xFF]) + json.dumps(body).encode()
    c = crc_ccitt_false(raw)
    return stuff(raw + bytes([c >> 8, c & 0xFF])) + b"\x00"


def command(seq, cmd_id, cmd, args=None):
    """A command packet (type 0x10)."""
    body = {"cmd_id": cmd_id, "cmd": cmd}
    if args is not None:
        body["args"] = args
    return packet(0x10, seq, body)


def parse(wire):
    """Every packet in a byte stream, as (type, seq, body); raises on anything malformed."""
    packets = []
    for frame in bytes(wire).split(b"\x00")[:-1]:
        if not frame:
            continue  # consecutive delimiters (PROTOCOL.md): no frame at all
        raw = unstuff(frame)
        if raw[0] != 1:
            raise ValueError("version %d" % raw[0])
        if crc_ccitt_false(raw[:-2]) != raw[-2] << 8 | raw[-1]:
            raise ValueError("crc")
        body = json.loads(raw[4:-2].decode())
        packets.append((raw[1], raw[2] << 8 | raw[3], body))
    return packets


def parse_after_noise(wire):
    """(packets, bad frames) of a stream that may start with text that is no frame, as a gateway
    reads a node's port across its reset (the ESP32 ROM banner)."""
    packets, bad = [], 0
    for frame in bytes(wire).split(b"\x00")[:-1]:
        if not frame:
            continue
        try:
            packets.extend(parse(frame + b"\x00"))
        except (ValueError, IndexError):
            bad += 1
    return packets, bad
