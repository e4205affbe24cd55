"""What main.py hands the app: link, clock, watchdog, LED, reset. Real on a board, fakes in tests."""

try:  # the hardware contracts, for the type checker; MicroPython has no typing and skips this
    from typing import Any, Callable, Protocol

    class Link(Protocol):
        """The serial link to the gateway: machine.UART with timeout=0, or main.UsbLink."""

        def read(self) -> "bytes | None": ...
        def write(self, data: bytes) -> "int | None": ...

    class ClockLike(Protocol):
        """Wrapping millisecond ticks (node.clock.Clock, or a fake)."""

        def ticks_ms(self) -> int: ...
        def ticks_diff(self, new: int, old: int) -> int: ...
        def ticks_add(self, ticks: int, delta: int) -> int: ...
        def sleep_ms(self, ms: int) -> None: ...

    class Watchdog(Protocol):
        """machine.WDT."""

        def feed(self) -> None: ...

    class OutputPin(Protocol):
        """A pin driving the LED (machine.Pin)."""

        def value(self, v: int) -> "int | None": ...

    class Sensor(Protocol):
        """A sensor adapter (node.sensors)."""

        name: str
        keys: "tuple[str, ...]"
        errors: int
        can_sleep: bool

        def update(self, now: int) -> None: ...
        def sample(self, now: int, values: "dict[str, Any]", flags: "dict[str, list[str]]") -> None: ...
        def probe(self) -> str: ...

except ImportError:
    pass

# machine.reset_cause() codes by name; a port lacks some (RP2040 has no DEEPSLEEP_RESET).
_CAUSES = (
    ("PWRON_RESET", "power_on"),
    ("WDT_RESET", "watchdog"),
    ("SOFT_RESET", "soft"),
    ("HARD_RESET", "hard"),
    ("DEEPSLEEP_RESET", "deepsleep"),
)


def reset_cause(machine: "Any") -> str:
    """PROTOCOL.md's name for machine.reset_cause() on this port, or "unknown"."""
    code = machine.reset_cause()
    for attr, name in _CAUSES:
        if getattr(machine, attr, None) == code:
            return name
    return "unknown"


class Board:
    """The hardware around the logic.

    link: read() -> bytes | None (non-blocking), write(bytes); clock: see node.clock.Clock;
    wdt: feed(); led: value(0|1) or None; reset: called to reboot; mem_free: () -> int;
    save_interval: (seconds) -> None or why the config file could not keep it.
    """

    def __init__(  # noqa: PLR0913 - a plain record of the board's parts, passed by keyword
        self,
        name: str,
        link: "Link",
        clock: "ClockLike",
        *,
        wdt: "Watchdog | None" = None,
        led: "OutputPin | None" = None,
        reset: "Callable[[], None] | None" = None,
        reset_cause: str = "unknown",
        mem_free: "Callable[[], int] | None" = None,
        save_interval: "Callable[[int], str | None] | None" = None,
    ) -> None:
        self.name = name
        self.link = link
        self.clock = clock
        self.wdt = wdt
        self.led = led
        self.reset = reset
        self.reset_cause = reset_cause
        self.mem_free = mem_free
        self.save_interval = save_interval
