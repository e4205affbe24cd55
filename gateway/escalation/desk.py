"""The escalation desk: requests in, derived feeds out through the door, every step audited.

After an event the policy names (`fall.confirmed`, `flood.alarm`), an actor whose policy entry has
`escalation` may ask (requests.py) for a short live feed of the camera that saw it. The desk checks
what the signature cannot: the policy lets that actor escalate, the request id is new, the event is
one this actor received and recent enough, the camera is the one that saw it (any camera of the
gateway for a site-wide flood alarm), and, where the policy demands dual control, that the named
second actor co-signs within its deadline. Then it arms the camera's SceneTap until the deadline and
sends each sample through the door (privacy/feed.py) to the actor's own feed topic; at the deadline
(the gateway's own clock, never the requester's) it disarms the tap and closes. The policy may open
a short escalation by itself on `fall.confirmed` for one actor.

Every message received, every refusal (answered to the sender), every opening (who asked, who
co-signed, how long) and every closing (messages, people, fields sent) is audited. Beyond
REFUSALS_PER_MINUTE refusals are only counted, and summed up once a minute.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from datetime import datetime

from gateway import audit
from gateway.audit import AuditLog
from gateway.commands import SeenCommands
from gateway.config import GatewayConfig
from gateway.escalation.monthly import MonthlyCounts
from gateway.escalation.records import REQUEST, Opened, Pending, Trigger
from gateway.escalation.requests import (
    MAX_MESSAGE,
    CoSign,
    Refused,
    Request,
    request_id_of,
    verify_cosign,
    verify_request,
)
from gateway.messages import Event, JsonValue, Publication, utc_now
from gateway.privacy.door import Door
from gateway.privacy.escalation_policy import TRIGGERS, Escalation
from gateway.privacy.feed import PERSON_KEYS, FeedHeader, FeedRefused, feed_body
from gateway.privacy.projection import actor_id
from gateway.rollout.pair import FallPair
from gateway.vision.fall import FallDetector
from gateway.vision.pipeline import CameraPipeline
from gateway.vision.scene import SceneSample, SceneTap

log = logging.getLogger(__name__)

QUEUED = 100  # messages or samples waiting for the loop; more is a flood, dropped and counted
REFUSALS_PER_MINUTE = 20
MINUTE = 60.0
KEEP_TRIGGERS = 64  # recent life-safety events a request may name


class EscalationDesk:
    """Requests, co-signatures and samples queued from other threads, acted on in the gateway's loop."""

    def __init__(self, config: GatewayConfig, door: Door, audit_log: AuditLog) -> None:
        self._here = (config.site, config.gateway)
        self._keys = config.trust.actors
        self._door = door
        self._taps: dict[str, SceneTap] = {}
        self._audit = audit_log
        self._seen = SeenCommands(config.storage / "escalations_seen.json")
        self.counts = MonthlyCounts(config.storage / "escalations.json", utc_now())
        self._messages: queue.Queue[tuple[str, str, bytes | int]] = queue.Queue(maxsize=QUEUED)
        self._samples: queue.Queue[SceneSample] = queue.Queue(maxsize=QUEUED)
        self._triggers: list[Trigger] = []
        self._pending: dict[tuple[str, str], Pending] = {}
        self.open: list[Opened] = []
        self.clock: Callable[[], float] = time.monotonic  # a seam for tests
        self.dropped = 0
        self._minute, self._refusals, self._unreported = self.clock(), 0, 0

    def attach(self, pipeline: CameraPipeline) -> None:
        """Give a camera with a fall detector a SceneTap (its last frame detector), disarmed."""
        fall = next((d for d in pipeline.detectors if isinstance(d, FallDetector | FallPair)), None)
        if fall is not None:  # a pair (shadow rollout): the tap follows whichever detector is active
            pipeline.detectors.append(self.add_tap(SceneTap(fall.camera, fall, self.take)))

    def add_tap(self, tap: SceneTap) -> SceneTap:
        """A camera the desk may open (its tap samples into `take`)."""
        self._taps[tap.camera] = tap
        return tap

    # --- from other threads ---

    def receive(self, kind: str, actor: str, payload: bytes) -> None:
        """From paho's thread: queue a request or co-signature (an oversize one as its size only)."""
        try:
            self._messages.put_nowait((kind, actor, payload if len(payload) <= MAX_MESSAGE else len(payload)))
        except queue.Full:
            self.dropped += 1

    def take(self, sample: SceneSample) -> None:
        """From a camera's thread: queue a sample for the open escalations of its camera."""
        try:
            self._samples.put_nowait(sample)
        except queue.Full:
            self.dropped += 1

    # --- in the gateway's loop ---

    def _rules(self, actor: str) -> Escalation | None:
        spec = self._door.policy.actors.get(actor)
        return None if spec is None else spec.escalation

    def on_event(self, event: Event) -> list[Publication]:
        """Remember an event that allows escalations; open the automatic one the policy names."""
        if event.type not in TRIGGERS:
            return []
        ids = {}
        for actor, _ in self._door.policy.grants_for(event.type):
            rules = self._rules(actor)
            if rules is not None and event.type in rules.events:
                ids[actor] = actor_id(actor, event.id)
        camera = event.source if event.type == "fall.confirmed" else None
        self._triggers = [*self._triggers, Trigger(event.type, camera, self.clock(), ids)][-KEEP_TRIGGERS:]
        out: list[Publication] = []
        for actor in ids:
            rules = self._rules(actor)
            if rules is None or event.type not in rules.auto_on or camera not in self._taps:
                continue
            if not any(o.actor == actor and o.camera == camera for o in self.open):
                out += self._open(actor, camera, "", rules.auto_s, None)
        return out

    def tick(self, now: datetime) -> list[Publication]:
        """Act on what arrived; send due samples; close what expired; publish a month that ended."""
        out: list[Publication] = []
        if self.clock() - self._minute >= MINUTE:
            self._summarise()
        while True:
            try:
                kind, actor, payload = self._messages.get_nowait()
            except queue.Empty:
                break
            out += self._handle(kind, actor, payload, now)
        out += self._overdue()
        out += self._feed()
        out += self._expire()
        actors = [a for a, spec in self._door.policy.actors.items() if spec.escalation is not None]
        for event in self.counts.roll(now, self._here[1], actors):
            out += self._door.event(event)
        return out

    def close(self) -> list[Publication]:
        """The gateway stops: close every open escalation, refuse every pending one."""
        out = []
        for key in list(self._pending):
            pending = self._pending.pop(key)
            out += self._refuse(pending.request.actor, pending.request.request_id, "the gateway is stopping")
        for opened in list(self.open):
            out += self._close(opened, "the gateway is stopping")
        return out

    def _handle(self, kind: str, actor: str, payload: bytes | int, now: datetime) -> list[Publication]:
        size = payload if isinstance(payload, int) else len(payload)
        request_id = "" if isinstance(payload, int) else request_id_of(payload)
        received: dict[str, JsonValue] = {
            "actor": actor,
            "kind": kind,
            "request_id": request_id,
            "bytes": size,
        }
        self._audit.append(audit.ESCALATION_REQUESTED, received)
        try:
            if isinstance(payload, int):
                raise Refused(f"message larger than {MAX_MESSAGE} bytes")
            if kind == REQUEST:
                return self._request(verify_request(payload, actor, self._keys, self._here, now))
            return self._cosign(verify_cosign(payload, actor, self._keys, self._here, now))
        except Refused as exc:
            return self._refuse(actor, request_id, str(exc))

    def _request(self, request: Request) -> list[Publication]:
        actor = request.actor
        rules = self._rules(actor)
        if rules is None:
            raise Refused(f"wrong actor: the policy does not let {actor} escalate")
        if request.request_id in self._seen:
            raise Refused("replayed request_id")
        trigger = next(
            (
                t
                for t in reversed(self._triggers)
                if t.ids.get(actor) == request.event_id and t.type in rules.events
            ),
            None,
        )
        if trigger is None:
            raise Refused("no event of yours with that id allows an escalation")
        if self.clock() - trigger.at > rules.request_within_s:
            raise Refused(f"expired: the event is older than {rules.request_within_s:g} s")
        if request.camera not in self._taps or (trigger.camera not in (None, request.camera)):
            raise Refused(f"wrong camera: {request.camera[:64]!r} did not see that event")
        if any(o.actor == actor and o.camera == request.camera for o in self.open):
            raise Refused("an escalation of this camera is already open for you")
        self._seen.add(request.request_id)
        duration = min(request.duration_s, rules.max_s)
        if rules.co_sign is None:
            return self._open(actor, request.camera, request.request_id, duration, None)
        self._pending[(actor, request.request_id)] = Pending(
            request, rules.co_sign, duration, self.clock() + rules.co_sign_within_s
        )
        log.warning("escalation %s of %s awaits %s's co-signature", request.request_id, actor, rules.co_sign)
        asked: dict[str, JsonValue] = {"request_id": request.request_id, "requester": actor}
        asked |= {"camera": request.camera, "duration_s": duration, "within_s": rules.co_sign_within_s}
        return [
            self._reply(actor, request.request_id, "awaiting_co_sign", f"{rules.co_sign} must co-sign"),
            self._door.escalation_reply(
                rules.co_sign, {**asked, "status": "co_sign_requested", "detail": ""}
            ),
        ]

    def _cosign(self, cosign: CoSign) -> list[Publication]:
        pending = self._pending.get((cosign.requester, cosign.request_id))
        if pending is None:
            raise Refused("no request with that id awaits a co-signature")
        if pending.co_signer != cosign.actor:
            raise Refused(
                f"wrong actor: the policy names {pending.co_signer} as co-signer, not {cosign.actor}"
            )
        del self._pending[(cosign.requester, cosign.request_id)]
        request = pending.request
        out = self._open(request.actor, request.camera, request.request_id, pending.duration_s, cosign.actor)
        return [
            *out,
            self._reply(cosign.actor, cosign.request_id, "opened", f"co-signed for {request.actor}"),
        ]

    def _overdue(self) -> list[Publication]:
        out = []
        for key, pending in list(self._pending.items()):
            if self.clock() >= pending.deadline:
                del self._pending[key]
                error = f"expired: not co-signed by {pending.co_signer} in time"
                out += self._refuse(pending.request.actor, pending.request.request_id, error)
        return out

    def _open(
        self, actor: str, camera: str, request_id: str, duration_s: float, co_signed_by: str | None
    ) -> list[Publication]:
        rules = self._rules(actor)
        interval = 0.5 if rules is None else rules.interval_s
        now = self.clock()
        opened = Opened(
            self.counts.next_number(),
            actor,
            camera,
            request_id,
            co_signed_by,
            now,
            now + duration_s,
            interval,
        )
        self.open.append(opened)
        self._arm(camera)
        detail: dict[str, JsonValue] = {"actor": actor, "request_id": request_id, "camera": camera}
        detail |= {"escalation": opened.number, "co_signed_by": co_signed_by, "duration_s": duration_s}
        detail |= {"automatic": opened.automatic}
        self._audit.append(audit.ESCALATION_OPENED, detail)
        how = (
            "automatically"
            if opened.automatic
            else f"co-signed by {co_signed_by}"
            if co_signed_by
            else "signed"
        )
        log.warning(
            "escalation %d opened for %s on camera %s for %g s (%s)",
            opened.number,
            actor,
            camera,
            duration_s,
            how,
        )
        body: dict[str, JsonValue] = {"request_id": request_id, "status": "opened", "detail": how}
        body |= {"escalation": opened.number, "camera": camera, "duration_s": duration_s}
        return [self._door.escalation_reply(actor, body)]

    def _arm(self, camera: str) -> None:
        tap = self._taps[camera]
        here = [o for o in self.open if o.camera == camera]
        if here:
            tap.arm(max(o.until for o in here), min(o.interval_s for o in here))
        else:
            tap.disarm()

    def _feed(self) -> list[Publication]:
        out: list[Publication] = []
        while True:
            try:
                sample = self._samples.get_nowait()
            except queue.Empty:
                return out
            now = self.clock()
            for opened in self.open:
                if opened.camera != sample.camera or now >= opened.until or now < opened.due:
                    continue
                opened.due = now + opened.interval_s * 0.9  # a frame early rather than one interval late
                header = FeedHeader(opened.number, opened.messages, now - opened.opened, opened.until - now)
                body = feed_body(sample, header, opened.numbers)
                try:
                    out.append(self._door.escalation_feed(opened.actor, body))
                except FeedRefused as exc:  # a bug upstream: nothing leaves, loudly
                    log.error("escalation %d: feed message refused by the door: %s", opened.number, exc)
                    continue
                opened.messages += 1
                opened.people = max(opened.people, len(sample.people))
                opened.fields |= set(body) | (PERSON_KEYS if sample.people else set())

    def _expire(self) -> list[Publication]:
        out = []
        for opened in list(self.open):
            if self.clock() >= opened.until:
                out += self._close(opened, "expired")
        return out

    def _close(self, opened: Opened, why: str) -> list[Publication]:
        self.open.remove(opened)
        self._arm(opened.camera)
        open_s = round(self.clock() - opened.opened, 1)
        detail: dict[str, JsonValue] = {"actor": opened.actor, "request_id": opened.request_id}
        detail |= {"escalation": opened.number, "camera": opened.camera, "co_signed_by": opened.co_signed_by}
        detail |= {"open_s": open_s, "messages": opened.messages, "people": opened.people, "why": why}
        detail |= {"fields": list[JsonValue](sorted(opened.fields))}
        self._audit.append(audit.ESCALATION_CLOSED, detail)
        self.counts.count(opened.actor, open_s, opened.automatic, opened.co_signed_by is not None)
        log.warning(
            "escalation %d of %s closed (%s): %d messages", opened.number, opened.actor, why, opened.messages
        )
        body: dict[str, JsonValue] = {"request_id": opened.request_id, "status": "closed", "detail": why}
        body |= {"escalation": opened.number, "camera": opened.camera}
        return [self._door.escalation_reply(opened.actor, body)]

    def _reply(self, actor: str, request_id: str, status: str, detail: str) -> Publication:
        return self._door.escalation_reply(
            actor, {"request_id": request_id, "status": status, "detail": detail}
        )

    def _refuse(self, actor: str, request_id: str, error: str) -> list[Publication]:
        """Audit, answer and log a refusal; past the limit, only count it."""
        self._refusals += 1
        if self._refusals > REFUSALS_PER_MINUTE:
            self._unreported += 1
            return []
        log.warning("escalation request of %s refused: %s", actor, error)
        self._audit.append(
            audit.ESCALATION_REFUSED, {"actor": actor, "request_id": request_id, "error": error[:300]}
        )
        if actor not in self._door.policy.actors:
            return []  # no namespace to answer in
        return [self._reply(actor, request_id, "refused", error[:300])]

    def _summarise(self) -> None:
        if self._unreported:
            error = f"{self._unreported} more escalation messages refused in the last minute (rate limit)"
            log.warning("%s", error)
            self._audit.append(audit.ESCALATION_REFUSED, {"actor": "", "request_id": "", "error": error})
        self._minute, self._refusals, self._unreported = self.clock(), 0, 0
