"""Sessions and the login limit, on a clock the test turns by hand.

Scenarios: a session ends after half an hour idle or eight hours in all; at most 16 live at once
(the least recently seen goes); a CSRF token is the session's own; five wrong passwords from one
address make it wait until the first leaves the five-minute window, others may still try; twenty
from anywhere make everyone wait; a right password clears that address's count.
"""

from __future__ import annotations

from gateway.commissioning.auth import (
    FAILURE_WINDOW_S,
    IDLE_S,
    LIFETIME_S,
    MAX_SESSIONS,
    LoginLimiter,
    Sessions,
    csrf_ok,
)


class Clock:
    """Monotonic seconds, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_end_when_idle_or_old() -> None:
    clock = Clock()
    sessions = Sessions(clock)
    session = sessions.create()
    clock.now += IDLE_S - 1
    assert sessions.get(session.id) is session
    clock.now += IDLE_S + 1
    assert sessions.get(session.id) is None

    kept_busy = sessions.create()
    while clock.now < kept_busy.started + LIFETIME_S - 60:
        clock.now += 60
        assert sessions.get(kept_busy.id) is kept_busy
    clock.now += 120
    assert sessions.get(kept_busy.id) is None
    assert sessions.get(None) is None and sessions.get("") is None


def test_at_most_max_sessions_live() -> None:
    clock = Clock()
    sessions = Sessions(clock)
    made = []
    for _ in range(MAX_SESSIONS + 1):
        clock.now += 1
        made.append(sessions.create())
    assert sessions.get(made[0].id) is None
    assert all(sessions.get(s.id) is s for s in made[1:])


def test_csrf_tokens_are_per_session() -> None:
    sessions = Sessions(Clock())
    one, two = sessions.create(), sessions.create()
    assert csrf_ok(one, one.csrf) and not csrf_ok(one, two.csrf) and not csrf_ok(one, None)
    sessions.end(one.id)
    assert sessions.get(one.id) is None


def test_five_failures_from_one_address_make_it_wait() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock)
    for _ in range(5):
        assert limiter.wait_s("10.0.0.2") == 0
        limiter.failed("10.0.0.2")
        clock.now += 10
    assert limiter.wait_s("10.0.0.2") == FAILURE_WINDOW_S - 50
    assert limiter.wait_s("10.0.0.3") == 0
    clock.now += FAILURE_WINDOW_S - 50
    assert limiter.wait_s("10.0.0.2") == 0


def test_twenty_failures_from_anywhere_make_everyone_wait() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock)
    for i in range(20):
        limiter.failed(f"10.0.0.{i}")
    assert limiter.wait_s("10.0.0.99") == FAILURE_WINDOW_S
    clock.now += FAILURE_WINDOW_S
    assert limiter.wait_s("10.0.0.99") == 0


def test_a_right_password_clears_the_count() -> None:
    limiter = LoginLimiter(Clock())
    for _ in range(4):
        limiter.failed("10.0.0.2")
    limiter.succeeded("10.0.0.2")
    limiter.failed("10.0.0.2")
    assert limiter.wait_s("10.0.0.2") == 0
