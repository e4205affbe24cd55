"""stop_on_signals: a signal sets the event instead of ending the process, and the old handlers return."""

from __future__ import annotations

import os
import signal

import pytest

from gateway.stopping import STOP_SIGNALS, stop_on_signals


@pytest.mark.parametrize("signum", STOP_SIGNALS)
def test_a_signal_sets_the_event(signum: int) -> None:
    with stop_on_signals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signum)
        assert stop.wait(2.0)


def test_the_previous_handlers_come_back() -> None:
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    with stop_on_signals():
        assert all(signal.getsignal(signum) is not before[signum] for signum in STOP_SIGNALS)
    assert {signum: signal.getsignal(signum) for signum in STOP_SIGNALS} == before
