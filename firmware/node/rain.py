"""Tipping-bucket rain gauge: counts reed-switch closures from a pin IRQ, with debounce.

The IRQ handler only touches integers (no allocation, safe as a soft or hard IRQ); `take` turns the
tips since the last call into mm for the interval and a rate in mm/h.
"""

try:  # type names only: MicroPython has no typing and never evaluates annotations
    import typing  # noqa: F401

    from node.board import ClockLike
except ImportError:
    pass


class RainGauge:
    """Counts tips; `irq` is the pin's handler, `take` is called once per readings interval."""

    def __init__(self, clock: "ClockLike", mm_per_tip: float = 0.2, debounce_ms: int = 100) -> None:
        self._clock = clock
        self.mm_per_tip = mm_per_tip
        self.debounce_ms = debounce_ms
        self.tips = 0  # since boot; only ever incremented, so a reader never races the IRQ
        self.bounces = 0
        self._last_tip = clock.ticks_ms()
        self._taken = 0
        self._taken_at = self._last_tip

    def irq(self, pin: object = None) -> None:
        """Pin IRQ handler: one closure is one tip unless it follows the last within debounce_ms."""
        now = self._clock.ticks_ms()
        if self.tips and self._clock.ticks_diff(now, self._last_tip) < self.debounce_ms:
            self.bounces += 1
            return
        self._last_tip = now
        self.tips += 1

    def take(self, now: int) -> "tuple[float, float]":
        """(mm since the last take, mean rate in mm/h over that time)."""
        tips = self.tips
        n = tips - self._taken
        elapsed = self._clock.ticks_diff(now, self._taken_at)
        self._taken = tips
        self._taken_at = now
        mm = n * self.mm_per_tip
        rate = mm * 3_600_000 / elapsed if elapsed > 0 else 0.0
        return round(mm, 2), round(rate, 2)
