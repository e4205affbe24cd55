"""A live terminal view of one gateway's topics: what an integrator on the broker sees.

A broker that cannot be reached is said at once, with its address and why (refused, timeout, TLS,
auth), then at most once a minute until it can be (gateway/publish/reach.py, as `run` says it);
the view's title says it all along.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from rich.console import Console
from rich.live import Live
from rich.text import Text

from gateway.config import GatewayConfig
from gateway.publish.reach import Reachability
from gateway.stopping import stop_on_signals
from gateway.tools.watch_view import GatewayView
from gateway.topics import Topics

__all__ = ["BrokerLink", "GatewayView", "show", "watch_gateway"]

STOP_WAIT_S = 2.0  # paho's thread may sit in a connect attempt: wait for it this long at most


class BrokerLink:
    """watch's MQTT connection: subscribes on every (re)connect and knows why it is not connected."""

    def __init__(
        self,
        config: GatewayConfig,
        on_message: Callable[[str, bytes], None],
        credentials: tuple[Path, Path] | None = None,
    ) -> None:
        self.host, self.port = config.mqtt.host, config.mqtt.port
        self.reach = Reachability(f"{self.host}:{self.port}")
        self.connected = False
        self.subscribed = threading.Event()
        topics = Topics(config.mqtt.prefix, config.site, config.gateway)
        self._filters = [f"{topics.base}/#", topics.actor_event("+", "#")]
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        tls = config.mqtt.tls
        if tls is not None:
            # On a TLS broker an operator's certificate is needed: the ACL lets a gateway's own
            # identity read nothing but its commands.
            cert, key = credentials or (tls.cert, tls.key)
            self._client.tls_set(ca_certs=str(tls.ca), certfile=str(cert), keyfile=str(key))
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = lambda *_: self.subscribed.set()
        self._client.on_message = lambda _c, _u, msg: on_message(msg.topic, bytes(msg.payload))

    def start(self) -> BrokerLink:
        """Connect in the background, retrying with back-off until stopped."""
        self._client.connect_async(self.host, self.port)
        self._client.loop_start()
        return self

    def stop(self) -> None:
        """Disconnect, waiting (bounded) for paho's thread."""
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, name="watch-mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(STOP_WAIT_S)

    def describe(self) -> str:
        """The link in a few words, for the view's title."""
        if self.connected:
            return f"{self.reach.address} connected"
        return f"{self.reach.address} {self.reach.describe() or 'connecting'}"

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Properties | None
    ) -> None:
        if reason.is_failure:
            self.reach.refused(str(reason))
            return
        self.connected = True
        self.reach.connected()
        client.subscribe([(f, 1) for f in self._filters])

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this inside its `except OSError` without the exception: it is the one being handled
        self.reach.failed(sys.exc_info()[1])

    def _on_disconnect(self, *_: Any) -> None:
        self.connected = False


class _ToConsole(logging.Handler):
    """Log lines printed above the live view (as plain text, not markup)."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.print(Text(record.getMessage(), style="yellow"), soft_wrap=True)


def show(view: GatewayView, stop: threading.Event, console: Console | None = None) -> None:
    """Render `view` live until `stop` is set; the broker's reachability is logged above it."""
    reach_log = logging.getLogger("gateway.publish.mqtt")
    with Live(view.render(), console=console, refresh_per_second=4, screen=False) as live:
        handler = _ToConsole(live.console)
        reach_log.addHandler(handler)
        try:
            while not stop.wait(0.25):
                live.update(view.render())
            live.update(view.render())
        finally:
            reach_log.removeHandler(handler)


def watch_gateway(config: GatewayConfig, credentials: tuple[Path, Path] | None = None) -> int:
    """Subscribe to the gateway's namespace and every actor's view of its events; render until Ctrl-C."""
    view = GatewayView(Topics(config.mqtt.prefix, config.site, config.gateway))
    link = BrokerLink(config, view.on_message, credentials)
    view.broker = link.describe
    link.start()
    try:
        with stop_on_signals() as stop:
            show(view, stop)
    finally:
        link.stop()
    return 0
