"""`edge-gateway update` on a running gateway: real wheels, real venvs, a real restart, real rollback.

The tests share one site (tests/integration/update_site.py): the gateway installed from a signed
bundle into `opt/versions/<v>`, `opt/current` pointing at it, started by a service manager
(service_manager.py standing in for systemd), running until it reports ready in its service.json,
with three publications waiting in its outbox (no broker listens). Each test first brings it to
the version it starts from; then, as root would on a pole,
the installed `edge-gateway update` is given a bundle:

- a bundle whose wheel changed after signing, one without a signature, one signed by another key,
  and one whose lock pins a dependency by a wrong hash: each is refused, and the same process of
  the same version keeps running;
- a newer signed bundle: installed beside, switched, restarted, healthy; the old version stays
  installed for a rollback; outbox and audit log survive;
- an older one: refused, then accepted with an operator's signed permission, which cannot be
  used twice;
- a newer one that crashes at start: seen dead before it was ready, rolled back to the previous
  version, which runs again; the failed version is deleted; the outbox rows are all there.

Every step is in the audit log (`update` records, appended by the running gateway), whose chain
stays intact. An install takes ~8 s on an idle 2-core machine (venv, pip, the new version's
check-config), a restart to ready ~2 s.
"""

from __future__ import annotations

import io
import socket
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.audit_chain import verify_chain
from gateway.security.signing import generate_signing_key
from tests.integration.update_site import (
    OUTBOX_ROWS,
    Artifacts,
    Site,
    audited_updates,
    build_artifacts,
    site_fixture,
    updates_in,
)

OUTBOX = [f"E{n:04d}" for n in range(OUTBOX_ROWS)]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return build_artifacts(tmp_path_factory.mktemp("update-artifacts"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, artifacts: Artifacts) -> Iterator[Site]:
    """One gateway for the module's tests: each brings it to the version it starts from (in file
    order, the tests are one life of a gateway, and no test redoes what the one before left)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        unused_port = int(sock.getsockname()[1])
    yield from site_fixture(tmp_path_factory.mktemp("site"), artifacts, unused_port)


def rewritten(bundle: Path, out: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of the tar in `out` with each member's content passed through `change` (None: left out)."""
    out.mkdir()
    with tarfile.open(bundle) as source, tarfile.open(out / bundle.name, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member)
            assert data is not None
            content = change(member.name, data.read())
            if content is not None:
                member.size = len(content)
                target.addfile(member, io.BytesIO(content))
    return out / bundle.name


def flip_wheel_byte(name: str, content: bytes) -> bytes:
    """The gateway wheel with one byte in its middle changed; everything else as it was."""
    if not (name.endswith(".whl") and "/" not in name):
        return content
    middle = len(content) // 2
    return content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :]


def lock_with_wrong_hash() -> str:
    return "tinydep==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"


def test_refused_bundles_change_nothing(site: Site, artifacts: Artifacts, tmp_path: Path) -> None:
    site.ensure("0.1.0")
    audited = len(updates_in(site.storage / "audit.jsonl"))
    before = site.running()
    good = artifacts.bundle("0.2.0", tmp_path / "good")
    generate_signing_key(tmp_path / "other.pem", tmp_path / "other.pub.pem")
    cases = {
        "tampered": (rewritten(good, tmp_path / "t", flip_wheel_byte), "changed after signing"),
        "unsigned": (
            rewritten(good, tmp_path / "u", lambda name, data: None if name == "MANIFEST.json" else data),
            "MANIFEST.json not found",
        ),
        "foreign": (
            artifacts.bundle("0.2.0", tmp_path / "f", key=tmp_path / "other.pem"),
            "signature does not match",
        ),
        "bad lock": (
            artifacts.bundle("0.2.0", tmp_path / "h", lock=lock_with_wrong_hash()),
            "installing the dependencies failed",
        ),
    }
    for name, (bundle, message) in cases.items():
        result = site.update(bundle)
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        assert message in result.stdout, (name, result.stdout)
        assert site.running() == before, name  # the same process of the same version
        assert "0.2.0" not in [i.version.public for i in site.layout.installed()], name
    assert site.outbox_ids() == OUTBOX
    refusals = audited_updates(site, audited, len(cases))
    assert [r["step"] for r in refusals] == ["refused"] * len(cases)
    assert verify_chain(site.storage / "audit.jsonl").intact


