"""deploy/edge-gateway.service: the settings the gateway relies on, and a unit systemd accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.tools.cli import app

UNIT = Path(__file__).resolve().parents[3] / "deploy" / "edge-gateway.service"


def settings() -> dict[str, str]:
    found = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found[key] = value
    return found


def test_the_unit_is_a_watched_hardened_notify_service() -> None:
    unit = settings()
    assert unit["Type"] == "notify" and unit["Restart"] == "on-failure"
    assert int(unit["WatchdogSec"]) >= 10
    assert unit["User"] == "edge-gateway" and unit["SupplementaryGroups"] == "dialout video"
    assert unit["ProtectSystem"] == "strict" and unit["ReadWritePaths"] == "/var/lib/edge-gateway"
    assert unit["NoNewPrivileges"] == "yes" and unit["CapabilityBoundingSet"] == ""
    assert unit["PrivateTmp"] == unit["ProtectHome"] == "yes"
    assert unit["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    assert "--config /etc/edge-gateway/gateway.yaml" in unit["ExecStart"]


def test_the_command_line_it_runs_exists() -> None:
    args = settings()["ExecStart"].split()[1:]
    assert args[:1] == ["run"]
    help_text = CliRunner().invoke(app, ["run", "--help"]).output
    assert all(option in help_text for option in args if option.startswith("--"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit() -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(UNIT)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The only complaint allowed here: the gateway is not installed under /opt on this machine.
    complaints = [line for line in result.stderr.splitlines() if "is not executable" not in line]
    assert not complaints
