"""A district Mosquitto bridged to a central one: the layout of docs/fleet.md, on two real brokers.

Scenario: a local CA issues certificates to a gateway of district `noord` (site-a/gw-1), the
ambulance, an operator and the bridge (`bridge.noord`). The district broker runs the ACL for its own
gateway and the shipped bridge config (deploy/mosquitto/district-bridge.conf, fields filled in); the
central broker runs the ACL `broker-acl --district noord:...` prints: actors, operators and the
bridge, which may carry exactly its gateways' topics. Every link is mutual TLS.

Checked: an event the gateway publishes at the district reaches the ambulance at the central broker;
its retained status reaches the operator there; an operator's command at the central broker reaches
the gateway at the district; the bridge's own state is visible to operators; the central broker
refuses what the bridge identity may not carry (another district's gateway, a command); and an event
published while the central broker is down waits in the district broker's bridge queue and reaches
the ambulance (a persistent session at a persistent central broker) once it is back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.tools.acl import AclOptions, mosquitto_acl
from gateway.tools.pki import identity_actor, identity_bridge, identity_gateway, identity_operator
from tests.secure_broker import NOT_AUTHORIZED, Ca, Credentials, SecureMosquitto, TlsClient, issue

REPO = Path(__file__).resolve().parents[2]
BRIDGE_CONF = REPO / "deploy" / "mosquitto" / "district-bridge.conf"
ACTORS = ["ambulance", "politie"]
NOORD = [("site-a", "gw-1")]
GW = identity_gateway("site-a", "gw-1")
AMBULANCE, OPS, BRIDGE = identity_actor("ambulance"), identity_operator("ops"), identity_bridge("noord")
EVENT = "city/v1/ambulance/site-a/gw-1/events/fall.detected"
COMMAND = "city/v1/site-a/gw-1/commands/config"


@dataclass
class City:
    """The two brokers and everyone's credentials."""

    central: SecureMosquitto
    district: SecureMosquitto
    creds: dict[str, Credentials]


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    ca = Ca.create(tmp_path / "ca")
    creds = {i: issue(ca, tmp_path / "clients", i) for i in (GW, AMBULANCE, OPS, BRIDGE)}
    central_acl = mosquitto_acl("city", ACTORS, [], ["ops"], AclOptions(bridges={"noord": NOORD}))
    central = SecureMosquitto(tmp_path / "central", ca, central_acl)
    # Persistent, so that the ambulance's session outlives the central broker's restart below.
    saved = f"persistence true\npersistence_location {central.workdir}/\nautosave_on_changes true\n"
    central.conf.write_text(central.conf.read_text().replace("persistence false\n", saved))
    district = SecureMosquitto(tmp_path / "noord", ca, mosquitto_acl("city", ACTORS, NOORD, []))
    bridge = creds[BRIDGE]
    fields = {"district": "noord", "prefix": "city", "central_host": central.host, "cafile": ca.cert}
    fields |= {"central_port": central.port, "certfile": bridge.cert, "keyfile": bridge.key}
    district.conf.write_text(district.conf.read_text() + "\n" + BRIDGE_CONF.read_text().format(**fields))
    try:
        central.start()
        district.start()
        yield City(central, district, creds)
    finally:
        district.stop()
        central.stop()


@pytest.fixture
def clients() -> Iterator[list[TlsClient]]:
    made: list[TlsClient] = []
    yield made
    for client in made:
        client.close()


def connect(made: list[TlsClient], broker: SecureMosquitto, creds: Credentials) -> TlsClient:
    made.append(TlsClient(broker, creds))
    return made[-1].connect()


def test_events_status_and_commands_cross_the_bridge(city: City, clients: list[TlsClient]) -> None:
    operator = connect(clients, city.central, city.creds[OPS])
    operator.subscribe("city/v1/#")
    assert operator.received(b"1"), f"the bridge never came up\n{city.district.log()}"  # _bridge/noord/state
    assert ("city/v1/_bridge/noord/state", b"1") in operator.state.messages
    ambulance = connect(clients, city.central, city.creds[AMBULANCE])
    ambulance.subscribe("city/v1/ambulance/#")
    gateway = connect(clients, city.district, city.creds[GW])
    gateway.subscribe(COMMAND)

    assert gateway.publish("city/v1/site-a/gw-1/status", b"online", retain=True) in (0, 0x10)
    assert gateway.publish(EVENT, b'{"id": "fall-1"}') in (0, 0x10)
    assert ambulance.received(b'{"id": "fall-1"}'), city.central.log()
    assert operator.received(b"online")
    late = connect(clients, city.central, city.creds[OPS])
    late.subscribe("city/v1/site-a/gw-1/status")
    assert late.received(b"online"), "the status is not retained at the central broker"

    assert city.central.wait_log("Received SUBSCRIBE from bridge-noord"), city.central.log()
    assert operator.publish(COMMAND, b'{"command": 1}') == 0
    assert gateway.received(b'{"command": 1}'), city.district.log()


def test_the_central_broker_confines_the_bridge_to_its_gateways(city: City, clients: list[TlsClient]) -> None:
    # The bridge's identity, used directly: what a misconfigured or compromised district broker could send.
    rogue = connect(clients, city.central, city.creds[BRIDGE])
    assert rogue.publish("city/v1/ambulance/site-b/gw-1/events/fall.detected", b"x") == NOT_AUTHORIZED
    assert rogue.publish("city/v1/site-b/gw-1/status", b"online") == NOT_AUTHORIZED
    assert rogue.publish(COMMAND, b"{}") == NOT_AUTHORIZED
    assert rogue.publish(EVENT, b"{}") in (0, 0x10)  # its own gateway's topic is allowed


class SessionSubscriber:
    """The ambulance with a persistent MQTT 5 session (what an integrator should run), over mutual TLS."""

    def __init__(self, broker: SecureMosquitto, creds: Credentials) -> None:
        self.got: list[bytes] = []
        self.subscribed, self.arrived = threading.Event(), threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ambulance-1", protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(creds.ca_cert), certfile=str(creds.cert), keyfile=str(creds.key))
        self.client.reconnect_delay_set(1, 1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        self.client.subscribe("city/v1/ambulance/#", qos=1)
        assert self.subscribed.wait(10), "no SUBACK"

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.arrived:
            self.got.append(bytes(msg.payload))
            self.arrived.notify_all()

    def received(self, payload: bytes, timeout: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: payload in self.got, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client.on_message = self.client.on_subscribe = None


def test_an_event_raised_while_the_central_broker_is_down_arrives_after(
    city: City, clients: list[TlsClient]
) -> None:
    ambulance = SessionSubscriber(city.central, city.creds[AMBULANCE])
    try:
        gateway = connect(clients, city.district, city.creds[GW])
        assert gateway.publish(EVENT, b'{"id": "before"}') in (0, 0x10)
        assert ambulance.received(b'{"id": "before"}', 10), city.district.log()
        city.central.stop()  # saves the ambulance's session and subscription
        assert city.district.wait_log("Client local.bridge-noord closed its connection."), city.district.log()
        assert gateway.publish(EVENT, b'{"id": "during"}') == 0  # the bridge's queue took it
        city.central.start()
        # Bounded: the bridge retries after about 1 s (restart_timeout 1 30), the ambulance after 1 s.
        assert ambulance.received(b'{"id": "during"}', 30), city.district.log()
    finally:
        ambulance.close()
