"""Wiring an escalation desk into a gateway: taps in its cameras, subscriptions on its actors' topics."""

from __future__ import annotations

from functools import partial

from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.escalation.desk import EscalationDesk
from gateway.escalation.records import COSIGN, REQUEST
from gateway.privacy.door import Door
from gateway.publish.mqtt import MqttPublisher
from gateway.vision.pipeline import CameraPipeline


def build_desk(
    config: GatewayConfig,
    door: Door,
    cameras: list[CameraPipeline],
    audit_log: AuditLog,
    publisher: MqttPublisher,
) -> EscalationDesk:
    """The desk of a gateway, its taps in the cameras' pipelines, listening on the actors' topics."""
    desk = EscalationDesk(config, door, audit_log)
    for camera in cameras:
        desk.attach(camera)
    subscribe(desk, door, config, publisher)
    return desk


def subscribe(desk: EscalationDesk, door: Door, config: GatewayConfig, publisher: MqttPublisher) -> None:
    """Listen on every actor's request and co-sign topics (the broker lets only that actor write each)."""
    topics = door.topics
    for actor in sorted(set(door.policy.actors) | set(config.trust.actors)):
        publisher.subscribe(topics.escalation_request(actor), partial(desk.receive, REQUEST, actor))
        publisher.subscribe(topics.escalation_cosign(actor), partial(desk.receive, COSIGN, actor))
