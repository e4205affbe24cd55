"""paho's network thread, watched from the callbacks it runs for us.

paho runs its loop in a thread of its own; it blocks only in our callbacks (connect and TLS have
timeouts, the socket is non-blocking) and dies only if a callback raises. So the thread is alive
while it exists and no callback of ours has been running for longer than `hung_after_s`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from gateway.sources.heartbeat import HUNG_AFTER_S

P = ParamSpec("P")
R = TypeVar("R")


class CallbackWatch:
    """Which thread runs the callbacks, and since when the current one runs (None: none runs)."""

    def __init__(self, hung_after_s: float = HUNG_AFTER_S) -> None:
        self.hung_after_s = hung_after_s
        self.thread: threading.Thread | None = None
        self._expected: float | None = None  # monotonic: when the thread was started
        self._since: float | None = None

    def expect(self) -> None:
        """The thread is about to start: it must call a callback (paho: on_pre_connect) in time."""
        self._expected = time.monotonic()

    def watched(self, callback: Callable[P, R]) -> Callable[P, R]:
        """`callback`, noting the thread that runs it and how long it takes."""

        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            self.thread = threading.current_thread()
            self._since = time.monotonic()
            try:
                return callback(*args, **kwargs)
            finally:
                self._since = None

        return run

    def alive(self) -> bool:
        """Whether the thread runs and is not stuck in a callback (True before it is expected)."""
        now, since, thread = time.monotonic(), self._since, self.thread
        if since is not None and now - since > self.hung_after_s:
            return False
        if thread is None:
            return self._expected is None or now - self._expected <= self.hung_after_s
        return thread.is_alive()
