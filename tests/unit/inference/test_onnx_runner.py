"""OnnxModel loads only files whose bytes match models/MANIFEST.sha256, then runs them.

Scenario: the committed humidity model is loaded through the default manifest; copies placed in a
temporary models/ tree are refused when one byte differs, when the manifest lacks their line, when
the manifest itself is missing, or when the file lies outside the manifest's directory.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from gateway.inference.runner import DEFAULT_MANIFEST, ModelIntegrityError, OnnxModel, read_manifest

MODELS = DEFAULT_MANIFEST.parent
MODEL = MODELS / "air_quality" / "pm_humidity.onnx"


def _copy_tree(tmp_path: Path) -> Path:
    """A models/ tree in tmp_path with the real manifest and the real model; returns the model's path."""
    (tmp_path / "air_quality").mkdir()
    shutil.copy(DEFAULT_MANIFEST, tmp_path / DEFAULT_MANIFEST.name)
    return Path(shutil.copy(MODEL, tmp_path / "air_quality" / MODEL.name))


def test_manifest_lists_every_committed_onnx_with_its_hash() -> None:
    entries = read_manifest(DEFAULT_MANIFEST)
    on_disk = {p.relative_to(MODELS).as_posix(): p for p in MODELS.rglob("*.onnx")}
    assert set(entries) == set(on_disk)
    for name, path in on_disk.items():
        assert entries[name] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_loads_verified_model_and_reports_hash_prefix_as_version() -> None:
    model = OnnxModel(MODEL)

    assert model.name == "pm_humidity"
    assert model.version == hashlib.sha256(MODEL.read_bytes()).hexdigest()[:12]
    out = model.run(np.array([[10.0, 50.0], [20.0, 90.0]], dtype=np.float32))
    assert out.shape == (2, 1)
    assert out.dtype == np.float32


def test_run_converts_float64_input() -> None:
    model = OnnxModel(MODEL)
    assert model.run(np.array([[10.0, 50.0]])).shape == (1, 1)


def test_unchanged_copy_in_another_tree_loads(tmp_path: Path) -> None:
    copy = _copy_tree(tmp_path)
    assert OnnxModel(copy, manifest=tmp_path / "MANIFEST.sha256").version == OnnxModel(MODEL).version


def test_one_changed_byte_is_refused(tmp_path: Path) -> None:
    copy = _copy_tree(tmp_path)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))

    with pytest.raises(ModelIntegrityError, match="does not match"):
        OnnxModel(copy, manifest=tmp_path / "MANIFEST.sha256")


def test_file_without_manifest_entry_is_refused(tmp_path: Path) -> None:
    copy = _copy_tree(tmp_path)
    renamed = copy.rename(copy.with_name("unlisted.onnx"))

    with pytest.raises(ModelIntegrityError, match="no entry"):
        OnnxModel(renamed, manifest=tmp_path / "MANIFEST.sha256")


def test_missing_manifest_is_refused(tmp_path: Path) -> None:
    copy = _copy_tree(tmp_path)
    (tmp_path / "MANIFEST.sha256").unlink()

    with pytest.raises(ModelIntegrityError, match="not found"):
        OnnxModel(copy, manifest=tmp_path / "MANIFEST.sha256")


def test_model_outside_manifest_directory_is_refused(tmp_path: Path) -> None:
    outside = Path(shutil.copy(MODEL, tmp_path / MODEL.name))

    with pytest.raises(ModelIntegrityError, match="outside"):
        OnnxModel(outside)


def test_garbled_manifest_line_is_refused(tmp_path: Path) -> None:
    copy = _copy_tree(tmp_path)
    (tmp_path / "MANIFEST.sha256").write_text("not-a-hash air_quality/pm_humidity.onnx\n", encoding="utf-8")

    with pytest.raises(ModelIntegrityError, match="not a sha256sum line"):
        OnnxModel(copy, manifest=tmp_path / "MANIFEST.sha256")


def test_missing_model_file_is_fatal_os_error(tmp_path: Path) -> None:
    copy = _copy_tree(tmp_path)
    copy.unlink()

    with pytest.raises(FileNotFoundError):
        OnnxModel(copy, manifest=tmp_path / "MANIFEST.sha256")
