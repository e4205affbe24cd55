"""The shadow rollout: install a signed bundle beside the active detectors, compare, promote, roll back.

- install: a bundle dropped in `<storage>/rollout/incoming/` is verified (release key) and runs in
  shadow on every camera's frames: a second fall detector per camera whose events go only to the
  comparator (gateway/rollout/pair.py), never to the privacy door.
- report: every `rollout.report_interval_s` operators get the comparison per event type (in both,
  only active, only shadow, timing) and what the shadow costs (CPU ms per frame, memory).
- promote: by an operator's signed command, or by the bundle's own rules. The shadow detectors,
  warm, become the active ones; the bundle that was active is kept as the previous one.
- roll back: by command, or by itself when actors confirm more false alarms on the promoted
  bundle's events than its budget, or its CPU cost per frame exceeds its budget. The previous bundle
  (or the baseline: the trusted models and the config's settings) is rebuilt from disk.

Every change is audited, announced to operators once, and kept in `state.json` (survives restarts).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

from gateway import audit
from gateway.audit import AuditLog
from gateway.config import CameraConfig, GatewayConfig
from gateway.inference.slots import Slot
from gateway.messages import JsonValue, utc_iso
from gateway.privacy.policy import Policy
from gateway.rollout.bundle import BASELINE, Bundle, BundleRefused, load_bundle
from gateway.rollout.compare import ACTIVE, SHADOW, Comparator, CostMeter, TypeCounts, rss_bytes
from gateway.rollout.pair import FallPair
from gateway.rollout.store import HISTORY, BundleStore
from gateway.signed_inbox import Refused
from gateway.vision.fall import FallDetector, FallModel
from gateway.vision.person_model import PersonModel
from gateway.vision.pipeline import CameraPipeline, fall_detector

log = logging.getLogger(__name__)

POLL_S: Final = 2.0  # how often incoming bundles and the rollback rules are checked
AFFECTS: Final = "fall."  # event types a bundle decides (its false alarms count against it)
Report = tuple[str, dict[str, JsonValue]]  # (operator report name, body)


@dataclass(frozen=True, slots=True)
class Perception:
    """What a camera's fall detector is built from, besides a bundle: the trusted fall slot and
    person models."""

    fall: Slot[FallModel] | None
    people: Mapping[str, PersonModel]


class Rollout:
    """The rollout of one gateway; every method runs in the gateway's loop but `FallPair.on_frame`."""

    def __init__(
        self, config: GatewayConfig, audit_log: AuditLog, false_alarms: Callable[[str], int]
    ) -> None:
        self._settings = config.rollout
        self._key = config.trust.public_key
        self._audit = audit_log
        self._false_alarms = false_alarms
        self.store = BundleStore(config.storage / "rollout")
        self.state = self.store.load_state()
        self.comparator = Comparator(self._settings.match_window_s)
        self.meter = CostMeter()
        self.bundles: dict[str, Bundle] = {}
        self.pairs: list[tuple[CameraConfig, FallPair]] = []
        self.reports: list[Report] = []  # to operators, in order
        self.changed = True  # the active policy may have changed
        self._perception = Perception(None, {})
        self._next_poll = time.monotonic()
        self._marks_seen = 0
        self._next_report = time.monotonic() + self._settings.report_interval_s
        self._report_started = time.time()
        self._rss_at_install = rss_bytes()

    @property
    def active_version(self) -> str:
        """The active bundle's version, or "baseline"."""
        return self.state.active or BASELINE

    @property
    def policy(self) -> Policy | None:
        """The active bundle's policy, None for the trusted one."""
        bundle = self.bundles.get(self.state.active or "")
        return None if bundle is None else bundle.policy

    def bundle_of(self, event_type: str) -> str:
        """The bundle an event of this type is decided by ("" for types no bundle decides)."""
        return self.active_version if event_type.startswith(AFFECTS) else ""

    def attach(
        self, cameras: Sequence[CameraPipeline], configs: Sequence[CameraConfig], seen: Perception
    ) -> None:
        """Put a FallPair in place of each camera's fall detector, with the saved active and shadow."""
        self._perception = seen
        for role in ("active", "shadow", "previous"):
            self._reload(role)
        by_id = {c.id: c for c in configs}
        active, shadow = self.bundles.get(self.state.active or ""), self.bundles.get(self.state.shadow or "")
        for pipeline in cameras:
            index = next((i for i, d in enumerate(pipeline.detectors) if isinstance(d, FallDetector)), None)
            if index is None:
                continue
            camera = by_id[pipeline.source.spec.source]
            pair = FallPair(camera.id, self._build(camera, active), self.comparator, self.meter)
            pair.set(pair.active, None if shadow is None else self._build(camera, shadow))
            pipeline.detectors[index] = pair
            self.pairs.append((camera, pair))
        self.store.prune({v for v in (self.state.active, self.state.shadow, self.state.previous) if v})

    def _reload(self, role: str) -> None:
        """Verify a saved bundle again at start; one that no longer verifies is dropped from its role."""
        version = getattr(self.state, role)
        if version is None or version == BASELINE:
            return
        try:
            self.bundles[version] = load_bundle(self.store.path(version), self._key)
        except BundleRefused as exc:
            log.error("%s; the %s bundle is dropped", exc, role)
            self._audit.append(
                audit.BUNDLE_REFUSED, {"version": version, "role": role, "error": str(exc)[:400]}
            )
            setattr(self.state, role, BASELINE if role == "previous" and self.state.active else None)
            self.store.save_state(self.state)

    def _build(self, camera: CameraConfig, bundle: Bundle | None) -> FallDetector | None:
        seen = self._perception
        if bundle is None:
            return fall_detector(camera, seen.fall, seen.people)
        settings = bundle.fall_settings(camera.fall.confirm_s)
        return fall_detector(camera, bundle.fall_model or seen.fall, seen.people, settings)

    # --- the loop --------------------------------------------------------------------------------

    def tick(self, marks: int = 0) -> None:
        """Install what arrived, report when due, apply the bundle's rules; `marks` counts the actors'
        marks so far: a new one is judged against the false-alarm budget at once."""
        now = time.monotonic()
        if marks != self._marks_seen:
            self._marks_seen = marks
            self._check_false_alarms()
        if now >= self._next_poll:
            self._next_poll = now + POLL_S
            for incoming in self.store.waiting():
                self.install(incoming.name)
            self._check_false_alarms()
        if now >= self._next_report:
            self._next_report = now + self._settings.report_interval_s
            self._period(decide=True)

    def _period(self, decide: bool) -> None:
        """One report period: the comparison and costs to operators, then (`decide`) the rules."""
        wall = time.time()
        active_cost, shadow_cost = self.meter.take(ACTIVE), self.meter.take(SHADOW)
        if self.state.shadow is not None:
            counts = self.comparator.settle(wall)
            for c in counts.values():
                for name in self.state.totals:
                    self.state.totals[name] += getattr(c, name)
            self.store.save_state(self.state)
            body: dict[str, JsonValue] = {
                "time": utc_iso(datetime.fromtimestamp(wall, UTC)),
                "period_s": round(wall - self._report_started, 1),
                "active": self.active_version,
                "shadow": self.state.shadow,
                "shadow_since": _iso(self.state.shadow_since),
                "by_type": {t: c.to_json() for t, c in sorted(counts.items())},
                "totals": dict[str, JsonValue](self.state.totals),
                "cost": {
                    "shadow": shadow_cost.to_json(),
                    "active": active_cost.to_json(),
                    "shadow_rss_mb": round(max(0, rss_bytes() - self._rss_at_install) / 2**20, 1),
                    "process_rss_mb": round(rss_bytes() / 2**20, 1),
                },
            }
            self.reports.append(("shadow", body))
            if decide:
                self._maybe_promote(wall)
        self._report_started = wall
        if decide:
            self._check_cpu(active_cost.frames, active_cost.ms_per_frame)

    def _maybe_promote(self, wall: float) -> None:
        bundle = self.bundles.get(self.state.shadow or "")
        if bundle is None or not bundle.spec.promote.auto:
            return
        rules, totals = bundle.spec.promote, self.state.totals
        if wall - self.state.shadow_since < rules.min_shadow_s:
            return
        if totals["only_shadow"] > rules.max_only_in_shadow or totals["only_active"] > rules.max_missed:
            return
        self.promote("rules", f"{rules.min_shadow_s:g} s in shadow, totals {totals}")

    def _check_false_alarms(self) -> None:
        bundle = self.bundles.get(self.state.active or "")
        if bundle is None or self.state.previous is None:
            return
        confirmed = self._false_alarms(bundle.version)
        if confirmed > bundle.spec.rollback.false_alarm_budget:
            budget = bundle.spec.rollback.false_alarm_budget
            self.rollback("rules", f"{confirmed} false alarms confirmed by actors, budget {budget}")

    def _check_cpu(self, frames: int, ms_per_frame: float | None) -> None:
        bundle = self.bundles.get(self.state.active or "")
        if bundle is None or self.state.previous is None or ms_per_frame is None:
            return
        rules = bundle.spec.rollback
        if frames >= rules.min_frames and ms_per_frame > rules.cpu_budget_ms_per_frame:
            self.rollback("rules", f"{ms_per_frame} ms per frame, budget {rules.cpu_budget_ms_per_frame:g}")

    # --- changes ---------------------------------------------------------------------------------

    def install(self, name: str) -> None:
        """Verify an incoming bundle and run it in shadow (replacing a shadow already running)."""
        incoming = self.store.incoming / name
        try:
            bundle = load_bundle(incoming, self._key)
            if bundle.version in (self.state.active, self.state.previous):
                raise BundleRefused(f"bundle {bundle.version} is already installed")
        except BundleRefused as exc:
            log.error("%s", exc)
            self._audit.append(audit.BUNDLE_REFUSED, {"bundle": name[:64], "error": str(exc)[:400]})
            self.reports.append(
                ("rollout", {"action": "refused", "version": name[:64], "reason": str(exc)[:400]})
            )
            self.store.discard(incoming)
            return
        if self.state.shadow is not None:
            self._drop_shadow("superseded by " + bundle.version, "install")
        bundle = replace(bundle, directory=self.store.keep(incoming, bundle.version))
        self.bundles[bundle.version] = bundle
        self._rss_at_install = rss_bytes()
        for camera, pair in self.pairs:
            pair.set(pair.active, self._build(camera, bundle))
        self.comparator.clear()
        self.meter.take(SHADOW)
        self.state.shadow, self.state.shadow_since = bundle.version, time.time()
        self.state.totals = {name: 0 for name in self.state.totals}
        self._changed("installed", bundle.version, "install", f"in shadow; {bundle.spec.description}"[:300])

    def promote(self, by: str, reason: str) -> str:
        """The shadow becomes active; the active becomes the previous bundle."""
        version = self.state.shadow
        if version is None:
            raise Refused("no bundle in shadow")
        self._period_flush()
        for _, pair in self.pairs:
            pair.promote()
        self.state.previous, self.state.active = self.active_version, version
        self.state.active_since, self.state.shadow = time.time(), None
        self._forget_unused()
        self._changed("promoted", version, by, reason)
        return f"{version} promoted; {self.state.previous} kept for rollback"

    def rollback(self, by: str, reason: str) -> str:
        """The previous bundle (or the baseline) becomes active again, rebuilt from disk."""
        target, bad = self.state.previous, self.active_version
        if target is None:
            raise Refused("nothing to roll back to")
        started = time.monotonic()
        bundle = self.bundles.get(target)
        for camera, pair in self.pairs:
            pair.set(self._build(camera, bundle), pair.shadow)
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        self.state.active = None if target == BASELINE else target
        self.state.previous, self.state.active_since = None, time.time()
        self._forget_unused()
        self._changed("rolled_back", bad, by, reason, to=target, rollback_ms=elapsed_ms)
        return f"{bad} rolled back to {target} in {elapsed_ms} ms"

    def discard(self, by: str) -> str:
        """Stop the shadow and remove its bundle."""
        version = self.state.shadow
        if version is None:
            raise Refused("no bundle in shadow")
        self._drop_shadow("discarded", by)
        return f"{version} discarded"

    def _drop_shadow(self, reason: str, by: str) -> None:
        version = self.state.shadow
        for _, pair in self.pairs:
            pair.set(pair.active, None)
        self.state.shadow = None
        self._forget_unused()
        self._changed("discarded", version or "", by, reason)

    def _period_flush(self) -> None:
        """Report what the shadow did up to now, so the last comparison before a promotion is not lost."""
        self._next_report = time.monotonic() + self._settings.report_interval_s
        self._period(decide=False)

    def _forget_unused(self) -> None:
        keep = {v for v in (self.state.active, self.state.shadow, self.state.previous) if v}
        self.bundles = {v: b for v, b in self.bundles.items() if v in keep}
        self.store.prune(keep)
        self.comparator.clear()

    def _changed(self, action: str, version: str, by: str, reason: str, **extra: JsonValue) -> None:
        """Audit, remember, save and announce (once) one change."""
        entry: dict[str, JsonValue] = {
            "action": action,
            "version": version,
            "by": by[:64],
            "reason": reason[:300],
            "time": utc_iso(datetime.now(UTC)),
            **extra,
        }
        log.warning("rollout: %s %s by %s: %s", version, action, by, reason)
        self._audit.append(audit.BUNDLE_CHANGED, entry)
        self.state.history = [*self.state.history, entry][-HISTORY:]
        self.store.save_state(self.state)
        self.changed = True
        self.reports.append(
            ("rollout", {**entry, "active": self.active_version, "shadow": self.state.shadow})
        )


def _iso(epoch: float) -> str:
    return utc_iso(datetime.fromtimestamp(epoch, UTC))


__all__ = ["Perception", "Rollout", "TypeCounts"]
