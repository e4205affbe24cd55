"""What a gateway trusts: models and the privacy policy, loaded only from signed manifests.

A manifest (gateway/security/signing.py) lists files with their sha256 and is signed with the
release key; the gateway holds only the public key (config `trust.public_key`). A changed model or
policy file, or a manifest not signed by that key, is refused with a clear error; a running gateway
then keeps the version it has (see `Watched`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from gateway.air.humidity import OnnxHumidityCorrector, default_model_dir, load_signed
from gateway.flood.nowcast import MODEL_FILE as NOWCAST_FILE
from gateway.flood.nowcast import OnnxNowcaster
from gateway.flood.nowcast import load_signed as load_nowcaster
from gateway.inference.runner import ModelIntegrityError
from gateway.messages import ModelRef
from gateway.privacy.policy import DEFAULT_POLICY, Policy
from gateway.security.signing import ManifestError, SigningKeyError, VerifiedManifest, verify_manifest
from gateway.vision.fall import MODEL_FILE as FALL_FILE
from gateway.vision.fall import OnnxFallModel
from gateway.vision.fall import load_signed as load_fall_model
from gateway.vision.person_model import PersonModel, load_person_model
from gateway.yamlfile import ConfigError, parse_yaml_model

T = TypeVar("T")
MANIFEST = "MANIFEST.json"
DEFAULT_PUBLIC_KEY = default_model_dir() / "release.pub.pem"
PERSON_MODELS = "person/"  # an integrator's person/pose models: person/<name>.json + the ONNX it names


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


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The models a gateway runs: all from one signed manifest."""

    corrector: OnnxHumidityCorrector
    nowcaster: OnnxNowcaster | None  # None when the manifest lists no nowcast model
    fall: OnnxFallModel | None = None  # None when the manifest lists no fall model
    people: Mapping[str, PersonModel] = field(default_factory=dict)  # by manifest path, person/*.json

    def refs(self) -> list[ModelRef]:
        """Name and version of each model, for the audit log."""
        models: list[OnnxHumidityCorrector | OnnxNowcaster | None] = [self.corrector, self.nowcaster]
        refs = [m.model for m in models if m is not None]
        refs += [ModelRef(p.manifest.name, p.model.version) for p in self.people.values()]
        return refs + ([self.fall.ref] if self.fall is not None else [])


def load_person_models(verified: VerifiedManifest) -> dict[str, PersonModel]:
    """Every person/*.json of the signed manifest with the ONNX file it names (both verified)."""
    names = sorted(p for p in verified.files if p.startswith(PERSON_MODELS) and p.endswith(".json"))
    return {name: load_person_model(verified, name) for name in names}


def load_models(public_key: Path = DEFAULT_PUBLIC_KEY, models_dir: Path | None = None) -> Loaded[ModelSet]:
    """Every model from the signed models manifest, or Untrusted."""
    manifest = (models_dir or default_model_dir()) / MANIFEST
    try:
        verified = verify_manifest(manifest, public_key, kind="models")
        nowcaster = load_nowcaster(verified) if NOWCAST_FILE.as_posix() in verified.files else None
        fall = load_fall_model(verified) if FALL_FILE in verified.files else None
        models = ModelSet(load_signed(verified), nowcaster, fall, load_person_models(verified))
        return Loaded(models, verified.version, verified.sha256)
    except (ManifestError, SigningKeyError, ModelIntegrityError) as exc:
        raise Untrusted("model", f"models refused: {exc}") from exc


def load_policy(policy: Path | None = None, public_key: Path = DEFAULT_PUBLIC_KEY) -> Loaded[Policy]:
    """A policy file (default: the shipped one) verified by the MANIFEST.json beside it, or Untrusted.

    ConfigError (line-numbered) if it is signed but invalid.
    """
    path = policy or DEFAULT_POLICY
    try:
        verified = verify_manifest(path.parent / MANIFEST, public_key, kind="policy")
        text = verified.read_verified(path.name).decode("utf-8")
    except (ManifestError, SigningKeyError, UnicodeDecodeError) as exc:
        raise Untrusted("policy", f"policy {path} refused: {exc}") from exc
    return Loaded(parse_yaml_model(text, Policy, path), verified.version, verified.sha256)


__all__ = ["ConfigError", "Loaded", "Untrusted", "load_models", "load_policy"]
