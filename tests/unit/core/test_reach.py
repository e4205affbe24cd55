"""Why the broker cannot be reached, in words a technician can act on."""

from __future__ import annotations

import socket
import ssl

import pytest

from gateway.publish.reach import reason


@pytest.mark.parametrize(
    ("exc", "starts"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "refused"),
        (TimeoutError("timed out"), "timeout"),
        (socket.gaierror(-2, "Name or service not known"), "the name does not resolve"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS:"),
        (OSError(101, "Network is unreachable"), "Network is unreachable"),
        (None, "unknown"),
    ],
)
def test_each_failure_has_a_name(exc: BaseException | None, starts: str) -> None:
    assert reason(exc).startswith(starts)
