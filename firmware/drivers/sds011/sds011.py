"""Nova Fitness SDS011 particulate sensor on a UART (9600 8N1): active reporting, sleep/wake, query.

Data frames (datasheet v1.3): AA C0 PM25L PM25H PM10L PM10H ID1 ID2 CS AB, CS = low byte of the sum of
bytes 2-7, values in 0.1 ug/m3. Commands are 19 bytes: AA B4 then 13 data bytes, FF FF (all sensors),
the sum of bytes 2-16 and AB; the sensor's replies (AA C5 ...) are skipped. Usage:

    sds = SDS011(UART(1, 9600, tx=17, rx=16, timeout=0))
    if sds.update(): print(sds.pm)          # (pm25, pm10) after each new frame
"""

try:
    from micropython import const
except ImportError:  # CPython (host tests): const() is an identity at run time

    def const(x: int) -> int:  # type: ignore[misc]
        return x


try:  # type names for annotations, which MicroPython never evaluates (and it has no typing)
    import typing  # noqa: F401

    from machine import UART
except ImportError:
    pass

_HEAD = const(0xAA)
_TAIL = const(0xAB)
_DATA = const(0xC0)
_REPLY = const(0xC5)
_FRAME_LEN = const(10)
_CMD_LEN = const(19)
_SET_SLEEP = const(6)  # data: 1 (set), 0 sleep / 1 work
_QUERY = const(4)


class SDS011:
    """One sensor; `uart` is any object with read() -> bytes | None and write(bytes)."""

    def __init__(self, uart: "UART") -> None:
        self._uart = uart
        self._buf = bytearray(_FRAME_LEN)
        self._cmd = bytearray(_CMD_LEN)
        self._n = 0
        self.pm = (0.0, 0.0)  # (pm25, pm10), ug/m3, of the last good frame
        self.frames = 0
        self.errors = 0  # frames with a bad checksum or tail

    def sleep(self) -> None:
        """Stop the fan and laser (rated life about 8000 h: duty-cycle it)."""
        self._command(_SET_SLEEP, 1, 0)

    def wake(self) -> None:
        """Start the fan; readings settle about 30 s later."""
        self._command(_SET_SLEEP, 1, 1)

    def query(self) -> None:
        """Ask for one data frame now (read it with update())."""
        self._command(_QUERY, 0, 0)

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
        if (n == 0 and byte != _HEAD) or (n == 1 and byte not in (_DATA, _REPLY)):
            self._n = 1 if byte == _HEAD else 0  # AA AA C0: the second AA may start the frame
            if self._n:
                self._buf[0] = byte
            return False
        self._buf[n] = byte
        self._n = n + 1
        if self._n < _FRAME_LEN:
            return False
        self._n = 0
        return self._frame()

    def _frame(self) -> bool:
        b = self._buf
        if b[9] != _TAIL or sum(b[2:8]) & 0xFF != b[8]:
            self.errors += 1
            return False
        if b[1] != _DATA:
            return False  # a reply to a command
        self.pm = ((b[3] << 8 | b[2]) / 10, (b[5] << 8 | b[4]) / 10)
        self.frames += 1
        return True

    def _command(self, cmd: int, set_: int, value: int) -> None:
        c = self._cmd
        for i in range(_CMD_LEN):
            c[i] = 0
        c[0], c[1], c[2], c[3], c[4] = _HEAD, 0xB4, cmd, set_, value
        c[15] = c[16] = 0xFF  # device id FFFF: every sensor on the line
        c[17] = sum(c[2:17]) & 0xFF
        c[18] = _TAIL
        self._uart.write(c)
