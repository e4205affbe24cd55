"""Status LED patterns (README "LED codes"), driven from the main loop without blocking."""

try:  # type names only: MicroPython has no typing and never evaluates annotations
    import typing  # noqa: F401

    from node.board import ClockLike, OutputPin
except ImportError:
    pass

FLASH_MS = 150  # one flash: 150 ms on, 150 ms off
IDENTIFY_MS = 10_000
IDENTIFY_PERIOD_MS = 125  # 4 Hz: not mistakable for the status flashes


class Led:
    """One LED on a pin-like object (`value(0|1)`), or nothing when the board has none."""

    def __init__(self, pin: "OutputPin | None", clock: "ClockLike") -> None:
        self._pin = pin
        self._clock = clock
        self._toggles = 0
        self._period = FLASH_MS
        self._next = 0
        self._lit = False
        self.set(False)

    def set(self, lit: bool) -> None:
        """Switch the LED on or off, cancelling any pattern."""
        self._toggles = 0
        self._write(lit)

    def flash(self, count: int) -> None:
        """`count` short flashes (1 = all well, 2 = a sensor error, 3 = safe defaults)."""
        self._start(2 * count, FLASH_MS)

    def identify(self) -> None:
        """Fast blinking for 10 s, so a technician can find this node on a pole."""
        self._start(IDENTIFY_MS // IDENTIFY_PERIOD_MS, IDENTIFY_PERIOD_MS)

    def busy(self) -> bool:
        """True while a pattern is playing."""
        return self._toggles > 0

    def tick(self, now: int) -> None:
        """Advance the pattern; call every loop."""
        if self._toggles and self._clock.ticks_diff(now, self._next) >= 0:
            self._write(not self._lit)
            self._toggles -= 1
            self._next = self._clock.ticks_add(now, self._period)

    def _start(self, toggles: int, period: int) -> None:
        self._write(False)
        self._toggles = toggles
        self._period = period
        self._next = self._clock.ticks_ms()

    def _write(self, lit: bool) -> None:
        self._lit = lit
        if self._pin is not None:
            self._pin.value(1 if lit else 0)
