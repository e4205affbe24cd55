"""Signed firmware images: what `make firmware` builds is what `edge-gateway flash` will copy, and
nothing else is: an unsigned tree, a foreign signature, a changed file, the other board's image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gateway.security.signing import generate_signing_key
from gateway.tools.flash import FIRMWARE_DIR, FlashError, load_image
from gateway.tools.flash.image import firmware_version
from tests.firmware_images import SignedImages, signed_images


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> SignedImages:
    return signed_images(tmp_path_factory.mktemp("firmware"))


@pytest.fixture
def copy(signed: SignedImages, tmp_path: Path) -> Path:
    """A copy of the esp32 image to spoil."""
    return Path(shutil.copytree(signed.images / "esp32", tmp_path / "esp32"))


def test_a_signed_image_is_the_files_a_board_gets(signed: SignedImages) -> None:
    image = load_image(signed.images, "esp32", signed.public_key)
    paths = {f.path for f in image.files}
    assert {"/main.py", "/lib/node/app.mpy", "/lib/pms5003.mpy"} <= paths
    assert "/image.json" not in paths and "/MANIFEST.json" not in paths
    assert (image.board, image.fw) == ("esp32", firmware_version(FIRMWARE_DIR))
    main = next(f for f in image.files if f.path == "/main.py")
    assert main.data == (FIRMWARE_DIR / "main.py").read_bytes()
    rp2 = load_image(signed.images / "rp2", "rp2", signed.public_key)  # an image directory itself
    assert {f.path for f in rp2.files} == paths and rp2.board == "rp2"


def test_a_source_tree_is_not_a_signed_image(signed: SignedImages) -> None:
    with pytest.raises(FlashError, match="is not a signed firmware image") as refused:
        load_image(FIRMWARE_DIR, "esp32", signed.public_key)
    assert "make firmware" in refused.value.hint


def test_an_image_signed_by_another_key_is_refused(signed: SignedImages, tmp_path: Path) -> None:
    generate_signing_key(tmp_path / "other.pem", tmp_path / "other.pub.pem")
    with pytest.raises(FlashError, match="signature does not match"):
        load_image(signed.images, "esp32", tmp_path / "other.pub.pem")


def test_a_file_changed_after_signing_is_refused(copy: Path, signed: SignedImages) -> None:
    (copy / "lib" / "node" / "app.mpy").write_bytes(b"M\x06 patched")
    with pytest.raises(FlashError, match="changed after signing"):
        load_image(copy, "esp32", signed.public_key)


def test_the_other_boards_image_is_refused(signed: SignedImages) -> None:
    with pytest.raises(FlashError, match="an image for 'rp2', not for --board esp32"):
        load_image(signed.images / "rp2", "esp32", signed.public_key)


def test_a_file_the_manifest_does_not_list_is_never_flashed(copy: Path, signed: SignedImages) -> None:
    (copy / "boot.py").write_text("import evil\n")
    (copy / "image.json").write_text(json.dumps({"board": "esp32"}))  # listed: changing it is refused
    with pytest.raises(FlashError, match="changed after signing"):
        load_image(copy, "esp32", signed.public_key)
    shutil.copy2(signed.images / "esp32" / "image.json", copy / "image.json")
    assert "/boot.py" not in {f.path for f in load_image(copy, "esp32", signed.public_key).files}
