"""Millisecond ticks with MicroPython's wrap-around semantics, on MicroPython and CPython alike.

The app takes its clock as an object (this one on a board, a fake in tests) so a test can run hours of
node time in milliseconds. Tick values wrap (2**30 ms on MicroPython): only ticks_diff/ticks_add compare
or move them, never `-` or `<`.
"""

try:
    from time import sleep_ms, ticks_add, ticks_diff, ticks_ms
except ImportError:  # CPython (host-side tests): the same API and period as MicroPython's
    import time as _time

    _PERIOD = 1 << 30
    _HALF = 1 << 29

    def ticks_ms() -> int:  # type: ignore[misc]  # the stubs' ticks are an opaque int type
        return _time.monotonic_ns() // 1_000_000 % _PERIOD  # type: ignore[attr-defined,no-any-return]

    def ticks_add(ticks: int, delta: int) -> int:  # type: ignore[misc]
        return (ticks + delta) % _PERIOD

    def ticks_diff(new: int, old: int) -> int:  # type: ignore[no-redef]
        return (new - old + _HALF) % _PERIOD - _HALF

    def sleep_ms(ms: int) -> None:  # type: ignore[misc]
        _time.sleep(ms / 1000)


__all__ = ["Clock", "sleep_ms", "ticks_add", "ticks_diff", "ticks_ms"]


class Clock:
    """The board's clock; a fake with the same four methods stands in for it in tests."""

    def ticks_ms(self) -> int:
        """Now, in wrapping milliseconds."""
        return ticks_ms()  # type: ignore[return-value]  # opaque ticks in the stubs are ints at run time

    def ticks_diff(self, new: int, old: int) -> int:
        """Signed milliseconds from `old` to `new`, correct across the wrap."""
        return ticks_diff(new, old)

    def ticks_add(self, ticks: int, delta: int) -> int:
        """`ticks` moved by `delta` ms."""
        return ticks_add(ticks, delta)  # type: ignore[type-var]  # see ticks_ms

    def sleep_ms(self, ms: int) -> None:
        """Block for `ms` milliseconds."""
        sleep_ms(ms)
