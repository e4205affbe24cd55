"""What main.py hands the app: link, clock, watchdog, LED, reset. Real on a board, fakes in tests."""

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are never evaluated
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
    wdt: feed(); led: value(0|1) or None; reset: called to reboot; mem_free: () -> int.
    """

    def __init__(self, name: str, link: "Any", clock: "Any", **parts: "Any") -> None:
        self.name = name
        self.link = link
        self.clock = clock
        self.wdt = parts.get("wdt")
        self.led = parts.get("led")
        self.reset = parts.get("reset")
        self.reset_cause = parts.get("reset_cause", "unknown")
        self.mem_free = parts.get("mem_free")
