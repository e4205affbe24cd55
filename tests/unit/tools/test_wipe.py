"""`edge-gateway wipe`: nothing readable is left, the receipt verifies, a running gateway is not wiped."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from typer.testing import CliRunner

from gateway.audit import CONFIG_CHANGED, AuditLog
from gateway.config import AuditConfig, load_config
from gateway.feedback import FeedbackStore
from gateway.messages import Publication
from gateway.outbox import Outbox
from gateway.security.signing import generate_signing_key
from gateway.tools.cli import app
from gateway.wipe import verify_receipt

MARKER = "WIPE-ME-7f3a9c"


def _device(tmp_path: Path) -> tuple[Path, Path]:
    """A config, its keys and a storage dir holding MARKER in every store."""
    etc, storage = tmp_path / "etc", tmp_path / "var"
    etc.mkdir()
    generate_signing_key(etc / "gateway.key.pem", etc / "operator.pub.pem")
    (etc / "gateway.crt.pem").write_text(f"-----BEGIN CERTIFICATE-----\n{MARKER}\n")
    (etc / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nca\n")
    config = etc / "gateway.yaml"
    config.write_text(
        f"site: s1\ngateway: g1\nstorage: {storage}\n"
        "mqtt: {host: 127.0.0.1, port: 8883, tls: {ca: ca.pem, cert: gateway.crt.pem, key: gateway.key.pem}}\n"
        f"location: {{zone: {MARKER}}}\n"
        "audit: {segment_mb: 0.001, keep_segments: 4}\n"
    )
    storage.mkdir()
    outbox = Outbox(storage / "outbox.sqlite3")
    outbox.put(
        [Publication(f"e{i}", "t/a", json.dumps({"note": MARKER}).encode(), actor="a") for i in range(50)]
    )
    with AuditLog(storage / "audit.jsonl", bounds=AuditConfig(segment_mb=0.001, keep_segments=4)) as log:
        for _ in range(20):
            log.append(CONFIG_CHANGED, {"actor": MARKER, "keys": ["x"]})
        head = log.head
    store = FeedbackStore(storage / "feedback.sqlite3")
    store.remember([("a", MARKER, "fall", "cam", "m", "b")])
    (storage / "detector_state.json").write_text(json.dumps({"k": MARKER}))
    (storage / "commands_seen.json").write_text(json.dumps([MARKER]))
    (storage / "rollout").mkdir()
    (storage / "rollout" / "state.json").write_text(MARKER)
    outbox.close()
    store.close()
    (tmp_path / "head").write_text(head)
    return config, storage


def test_wipe_leaves_nothing_readable_and_the_receipt_verifies(tmp_path: Path) -> None:
    config, storage = _device(tmp_path)
    etc = config.parent
    # A hard link outside the wiped tree sees the same bytes: it shows they were overwritten, not only unlinked.
    os.link(storage / "detector_state.json", tmp_path / "witness")
    assert len(list(storage.glob("audit.*.jsonl"))) >= 2  # several segments
    receipt_path = tmp_path / "receipt.json"
    result = CliRunner().invoke(
        app, ["wipe", "--config", str(config), "--yes", "--receipt-out", str(receipt_path)]
    )
    assert result.exit_code == 0, result.output
    assert list(storage.rglob("*")) == []
    assert sorted(p.name for p in etc.iterdir()) == ["ca.pem", "operator.pub.pem"]  # public, not secret
    witness = (tmp_path / "witness").read_bytes()
    assert witness and set(witness) == {0}
    receipt = json.loads(receipt_path.read_text())
    assert verify_receipt(receipt, receipt["public_key"]) is None
    assert receipt["audit"]["head"] == (tmp_path / "head").read_text()
    names = {Path(f["path"]).name for f in receipt["files"]}
    assert {"outbox.sqlite3", "audit.jsonl", "audit.jsonl.lock", "gateway.key.pem", "gateway.yaml"} <= names
    listed = next(f for f in receipt["files"] if f["path"] == str(storage / "detector_state.json"))
    assert listed["bytes"] == len(witness)
    assert listed["sha256"] == hashlib.sha256(json.dumps({"k": MARKER}).encode()).hexdigest()
    left = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("receipt.json", "head")]
    assert not [p for p in left if MARKER.encode() in p.read_bytes()]
    checked = CliRunner().invoke(
        app, ["verify-wipe", str(receipt_path), "--public-key", receipt["public_key"]]
    )
    assert checked.exit_code == 0, checked.output


def test_an_altered_receipt_does_not_verify(tmp_path: Path) -> None:
    config, _ = _device(tmp_path)
    result = CliRunner().invoke(app, ["wipe", "--config", str(config), "--yes"])
    receipt = json.loads(result.stdout)
    receipt["files"] = receipt["files"][1:]
    assert verify_receipt(receipt) == "the signature does not verify: the receipt was altered"
    assert verify_receipt(json.loads(result.stdout), "AAAA") is not None


def test_a_running_gateway_is_not_wiped(tmp_path: Path) -> None:
    config, storage = _device(tmp_path)
    before = sorted(storage.rglob("*"))
    with AuditLog(storage / "audit.jsonl"):  # the running gateway's lock
        result = CliRunner().invoke(app, ["wipe", "--config", str(config), "--yes"])
    assert result.exit_code == 1
    assert "a gateway is running" in result.stderr and "stop it, then wipe" in result.stderr
    assert sorted(storage.rglob("*")) == before and config.exists()
    assert MARKER in (storage / "detector_state.json").read_text()


def test_without_yes_it_asks(tmp_path: Path) -> None:
    config, storage = _device(tmp_path)
    result = CliRunner().invoke(app, ["wipe", "--config", str(config)], input="n\n")
    assert result.exit_code == 1 and config.exists()
    assert (storage / "outbox.sqlite3").exists()


def test_the_receipt_cannot_go_into_storage(tmp_path: Path) -> None:
    config, storage = _device(tmp_path)
    result = CliRunner().invoke(
        app, ["wipe", "-c", str(config), "--yes", "--receipt-out", str(storage / "r.json")]
    )
    assert result.exit_code == 1 and load_config(config).storage == storage
