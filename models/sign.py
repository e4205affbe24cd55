"""Sign models (or a policy) into a manifest the gateway verifies before loading: ``python -m models.sign``.

    python -m models.sign keygen signing.pem signing.pub.pem     # once, on the signing machine
    python -m models.sign sign --key signing.pem --version 2026.11.1          # models/MANIFEST.json
    python -m models.sign sign --key signing.pem --version 7 --kind policy --dir conf policy.yaml
    python -m models.sign verify models/MANIFEST.json --public-key signing.pub.pem

With no files, ``sign`` lists every .onnx file under ``--dir`` (default: this models/ directory). The
private key belongs on the signing machine only, never in this repository or on a gateway: gateways
are given the public key. The format is described in gateway/security/signing.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from gateway.security.signing import (
    KINDS,
    ManifestError,
    ManifestSpec,
    SigningKeyError,
    generate_signing_key,
    sign_manifest,
    verify_manifest,
)

MODELS_DIR: Final = Path(__file__).resolve().parent
SIGNED_MANIFEST_NAME: Final = "MANIFEST.json"


def sign_directory(spec: ManifestSpec, private_key: Path, name: str = SIGNED_MANIFEST_NAME) -> Path:
    """Sign ``spec`` into ``spec.directory / name``; with no files in ``spec``, every .onnx file below it."""
    files = list(spec.files) or sorted(spec.directory.rglob("*.onnx"))
    if not files:
        raise ValueError(f"no files to sign in {spec.directory}")
    full = ManifestSpec(spec.directory, files, spec.kind, spec.version)
    return sign_manifest(full, private_key, spec.directory / name)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m models.sign", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="write a new Ed25519 key pair (private file mode 0600)")
    keygen.add_argument("private", type=Path)
    keygen.add_argument("public", type=Path)
    sign = commands.add_parser("sign", help="write a signed manifest")
    sign.add_argument("--key", type=Path, required=True, help="private key (PEM)")
    sign.add_argument("--version", required=True)
    sign.add_argument("--kind", choices=sorted(KINDS), default="models")
    sign.add_argument("--dir", type=Path, default=MODELS_DIR, help="directory the manifest covers")
    sign.add_argument("--out", default=SIGNED_MANIFEST_NAME, help="manifest file name inside --dir")
    sign.add_argument("files", type=Path, nargs="*", help="default: every .onnx file under --dir")
    verify = commands.add_parser("verify", help="check a manifest and every file it lists")
    verify.add_argument("manifest", type=Path)
    verify.add_argument("--public-key", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; 0 on success, 1 with one line on stderr otherwise."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "keygen":
            generate_signing_key(args.private, args.public)
            print(f"wrote {args.private} (keep it secret, off the gateways) and {args.public}")
        elif args.command == "sign":
            spec = ManifestSpec(args.dir, args.files, args.kind, args.version)
            print(f"wrote {sign_directory(spec, args.key, args.out)}")
        else:
            verified = verify_manifest(args.manifest, args.public_key)
            print(
                f"{args.manifest}: {verified.kind} {verified.version}, {len(verified.files)} files verified"
            )
    except (ManifestError, SigningKeyError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
