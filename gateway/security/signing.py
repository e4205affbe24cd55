"""Signed manifests (Ed25519): the only way models and the policy reach a gateway.

A manifest is a JSON file next to the files it covers::

    {"format": 1, "kind": "models", "version": "2026.11.1", "created": "2026-11-27T18:04:05Z",
     "files": [{"path": "air_quality/pm_humidity.onnx", "sha256": "1a50...", "size": 1234}],
     "signature": "<base64 Ed25519 signature>"}

Paths are POSIX, relative to the manifest's directory, and may not leave it. The signature covers the
canonical JSON of every field except ``signature``: ``json.dumps(body, sort_keys=True,
separators=(",", ":"), ensure_ascii=True)`` encoded as UTF-8, so any other tool can reproduce it.

This module owns the check, not the policy about what to do on failure: ``verify_manifest`` raises a
``ManifestError`` subclass naming the file, and the caller keeps running its previous version.
``VerifiedManifest.read_verified`` reads a file once, checks those bytes, and returns those same bytes,
so a file swapped after verification is refused instead of loaded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.messages import utc_iso

FORMAT: Final = 1
KINDS: Final = frozenset({"models", "policy", "release", "firmware", "bundle"})  # gateway/update/, rollout/
MAX_MANIFEST_BYTES: Final = 1 << 20  # a manifest lists files; anything this large is not one
_FIELDS: Final = frozenset({"format", "kind", "version", "created", "files", "signature"})
_FILE_FIELDS: Final = frozenset({"path", "sha256", "size"})
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_RAW_KEY_BYTES: Final = 32
_SIGNATURE_BYTES: Final = 64
_BLOCK: Final = 1 << 16


class ManifestError(ValueError):
    """A manifest or a file it lists cannot be trusted: nothing it covers may be loaded."""


class SignatureInvalid(ManifestError):
    """The signature does not match the manifest's content under the trusted public key."""


class FileMismatch(ManifestError):
    """A listed file's bytes differ from its sha256 or size in the manifest."""


class FileMissing(ManifestError):
    """The manifest, or a file it lists, does not exist (or is not listed when asked for)."""


class ManifestMalformed(ManifestError):
    """The manifest is not a well-formed manifest (bad JSON, field, kind or path)."""


class SigningKeyError(ValueError):
    """A key file is not an Ed25519 key of the expected kind: a configuration error, fatal."""


