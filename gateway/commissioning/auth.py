"""Who may see the commissioning page: sessions, their CSRF tokens, and a login rate limit.

A session is a random 256-bit id in an HttpOnly, SameSite=Strict cookie, kept only in memory (a
restart logs everyone out), ending after `IDLE_S` without a request or `LIFETIME_S` in all. Each
session has its own CSRF token, which every state-changing form must send back. Failed logins are
counted per client address and in all: past the limits, logins are refused before the password is
even checked, until the window has passed.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

IDLE_S = 30 * 60.0  # half an hour without a request: a laptop left on the ladder logs out
LIFETIME_S = 8 * 3600.0  # a working day at most
MAX_SESSIONS = 16  # beyond this the oldest is dropped: memory stays bounded whatever logs in
FAILURE_WINDOW_S = 300.0
FAILURES_PER_CLIENT = 5  # in FAILURE_WINDOW_S, from one address
FAILURES_IN_ALL = 20  # in FAILURE_WINDOW_S, from every address together (many addresses guessing)

Clock = Callable[[], float]


@dataclass(slots=True)
class Session:
    """One logged-in browser."""

    id: str
    csrf: str
    started: float
    seen: float


class Sessions:
    """The logged-in browsers, in memory."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self) -> Session:
        """A new session (the oldest is dropped if there are too many)."""
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions.values(), key=lambda s: s.seen)
                del self._sessions[oldest.id]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (and it counts as seen now), else None."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.seen > IDLE_S or now - session.started > LIFETIME_S:
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def end(self, session_id: str) -> None:
        """Log a session out."""
        with self._lock:
            self._sessions.pop(session_id, None)


def csrf_ok(session: Session, token: str | None) -> bool:
    """Whether a form carried this session's CSRF token."""
    return token is not None and hmac.compare_digest(session.csrf.encode(), token.encode())


class LoginLimiter:
    """Counts failed logins; says how long a client must wait before it may try again."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        horizon = now - FAILURE_WINDOW_S
        while self._all and self._all[0] <= horizon:
            self._all.popleft()
        for client in list(self._failures):
            times = self._failures[client]
            while times and times[0] <= horizon:
                times.popleft()
            if not times:
                del self._failures[client]

    def wait_s(self, client: str) -> float:
        """0 if `client` may try a password now, else the seconds until it may."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            waits = [0.0]
            mine = self._failures.get(client)
            if mine is not None and len(mine) >= FAILURES_PER_CLIENT:
                waits.append(mine[-FAILURES_PER_CLIENT] + FAILURE_WINDOW_S - now)
            if len(self._all) >= FAILURES_IN_ALL:
                waits.append(self._all[-FAILURES_IN_ALL] + FAILURE_WINDOW_S - now)
            return max(waits)

    def failed(self, client: str) -> None:
        """Count a wrong password from `client`."""
        now = self._clock()
        with self._lock:
            self._failures.setdefault(client, deque()).append(now)
            self._all.append(now)

    def succeeded(self, client: str) -> None:
        """A right password: this client's count starts again."""
        with self._lock:
            self._failures.pop(client, None)
