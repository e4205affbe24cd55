"""Plantower PMS5003 particulate sensor on a UART (9600 8N1): active/passive mode, sleep/wake.

Frames (datasheet "Appendix I"): 42 4D, length 00 1C, 13 big-endian words, 16-bit sum of all bytes
before it. Words 4-6 are the atmospheric PM1.0/PM2.5/PM10 in ug/m3. Commands are 42 4D CMD DATAH DATAL
LRCH LRCL; their 8-byte acknowledgements (length 00 04) are skipped. Usage:

    pms = PMS5003(UART(1, 9600, tx=17, rx=16, timeout=0))
    if pms.update(): print(pms.pm)          # (pm1, pm25, pm10) after each new frame
"""

try:
    from micropython import const
except ImportError:  # CPython (host tests): const() is an identity at run time

    def const(x: int) -> int:  # type: ignore[misc]
        return x


try:
    from time import sleep_ms, ticks_diff, ticks_ms
except ImportError:  # CPython (host tests): the firmware's clock has the same functions
    from node.clock import sleep_ms, ticks_diff, ticks_ms

try:  # type names for annotations, which MicroPython never evaluates (and it has no typing)
    import typing  # noqa: F401

    from machine import UART
except ImportError:
    pass

_START1 = const(0x42)
_START2 = const(0x4D)
_FRAME_LEN = const(32)
_DATA_LEN = const(28)  # the length field of a measurement frame
_ACK_LEN = const(4)  # the length field of a command acknowledgement
_CMD_MODE = const(0xE1)  # data 0: passive, 1: active
_CMD_READ = const(0xE2)  # passive mode: send one frame
_CMD_SLEEP = const(0xE4)  # data 0: sleep, 1: wake up


class PMS5003:
    """One sensor; `uart` is any object with read() -> bytes | None and write(bytes)."""

    def __init__(self, uart: "UART", passive: bool = False) -> None:
        self._uart = uart
        self._buf = bytearray(_FRAME_LEN)
        self._cmd = bytearray(7)
        self._n = 0
        self._want = _FRAME_LEN
        self.pm = (0, 0, 0)  # atmospheric (pm1, pm25, pm10), ug/m3, of the last good frame
        self.frames = 0
        self.errors = 0  # frames with a bad length or checksum
        self.passive = passive
        self._command(_CMD_MODE, 0 if passive else 1)

    def sleep(self) -> None:
        """Stop the fan and laser (the fan wears out: duty-cycle it)."""
        self._command(_CMD_SLEEP, 0)

    def wake(self) -> None:
        """Start the fan; data is stable about 30 s later (datasheet)."""
        self._command(_CMD_SLEEP, 1)

    def request(self) -> None:
        """Passive mode: ask for one frame (read it with update())."""
        self._command(_CMD_READ, 0)

    def read(self, timeout_ms: int = 1000) -> "tuple[int, int, int]":
        """Passive mode: request a frame and wait for it; OSError on timeout."""
        self.request()
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < timeout_ms:
            if self.update():
                return self.pm
            sleep_ms(10)
        raise OSError(110)  # ETIMEDOUT

    def update(self) -> bool:
        """Parse whatever the UART holds; True if a new good frame arrived."""
        data = self._uart.read()
        new = False
        if data:
            for byte in data:
                new = self._feed(byte) or new
        return new

    def _feed(self, byte: int) -> bool:
        n = self._n
        if (n == 0 and byte != _START1) or (n == 1 and byte != _START2):
            self._n = 0
            return False
        self._buf[n] = byte
        self._n = n = n + 1
        if n == 4:
            length = self._buf[2] << 8 | self._buf[3]
            if length not in (_DATA_LEN, _ACK_LEN):
                self.errors += 1
                self._n = 0
            self._want = length + 4
            return False
        if n < self._want:
            return False
        self._n = 0
        return self._frame(n)

    def _frame(self, n: int) -> bool:
        buf = self._buf
        if sum(buf[: n - 2]) & 0xFFFF != buf[n - 2] << 8 | buf[n - 1]:
            self.errors += 1
            return False
        if n != _FRAME_LEN:
            return False  # a command acknowledgement
        self.pm = (buf[10] << 8 | buf[11], buf[12] << 8 | buf[13], buf[14] << 8 | buf[15])
        self.frames += 1
        return True

    def _command(self, cmd: int, data: int) -> None:
        c = self._cmd
        c[0], c[1], c[2], c[3], c[4] = _START1, _START2, cmd, 0, data
        lrc = sum(c[:5])
        c[5], c[6] = lrc >> 8, lrc & 0xFF
        self._uart.write(c)
