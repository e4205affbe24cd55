"""`edge-gateway update`: verify, install beside, switch, restart, and roll back if not healthy.

1. fetch the bundle (file or LAN URL) into `<root>/staging/`, unpack it, verify it with the release
   key (`update.public_key`, default `trust.public_key`): signature, every file, the wheel's version;
2. refuse anything not newer than the running version, unless an operator's signed permission for
   exactly that version comes with it (force.py);
3. install it into `<root>/versions/<version>/` while the old version keeps running, and let the new
   version check the config it will run with;
4. switch `current` to it (atomic), restart the service (`update.restart`), and wait for the new
   version to report ready and stay so (health.py);
5. if it does not: switch back, restart the old version, delete the failed one.

Each step that changes something, and every refusal, is audited (`update` records, through
audit_spool: the running gateway owns the log). The storage directory is never touched: the
outbox, the audit log and the detector state are the same before, during and after.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Final

from packaging.version import Version

from gateway import audit
from gateway.audit_spool import spool
from gateway.commands import CommandRefused, SeenCommands
from gateway.config import GatewayConfig
from gateway.messages import JsonValue, utc_now
from gateway.service_state import read_state
from gateway.update.bundle import BundleError, Release, unpack, verify_bundle
from gateway.update.fetch import fetch
from gateway.update.force import Force, seen_path, verify_force
from gateway.update.health import Unhealthy, wait_healthy
from gateway.update.versions import Installed, Layout

# `systemctl restart` of a Type=notify unit returns at READY=1: the unit's stop (20 s) and start (120 s) timeouts.
RESTART_TIMEOUT_S: Final = 300.0


class Outcome(IntEnum):
    """How an update ended; also the command's exit code."""

    UPDATED = 0
    REFUSED = 1  # nothing was switched: the running version is as it was
    ROLLED_BACK = 3  # the new version was not healthy; the previous one runs again
    ROLLBACK_UNHEALTHY = 4  # ... and the previous one did not report ready either: look at the journal


class UpdateRefused(Exception):
    """Why nothing was installed or switched."""


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """What to install, with which config, and an operator's permission if it is not newer."""

    source: str
    config_path: Path
    force: bytes | None = None


@dataclass
class Updater:
    """One update of the gateway configured by `config`; `say` reports progress to a person."""

    config: GatewayConfig
    say: Callable[[str], None] = print

    @property
    def layout(self) -> Layout:
        """The install root."""
        return Layout(self.config.update.root)

    def run(self, request: UpdateRequest) -> Outcome:
        """The whole update; refusals are audited and reported, never raised."""
        layout = self.layout
        layout.staging.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (
            (layout.root / ".update.lock").open("w") as lock,
            tempfile.TemporaryDirectory(dir=layout.staging) as tmp,
        ):
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.say(f"error: another update is running in {layout.root}")
                return Outcome.REFUSED
            try:
                running, release, force = self._verified(request, Path(tmp))
                installed = layout.install(release, request.config_path)
            except (UpdateRefused, BundleError, CommandRefused, OSError) as exc:  # InstallError is one
                self.say(f"error: {exc}")
                self._audit({"step": "refused", "source": request.source[:200], "error": str(exc)[:500]})
                return Outcome.REFUSED
            return self._switch(running, installed, release, force)

    def _verified(self, request: UpdateRequest, tmp: Path) -> tuple[Installed, Release, Force | None]:
        running = self.layout.running()
        if running is None:
            raise UpdateRefused(
                f"{self.layout.current} is not a link to an installed version: install once with "
                "deploy/install.sh (deploy/README.md), then update"
            )
        bundle = fetch(request.source, tmp / "bundle.tar")
        unpack(bundle, tmp / "release")
        key = self.config.update.public_key or self.config.trust.public_key
        release = verify_bundle(tmp / "release", key)
        self.say(f"verified edge-gateway {release.version} (signed by {key}); running {running.version}")
        force = self._permission(release.version, running.version, request.force)
        return running, release, force

    def _permission(self, new: Version, old: Version, payload: bytes | None) -> Force | None:
        if new > old and payload is None:
            return None
        if payload is None:
            word = "a reinstall of" if new == old else "a downgrade from"
            raise UpdateRefused(
                f"{new} is {word} {old}: refused without an operator's signed permission "
                "(edge-gateway allow-downgrade, then update --force FILE)"
            )
        seen = SeenCommands(seen_path(self.config.storage))
        force = verify_force(payload, self.config, new, utc_now(), seen)
        seen.add(force.command_id)
        self.say(f"installing {new} over {old}: allowed by operator {force.operator} ({force.command_id})")
        return force

    def _switch(self, running: Installed, new: Installed, release: Release, force: Force | None) -> Outcome:
        change: dict[str, JsonValue] = {"from": str(running.version), "to": str(new.version)}
        started: dict[str, JsonValue] = {
            "step": "started",
            **change,
            "manifest_sha256": release.manifest_sha256,
        }
        if force is not None:
            started |= {"operator": force.operator, "command_id": force.command_id}
        self._audit(started)
        try:
            self._restart_into(new)
        except Unhealthy as exc:
            self.say(f"error: {exc}; rolling back to {running.version}")
            return self._roll_back(running, new, str(exc))
        self.layout.prune(self.config.update.keep)
        self._audit({"step": "completed", **change})
        self.say(f"updated: {running.version} -> {new.version}, healthy")
        return Outcome.UPDATED

    def _restart_into(self, target: Installed) -> None:
        settings, storage = self.config.update, self.config.storage
        before = read_state(storage)
        after = utc_now()
        self.layout.switch(target)
        self.say(f"switched {self.layout.current} -> {target.path}; restarting: {' '.join(settings.restart)}")
        try:
            done = subprocess.run(
                settings.restart, check=False, capture_output=True, text=True, timeout=RESTART_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unhealthy(f"the restart command failed: {exc}") from exc
        if done.returncode != 0:
            raise Unhealthy(f"the restart command exited {done.returncode}: {done.stderr.strip()[-300:]}")
        old_pid = before.pid if before is not None else None
        timing = (settings.healthy_within_s, settings.settle_s)
        wait_healthy(storage, str(target.version), old_pid, after, timing)

    def _roll_back(self, previous: Installed, failed: Installed, error: str) -> Outcome:
        outcome = Outcome.ROLLED_BACK
        try:
            self._restart_into(previous)
        except Unhealthy as exc:
            self.say(f"error: after the rollback {exc}: look at the service's journal")
            outcome = Outcome.ROLLBACK_UNHEALTHY
        shutil.rmtree(failed.path, ignore_errors=True)  # a retry installs it afresh
        self._audit(
            {
                "step": "rolled_back",
                "from": str(failed.version),
                "to": str(previous.version),
                "error": error[:500],
            }
        )
        self.say(f"rolled back to {previous.version}")
        return outcome

    def _audit(self, detail: dict[str, JsonValue]) -> None:
        try:
            spool(self.config.storage, audit.UPDATE, detail)
        except OSError as exc:  # the update itself must not fail on its audit trail; say so loudly
            self.say(f"warning: could not leave the audit record {detail.get('step')}: {exc}")
