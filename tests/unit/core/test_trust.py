"""Models and the policy load only from signed manifests; a changed file is refused and, in a
running gateway, the previous version keeps running."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.audit_chain import verify_chain
from gateway.privacy.policy import DEFAULT_POLICY
from gateway.security.signing import ManifestSpec, generate_signing_key, sign_manifest
from gateway.shipped import models_dir
from gateway.trust import DEFAULT_PUBLIC_KEY, Trusted, Untrusted, load_models, load_policy


def test_shipped_models_and_policy_verify_with_the_committed_key() -> None:
    models = load_models()
    policy = load_policy()
    assert models.value.corrector.model.name == "pm_humidity"
    assert policy.value.version == policy.version
    assert DEFAULT_PUBLIC_KEY.is_file()


class Signed:
    """A private copy of the models and the default policy, signed with a fresh test key."""

    def __init__(self, tmp_path: Path) -> None:
        self.key, self.pub = tmp_path / "k.pem", tmp_path / "k.pub.pem"
        generate_signing_key(self.key, self.pub)
        self.models = tmp_path / "models"
        shutil.copytree(models_dir() / "air_quality", self.models / "air_quality")
        self.onnx = self.models / "air_quality" / "pm_humidity.onnx"
        self.policy_dir = tmp_path / "policy"
        self.policy_dir.mkdir()
        self.policy = self.policy_dir / "policy.yaml"
        self.policy.write_text(DEFAULT_POLICY.read_text())
        self.sign_models()
        self.sign_policy("1")

    def sign_models(self) -> None:
        sign_manifest(
            ManifestSpec(self.models, [self.onnx], "models", "m1"), self.key, self.models / "MANIFEST.json"
        )

    def sign_policy(self, version: str) -> None:
        spec = ManifestSpec(self.policy_dir, [self.policy], "policy", version)
        sign_manifest(spec, self.key, self.policy_dir / "MANIFEST.json")


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_changed_model_is_refused(tmp_path: Path) -> None:
    signed = Signed(tmp_path)
    assert load_models(signed.pub, signed.models).version == "m1"
    flip_a_byte(signed.onnx)
    with pytest.raises(Untrusted, match="models refused"):
        load_models(signed.pub, signed.models)


def test_a_policy_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    signed = Signed(tmp_path)
    with pytest.raises(Untrusted, match="refused"):
        load_policy(signed.policy, DEFAULT_PUBLIC_KEY)


def test_running_gateway_keeps_the_previous_policy_until_a_signed_one_arrives(tmp_path: Path) -> None:
    signed = Signed(tmp_path)
    trusted = Trusted.load(signed.pub, signed.policy, signed.models)
    log_path = tmp_path / "audit.jsonl"
    with AuditLog(log_path) as audit:
        trusted.record_loaded(audit)
        tampered = signed.policy.read_text().replace("retention_days: 28", "retention_days: 3650")
        signed.policy.write_text(tampered)
        os.utime(signed.policy, ns=(1, 1))  # a different mtime, whatever the clock's resolution
        assert trusted.poll(audit) == set()
        assert trusted.policy.version == "1"
        assert trusted.policy.value.actors["politie"].retention_days == 28

        signed.sign_policy("2")
        assert trusted.poll(audit) == {"policy"}
        assert trusted.policy.version == "2"
        assert trusted.policy.value.actors["politie"].retention_days == 3650

        flip_a_byte(signed.onnx)
        os.utime(signed.onnx, ns=(2, 2))
        assert trusted.poll(audit) == set()
        assert trusted.models.version == "m1"
    kinds = [line.split('"kind":"')[1].split('"')[0] for line in log_path.read_text().splitlines()]
    assert kinds == ["policy.loaded", "model.loaded", "policy.refused", "policy.loaded", "model.refused"]
    assert verify_chain(log_path).intact
