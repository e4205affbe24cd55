"""A signed gateway release: one tar file, signed with the release key like the models are.

    edge-gateway-0.2.0.tar
      MANIFEST.json                          kind "release", version "0.2.0", the sha256 of every file below
      edge_gateway-0.2.0-py3-none-any.whl    the gateway
      requirements.lock                      its pinned dependency set, every line with --hash=sha256:...
      wheels/*.whl                           optional: those dependencies' wheels, for a site without an index

The manifest (gateway/security/signing.py) covers the wheel and the lock; the lock's hashes cover every
dependency, which pip installs with `--require-hashes`, whether from `wheels/` or from a package
index on the LAN. So one signature vouches for every byte that is installed.

The tar is unpacked by hand, not by `tarfile.extractall` (Python 3.11.2 on a Pi has no extraction
filters): regular files with plain relative names only, bounded in size; then the manifest is
verified and every file it lists is checked. A file in the tar that the manifest does not list is
an error too: nothing unsigned is installed, not even by accident.
"""

from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from gateway.security.signing import (
    ManifestError,
    ManifestSpec,
    SigningKeyError,
    sign_manifest,
    verify_manifest,
)

MANIFEST: Final = "MANIFEST.json"
LOCK: Final = "requirements.lock"
WHEELS: Final = "wheels"
DISTRIBUTION: Final = "edge-gateway"
MAX_BUNDLE_BYTES: Final = 2 << 30  # the wheels of every dependency for one platform are ~150 MB
MAX_MEMBERS: Final = 500
_BLOCK: Final = 1 << 20
# One requirement of a hash-pinned lock (pip-compile --generate-hashes, `uv pip compile`, or ours):
# name==version, an optional environment marker, and one or more sha256 hashes; no options, no URLs.
_REQUIREMENT: Final = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]*\])?==[A-Za-z0-9.+!_-]+"
    r"(\s*;\s*[^-][^;]*?)?(\s+--hash=sha256:[0-9a-f]{64})+"
)


class BundleError(ValueError):
    """A bundle that cannot be installed: not a release, not signed by the trusted key, or altered."""


@dataclass(frozen=True, slots=True)
class Release:
    """An unpacked bundle whose signature and files were verified."""

    directory: Path
    version: Version
    wheel: Path
    lock: Path
    wheels: Path | None  # the dependency wheels, if the bundle carries them
    manifest_sha256: str


# --- building (on the release machine) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BundleSpec:
    """What goes into a bundle: the gateway's wheel, its lock, and optionally the locked wheels."""

    wheel: Path
    lock: Path
    dependency_wheels: Sequence[Path] = ()


def build_bundle(spec: BundleSpec, private_key: Path, out_dir: Path) -> Path:
    """Sign `spec` with `private_key` into `out_dir/edge-gateway-<version>.tar`; ValueError if malformed."""
    version = wheel_version(spec.wheel)
    check_lock(spec.lock.read_text(encoding="utf-8"), spec.lock)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        files = [Path(shutil.copy2(spec.wheel, stage / spec.wheel.name))]
        files.append(Path(shutil.copy2(spec.lock, stage / LOCK)))
        if spec.dependency_wheels:
            (stage / WHEELS).mkdir()
            files += [Path(shutil.copy2(w, stage / WHEELS / w.name)) for w in spec.dependency_wheels]
        sign_manifest(ManifestSpec(stage, files, "release", str(version)), private_key, stage / MANIFEST)
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"edge-gateway-{version}.tar"
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
            for path in [stage / MANIFEST, *files]:
                tar.add(path, arcname=path.relative_to(stage).as_posix(), recursive=False)
    return out


def wheel_version(wheel: Path) -> Version:
    """The edge-gateway version of `wheel`, from its file name and its METADATA, which must agree."""
    try:
        name, version, _, _ = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename as exc:
        raise BundleError(f"{wheel.name}: not a wheel file name") from exc
    if name != DISTRIBUTION:
        raise BundleError(f"{wheel.name}: a wheel of {name}, not of {DISTRIBUTION}")
    try:
        with zipfile.ZipFile(wheel) as archive:
            metadata = archive.read(f"edge_gateway-{version}.dist-info/METADATA").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise BundleError(f"{wheel.name}: no readable METADATA for version {version}: {exc}") from exc
    found = re.search(r"^Version: (\S+)$", metadata, re.MULTILINE)
    try:
        if found is None or Version(found.group(1)) != version:
            raise BundleError(f"{wheel.name}: METADATA does not say version {version}")
    except InvalidVersion as exc:
        raise BundleError(f"{wheel.name}: METADATA has an invalid version") from exc
    return version


