"""Release bundles: a signed one unpacks and verifies; anything changed, unsigned, foreign, unlisted or
shaped to escape its directory is refused by name, before a single file is installed.

The wheels here are minimal zips with the gateway's dist-info (the bundle format reads only the file
name and METADATA); tests/integration/test_update.py installs real ones.
"""

from __future__ import annotations

import functools
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from gateway.security.signing import generate_signing_key
from gateway.update.bundle import BundleError, BundleSpec, build_bundle, check_lock, unpack, verify_bundle
from gateway.update.fetch import fetch

HASH = "ab" * 32
LOCK = f"tinydep==1.0 \\\n    --hash=sha256:{HASH}\nother[extra]==2.0.1 ; python_version >= '3.11' --hash=sha256:{HASH}\n"


def fake_wheel(directory: Path, version: str, metadata_version: str | None = None) -> Path:
    path = directory / f"edge_gateway-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("gateway/__init__.py", "")
        archive.writestr(
            f"edge_gateway-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: edge-gateway\nVersion: {metadata_version or version}\n",
        )
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("keys")
    generate_signing_key(directory / "release.pem", directory / "release.pub.pem")
    generate_signing_key(directory / "other.pem", directory / "other.pub.pem")
    return {
        "private": directory / "release.pem",
        "public": directory / "release.pub.pem",
        "other": directory / "other.pem",
    }


def make_bundle(tmp_path: Path, key: Path, version: str = "0.2.0", deps: int = 1) -> Path:
    inputs = tmp_path / "in"
    inputs.mkdir(exist_ok=True)
    (inputs / "requirements.lock").write_text(LOCK)
    dep_wheels = []
    for n in range(deps):
        dep = inputs / f"tinydep-1.{n}-py3-none-any.whl"
        dep.write_bytes(b"PK dependency wheel %d" % n)
        dep_wheels.append(dep)
    spec = BundleSpec(fake_wheel(inputs, version), inputs / "requirements.lock", dep_wheels)
    return build_bundle(spec, key, tmp_path / "out")


def unpacked(bundle: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "unpacked"
    unpack(bundle, dest)
    return dest


def test_a_signed_bundle_verifies(tmp_path: Path, keys: dict[str, Path]) -> None:
    bundle = make_bundle(tmp_path, keys["private"])
    assert bundle.name == "edge-gateway-0.2.0.tar"
    release = verify_bundle(unpacked(bundle, tmp_path), keys["public"])
    assert str(release.version) == "0.2.0"
    assert release.wheel.name == "edge_gateway-0.2.0-py3-none-any.whl"
    assert release.wheels is not None and [p.name for p in release.wheels.iterdir()] == [
        "tinydep-1.0-py3-none-any.whl"
    ]
    with tarfile.open(bundle) as tar:
        assert tar.getnames()[0] == "MANIFEST.json"


def test_without_dependency_wheels_the_lock_is_still_signed(tmp_path: Path, keys: dict[str, Path]) -> None:
    release = verify_bundle(
        unpacked(make_bundle(tmp_path, keys["private"], deps=0), tmp_path), keys["public"]
    )
    assert release.wheels is None and release.lock.read_text() == LOCK


@pytest.mark.parametrize(
    ("victim", "message"),
    [
        ("edge_gateway-0.2.0-py3-none-any.whl", "changed after signing"),
        ("requirements.lock", "changed after signing"),
        ("wheels/tinydep-1.0-py3-none-any.whl", "changed after signing"),
        ("MANIFEST.json", "signature does not match"),
    ],
)
def test_a_changed_byte_anywhere_is_refused(
    tmp_path: Path, keys: dict[str, Path], victim: str, message: str
) -> None:
    directory = unpacked(make_bundle(tmp_path, keys["private"]), tmp_path)
    path = directory / victim
    data = bytearray(path.read_bytes())
    index = data.index(b"0.2.0") if victim == "MANIFEST.json" else len(data) // 2
    data[index] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=message):
        verify_bundle(directory, keys["public"])


def test_unsigned_and_foreign_bundles_are_refused(tmp_path: Path, keys: dict[str, Path]) -> None:
    directory = unpacked(make_bundle(tmp_path, keys["other"]), tmp_path)
    with pytest.raises(BundleError, match="signature does not match"):
        verify_bundle(directory, keys["public"])
    (directory / "MANIFEST.json").unlink()
    with pytest.raises(BundleError, match=r"MANIFEST\.json not found"):
        verify_bundle(directory, keys["public"])


