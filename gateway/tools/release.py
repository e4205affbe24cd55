"""Build and sign what ships: node firmware images and gateway release bundles, on the release machine.

    python -m gateway.tools.release firmware    # make firmware: one signed image per board (flash/image.py)
    python -m gateway.tools.release bundle      # make release: the signed bundle for `edge-gateway update`

The bundle, from a checkout: the gateway's wheel (`pip wheel --no-deps`), its dependency closure as
binary wheels for the gateways' platform (`pip download`, Raspberry Pi OS: CPython 3.11
on aarch64 by default), a lock that pins each of them by sha256, and the signed bundle of all three
(gateway/update/bundle.py) in `dist/edge-gateway-<version>.tar`. The key is the release key that
signs the models (`$EDGE_SIGNING_KEY` or ~/.config/edge-gateway/release-signing.pem); this tool
never makes one. `--no-wheels` leaves the dependency wheels out: gateways then fetch them from a
package index on their LAN (pip.conf), still checked against the signed lock.

Sign the firmware images first (`make firmware`): the wheel carries them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.utils import parse_wheel_filename

from gateway.tools.flash.job import BOARDS, FIRMWARE_DIR, IMAGES_DIR
from gateway.update.bundle import BundleSpec, build_bundle

PI = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "linux_aarch64")  # deploy/check_aarch64.sh
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]


def release_key_path() -> Path:
    """Where the release private key is kept on the signing machine (never in the repository)."""
    configured = os.environ.get("EDGE_SIGNING_KEY")
    return (
        Path(configured) if configured else Path.home() / ".config" / "edge-gateway" / "release-signing.pem"
    )


def build_wheel(source: Path, out: Path) -> Path:
    """The gateway's wheel, built from the checkout `source`."""
    subprocess.run([*PIP, "wheel", "--no-deps", "-w", str(out), str(source)], check=True)
    (wheel,) = out.glob("edge_gateway-*.whl")
    return wheel


def requirements(wheel: Path) -> list[str]:
    """The wheel's own Requires-Dist (pyproject's pinned dependencies), without extras."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(name).decode("utf-8").splitlines()
    return [
        line.split(": ", 1)[1]
        for line in lines
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    ]


def download(reqs: list[str], out: Path, platforms: tuple[str, ...], python: str) -> list[Path]:
    """Binary wheels of `reqs` and everything they need, for the gateways' platform."""
    command = [*PIP, "download", "--only-binary=:all:", "-d", str(out), "--python-version", python]
    command += ["--implementation", "cp", "--abi", "cp" + python.replace(".", "")]
    command += [f"--platform={p}" for p in platforms]
    subprocess.run([*command, *reqs], check=True)
    return sorted(out.glob("*.whl"))


def lock_text(wheels: list[Path]) -> str:
    """`name==version --hash=sha256:...` for each wheel; ValueError if one name has two versions."""
    pins: dict[str, tuple[str, list[str]]] = {}
    for wheel in wheels:
        name, version, _, _ = parse_wheel_filename(wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        pinned, hashes = pins.setdefault(name, (str(version), []))
        if pinned != str(version):
            raise ValueError(f"{name}: both {pinned} and {version} were downloaded; pin one")
        hashes.append(digest)
    return "".join(
        f"{name}=={version}" + "".join(f" \\\n    --hash=sha256:{h}" for h in sorted(hashes)) + "\n"
        for name, (version, hashes) in sorted(pins.items())
    )


def bundle(args: argparse.Namespace, key: Path) -> None:
    """Build the wheel, lock and download its dependencies, sign the bundle."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheel = build_wheel(args.source, work / "dist")
        deps = download(requirements(wheel), work / "wheels", tuple(args.platform or PI), args.python)
        (work / "requirements.lock").write_text(lock_text(deps), encoding="utf-8")
        spec = BundleSpec(wheel, work / "requirements.lock", () if args.no_wheels else deps)
        out = build_bundle(spec, key, args.out)
    print(
        f"{out}: {wheel.name}, {len(deps)} locked dependencies{'' if args.no_wheels else ' (wheels included)'}"
    )


def firmware(args: argparse.Namespace, key: Path) -> None:
    """Compile and sign the node firmware for every board."""
    from gateway.tools.flash.image import build_image, firmware_version

    for board in args.board or sorted(BOARDS):
        manifest = build_image(args.firmware, board, args.images / board, key)
        print(f"signed {manifest} (firmware {firmware_version(args.firmware)} for {board})")


def main(argv: list[str] | None = None) -> None:
    """`firmware` or `bundle`, signed with the release key (or --key)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--key", type=Path, default=None, help="private key (default: the release key)")
    commands = parser.add_subparsers(dest="command", required=True)
    images = commands.add_parser("firmware", help="signed node firmware images, one per board")
    images.add_argument("--firmware", type=Path, default=FIRMWARE_DIR, help="firmware source tree")
    images.add_argument(
        "--images", type=Path, default=IMAGES_DIR, help="where the images go (one dir per board)"
    )
    images.add_argument("--board", action="append", choices=sorted(BOARDS), help="default: every board")
    release = commands.add_parser("bundle", help="the signed gateway release bundle")
    release.add_argument("--source", type=Path, default=Path.cwd(), help="the checkout (default: here)")
    release.add_argument("--out", type=Path, default=Path("dist"), help="where the bundle goes")
    release.add_argument("--platform", action="append", help=f"wheel platform tags (default: {' '.join(PI)})")
    release.add_argument("--python", default="3.11", help="the gateways' Python (default 3.11)")
    release.add_argument("--no-wheels", action="store_true", help="lock only; gateways use a LAN index")
    args = parser.parse_args(argv)
    key = args.key or release_key_path()
    if not key.is_file():
        parser.exit(1, f"error: no release key at {key} (set $EDGE_SIGNING_KEY); never make a new one here\n")
    (firmware if args.command == "firmware" else bundle)(args, key)


if __name__ == "__main__":
    main()
