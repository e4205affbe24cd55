"""An integrator's person model is chosen per camera in the config, and only from signed models.

Scenario: a models directory like a release (the shipped humidity, nowcast and fall models) plus an
integrator's tiny ONNX person model and its JSON manifest, all signed with the integrator's key.
A camera whose `fall.person_model` names that manifest gets a fall detector that finds people with
it; a camera naming a manifest the signed directory does not list stops the gateway at start with
an error that names the camera and what is listed; a path outside person/ is a config error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest
from pydantic import ValidationError

from gateway.app import Gateway
from gateway.audit import AuditLog
from gateway.config import FallConfig, GatewayConfig
from gateway.privacy.policy import DEFAULT_POLICY
from gateway.rollout.pair import FallPair
from gateway.security.signing import ManifestSpec, generate_signing_key, sign_manifest
from gateway.trust import Trusted, Untrusted
from gateway.vision.person_model import OnnxPersonLocator
from gateway.vision.pose import CropPoseEstimator
from tests.unit.vision.test_person_onnx_manifest import MANIFEST, tiny_yolo

REPO_MODELS = Path(__file__).resolve().parents[3] / "models"
SHIPPED = [
    "air_quality/pm_humidity.onnx",
    "flood/nowcast.onnx",
    "fall/fall_model.onnx",
    "pose/movenet_lightning.onnx",
    "person/movenet.json",
]


def integrator_models(tmp_path: Path) -> tuple[Path, Path]:
    """The shipped models plus person/tiny.{onnx,json}, signed by the integrator; (dir, public key)."""
    models = tmp_path / "models"
    for name in SHIPPED:
        (models / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_MODELS / name, models / name)
    onnx.save_model(tiny_yolo(), models / "person" / "tiny.onnx")
    (models / "person" / "tiny.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    generate_signing_key(tmp_path / "key.pem", tmp_path / "key.pub.pem")
    files = [Path(n) for n in [*SHIPPED, "person/tiny.onnx", "person/tiny.json"]]
    sign_manifest(
        ManifestSpec(models, files, "models", "integrator-1"), tmp_path / "key.pem", models / "MANIFEST.json"
    )
    # One key signs what a gateway trusts: the integrator signs the shipped policy too.
    (tmp_path / "policy").mkdir()
    policy = Path(shutil.copy(DEFAULT_POLICY, tmp_path / "policy" / "policy.yaml"))
    spec = ManifestSpec(policy.parent, [Path("policy.yaml")], "policy", "integrator-1")
    sign_manifest(spec, tmp_path / "key.pem", policy.parent / "MANIFEST.json")
    return models, tmp_path / "key.pub.pem"


def gateway_config(tmp_path: Path, person_model: str) -> GatewayConfig:
    models, public = integrator_models(tmp_path)
    camera = {"id": "hall", "url": str(tmp_path / "none.avi"), "fall": {"person_model": person_model}}
    return GatewayConfig.model_validate(
        {
            "site": "s",
            "gateway": "g",
            "mqtt": {"host": "127.0.0.1", "port": 1},
            "storage": str(tmp_path / "storage"),
            "trust": {"public_key": str(public), "models_dir": str(models)},
            "policy": str(tmp_path / "policy" / "policy.yaml"),
            "cameras": [camera],
        }
    )


def build(config: GatewayConfig, tmp_path: Path) -> Gateway:
    trusted = Trusted.load(config.trust.public_key, config.policy, config.trust.models_dir)
    config.storage.mkdir(parents=True, exist_ok=True)
    return Gateway(config, trusted, AuditLog(tmp_path / "audit.jsonl"))


def test_camera_uses_the_signed_person_model_it_names(tmp_path: Path) -> None:
    gateway = build(gateway_config(tmp_path, "person/tiny.json"), tmp_path)
    (pair,) = [d for d in gateway.cameras[0].detectors if isinstance(d, FallPair)]  # the rollout's
    fall = pair.active
    assert fall is not None
    assert isinstance(fall._locator, OnnxPersonLocator)
    assert fall._locator.manifest.name == "tiny-yolo"
    assert isinstance(fall._pose, CropPoseEstimator)  # a box-only model's people are posed by MoveNet
    assert fall._pose.manifest.name == "movenet-singlepose-lightning"
    assert "tiny-yolo" in {ref.name for ref in gateway.trusted.models.value.refs()}


def test_a_person_model_not_in_the_signed_manifest_stops_the_gateway(tmp_path: Path) -> None:
    with pytest.raises(
        Untrusted, match=r"camera hall: fall.person_model person/yolo.json .*person/tiny.json"
    ):
        build(gateway_config(tmp_path, "person/yolo.json"), tmp_path)


@pytest.mark.parametrize("path", ["../secrets.json", "person/x.onnx", "/etc/x.json", "person/a/b.json"])
def test_person_model_must_be_a_manifest_under_person(path: str) -> None:
    with pytest.raises(ValidationError, match="person_model"):
        FallConfig.model_validate({"person_model": path})
