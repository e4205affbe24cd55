"""A loop's sign of life, for the service watchdog: alive means the loop came round recently.

`Thread.is_alive()` says nothing about a thread stuck in a read that never returns or on a lock
nobody releases; a deadline the loop itself renews does. A loop about to wait on purpose (a
back-off) says how long, so a long wait is not taken for a hang.
"""

from __future__ import annotations

import time

# A loop silent this much longer than it said it would wait is hung. Longer than anything a pass
# may block on by design: a camera's open (10 s) or stalled read (5 s), an emit into a full inbox (5 s).
HUNG_AFTER_S = 30.0


class Heartbeat:
    """Renewed by one loop, read by the watchdog (a float's assignment is atomic: no lock needed)."""

    def __init__(self, hung_after_s: float = HUNG_AFTER_S) -> None:
        self.hung_after_s = hung_after_s
        self._due: float | None = None  # monotonic deadline of the next beat; None: never started
        self._ended = False

    def beat(self, waiting_s: float = 0.0) -> None:
        """The loop came round; it may now wait `waiting_s` on purpose before the next beat."""
        self._due = time.monotonic() + waiting_s + self.hung_after_s

    def end(self) -> None:
        """The loop finished on purpose (stopped, or a file played to its end): nothing to watch."""
        self._ended = True

    @property
    def started(self) -> bool:
        """Whether the loop has beaten at least once."""
        return self._due is not None

    def alive(self) -> bool:
        """Whether the loop beat in time (or ended on purpose)."""
        due = self._due
        return self._ended or (due is not None and time.monotonic() <= due)
