"""Signed node firmware images for tests: built from this checkout's firmware/, signed with a key of
their own (the project's release key is never used by tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.security.signing import generate_signing_key
from gateway.tools.flash import FIRMWARE_DIR, build_image
from gateway.tools.flash.job import BOARDS


@dataclass(frozen=True, slots=True)
class SignedImages:
    """`images/<board>/` for every board, and the key pair that signed them."""

    images: Path
    public_key: Path
    private_key: Path


def signed_images(directory: Path) -> SignedImages:
    """Compile and sign the firmware for every board under `directory` (about a second per board)."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "firmware.pem", directory / "firmware.pub.pem"
    generate_signing_key(private, public)
    for board in BOARDS:
        build_image(FIRMWARE_DIR, board, directory / "images" / board, private)
    return SignedImages(directory / "images", public, private)
