"""A rollout bundle: detector settings, rules and optionally models and a policy, signed as one.

A directory with a manifest of kind `bundle` (gateway/security/signing.py, signed with the release key
like models/MANIFEST.json) listing `bundle.yaml` and any of `fall/fall_model.onnx` (replaces the fall
model) and `policy.yaml` (replaces the privacy policy once promoted)::

    version: fall-2027.01-a           # the manifest's version, and a directory name
    fall: {threshold: 0.5, detect_windows: 2}
    promote: {auto: true, min_shadow_s: 86400, max_only_in_shadow: 0, max_missed: 0}
    rollback: {false_alarm_budget: 3, cpu_budget_ms_per_frame: 40}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import Field

from gateway.inference.runner import ModelIntegrityError
from gateway.privacy.policy import Policy
from gateway.registry import FALL
from gateway.security.signing import ManifestError, SigningKeyError, verify_manifest
from gateway.vision.fall import FallModel, FallSettings
from gateway.yamlfile import ConfigError, Strict, parse_yaml_model

MANIFEST: Final = "MANIFEST.json"
SPEC_FILE: Final = "bundle.yaml"
POLICY_FILE: Final = "policy.yaml"
VERSION_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
BASELINE: Final = "baseline"  # what runs without a bundle: the trusted models and the config's settings


class FallTuning(Strict):
    """The fall detector's decision settings (gateway/vision/fall.py FallSettings)."""

    threshold: float = Field(0.5, gt=0, lt=1, description="Model probability that counts as a fall")
    detect_windows: int = Field(2, ge=1, le=20, description="Consecutive windows above the threshold")
    recover_s: float = Field(2.0, gt=0, le=60, description="Upright this long: fall.recovered")


class PromoteRules(Strict):
    """When a shadow bundle promotes itself (all must hold), besides an operator's signed command."""

    auto: bool = Field(False, description="Promote by these rules without an operator")
    min_shadow_s: float = Field(86_400.0, ge=0, description="At least this long in shadow")
    max_only_in_shadow: int = Field(0, ge=0, description="Events the active did not raise (extra alarms)")
    max_missed: int = Field(0, ge=0, description="Events the active raised and the shadow missed")


class RollbackRules(Strict):
    """When a promoted bundle rolls itself back to the previous one."""

    false_alarm_budget: int = Field(3, ge=0, description="More false alarms confirmed by actors: roll back")
    cpu_budget_ms_per_frame: float = Field(100.0, gt=0, description="Fall detector CPU per frame, averaged")
    min_frames: int = Field(50, ge=1, description="Frames measured before the CPU budget is judged")


class BundleSpec(Strict):
    """The `bundle.yaml` of a bundle."""

    version: str = Field(pattern=VERSION_PATTERN, description="Must equal the manifest's version")
    description: str = Field("", max_length=500)
    fall: FallTuning = Field(default_factory=FallTuning)
    promote: PromoteRules = Field(default_factory=PromoteRules)
    rollback: RollbackRules = Field(default_factory=RollbackRules)


class BundleRefused(ValueError):
    """A bundle that is not signed by the trusted key, or not a valid bundle."""


@dataclass(frozen=True, slots=True)
class Bundle:
    """A verified bundle, loaded."""

    spec: BundleSpec
    directory: Path
    manifest_sha256: str
    fall_model: FallModel | None  # None: the active fall model
    policy: Policy | None  # None: the trusted policy

    @property
    def version(self) -> str:
        """The bundle's version (its manifest's)."""
        return self.spec.version

    def fall_settings(self, confirm_s: float) -> FallSettings:
        """The fall detector settings this bundle runs with (confirmation time stays the camera's)."""
        tuning = self.spec.fall
        return FallSettings(
            threshold=tuning.threshold,
            detect_windows=tuning.detect_windows,
            recover_s=tuning.recover_s,
            confirm_s=confirm_s,
        )


def load_bundle(directory: Path, public_key: Path) -> Bundle:
    """The bundle in `directory`, verified against `public_key`; BundleRefused saying why not."""
    try:
        verified = verify_manifest(directory / MANIFEST, public_key, kind="bundle")
        text = verified.read_verified(SPEC_FILE).decode("utf-8")
        spec = parse_yaml_model(text, BundleSpec, directory / SPEC_FILE)
        if spec.version != verified.version:
            raise BundleRefused(f"{SPEC_FILE} says {spec.version!r}, the manifest {verified.version!r}")
        fall = FALL.load(verified) if FALL.file in verified.files else None
        policy = None
        if POLICY_FILE in verified.files:
            policy_text = verified.read_verified(POLICY_FILE).decode("utf-8")
            policy = parse_yaml_model(policy_text, Policy, directory / POLICY_FILE)
    except (ManifestError, SigningKeyError, ModelIntegrityError, UnicodeDecodeError) as exc:
        raise BundleRefused(f"bundle {directory.name} refused: {exc}") from exc
    except ConfigError as exc:
        raise BundleRefused(f"bundle {directory.name} refused: {'; '.join(exc.errors)[:400]}") from exc
    return Bundle(spec, directory, verified.sha256, fall, policy)
