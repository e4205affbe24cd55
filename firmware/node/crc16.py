"""CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR): PROTOCOL.md framing."""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x: int) -> int:  # type: ignore[misc]  # MicroPython's const is an identity at run time
        return x


_POLY = const(0x1021)


def crc16(data: "bytes | bytearray | memoryview", crc: int = 0xFFFF) -> int:
    """The CRC of `data`; pass a previous result as `crc` to continue over several buffers."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc
