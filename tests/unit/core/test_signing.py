"""Signed manifests: what is signed loads; a changed byte, field, key, path or swap is refused by name."""

from __future__ import annotations

import base64
import json
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.security.signing import (
    FileMismatch,
    FileMissing,
    ManifestMalformed,
    ManifestSpec,
    SignatureInvalid,
    SigningKeyError,
    canonical_json,
    generate_signing_key,
    load_private_key,
    sign_manifest,
    verify_manifest,
)
from models.sign import main as sign_main

MODEL = "air_quality/pm_humidity.onnx"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("keys")
    private, public = directory / "signing.pem", directory / "signing.pub.pem"
    generate_signing_key(private, public)
    return private, public


@pytest.fixture
def signed(tmp_path: Path, keys: tuple[Path, Path]) -> Path:
    """A models directory with two files and their signed manifest."""
    (tmp_path / "air_quality").mkdir()
    (tmp_path / MODEL).write_bytes(b"\x08\x07onnx-bytes" * 50)
    (tmp_path / "README.md").write_text("model card\n")
    spec = ManifestSpec(tmp_path, [Path(MODEL), tmp_path / "README.md"], "models", "2026.11.1")
    return sign_manifest(spec, keys[0], tmp_path / "MANIFEST.json")


def resign(manifest: Path, private: Path, change: dict[str, object]) -> None:
    """Rewrite ``manifest`` with ``change`` applied and a valid signature (a malicious but keyed signer)."""
    body = {k: v for k, v in json.loads(manifest.read_text()).items() if k != "signature"}
    body.update(change)
    signature = load_private_key(private).sign(canonical_json(body))
    manifest.write_text(json.dumps({**body, "signature": base64.b64encode(signature).decode()}))


def test_round_trip(signed: Path, keys: tuple[Path, Path]) -> None:
    verified = verify_manifest(signed, keys[1], kind="models")
    assert verified.kind == "models"
    assert verified.version == "2026.11.1"
    assert set(verified.files) == {MODEL, "README.md"}
    assert verified.read_verified(MODEL) == (signed.parent / MODEL).read_bytes()
    assert verified.created.utcoffset() is not None
    document = json.loads(signed.read_text())
    assert [f["path"] for f in document["files"]] == ["README.md", MODEL]
    assert document["files"][1]["size"] == len((signed.parent / MODEL).read_bytes())


def test_private_key_is_owner_only_and_never_overwritten(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes()
    with pytest.raises(FileExistsError):
        generate_signing_key(private, public.with_name("other.pub"))
    with pytest.raises(FileExistsError):
        generate_signing_key(private.with_name("other.pem"), public)


def test_changed_byte_in_a_listed_file(signed: Path, keys: tuple[Path, Path]) -> None:
    model = signed.parent / MODEL
    data = bytearray(model.read_bytes())
    data[7] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(FileMismatch, match=r"pm_humidity\.onnx"):
        verify_manifest(signed, keys[1])


def test_missing_listed_file(signed: Path, keys: tuple[Path, Path]) -> None:
    (signed.parent / "README.md").unlink()
    with pytest.raises(FileMissing, match=r"README\.md"):
        verify_manifest(signed, keys[1])


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", "2026.11.2"), ("kind", "policy"), ("created", "2030-01-01T00:00:00Z")],
)
def test_changed_manifest_field(signed: Path, keys: tuple[Path, Path], field: str, value: str) -> None:
    document = json.loads(signed.read_text())
    document[field] = value
    signed.write_text(json.dumps(document))
    with pytest.raises(SignatureInvalid, match=r"MANIFEST\.json"):
        verify_manifest(signed, keys[1])


def test_changed_file_entry_to_match_a_swapped_file(signed: Path, keys: tuple[Path, Path]) -> None:
    """Swapping a model and fixing up its hash in the manifest still fails: the signature covers it."""
    (signed.parent / MODEL).write_bytes(b"evil model")
    document = json.loads(signed.read_text())
    entry = next(f for f in document["files"] if f["path"] == MODEL)
    entry["sha256"] = "0" * 64
    signed.write_text(json.dumps(document))
    with pytest.raises(SignatureInvalid):
        verify_manifest(signed, keys[1])


def test_wrong_key(signed: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other")
    generate_signing_key(other / "k.pem", other / "k.pub")
    with pytest.raises(SignatureInvalid):
        verify_manifest(signed, other / "k.pub")


def test_wrong_kind_is_refused(signed: Path, keys: tuple[Path, Path]) -> None:
    with pytest.raises(ManifestMalformed, match="'policy'"):
        verify_manifest(signed, keys[1], kind="policy")


@pytest.mark.parametrize(
    "path", ["../outside.onnx", "/etc/passwd", "a/../../x", "./README.md", "a//b", "a\\..\\b", ""]
)
def test_path_escaping_the_directory(signed: Path, keys: tuple[Path, Path], path: str) -> None:
    document = json.loads(signed.read_text())
    document["files"].append({"path": path, "sha256": "0" * 64, "size": 0})
    resign(signed, keys[0], {"files": document["files"]})
    with pytest.raises(ManifestMalformed, match="path"):
        verify_manifest(signed, keys[1])


def test_symlink_out_of_the_directory(signed: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.write_bytes((signed.parent / MODEL).read_bytes())
    (signed.parent / MODEL).unlink()
    (signed.parent / MODEL).symlink_to(outside)
    with pytest.raises(ManifestMalformed, match="resolves outside"):
        verify_manifest(signed, keys[1])


@pytest.mark.parametrize(
    "change",
    [
        {"format": 2},
        {"kind": "bootloader"},
        {"version": ""},
        {"created": "2026-11-27T18:04:05"},  # no zone
        {"files": "all"},
        {"files": [{"path": MODEL, "sha256": "A" * 64, "size": 1}]},
        {"files": [{"path": MODEL, "sha256": "0" * 64, "size": True}]},
        {"extra": 1},
    ],
)
def test_malformed_fields(signed: Path, keys: tuple[Path, Path], change: dict[str, object]) -> None:
    resign(signed, keys[0], change)
    with pytest.raises(ManifestMalformed):
        verify_manifest(signed, keys[1])


def test_duplicate_keys_and_bad_json(signed: Path, keys: tuple[Path, Path]) -> None:
    text = signed.read_text()
    signed.write_text(text.replace('"kind": "models"', '"kind": "models", "kind": "policy"'))
    with pytest.raises(ManifestMalformed, match="duplicate"):
        verify_manifest(signed, keys[1])
    signed.write_text(text[:-10])
    with pytest.raises(ManifestMalformed, match="not a JSON manifest"):
        verify_manifest(signed, keys[1])


def test_missing_manifest_and_bad_key(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    with pytest.raises(FileMissing, match="not found"):
        verify_manifest(tmp_path / "nope.json", keys[1])
    (tmp_path / "bad.pub").write_text("not a key")
    with pytest.raises(SigningKeyError):
        verify_manifest(tmp_path / "nope.json", tmp_path / "bad.pub")
    with pytest.raises(SigningKeyError):
        verify_manifest(tmp_path / "nope.json", keys[0])  # a private key where the public one belongs


def test_read_verified_refuses_a_swap_after_verification(signed: Path, keys: tuple[Path, Path]) -> None:
    verified = verify_manifest(signed, keys[1])
    (signed.parent / MODEL).write_bytes(b"swapped after the check")
    with pytest.raises(FileMismatch, match=r"pm_humidity\.onnx"):
        verified.read_verified(MODEL)
    with pytest.raises(FileMissing, match="not listed"):
        verified.read_verified("other.onnx")


def test_signing_refuses_files_outside_and_the_manifest_itself(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    (tmp_path / "a").write_bytes(b"a")
    out = tmp_path / "MANIFEST.json"
    out.write_text("{}")
    for files in ([Path("../x")], [Path("a"), tmp_path / "a"], [Path("MANIFEST.json")]):
        with pytest.raises(ValueError, match=r"outside|twice|not a regular file"):
            sign_manifest(ManifestSpec(tmp_path, files, "policy", "1"), keys[0], out)
    with pytest.raises(ValueError, match="kind"):
        sign_manifest(ManifestSpec(tmp_path, [Path("a")], "bootloader", "1"), keys[0], out)
    with pytest.raises(ValueError, match="directly in"):
        sign_manifest(ManifestSpec(tmp_path, [Path("a")], "policy", "1"), keys[0], tmp_path.parent / "m.json")


@settings(max_examples=25, deadline=None)
@given(content=st.binary(max_size=300), flip=st.integers(min_value=0))
def test_any_single_bit_flip_is_refused(keys: tuple[Path, Path], content: bytes, flip: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        (directory / "policy.yaml").write_bytes(content)
        spec = ManifestSpec(directory, [Path("policy.yaml")], "policy", "v1")
        manifest = sign_manifest(spec, keys[0], directory / "m.json")
        assert verify_manifest(manifest, keys[1]).read_verified("policy.yaml") == content
        changed = bytearray(content or b"\0")
        changed[flip % len(changed)] ^= 1 << (flip % 8)
        (directory / "policy.yaml").write_bytes(bytes(changed))
        with pytest.raises(FileMismatch):
            verify_manifest(manifest, keys[1])


def test_models_sign_helper(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m" / "air").mkdir(parents=True)
    (tmp_path / "m" / "air" / "x.onnx").write_bytes(b"onnx")
    key, pub = str(tmp_path / "k.pem"), str(tmp_path / "k.pub")
    assert sign_main(["keygen", key, pub]) == 0
    assert "PRIVATE" not in capsys.readouterr().out  # never print the secret
    assert sign_main(["sign", "--key", key, "--version", "1", "--dir", str(tmp_path / "m")]) == 0
    assert sign_main(["verify", str(tmp_path / "m" / "MANIFEST.json"), "--public-key", pub]) == 0
    assert "1 files verified" in capsys.readouterr().out
    (tmp_path / "m" / "air" / "x.onnx").write_bytes(b"onnx!")
    assert sign_main(["verify", str(tmp_path / "m" / "MANIFEST.json"), "--public-key", pub]) == 1
    assert "x.onnx" in capsys.readouterr().err