def canonical_json(body: Mapping[str, object]) -> bytes:
    """The exact bytes that are signed: sorted keys, compact separators, ASCII."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("utf-8")


# --- keys -------------------------------------------------------------------------------------------


def generate_signing_key(private_path: Path, public_path: Path) -> None:
    """Write a new Ed25519 key pair as PEM (private PKCS#8, mode 0600); refuses to overwrite either file."""
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(f"{path} exists: refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # O_EXCL with mode 0600 at creation: the secret is never readable by others, not even briefly.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
        handle.flush()
        os.fsync(handle.fileno())
    _write_atomic(public_path, public_pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM (PKCS#8, unencrypted) or raw 32-byte file."""
    data = path.read_bytes()
    if len(data) == _RAW_KEY_BYTES:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: not an unencrypted PEM or raw Ed25519 private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM (SubjectPublicKeyInfo) or raw 32-byte file."""
    data = path.read_bytes()
    if len(data) == _RAW_KEY_BYTES:
        return Ed25519PublicKey.from_public_bytes(data)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: not a PEM or raw Ed25519 public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path}: a {type(key).__name__}, not an Ed25519 public key")
    return key


# --- signing ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManifestSpec:
    """What to sign: ``files`` (relative to ``directory`` or absolute inside it), their kind and version."""

    directory: Path
    files: Sequence[Path]
    kind: str
    version: str


def sign_manifest(spec: ManifestSpec, private_key: Path, out: Path) -> Path:
    """Write ``out`` (directly in ``spec.directory``): the manifest of ``spec``, signed with ``private_key``.

    Raises ValueError for a file outside the directory or not a regular file, a file listed twice, the
    manifest itself, an unknown kind or an empty version. Replaces ``out`` atomically.
    """
    base = spec.directory.resolve()
    if out.resolve().parent != base:
        raise ValueError(f"{out} must be directly in {spec.directory}: its paths are relative to it")
    if spec.kind not in KINDS:
        raise ValueError(f"unknown manifest kind {spec.kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    if not spec.version.strip():
        raise ValueError("a manifest needs a non-empty version")
    entries: dict[str, dict[str, object]] = {}
    for file in spec.files:
        name = _relative_name(base, file)
        if name in entries or name == out.name:
            raise ValueError(f"{file}: listed twice, or is the manifest itself")
        data = (base / name).read_bytes()
        entries[name] = {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    body: dict[str, object] = {
        "format": FORMAT,
        "kind": spec.kind,
        "version": spec.version,
        "created": utc_iso(datetime.now(UTC), "seconds"),
        "files": [entries[name] for name in sorted(entries)],
    }
    signature = load_private_key(private_key).sign(canonical_json(body))
    body["signature"] = base64.b64encode(signature).decode("ascii")
    _write_atomic(out, json.dumps(body, indent=2, sort_keys=True).encode("utf-8") + b"\n")
    return out


def _relative_name(base: Path, file: Path) -> str:
    path = (file if file.is_absolute() else base / file).resolve()
    try:
        name = path.relative_to(base).as_posix()
    except ValueError as exc:
        raise ValueError(f"{file} is outside {base}: a manifest only lists files below it") from exc
    if not path.is_file():
        raise ValueError(f"{file}: not a regular file")
    return name


def _write_atomic(path: Path, data: bytes) -> None:
    # Readers see the old file or the new one, never half of one.
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


# --- verifying --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedManifest:
    """A manifest whose signature and listed files were checked; read files only through it."""

    path: Path
    kind: str
    version: str
    created: datetime
    files: Mapping[str, str]  # relative path -> hex sha256
    sizes: Mapping[str, int]
    sha256: str  # of the manifest file itself, e.g. for the audit log

    @property
    def directory(self) -> Path:
        """The directory the listed paths are relative to."""
        return self.path.parent

    def read_verified(self, name: str) -> bytes:
        """The bytes of listed file ``name``, read once and re-checked now; FileMismatch if changed."""
        expected = self.files.get(name)
        if expected is None:
            raise FileMissing(f"{name} is not listed in {self.path}: refusing to read it")
        data = _read_listed(self.directory, name, self.path)
        _check_bytes(name, data, expected, self.sizes[name], self.path)
        return data


def verify_manifest(manifest: Path, public_key: Path, *, kind: str | None = None) -> VerifiedManifest:
    """Check ``manifest``'s signature with ``public_key`` and every listed file's sha256 and size.

    With ``kind``, a manifest of another kind is refused too (a models manifest is no policy).
    Raises a ``ManifestError`` subclass naming the file; SigningKeyError for a bad key file.
    """
    key = load_public_key(public_key)
    try:
        with manifest.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError as exc:
        raise FileMissing(f"manifest {manifest} not found: nothing it would cover can be loaded") from exc
    document = _parse(raw, manifest)
    # Shape first (pure parsing, so a bad path is named as such), then trust, then the files.
    verified = _verified(manifest, document, hashlib.sha256(raw).hexdigest())
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        key.verify(_signature(document, manifest), canonical_json(body))
    except InvalidSignature as exc:
        raise SignatureInvalid(
            f"{manifest}: signature does not match its content under the trusted key {public_key} "
            "(changed after signing, or signed with another key)"
        ) from exc
    if kind is not None and verified.kind != kind:
        raise ManifestMalformed(f"{manifest}: a {verified.kind!r} manifest where a {kind!r} one is expected")
    for name, digest in verified.files.items():
        _check_file(verified.directory, name, digest, verified.sizes[name], manifest)
    return verified


def _parse(raw: bytes, manifest: Path) -> dict[str, object]:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestMalformed(f"{manifest}: more than {MAX_MANIFEST_BYTES} bytes: not a manifest")
    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestMalformed(f"{manifest}: not a JSON manifest: {exc}") from exc
    if not isinstance(document, dict) or set(document) != _FIELDS:
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise ManifestMalformed(f"{manifest}: fields must be exactly {sorted(_FIELDS)}, found {found}")
    if document["format"] != FORMAT or isinstance(document["format"], bool):
        raise ManifestMalformed(f"{manifest}: unsupported format {document['format']!r} (expected {FORMAT})")
    return document


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # Duplicate keys would let two readers see two different manifests behind one signature.
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _signature(document: Mapping[str, object], manifest: Path) -> bytes:
    value = document["signature"]
    try:
        signature = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except binascii.Error:
        signature = b""
    if len(signature) != _SIGNATURE_BYTES:
        raise SignatureInvalid(f"{manifest}: signature is not a base64 Ed25519 signature (64 bytes)")
    return signature


def _verified(manifest: Path, document: Mapping[str, object], digest: str) -> VerifiedManifest:
    kind, version, created = document["kind"], document["version"], document["created"]
    if kind not in KINDS:
        raise ManifestMalformed(f"{manifest}: unknown kind {kind!r}; known kinds: {sorted(KINDS)}")
    if not isinstance(version, str) or not version.strip():
        raise ManifestMalformed(f"{manifest}: version must be a non-empty string, not {version!r}")
    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    entries = document["files"]
    if not isinstance(entries, list):
        raise ManifestMalformed(f"{manifest}: files must be a list")
    for entry in entries:
        name, sha256, size = _entry(entry, manifest)
        if name in files:
            raise ManifestMalformed(f"{manifest}: {name} is listed twice")
        files[name], sizes[name] = sha256, size
    return VerifiedManifest(
        path=manifest,
        kind=str(kind),
        version=version,
        created=_created(created, manifest),
        files=MappingProxyType(files),
        sizes=MappingProxyType(sizes),
        sha256=digest,
    )


def _entry(entry: object, manifest: Path) -> tuple[str, str, int]:
    if not isinstance(entry, dict) or set(entry) != _FILE_FIELDS:
        raise ManifestMalformed(
            f"{manifest}: each file entry needs exactly {sorted(_FILE_FIELDS)}: {entry!r}"
        )
    name, sha256, size = entry["path"], entry["sha256"], entry["size"]
    if not isinstance(name, str) or not _safe_name(name):
        raise ManifestMalformed(
            f"{manifest}: path {name!r} is not a plain relative path inside the manifest's directory"
        )
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ManifestMalformed(f"{manifest}: {name}: sha256 must be 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestMalformed(f"{manifest}: {name}: size must be a non-negative integer")
    return name, sha256, size


def _safe_name(name: str) -> bool:
    # Lexically contained: not absolute, no '..', '.' or empty part, no backslash or NUL.
    if "\\" in name or "\0" in name:
        return False
    return all(part not in {"", ".", ".."} for part in name.split("/"))


def _created(value: object, manifest: Path) -> datetime:
    try:
        created = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        created = None
    if created is None or created.utcoffset() != timedelta(0):
        raise ManifestMalformed(f"{manifest}: created must be an ISO 8601 UTC time, not {value!r}")
    return created


def _listed_path(directory: Path, name: str, manifest: Path) -> Path:
    path = directory / name
    # A lexically safe name can still leave through a symlink: resolve and check again.
    if not path.resolve().is_relative_to(directory.resolve()):
        raise ManifestMalformed(f"{manifest}: {name} resolves outside {directory} (a symlink?)")
    return path


def _read_listed(directory: Path, name: str, manifest: Path) -> bytes:
    path = _listed_path(directory, name, manifest)
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise FileMissing(f"{path}: listed in {manifest} but missing (or not a regular file)") from exc


def _check_bytes(name: str, data: bytes, sha256: str, size: int, manifest: Path) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if len(data) != size or not hmac.compare_digest(actual, sha256):
        raise FileMismatch(
            f"{manifest.parent / name}: {len(data)} bytes with sha256 {actual}, but {manifest} lists "
            f"{size} bytes with sha256 {sha256}: changed after signing; refusing it"
        )


def _check_file(directory: Path, name: str, sha256: str, size: int, manifest: Path) -> None:
    # Verification streams each file; callers load through read_verified, which checks what it returns.
    path = _listed_path(directory, name, manifest)
    digest = hashlib.sha256()
    count = 0
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
                count += len(block)
                if count > size:
                    break
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise FileMissing(f"{path}: listed in {manifest} but missing (or not a regular file)") from exc
    if count != size or not hmac.compare_digest(digest.hexdigest(), sha256):
        raise FileMismatch(
            f"{path}: content differs from its entry in {manifest} (sha256 {sha256}, {size} bytes): "
            "changed after signing; refusing it"
        )
