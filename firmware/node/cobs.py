"""Consistent Overhead Byte Stuffing (Cheshire & Baker 1999): packets without 0x00, PROTOCOL.md framing."""


class CobsError(ValueError):
    """The bytes are not a valid COBS encoding."""


def encode(data: "bytes | bytearray") -> bytes:
    """COBS-encode `data`; the result holds no 0x00 (the caller appends the delimiter)."""
    out = bytearray(len(data) + len(data) // 254 + 1)
    code_at = 0  # where the current block's code byte goes
    n = 1
    code = 1
    last = len(data) - 1
    for i, byte in enumerate(data):
        if byte:
            out[n] = byte
            n += 1
            code += 1
        # A full block (254 data bytes) closes too, except at the very end: no empty trailing block.
        if not byte or (code == 0xFF and i != last):
            out[code_at] = code
            code_at = n
            n += 1
            code = 1
    out[code_at] = code
    return bytes(out[:n])


def decode(data: bytes) -> bytes:
    """Invert `encode` for one frame without its 0x00 delimiter; raise CobsError if malformed."""
    if 0 in data:
        raise CobsError("zero byte inside a frame")
    out = bytearray()
    i = 0
    end = len(data)
    while i < end:
        code = data[i]
        block_end = i + code
        if block_end > end:
            raise CobsError("block runs past the end of the frame")
        out.extend(data[i + 1 : block_end])
        i = block_end
        if code != 0xFF and i < end:
            out.append(0)
    return bytes(out)
