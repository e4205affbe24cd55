"""A loopback TCP relay between a gateway and its broker whose link can stall, drop or refuse.

Used by the publisher tests (tests/integration/test_publisher.py) and the soak (tests/soak/): the
gateway connects to the proxy's port exactly as it would to a broker across a cellular link.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class StallingProxy:
    """A TCP relay on 127.0.0.1 in front of a broker whose link can stall like a dead cellular link.

    `stall()` keeps every open connection up but lets no byte through either way (a silent link:
    only keepalive can notice); `resume()` lets new connections through again; `drop()` cuts every
    open connection at once (a link that fails loudly). With the broker down, a new connection is
    accepted and closed at once, as a NAT router in front of a dead host would.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stalled = threading.Event()
        self._sockets: list[socket.socket] = []
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        # time.monotonic() of every close the client (gateway) side started: how a stall was noticed
        self.client_closes: list[float] = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def stall(self) -> None:
        """From now on no byte passes on any connection, open or new; nothing is closed."""
        self._stalled.set()

    def resume(self) -> None:
        """Connections opened from now on relay again; the stalled ones are cut."""
        self._stalled.clear()
        self.drop()

    def drop(self) -> None:
        """Cut every open connection now (the client sees its socket close)."""
        with self._lock:
            open_now, self._sockets = self._sockets, []
            self._clients.clear()
        for sock in open_now:
            _close(sock)

    def close(self) -> None:
        """Stop accepting and cut everything."""
        self._closed = True
        self._listener.close()
        self.resume()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=2)
                upstream.settimeout(None)
            except OSError:  # the broker is down: refuse this connection, keep serving
                _close(client)
                continue
            with self._lock:
                self._sockets += [client, upstream]
                self._clients.add(client)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, client: socket.socket) -> None:
        stalled_here = False
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                stalled_here = stalled_here or self._stalled.is_set()
                if not stalled_here:  # once stalled, this connection never carries a byte again
                    dst.sendall(data)
        with self._lock:
            silent = stalled_here or self._stalled.is_set()
            if src is not client and silent and client in self._clients:
                # The broker gave up on the silent link: on a half-open link its FIN never arrives,
                # so the client's end stays open and silent until the client gives up itself.
                _close(src)
                return
            self._sockets = [s for s in self._sockets if s not in (src, dst)]
            if client in self._clients:  # not cut by drop(): whoever closed first, it ends here
                self._clients.discard(client)
                if src is client:
                    self.client_closes.append(time.monotonic())
        for sock in (src, dst):
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