def test_a_file_the_signature_does_not_cover_is_refused(tmp_path: Path, keys: dict[str, Path]) -> None:
    directory = unpacked(make_bundle(tmp_path, keys["private"]), tmp_path)
    (directory / "wheels" / "evil-1.0-py3-none-any.whl").write_bytes(b"not signed")
    with pytest.raises(BundleError, match="not covered by the signature: wheels/evil"):
        verify_bundle(directory, keys["public"])


def test_the_wheel_must_say_the_version_it_is_named(tmp_path: Path, keys: dict[str, Path]) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "l.lock").write_text(LOCK)
    spec = BundleSpec(
        fake_wheel(tmp_path / "in", "0.2.0", metadata_version="0.1.0"), tmp_path / "in" / "l.lock"
    )
    with pytest.raises(BundleError, match=r"METADATA does not say version 0\.2\.0"):
        build_bundle(spec, keys["private"], tmp_path / "out")


def evil_tar(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w") as tar:
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (tarfile.TarInfo("../escape.txt"), "not a plain relative path"),
        (tarfile.TarInfo("/etc/cron.d/x"), "not a plain relative path"),
        (tarfile.TarInfo("wheels/../../x"), "not a plain relative path"),
    ],
)
def test_unpacking_never_leaves_its_directory(tmp_path: Path, member: tarfile.TarInfo, message: str) -> None:
    archive = evil_tar(tmp_path / "evil.tar", member, b"payload")
    with pytest.raises(BundleError, match=message):
        unpack(archive, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_links_and_devices_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("MANIFEST.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    with pytest.raises(BundleError, match="is a link or a device"):
        unpack(evil_tar(tmp_path / "link.tar", link), tmp_path / "dest")


def test_garbage_is_not_a_bundle(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"\x00\xff" * 700)
    with pytest.raises(BundleError, match="not a release bundle"):
        unpack(garbage, tmp_path / "dest")


@pytest.mark.parametrize(
    "line",
    [
        "tinydep==1.0",  # no hash: pip would take whatever the index serves
        "tinydep>=1.0 --hash=sha256:" + HASH,  # not pinned
        "--index-url http://evil.example/simple",  # options may not ride in a signed lock either
        "-r other.txt",
        "git+https://example.org/x.git#egg=x --hash=sha256:" + HASH,
        "edge-gateway==0.1.0 --hash=sha256:" + HASH,  # the gateway is the bundle's wheel, not a dependency
    ],
)
def test_a_lock_pins_every_requirement_by_hash_and_nothing_else(line: str, tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        check_lock(line + "\n", tmp_path / "requirements.lock")


def test_a_pip_compile_lock_is_accepted(tmp_path: Path) -> None:
    lock = f"# generated\nnumpy==2.4.6 \\\n    --hash=sha256:{HASH} \\\n    --hash=sha256:{'cd' * 32}\n    # via x\n"
    assert check_lock(lock, tmp_path / "l") == ["numpy"]


def test_fetch_copies_a_file_and_names_what_is_missing(tmp_path: Path) -> None:
    source = tmp_path / "b.tar"
    source.write_bytes(b"bundle")
    assert fetch(str(source), tmp_path / "copy.tar").read_bytes() == b"bundle"
    with pytest.raises(BundleError, match="no release bundle at"):
        fetch(str(tmp_path / "missing.tar"), tmp_path / "x.tar")
    with pytest.raises(BundleError, match=r"http://127\.0\.0\.1:9/b\.tar: cannot download it"):
        fetch("http://127.0.0.1:9/b.tar", tmp_path / "y.tar", timeout_s=2)


def test_a_bundle_served_on_the_lan_is_fetched_and_verifies(tmp_path: Path, keys: dict[str, Path]) -> None:
    """A technician's `python -m http.server` on the site network: plain http, since the signature, not
    the transport, is what is trusted."""
    bundle = make_bundle(tmp_path, keys["private"])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(bundle.parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            fetched = fetch(f"{base}/{bundle.name}", tmp_path / "fetched.tar")
            with pytest.raises(BundleError, match="HTTP 404"):
                fetch(f"{base}/missing.tar", tmp_path / "missing.tar")
        finally:
            server.shutdown()
            thread.join()
    assert fetched.read_bytes() == bundle.read_bytes()
    assert str(verify_bundle(unpacked(fetched, tmp_path), keys["public"]).version) == "0.2.0"