def check_lock(text: str, where: Path) -> list[str]:
    """The requirement names of a hash-pinned lock; BundleError at the first line that is not one."""
    names = []
    logical = re.sub(r"\\\n", " ", text)  # pip's line continuations
    for number, line in enumerate(logical.splitlines(), 1):
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if not _REQUIREMENT.fullmatch(line):
            raise BundleError(
                f"{where}: requirement {number} is not `name==version --hash=sha256:...`: {line[:80]!r}"
            )
        names.append(str(canonicalize_name(re.split(r"[\[=]", line, maxsplit=1)[0])))
    if DISTRIBUTION in names:
        raise BundleError(f"{where}: the lock lists {DISTRIBUTION} itself; the bundle's wheel is the gateway")
    return names


# --- unpacking and verifying (on the gateway) --------------------------------------------------------


def unpack(archive: Path, dest: Path) -> None:
    """Extract the regular files of `archive` (a tar) into the empty directory `dest`, or BundleError."""
    try:
        with tarfile.open(archive, "r:") as tar:
            members = tar.getmembers()
            _check_members(members, archive)
            for member in members:
                if member.isfile():
                    _extract(tar, member, dest)
    except (tarfile.TarError, EOFError) as exc:
        raise BundleError(f"{archive}: not a release bundle (tar): {exc}") from exc


def _check_members(members: list[tarfile.TarInfo], archive: Path) -> None:
    if len(members) > MAX_MEMBERS:
        raise BundleError(f"{archive}: {len(members)} entries; a release has at most {MAX_MEMBERS}")
    names: set[str] = set()
    total = 0
    for member in members:
        if not (member.isfile() or member.isdir()):
            raise BundleError(f"{archive}: {member.name!r} is a link or a device; a release holds files only")
        name = member.name.removeprefix("./")
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or any(p in {"", ".", ".."} for p in parts if p):
            raise BundleError(f"{archive}: {member.name!r} is not a plain relative path")
        if member.isfile() and name in names:
            raise BundleError(f"{archive}: {name} appears twice")
        names.add(name)
        total += member.size
        if total > MAX_BUNDLE_BYTES:
            raise BundleError(f"{archive}: more than {MAX_BUNDLE_BYTES} bytes unpacked")


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    target = dest / member.name.removeprefix("./")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:
        raise BundleError(f"{member.name}: cannot be read from the tar")
    with source, target.open("xb") as out:
        copied = 0
        while block := source.read(_BLOCK):
            copied += len(block)
            out.write(block)
    if copied != member.size:
        raise BundleError(f"{member.name}: {copied} bytes, the tar said {member.size}")


def verify_bundle(directory: Path, public_key: Path) -> Release:
    """The release unpacked in `directory`, verified with `public_key`; BundleError saying what is wrong."""
    try:
        manifest = verify_manifest(directory / MANIFEST, public_key, kind="release")
    except (ManifestError, SigningKeyError, OSError) as exc:  # a key file that is no key: say so too
        raise BundleError(f"release refused: {exc}") from exc
    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
    unlisted = sorted(present - set(manifest.files) - {MANIFEST})
    if unlisted:
        raise BundleError(f"release refused: not covered by the signature: {', '.join(unlisted)[:300]}")
    wheels = [name for name in manifest.files if "/" not in name and name.endswith(".whl")]
    if len(wheels) != 1 or LOCK not in manifest.files:
        raise BundleError(f"release refused: {MANIFEST} must list one gateway wheel and {LOCK}")
    version = wheel_version(directory / wheels[0])
    try:
        if Version(manifest.version) != version:
            raise BundleError(f"release refused: signed as {manifest.version}, but the wheel is {version}")
    except InvalidVersion as exc:
        raise BundleError(f"release refused: invalid version {manifest.version!r}") from exc
    try:
        check_lock(manifest.read_verified(LOCK).decode("utf-8"), directory / LOCK)
    except UnicodeDecodeError as exc:
        raise BundleError(f"release refused: {LOCK} is not UTF-8 text") from exc
    deps = directory / WHEELS
    return Release(
        directory,
        version,
        directory / wheels[0],
        directory / LOCK,
        deps if any(n.startswith(f"{WHEELS}/") for n in manifest.files) else None,
        manifest.sha256,
    )
