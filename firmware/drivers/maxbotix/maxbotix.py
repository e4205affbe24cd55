"""MaxBotix ultrasonic range finder (HRXL/XL-MaxSonar, serial output): lines "R####\\r" in mm at 9600 8N1.

The sensor streams about 6 readings a second. Readings at or below the blanking distance (300 mm on
the HRXL models) mean "this close or closer"; the maximum (5000 mm, or 9999 on 10 m models) means no
target was found. RS232-level models need the UART's RX inverted. Usage:

    sonar = MaxBotix(UART(2, 9600, rx=4, timeout=0))
    if sonar.update(): print(sonar.mm, sonar.status)
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

OK = const(0)
BLANKING = const(1)  # at or inside the minimum range: the target is this close or closer
NO_TARGET = const(2)  # the maximum range: nothing detected
_R = const(0x52)
_CR = const(0x0D)


class MaxBotix:
    """One sensor; `uart` is any object with read() -> bytes | None."""

    def __init__(self, uart: "UART", min_mm: int = 300, max_mm: int = 5000) -> None:
        self._uart = uart
        self.min_mm = min_mm
        self.max_mm = max_mm
        self._digits = -1  # -1: waiting for "R"
        self._value = 0
        self.mm = 0
        self.status = NO_TARGET
        self.lines = 0
        self.errors = 0  # malformed lines

    def update(self) -> bool:
        """Parse whatever the UART holds; True if a new reading arrived."""
        data = self._uart.read()
        new = False
        if data:
            for byte in data:
                new = self._feed(byte) or new
        return new

    def _feed(self, byte: int) -> bool:
        if byte == _R:
            if self._digits > 0:
                self.errors += 1  # a line cut short
            self._digits, self._value = 0, 0
        elif self._digits < 0:
            pass  # between lines: power-up banner or noise
        elif 0x30 <= byte <= 0x39 and self._digits < 4:
            self._digits += 1
            self._value = self._value * 10 + byte - 0x30
        elif byte == _CR and self._digits == 4:
            self._digits = -1
            self._set(self._value)
            return True
        else:
            if self._digits > 0:
                self.errors += 1  # a reading garbled; "R" and text is the power-up banner ("HRXL...")
            self._digits = -1
        return False

    def _set(self, mm: int) -> None:
        self.mm = mm
        self.lines += 1
        if mm >= self.max_mm:
            self.status = NO_TARGET
        elif mm <= self.min_mm:
            self.status = BLANKING
        else:
            self.status = OK
