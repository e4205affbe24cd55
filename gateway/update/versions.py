"""Versions side by side: `<root>/versions/<version>/` (one venv each) and `<root>/current`, a symlink.

    /opt/edge-gateway/
      current -> versions/0.2.0          what the service runs (ExecStart=/opt/edge-gateway/current/bin/...)
      versions/0.1.0/                     the one before: rolled back to by switching the link
      versions/0.2.0/RELEASE.json         the verified manifest, written last: the version is complete
      staging/                            bundles being fetched and unpacked (root only, 0700)

A new version is installed into its own directory while the old one keeps running; switching is one
`rename` of a symlink, atomic on POSIX, so the service starts either the old or the new version and
never half of one. Nothing here holds data: the outbox, audit log and state live in the config's
`storage` and are the same for every version.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.version import InvalidVersion, Version

from gateway.audit import fsync_dir
from gateway.update.bundle import MANIFEST, Release, check_lock

COMPLETE: Final = "RELEASE.json"  # copied in last: a version directory without it is half-installed
STEP_TIMEOUT_S: Final = 900.0  # one pip or venv step; a Pi's SD card is slow, a hung step is not


class InstallError(OSError):
    """A step of installing a version failed; nothing was switched."""


@dataclass(frozen=True, slots=True)
class Installed:
    """An installed version."""

    version: Version
    path: Path


@dataclass(frozen=True, slots=True)
class Layout:
    """The install root of one gateway."""

    root: Path

    @property
    def versions(self) -> Path:
        """One directory per installed version."""
        return self.root / "versions"

    @property
    def current(self) -> Path:
        """The symlink the service runs."""
        return self.root / "current"

    @property
    def staging(self) -> Path:
        """Where bundles are fetched and unpacked."""
        return self.root / "staging"

    def running(self) -> Installed | None:
        """The version `current` points to; None when there is no link (not installed this way)."""
        if not self.current.is_symlink():
            return None
        return self._installed(self.current.resolve())

    def installed(self) -> list[Installed]:
        """Every complete version, oldest first."""
        found = [self._installed(p) for p in self.versions.iterdir()] if self.versions.is_dir() else []
        return sorted((i for i in found if i is not None), key=lambda i: i.version)

    def _installed(self, path: Path) -> Installed | None:
        if path.parent != self.versions.resolve() or not (path / COMPLETE).is_file():
            return None
        try:
            return Installed(Version(path.name), path)
        except InvalidVersion:
            return None

    def install(self, release: Release, config: Path, python: str = sys.executable) -> Installed:
        """A venv for `release` beside the others, checked against `config`; InstallError on failure."""
        target = self.versions / str(release.version)
        if target.exists():
            shutil.rmtree(target)  # a half-installed or rolled-back attempt: start clean
        self.versions.mkdir(parents=True, exist_ok=True)
        _run([python, "-m", "venv", str(target)], "creating the venv")
        pip = [str(target / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--no-input"]
        install = [*pip, "install", "--no-deps"]
        local = ["--no-index", "--find-links", str(release.wheels)] if release.wheels else []
        if check_lock(release.lock.read_text(encoding="utf-8"), release.lock):
            # Every dependency exactly as locked, hash-checked by pip; --no-deps: the lock is the closure.
            _run(
                [*install, "--require-hashes", *local, "-r", str(release.lock)], "installing the dependencies"
            )
        _run([*install, "--no-index", str(release.wheel)], "installing the gateway")
        # The new version must accept the config it will run with before anything is switched.
        _run([str(target / "bin" / "edge-gateway"), "check-config", str(config)], "checking the config")
        shutil.copyfile(release.directory / MANIFEST, target / COMPLETE)
        return Installed(release.version, target)

    def switch(self, to: Installed) -> None:
        """Point `current` at `to`, atomically."""
        tmp = self.root / ".current.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(to.path.relative_to(self.root))
        tmp.replace(self.current)
        fsync_dir(self.root)

    def remove(self, version: Installed) -> None:
        """Delete an installed version (never the running one)."""
        running = self.running()
        if running is not None and running.path == version.path:
            raise ValueError(f"{version.path} is running: refusing to remove it")
        shutil.rmtree(version.path)

    def prune(self, keep: int) -> list[Installed]:
        """Delete the oldest versions beyond `keep` (the running one counts and stays); what went."""
        running = self.running()
        installed = [i for i in self.installed() if running is None or i.path != running.path]
        doomed = installed[: max(0, len(installed) - (keep - 1))]
        for version in doomed:
            shutil.rmtree(version.path)
        return doomed


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-4:])
        raise InstallError(f"{what} failed (exit {done.returncode}): {tail[:600]}")
