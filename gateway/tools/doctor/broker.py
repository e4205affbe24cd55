"""The doctor's broker check: TCP, TLS and an MQTT 5 CONNECT as the gateway makes them, and the
device certificate (readable, dated, named for this gateway). Failures are named in the words of
`publish/reach.py`, the same the running gateway logs."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import GatewayConfig, TlsConfig
from gateway.publish.reach import reason
from gateway.tools.doctor.report import Finding, Status
from gateway.tools.pki import identity_gateway

CONNACK_S = 5.0
EXPIRY_WARN = timedelta(days=30)


class _Connack:
    """paho's CONNACK or disconnect, waited for with a bound."""

    def __init__(self) -> None:
        self.code: ReasonCode | None = None
        self.dropped = False
        self.done = threading.Event()

    def on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, code: ReasonCode, _p: Any = None) -> None:
        self.code = code
        self.done.set()

    def on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _code: ReasonCode, _p: Any = None) -> None:
        self.dropped = True
        self.done.set()


def check_broker(config: GatewayConfig) -> list[Finding]:
    """The certificate (with TLS) and the connection."""
    mqtt_config = config.mqtt
    address = f"{mqtt_config.host}:{mqtt_config.port}"
    findings = []
    if mqtt_config.tls is not None:
        findings.append(check_certificate(config, mqtt_config.tls))
        if findings[-1].status is Status.FAIL:
            return [
                *findings,
                Finding("broker", address, Status.SKIP, "not tried without a usable certificate"),
            ]
    return [*findings, _connect(config, address)]


def _connect(config: GatewayConfig, address: str) -> Finding:
    settings = config.mqtt
    # Not the gateway's own client id: connecting with it would end a running gateway's session.
    client_id = f"{settings.client_id or f'{config.site}-{config.gateway}'}-doctor"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    waiter = _Connack()
    client.on_connect, client.on_disconnect = waiter.on_connect, waiter.on_disconnect
    secure = "mutual TLS" if settings.tls else "plain MQTT"
    try:
        started = time.monotonic()
        _handshake(settings.host, settings.port, settings.tls)
        if settings.tls is not None:
            client.tls_set(str(settings.tls.ca), str(settings.tls.cert), str(settings.tls.key))
        client.connect(settings.host, settings.port, keepalive=10)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return Finding("broker", address, Status.FAIL, f"cannot reach it: {reason(exc)}", _hint(exc, secure))
    client.loop_start()
    try:
        waiter.done.wait(CONNACK_S)
        took = time.monotonic() - started
    finally:
        client.disconnect()
        client.loop_stop()
    return _verdict(waiter, address, secure, took)


def _handshake(host: str, port: int, tls: TlsConfig | None) -> None:
    """TCP, and TLS as paho sets it up (the broker's certificate and name verified, ours presented),
    on a socket of our own that is always closed: the precise reason when the network is the problem."""
    with socket.create_connection((host, port), timeout=CONNACK_S) as raw:
        if tls is None:
            return
        context = ssl.create_default_context(cafile=str(tls.ca))
        context.load_cert_chain(str(tls.cert), str(tls.key))
        with context.wrap_socket(raw, server_hostname=host):
            pass


def _verdict(waiter: _Connack, address: str, secure: str, took: float) -> Finding:
    code = waiter.code
    if code is not None and not code.is_failure:
        return Finding(
            "broker", address, Status.OK, f"connected over {secure}, MQTT 5, in {took * 1000:.0f} ms"
        )
    if code is not None:
        action = "the broker does not accept this gateway: check its ACL (edge-gateway broker-acl) and the certificate's CN"
        return Finding("broker", address, Status.FAIL, f"refused the connection: {code}", action)
    if waiter.dropped:
        found = "closed the connection before answering"
        action = (
            "a TLS broker that rejects the client certificate does this: is it signed by the broker's CA?"
        )
        return Finding("broker", address, Status.FAIL, found, action)
    found = f"no MQTT answer within {CONNACK_S:g} s"
    return Finding(
        "broker", address, Status.FAIL, found, "is this the broker's MQTT port (TLS port with plain MQTT?)"
    )


def _hint(exc: BaseException, secure: str) -> str:
    if isinstance(exc, ssl.SSLError):
        return "check mqtt.tls.ca is the CA that signed the broker's certificate, and the broker's host name"
    if isinstance(exc, ConnectionRefusedError):
        return f"is the broker running and listening on this port ({secure})? check mqtt.host and mqtt.port"
    return "check mqtt.host, mqtt.port and the network between this gateway and the broker"


def check_certificate(config: GatewayConfig, tls: TlsConfig) -> Finding:
    """The device's TLS files: present, the key private to this user, the certificate valid and ours."""
    for name, path in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)):
        if not os.access(path, os.R_OK):
            found = f"mqtt.tls.{name}: {path} is missing or not readable"
            return Finding(
                "certificate",
                str(tls.cert),
                Status.FAIL,
                found,
                "edge-gateway provision makes the key and CSR",
            )
    try:
        cert = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    except ValueError as exc:
        return Finding("certificate", str(tls.cert), Status.FAIL, f"not a PEM certificate ({exc})", "")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else "(none)"
    found = f"CN {cn}, valid until {cert.not_valid_after_utc:%Y-%m-%d}"
    problem = _certificate_problem(config, tls, cert, cn)
    if problem is None:
        return Finding("certificate", str(tls.cert), Status.OK, found)
    status, why, action = problem
    return Finding("certificate", str(tls.cert), status, f"{found}{why}", action)


def _certificate_problem(
    config: GatewayConfig, tls: TlsConfig, cert: x509.Certificate, cn: str
) -> tuple[Status, str, str] | None:
    """The first thing wrong with a readable certificate: (status, what, what to do), or None."""
    now = datetime.now(UTC)
    left = cert.not_valid_after_utc - now
    expected = identity_gateway(config.site, config.gateway)
    if cert.not_valid_before_utc > now or left < timedelta(0):
        return Status.FAIL, ": not valid now", "renew it, and check the clock"
    if cn != expected:
        return Status.WARN, "", f"the broker's ACL expects CN {expected}"
    if stat.S_IMODE(tls.key.stat().st_mode) & 0o077:
        return Status.WARN, "", f"the key {tls.key} is readable by others: chmod 600"
    if left < EXPIRY_WARN:
        return Status.WARN, f": {left.days} days left", "renew it soon"
    return None