def test_a_good_update_installs_beside_restarts_and_keeps_the_storage(
    site: Site, artifacts: Artifacts, tmp_path: Path
) -> None:
    site.ensure("0.1.0")
    audited = len(updates_in(site.storage / "audit.jsonl"))
    _, old_pid = site.running()
    result = site.update(artifacts.bundle("0.2.0", tmp_path / "b"))
    assert result.returncode == 0, result.stdout + result.stderr + site.log()
    assert "updated: 0.1.0 -> 0.2.0, healthy" in result.stdout
    version, pid = site.running()
    assert (version, pid != old_pid) == ("0.2.0", True)
    assert site.layout.current.resolve() == site.layout.versions / "0.2.0"
    assert {"0.1.0", "0.2.0"} <= {i.version.public for i in site.layout.installed()}  # ready to go back
    assert (site.layout.versions / "0.2.0" / "lib").is_dir()
    assert site.outbox_ids() == OUTBOX
    steps = audited_updates(site, audited, 2)
    assert [(s["step"], s["from"], s["to"]) for s in steps] == [
        ("started", "0.1.0", "0.2.0"),
        ("completed", "0.1.0", "0.2.0"),
    ]
    assert verify_chain(site.storage / "audit.jsonl").intact


def allow(site: Site, artifacts: Artifacts, version: str, out: Path) -> Path:
    """The operator's `edge-gateway allow-downgrade`, signed with the operator key the site trusts."""
    signed = site.cli(
        "allow-downgrade", "--version", version, "--site", "test-site", "--gateway", "gw-update",
        "--operator", "beheer", "--key", str(artifacts.operator_key), "--out", str(out),
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    return out


def test_a_downgrade_needs_an_operators_signed_permission(
    site: Site, artifacts: Artifacts, tmp_path: Path
) -> None:
    site.ensure("0.2.0")
    audited = len(updates_in(site.storage / "audit.jsonl"))
    old = artifacts.bundle("0.1.0", tmp_path / "b")
    refused = site.update(old)
    assert refused.returncode == 1 and "a downgrade from 0.2.0" in refused.stdout, refused.stdout
    assert site.running()[0] == "0.2.0"

    permission = allow(site, artifacts, "0.1.0", tmp_path / "allow.json")
    mismatch = site.update(old, "--force", allow(site, artifacts, "0.0.9", tmp_path / "wrong.json"))
    assert mismatch.returncode == 1 and "allows version 0.0.9, not 0.1.0" in mismatch.stdout

    forced = site.update(old, "--force", permission)
    assert forced.returncode == 0, forced.stdout + forced.stderr + site.log()
    assert "allowed by operator beheer" in forced.stdout
    assert site.running()[0] == "0.1.0"
    replayed = site.update(old, "--force", permission)  # now a reinstall, and the permission is spent
    assert replayed.returncode == 1 and "replayed command id" in replayed.stdout, replayed.stdout
    assert site.outbox_ids() == OUTBOX
    steps = audited_updates(site, audited, 5)
    assert [s["step"] for s in steps] == ["refused", "refused", "started", "completed", "refused"]
    assert steps[2]["operator"] == "beheer"


def test_an_update_that_crashes_at_start_is_rolled_back_with_the_outbox_intact(
    site: Site, artifacts: Artifacts, tmp_path: Path
) -> None:
    site.ensure("0.1.0")
    audited = len(updates_in(site.storage / "audit.jsonl"))
    _, old_pid = site.running()
    result = site.update(artifacts.bundle("0.3.0", tmp_path / "b"))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "exited before it was ready" in result.stdout and "rolled back to 0.1.0" in result.stdout
    assert "this build of the gateway crashes at start" in site.log()
    version, pid = site.running()
    assert (version, pid != old_pid) == ("0.1.0", True)  # the previous version, started again
    assert site.layout.current.resolve() == site.layout.versions / "0.1.0"
    assert not (site.layout.versions / "0.3.0").exists()
    assert site.outbox_ids() == OUTBOX
    steps = audited_updates(site, audited, 2)
    assert [(s["step"], s["to"]) for s in steps] == [("started", "0.3.0"), ("rolled_back", "0.1.0")]
    assert verify_chain(site.storage / "audit.jsonl").intact
