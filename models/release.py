"""Sign what gateways load: every ONNX model (models/MANIFEST.json) and the shipped default policy
(gateway/privacy/MANIFEST.json), with the release key. ``python -m models.release``; `make models` runs it.

The private key never enters this repository: it is read from ``$EDGE_SIGNING_KEY`` or
``~/.config/edge-gateway/release-signing.pem``. Without one, a new key pair is made there and its public
half written to ``models/release.pub.pem`` — the trust anchor gateways verify against (config
``trust.public_key``) — so a new key must be committed and distributed with the new manifests.
A manifest is re-signed only when the files it covers changed, so an unchanged model gives no diff.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Final

from gateway.privacy.policy import DEFAULT_POLICY, load_policy
from gateway.security.signing import (
    ManifestError,
    ManifestSpec,
    generate_signing_key,
    load_private_key,
    sign_manifest,
    verify_manifest,
)
from gateway.tools.release import release_key_path

MODELS_DIR: Final = Path(__file__).resolve().parent
PUBLIC_KEY: Final = MODELS_DIR / "release.pub.pem"
MANIFEST: Final = "MANIFEST.json"


def ensure_key() -> Path:
    """The private key; a new pair (public half into models/) when there is none."""
    private = release_key_path()
    if not private.exists():
        private.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        PUBLIC_KEY.unlink(missing_ok=True)
        generate_signing_key(private, PUBLIC_KEY)
        print(
            f"new release key {private}; commit {PUBLIC_KEY.relative_to(MODELS_DIR.parent)}", file=sys.stderr
        )
    load_private_key(private)  # fail here, clearly, on an unreadable key
    return private


def _up_to_date(manifest: Path, files: list[Path]) -> bool:
    """Whether `manifest` verifies with the current public key and covers exactly `files` as they are."""
    try:
        verified = verify_manifest(manifest, PUBLIC_KEY)
    except (ManifestError, ValueError):
        return False
    wanted = {
        f.relative_to(manifest.parent).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in files
    }
    return dict(verified.files) == wanted


def sign(directory: Path, files: list[Path], kind: str, version: str) -> Path:
    """Sign `files` into `directory/MANIFEST.json` unless it already covers them as they are."""
    manifest = directory / MANIFEST
    key = ensure_key()
    if not _up_to_date(manifest, files):
        sign_manifest(ManifestSpec(directory, files, kind, version), key, manifest)
        print(f"signed {manifest} ({kind} {version}, {len(files)} files)")
    return manifest


def models_version(files: list[Path]) -> str:
    """A version naming exactly these model bytes."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "models-" + digest.hexdigest()[:12]


def main() -> None:
    """Sign the models and the shipped default policy."""
    onnx = sorted(MODELS_DIR.rglob("*.onnx"))
    # person/pose model manifests (gateway/vision/person_model.py) are signed with the models they name
    person = sorted(MODELS_DIR.glob("person/*.json"))
    sign(MODELS_DIR, onnx + person, "models", models_version(onnx + person))
    sign(DEFAULT_POLICY.parent, [DEFAULT_POLICY], "policy", load_policy().version)


if __name__ == "__main__":
    main()
