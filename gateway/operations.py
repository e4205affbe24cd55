"""The gateway's operator- and actor-facing side, wired once: remote configuration, actors' feedback
marks and the shadow rollout (and the retention that ages their records out). `app.py` hands it the door and the cameras; it subscribes to its
command and feedback topics and, each turn of the loop, returns what must go out through the door:
answers, operator reports and notices. Retained reports (the feedback counts) go to the publisher as
state, so the newest is always there for an operator who subscribes late.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Final

from gateway import audit, audit_spool
from gateway.audit import AuditLog
from gateway.commands import RemoteConfig, SeenCommands
from gateway.config import GatewayConfig
from gateway.feedback import Feedback
from gateway.messages import Event, Publication
from gateway.privacy.door import Door
from gateway.publish.mqtt import MqttPublisher
from gateway.registry import ModelSlots
from gateway.retention import Retention
from gateway.rollout.command import verify_rollout_command
from gateway.rollout.manager import Perception, Rollout
from gateway.signed_inbox import Refused, SignedInbox
from gateway.trust import Trusted
from gateway.vision.pipeline import CameraPipeline

FEEDBACK_REPORT_S: Final = 5.0  # changed counts are republished at most this often


class Operations:
    """Commands, feedback and rollout: their inboxes, their answers, their reports."""

    def __init__(
        self,
        config: GatewayConfig,
        config_path: Path | None,
        audit_log: AuditLog,
        door: Door,
        apply: Callable[[GatewayConfig], None],
    ) -> None:
        self.door = door
        self._audit = audit_log
        self._replies: list[Publication] = []
        self.remote = RemoteConfig(config, config_path, audit_log, apply, self._config_reply)
        here = (config.site, config.gateway)
        self.feedback = Feedback(dict(config.trust.actors), here, config.storage, audit_log)
        self.rollout = Rollout(config, audit_log, self.feedback.false_alarms)
        self.retention = Retention(audit_log, config.audit.max_age_days, self.feedback.store.prune)
        self._operators, self._here, self._storage = config.trust.operators, here, config.storage
        self._seen = SeenCommands(config.storage / "rollout_commands_seen.json")
        self.commands = SignedInbox(
            "rollout command", "command_id", self._rollout_command, self._rollout_reply
        )
        self._publisher: MqttPublisher | None = None
        self._trusted: Trusted | None = None
        self._next_feedback_report = 0.0

    def attach(self, cameras: Sequence[CameraPipeline], trusted: Trusted, fall: Perception) -> None:
        """Put the rollout's active and shadow fall detectors in the cameras."""
        self._trusted = trusted
        self.rollout.attach(cameras, self.remote.config.cameras, fall)

    def start(self, publisher: MqttPublisher) -> None:
        """Subscribe to config and rollout commands and to every trusted actor's feedback topic."""
        self._publisher = publisher
        topics = self.door.topics
        publisher.subscribe(topics.commands, self.remote.receive)
        publisher.subscribe(topics.rollout_commands, partial(self.commands.receive, "operator"))
        for actor in self.feedback.keys:
            publisher.subscribe(topics.feedback(actor), partial(self.feedback.inbox.receive, actor))

    def reload_trusted(self, slots: ModelSlots) -> None:
        """Swap in a changed policy or models once verified; a refused one leaves the running one.
        A promoted bundle's own policy stays in force over the trusted one."""
        audit_spool.drain(self._storage, self._audit)  # records of `edge-gateway update`
        if self._trusted is None:
            return
        replaced = self._trusted.poll(self._audit)
        if "policy" in replaced:
            self.door.policy = self.rollout.policy or self._trusted.policy.value
        if "models" in replaced:
            slots.swap(self._trusted.models.value)

    def published(self, event: Event, publications: list[Publication]) -> None:
        """Remember which id each actor received for `event`, so it may mark it later."""
        self.feedback.remember(event, publications, self.rollout.bundle_of(event.type))

    def tick(self, now: datetime) -> list[Publication]:
        """Handle what arrived and what is due; what must go out through the outbox."""
        self.remote.handle_pending(now)
        self.commands.handle_pending(now)
        self.feedback.handle_pending(now)
        self.rollout.tick(self.feedback.marked)
        self.retention.tick(now)
        out, self._replies = self._replies, []
        out += [self.door.feedback_reply(*reply) for reply in self.feedback.replies]
        self.feedback.replies = []
        out += [self.door.operator_report(name, body) for name, body in self.rollout.reports]
        self.rollout.reports = []
        if self.rollout.changed and self._trusted is not None:
            self.door.policy = self.rollout.policy or self._trusted.policy.value
            self.rollout.changed = False
        self._report_feedback()
        return out

    def _report_feedback(self) -> None:
        if (
            not self.feedback.changed
            or self._publisher is None
            or time.monotonic() < self._next_feedback_report
        ):
            return
        self._next_feedback_report = time.monotonic() + FEEDBACK_REPORT_S
        self.feedback.changed = False
        self._publisher.set_state(self.door.operator_report("feedback", self.feedback.report(), retain=True))

    def _config_reply(self, command_id: str, status: str, detail: str) -> None:
        self._replies.append(self.door.command_reply(command_id, status, detail))

    def _rollout_reply(self, _sender: str, command_id: str, status: str, detail: str) -> None:
        self._replies.append(
            self.door.rollout_reply(command_id, "applied" if status == "accepted" else status, detail)
        )

    def _rollout_command(self, _sender: str, payload: bytes, now: datetime) -> str:
        try:
            command = verify_rollout_command(payload, self._operators, self._here, now, self._seen)
            expected = (
                self.rollout.active_version if command.action == "rollback" else self.rollout.state.shadow
            )
            if command.version != expected:
                raise Refused(f"{command.version[:64]!r} is not the bundle to {command.action} now")
        except Refused as exc:
            self._audit.append(audit.BUNDLE_REFUSED, {"command": "rollout", "error": str(exc)[:400]})
            raise
        self._seen.add(command.command_id)
        by = f"operator {command.operator}"
        if command.action == "promote":
            return self.rollout.promote(by, "operator command")
        if command.action == "rollback":
            return self.rollout.rollback(by, "operator command")
        return self.rollout.discard(by)

    def close(self) -> None:
        """Close the feedback store."""
        self.feedback.close()
