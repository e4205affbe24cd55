"""What a gateway trusts: models and the privacy policy, loaded only from signed manifests, and
hot-reloaded: a changed file is verified before it replaces the running version.

A manifest (gateway/security/signing.py) lists files with their sha256 and is signed with the
release key; the gateway holds only the public key (config `trust.public_key`). A changed model or
policy file, or a manifest not signed by that key, is refused with a clear error; a running gateway
then keeps the version it has (`Trusted.poll`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from gateway import audit
from gateway.audit import AuditLog
from gateway.inference.runner import ModelIntegrityError
from gateway.messages import JsonValue
from gateway.privacy.policy import DEFAULT_POLICY, Policy
from gateway.registry import MissingModel, ModelSet, load_model_set
from gateway.security.signing import ManifestError, SigningKeyError, verify_manifest
from gateway.shipped import models_dir as shipped_models
from gateway.yamlfile import ConfigError, parse_yaml_model

log = logging.getLogger(__name__)

T = TypeVar("T")
MANIFEST = "MANIFEST.json"
DEFAULT_PUBLIC_KEY = shipped_models() / "release.pub.pem"


class Untrusted(Exception):
    """A model or policy that failed verification; `kind` is "model" or "policy"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """A verified artefact and the manifest version it came from."""

    value: T
    version: str
    manifest_sha256: str


def load_models(public_key: Path = DEFAULT_PUBLIC_KEY, models_dir: Path | None = None) -> Loaded[ModelSet]:
    """Every model from the signed models manifest, or Untrusted."""
    manifest = (models_dir or shipped_models()) / MANIFEST
    try:
        verified = verify_manifest(manifest, public_key, kind="models")
        return Loaded(load_model_set(verified), verified.version, verified.sha256)
    except (ManifestError, SigningKeyError, ModelIntegrityError, MissingModel, OSError) as exc:
        raise Untrusted("model", f"models refused: {exc}") from exc


def load_policy(policy: Path | None = None, public_key: Path = DEFAULT_PUBLIC_KEY) -> Loaded[Policy]:
    """A policy file (default: the shipped one) verified by the MANIFEST.json beside it, or Untrusted.

    ConfigError (line-numbered) if it is signed but invalid.
    """
    path = policy or DEFAULT_POLICY
    try:
        verified = verify_manifest(path.parent / MANIFEST, public_key, kind="policy")
        text = verified.read_verified(path.name).decode("utf-8")
    except (ManifestError, SigningKeyError, UnicodeDecodeError, OSError) as exc:  # OSError: the key file
        raise Untrusted("policy", f"policy {path} refused: {exc}") from exc
    return Loaded(parse_yaml_model(text, Policy, path), verified.version, verified.sha256)


def _stamp(paths: list[Path]) -> tuple[float, ...]:
    return tuple(p.stat().st_mtime_ns if p.exists() else -1.0 for p in paths)


@dataclass
class Trusted:
    """The verified policy and models a gateway runs with, and where they came from."""

    public_key: Path
    policy_path: Path | None
    models_dir: Path | None
    policy: Loaded[Policy]
    models: Loaded[ModelSet]
    _stamps: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, public_key: Path, policy_path: Path | None, models_dir: Path | None) -> Trusted:
        """Verify and load both; Untrusted or ConfigError if either is refused (fatal at start)."""
        trusted = cls(
            public_key,
            policy_path,
            models_dir,
            load_policy(policy_path, public_key),
            load_models(public_key, models_dir),
        )
        trusted._stamps = {
            "policy": _stamp(trusted._policy_files()),
            "models": _stamp(trusted._model_files()),
        }
        return trusted

    def _policy_files(self) -> list[Path]:
        path = self.policy_path or DEFAULT_POLICY
        return [path, path.parent / MANIFEST]

    def _model_files(self) -> list[Path]:
        root = self.models_dir or shipped_models()
        return [root / MANIFEST, *sorted(root.rglob("*.onnx"))]

    def record_loaded(self, log_: AuditLog) -> None:
        """Audit what is running now."""
        log_.append(
            audit.POLICY_LOADED, {"version": self.policy.version, "sha256": self.policy.manifest_sha256}
        )
        for ref in self.models.value.refs():
            log_.append(
                audit.MODEL_LOADED,
                {"name": ref.name, "version": ref.version, "sha256": self.models.manifest_sha256},
            )

    def poll(self, log_: AuditLog) -> set[str]:
        """Reload what changed on disk; return {"policy", "models"} for what was replaced."""
        replaced = set()
        policy_stamp = _stamp(self._policy_files())
        if policy_stamp != self._stamps["policy"]:
            self._stamps["policy"] = policy_stamp
            if self._reload_policy(log_):
                replaced.add("policy")
        model_stamp = _stamp(self._model_files())
        if model_stamp != self._stamps["models"]:
            self._stamps["models"] = model_stamp
            if self._reload_models(log_):
                replaced.add("models")
        return replaced

    def _reload_policy(self, log_: AuditLog) -> bool:
        try:
            new = load_policy(self.policy_path, self.public_key)
        except (Untrusted, ConfigError) as exc:
            log.error("%s; still running policy %s", exc, self.policy.version)
            log_.append(audit.POLICY_REFUSED, {"error": str(exc)[:500], "version": self.policy.version})
            return False
        self.policy = new
        log.warning("policy %s loaded", new.version)
        log_.append(audit.POLICY_LOADED, {"version": new.version, "sha256": new.manifest_sha256})
        return True

    def _reload_models(self, log_: AuditLog) -> bool:
        try:
            new = load_models(self.public_key, self.models_dir)
        except Untrusted as exc:
            log.error("%s; still running models %s", exc, self.models.version)
            log_.append(audit.MODEL_REFUSED, {"error": str(exc)[:500], "version": self.models.version})
            return False
        self.models = new
        for ref in new.value.refs():
            log.warning("model %s %s loaded", ref.name, ref.version)
            detail: dict[str, JsonValue] = {
                "name": ref.name,
                "version": ref.version,
                "sha256": new.manifest_sha256,
            }
            log_.append(audit.MODEL_LOADED, detail)
        return True
