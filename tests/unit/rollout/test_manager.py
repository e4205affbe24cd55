"""The rollout's life cycle on disk, without cameras: install, report, promote, roll back, restart.

Bundles are signed with a throw-away release key. One that is unsigned, tampered with, of another
kind or whose bundle.yaml disagrees with its manifest is refused and removed. A verified one runs in
shadow; the bundle's rules promote it (or not); a promoted bundle rolls back by itself past its
false-alarm or CPU budget, to the previous bundle or the baseline; every change is audited once and
the state survives a new Rollout on the same storage.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.rollout.bundle import BundleRefused, load_bundle
from gateway.rollout.compare import ACTIVE
from gateway.rollout.manager import Perception, Rollout
from gateway.rollout.store import describe
from gateway.security.signing import ManifestSpec, generate_signing_key, sign_manifest
from gateway.signed_inbox import Refused
from tests.contract import validator

NO_CAMERAS = Perception(None, {})


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, Path]:
    generate_signing_key(tmp_path / "release.pem", tmp_path / "release.pub.pem")
    return tmp_path / "release.pem", tmp_path / "release.pub.pem"


def config(tmp_path: Path, public_key: Path) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "site": "s",
            "gateway": "g",
            "mqtt": {"host": "127.0.0.1"},
            "storage": str(tmp_path / "storage"),
            "trust": {"public_key": str(public_key)},
            "rollout": {"report_interval_s": 3600},
        }
    )


def bundle(root: Path, key: Path, version: str, kind: str = "bundle", **spec: Any) -> Path:
    directory = root / f"src-{version}"
    directory.mkdir(parents=True)
    with (directory / "bundle.yaml").open("w") as fh:
        YAML(typ="safe", pure=True).dump({"version": version, **spec}, fh)
    sign_manifest(
        ManifestSpec(directory, [Path("bundle.yaml")], kind, version), key, directory / "MANIFEST.json"
    )
    return directory


class Site:
    """A Rollout on tmp storage with a settable false-alarm count."""

    def __init__(self, tmp_path: Path, public_key: Path) -> None:
        self.config = config(tmp_path, public_key)
        self.audit = AuditLog(tmp_path / "audit.jsonl")
        self.false = 0
        self.rollout = Rollout(self.config, self.audit, lambda _version: self.false)

    def drop(self, source: Path, name: str | None = None) -> None:
        shutil.copytree(source, self.rollout.store.incoming / (name or source.name))

    def tick(self) -> None:
        self.rollout._next_poll = 0.0  # polled every 2 s: tests do not wait
        self.rollout.tick()

    def period(self) -> None:
        self.rollout._next_report = 0.0  # hourly in production
        self.tick()

    def audited(self) -> list[tuple[str, str]]:
        lines = (self.audit.path).read_text().splitlines()
        return [
            (r["detail"].get("action", r["kind"]), r["detail"].get("version", ""))
            for r in map(json.loads, lines)
        ]


@pytest.fixture
def site(tmp_path: Path, release: tuple[Path, Path]) -> Iterator[Site]:
    made = Site(tmp_path, release[1])
    yield made
    made.audit.close()


def test_untrusted_or_malformed_bundles_are_refused_and_removed(
    tmp_path: Path, release: tuple[Path, Path], site: Site
) -> None:
    key, public = release
    generate_signing_key(tmp_path / "other.pem", tmp_path / "other.pub.pem")
    stranger = bundle(tmp_path / "a", tmp_path / "other.pem", "v1")
    tampered = bundle(tmp_path / "b", key, "v2")
    (tampered / "bundle.yaml").write_text("version: v2\nfall: {threshold: 0.01}\n")
    wrong_kind = bundle(tmp_path / "c", key, "v3", kind="policy")
    mismatch = bundle(tmp_path / "d", key, "v4")
    (mismatch / "bundle.yaml").write_text("version: v5\n")
    sign_manifest(
        ManifestSpec(mismatch, [Path("bundle.yaml")], "bundle", "v4"), key, mismatch / "MANIFEST.json"
    )
    invalid = bundle(tmp_path / "e", key, "v6", fall={"threshold": 2})
    for source in (stranger, tampered, wrong_kind, mismatch, invalid):
        with pytest.raises(BundleRefused):
            load_bundle(source, public)
        site.drop(source)
    site.tick()
    assert site.rollout.state.shadow is None
    assert list(site.rollout.store.incoming.iterdir()) == []
    assert [n[1]["action"] for n in site.rollout.reports] == ["refused"] * 5
    for _, body in site.rollout.reports:
        assert not list(
            validator("operator-rollout-v1.json").iter_errors(
                {"schema_version": 1, "report": "rollout", **body}
            )
        )


def test_rules_promote_a_quiet_shadow_and_false_alarms_roll_it_back(
    tmp_path: Path, release: tuple[Path, Path], site: Site
) -> None:
    rules = {
        "promote": {"auto": True, "min_shadow_s": 0, "max_only_in_shadow": 0},
        "rollback": {"false_alarm_budget": 2},
    }
    site.drop(bundle(tmp_path, release[0], "fall-2", **rules))
    site.tick()
    assert (site.rollout.state.shadow, site.rollout.active_version) == ("fall-2", "baseline")
    site.period()
    assert (site.rollout.active_version, site.rollout.state.previous) == ("fall-2", "baseline")
    assert (
        site.rollout.bundle_of("fall.confirmed") == "fall-2" and site.rollout.bundle_of("air.summary") == ""
    )
    shadow_reports = [b for name, b in site.rollout.reports if name == "shadow"]
    assert shadow_reports and not list(
        validator("operator-shadow-v1.json").iter_errors(
            {"schema_version": 1, "report": "shadow", **shadow_reports[0]}
        )
    )
    site.false = 2
    site.tick()
    assert site.rollout.active_version == "fall-2"  # within the budget
    site.false = 3
    site.tick()
    site.tick()
    assert (site.rollout.active_version, site.rollout.state.previous) == ("baseline", None)
    assert site.audited() == [("installed", "fall-2"), ("promoted", "fall-2"), ("rolled_back", "fall-2")]
    rolled = [b for name, b in site.rollout.reports if name == "rollout" and b["action"] == "rolled_back"]
    assert len(rolled) == 1 and rolled[0]["to"] == "baseline" and rolled[0]["by"] == "rules"
    assert not (site.rollout.store.bundles / "fall-2").exists()


def test_a_shadow_with_differences_waits_and_the_cpu_budget_rolls_back(
    tmp_path: Path, release: tuple[Path, Path], site: Site
) -> None:
    site.drop(bundle(tmp_path, release[0], "a-1"))
    site.tick()
    site.rollout.promote("operator beheer", "test")
    rules = {
        "promote": {"auto": True, "min_shadow_s": 0, "max_only_in_shadow": 0},
        "rollback": {"cpu_budget_ms_per_frame": 5, "min_frames": 3},
    }
    site.drop(bundle(tmp_path, release[0], "b-2", **rules))
    site.tick()
    site.rollout.state.totals["only_shadow"] = 1  # the shadow raised an event the active did not
    site.period()
    assert site.rollout.state.shadow == "b-2"
    site.rollout.state.totals["only_shadow"] = 0
    site.period()
    assert (site.rollout.active_version, site.rollout.state.previous) == ("b-2", "a-1")
    for _ in range(3):
        site.rollout.meter.add(ACTIVE, "hall", 9_000_000)
    site.period()
    assert (site.rollout.active_version, site.rollout.state.previous) == ("a-1", None)
    assert "9.0 ms per frame" in site.rollout.state.history[-1]["reason"]  # type: ignore[operator]
    with pytest.raises(Refused):
        site.rollout.rollback("operator beheer", "again")


def test_the_state_survives_a_restart(tmp_path: Path, release: tuple[Path, Path], site: Site) -> None:
    site.drop(bundle(tmp_path, release[0], "a-1"))
    site.tick()
    site.rollout.promote("operator beheer", "test")
    site.drop(bundle(tmp_path, release[0], "b-2"))
    site.tick()
    site.rollout.state.totals["in_both"] = 7
    site.period()
    again = Rollout(site.config, site.audit, lambda _v: 0)
    again.attach([], [], NO_CAMERAS)  # reloads the saved bundles
    assert (again.active_version, again.state.shadow, again.state.previous) == ("a-1", "b-2", "baseline")
    assert again.state.totals["in_both"] == 7
    assert set(again.bundles) == {"a-1", "b-2"}
    assert describe(site.config.storage)["active"] == "a-1"
    assert again.discard("operator beheer") == "b-2 discarded"
    assert again.rollback("operator beheer", "test").startswith("a-1 rolled back to baseline")
    with pytest.raises(Refused):
        again.promote("operator beheer", "nothing in shadow")


def test_a_kept_bundle_that_no_longer_verifies_is_dropped_at_start(
    tmp_path: Path, release: tuple[Path, Path], site: Site
) -> None:
    site.drop(bundle(tmp_path, release[0], "a-1"))
    site.tick()
    (site.rollout.store.bundles / "a-1" / "bundle.yaml").write_text("version: a-1\nfall: {threshold: 0.01}\n")
    again = Rollout(site.config, site.audit, lambda _v: 0)
    again.attach([], [], NO_CAMERAS)
    assert again.state.shadow is None
    assert site.audited()[-1] == ("bundle.refused", "a-1")


def test_a_new_mark_is_judged_at_once(tmp_path: Path, release: tuple[Path, Path], site: Site) -> None:
    site.drop(bundle(tmp_path, release[0], "a-1", rollback={"false_alarm_budget": 0}))
    site.tick()
    site.rollout.promote("operator beheer", "test")
    site.false = 1
    site.rollout._next_poll = float("inf")  # no periodic check: only the new mark can trigger it
    site.rollout.tick(marks=1)
    assert site.rollout.active_version == "baseline"
