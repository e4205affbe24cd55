"""What the update tests build once and deploy per test: real wheels, signed bundles, a running site.

- The gateway's wheel is built from this checkout with `pip wheel` as 0.1.0, and repacked as 0.2.0
  and as 0.3.0 whose `Gateway` raises at start (the real gateway with one line changed, not a
  stand-in package): one isolated build instead of three. `tinydep` is a tiny real
  wheel that the bundles' lock pins by sha256, so pip's `--require-hashes` install runs for real.
- Bundles are signed with a throw-away release key made here (the project's key is never touched).
- A site is an install root with versions/<v> venvs made by the updater's own code, a config whose
  `update.restart` is tests/integration/service_manager.py (systemd's part), and a gateway started
  through it. Its broker port has no listener: nothing is delivered, so outbox rows stay put, which
  is what lets the tests see that they survive.

The heavy third-party packages (onnxruntime, OpenCV, numpy, ...) are not installed into every version's
venv (~300 MB each): every process of a site gets them from this project's venv through PYTHONPATH,
pointing at a directory of links to its site-packages without edge-gateway itself, so `gateway` can only
come from the version's own venv. pip then finds them already satisfied and installs the lock's
tinydep and the gateway wheel. That each pin exists as an aarch64 wheel is `make check-pi`'s question.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

from packaging.utils import parse_wheel_filename

from gateway.messages import Publication
from gateway.outbox import Outbox
from gateway.security.signing import generate_signing_key
from gateway.service_state import read_state
from gateway.update.bundle import BundleSpec, build_bundle, unpack, verify_bundle
from gateway.update.health import alive, wait_healthy
from gateway.update.versions import Layout

REPO = Path(__file__).resolve().parents[2]
DEPS = Path(sysconfig.get_paths()["purelib"])
SOURCES = ("pyproject.toml", "README.md", "gateway", "sim", "models", "firmware")
IGNORED = shutil.ignore_patterns("__pycache__", "node_modules", "*.egg-info", "build")
SERVICE_MANAGER = Path(__file__).with_name("service_manager.py")
CRASH = 'raise RuntimeError("this build of the gateway crashes at start (tests/integration/update_site.py)")'
HEALTHY_WITHIN_S = 90.0  # generous: a loaded CI machine; a crash is seen at once, not at this deadline
OUTBOX_ROWS = 3


def clean_env(farm: Path) -> dict[str, str]:
    """The environment of a site's processes: the project's third-party packages, never the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env["PYTHONPATH"] = str(farm)
    return env


def deps_farm(dest: Path) -> Path:
    """Links to every entry of this venv's site-packages but edge-gateway's own."""
    dest.mkdir()
    for entry in DEPS.iterdir():
        name = entry.name
        if name in {"gateway", "sim", "models"} or name.startswith(("edge_gateway", "__editable__")):
            continue
        if not name.endswith(".pth"):
            (dest / name).symlink_to(entry)
    return dest


def build_gateway_wheel(work: Path) -> Path:
    """A real wheel of this checkout (`pip wheel`, from a copy of its sources), version 0.1.0."""
    src = work / "src"
    src.mkdir(parents=True)
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, symlinks=True, ignore=IGNORED)
        else:
            shutil.copy2(REPO / name, src / name)
    pyproject = src / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', 'version = "0.1.0"', pyproject.read_text()))
    return _pip_wheel(src, work / "dist")


def rewheel(wheel: Path, version: str, *, crash: bool = False) -> Path:
    """The same wheel as `version` (dist-info renamed, METADATA and RECORD rewritten), with `CRASH` as
    Gateway.__init__'s first line if asked: what `pip wheel` would build from the sources so changed,
    without paying for another isolated build."""
    old_info = f"edge_gateway-{parse_wheel_filename(wheel.name)[1]}.dist-info/"
    new_info = f"edge_gateway-{version}.dist-info/"
    out = wheel.with_name(f"edge_gateway-{version}-py3-none-any.whl")
    records = []
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            name, data = item.filename.replace(old_info, new_info), source.read(item)
            if name == f"{new_info}METADATA":
                data = re.sub(rb"(?m)^Version: .*$", f"Version: {version}".encode(), data)
            if crash and name == "gateway/app.py":
                marker = b"        self.config, self.trusted, self.audit = config, trusted, audit_log\n"
                assert marker in data
                data = data.replace(marker, f"        {CRASH}\n".encode() + marker)
            if name == f"{new_info}RECORD":
                continue
            target.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={digest},{len(data)}\n")
        target.writestr(f"{new_info}RECORD", "".join(records) + f"{new_info}RECORD,,\n")
    return out


def build_tiny_wheel(work: Path) -> Path:
    """`tinydep` 1.0: the smallest real wheel a lock can pin."""
    src = work / "tinydep"
    (src / "tinydep").mkdir(parents=True)
    (src / "tinydep" / "__init__.py").write_text('"""A dependency pinned by hash in the test bundles."""\n')
    (src / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "tinydep"
        version = "1.0"
        """)
    )
    return _pip_wheel(src, work / "dist")


def _pip_wheel(src: Path, dist: Path) -> Path:
    before = set(dist.glob("*.whl")) if dist.exists() else set()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, src], check=True, env=env
    )
    (wheel,) = set(dist.glob("*.whl")) - before
    return wheel


def lock_for(wheel: Path, digest: str | None = None) -> str:
    """A lock pinning `wheel` (tinydep) by its sha256, or by `digest` instead."""
    actual = digest or hashlib.sha256(wheel.read_bytes()).hexdigest()
    return f"tinydep==1.0 \\\n    --hash=sha256:{actual}\n"


@dataclass
class Artifacts:
    """Built once per test module."""

    work: Path
    farm: Path
    wheels: dict[str, Path]
    tinydep: Path
    release_key: Path
    release_pub: Path
    operator_key: Path
    operator_pub: Path

    def bundle(self, version: str, out: Path, *, key: Path | None = None, lock: str | None = None) -> Path:
        """A signed bundle of `version` (with tinydep and its lock) in `out`."""
        lock_file = out / f"lock-{version}.txt"
        out.mkdir(parents=True, exist_ok=True)
        lock_file.write_text(lock if lock is not None else lock_for(self.tinydep))
        spec = BundleSpec(self.wheels[version], lock_file, (self.tinydep,))
        return build_bundle(spec, key or self.release_key, out)


def build_artifacts(work: Path) -> Artifacts:
    """Keys, the dependency farm and every wheel the tests install."""
    keys = work / "keys"
    keys.mkdir(parents=True)
    generate_signing_key(keys / "release.pem", keys / "release.pub.pem")
    generate_signing_key(keys / "beheer.pem", keys / "beheer.pub.pem")
    first = build_gateway_wheel(work)
    wheels = {"0.1.0": first, "0.2.0": rewheel(first, "0.2.0"), "0.3.0": rewheel(first, "0.3.0", crash=True)}
    return Artifacts(
        work,
        deps_farm(work / "deps"),
        wheels,
        build_tiny_wheel(work),
        keys / "release.pem",
        keys / "release.pub.pem",
        keys / "beheer.pem",
        keys / "beheer.pub.pem",
    )


@dataclass
class Site:
    """One gateway: install root, storage, config, and its service manager's state."""

    root: Path
    artifacts: Artifacts

    @property
    def config(self) -> Path:
        return self.root / "etc" / "gateway.yaml"

    @property
    def storage(self) -> Path:
        return self.root / "var"

    @property
    def service(self) -> Path:
        return self.root / "service"

    @property
    def layout(self) -> Layout:
        return Layout(self.root / "opt")

    @property
    def env(self) -> dict[str, str]:
        return clean_env(self.artifacts.farm)

    def write_config(self, unused_port: int) -> None:
        restart = self.restart_command()
        self.config.parent.mkdir(parents=True)
        self.storage.mkdir()
        self.config.write_text(
            textwrap.dedent(f"""\
            site: test-site
            gateway: gw-update
            mqtt: {{host: 127.0.0.1, port: {unused_port}}}   # nobody listens: the outbox keeps its rows
            storage: {self.storage}
            trust:
              operators: {{beheer: {self.artifacts.operator_pub}}}
            update:
              root: {self.layout.root}
              restart: {restart!r}
              healthy_within_s: {HEALTHY_WITHIN_S}
              settle_s: 1
              public_key: {self.artifacts.release_pub}
            """)
        )

    def ensure(self, version: str) -> None:
        """Make the site run `version`, whatever ran before (set-up, not under test: it uses the
        updater's parts directly, as deploy/install.sh would, not `edge-gateway update`)."""
        state = read_state(self.storage)
        if state is not None and state.state == "ready" and state.version == version and alive(state.pid):
            return
        installed = {i.version.public: i for i in self.layout.installed()}
        if version not in installed:
            bundle = self.artifacts.bundle(version, self.root / "bundles")
            unpacked = self.root / f"unpacked-{version}"
            shutil.rmtree(unpacked, ignore_errors=True)
            unpack(bundle, unpacked)
            with mock.patch.dict(os.environ, self.env, clear=True):
                release = verify_bundle(unpacked, self.artifacts.release_pub)
                installed[version] = self.layout.install(release, self.config)
        self.layout.switch(installed[version])
        if not (self.storage / "outbox.sqlite3").exists():
            self.fill_outbox()
        restarted = datetime.now(UTC)
        subprocess.run(self.restart_command(), check=True, env=self.env)
        old_pid = state.pid if state is not None else None
        wait_healthy(self.storage, version, old_pid, restarted, (HEALTHY_WITHIN_S, 0.0))

    def restart_command(self) -> list[str]:
        """What systemctl restart would do: the service manager, then the unit's ExecStart."""
        gateway = str(self.layout.current / "bin" / "edge-gateway")
        return [
            sys.executable,
            str(SERVICE_MANAGER),
            "restart",
            str(self.service),
            "--",
            gateway,
            "run",
            "--config",
            str(self.config),
        ]

    def fill_outbox(self) -> None:
        outbox = Outbox(self.storage / "outbox.sqlite3")
        outbox.put([Publication(f"E{n:04d}", f"city/v1/test/e/{n}", b"{}") for n in range(OUTBOX_ROWS)])
        outbox.close()

    def outbox_ids(self) -> list[str]:
        with sqlite3.connect(f"file:{self.storage / 'outbox.sqlite3'}?mode=ro", uri=True) as db:
            return [row[0] for row in db.execute("SELECT event_id FROM outbox ORDER BY seq")]

    def update(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """`edge-gateway update ...` of the running version, as root would type it."""
        return self.cli("update", *args, "--config", self.config)

    def cli(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """The installed `edge-gateway ...`."""
        command = [self.layout.current / "bin" / "edge-gateway", *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=600, check=False)

    def running(self) -> tuple[str, int]:
        """The version and pid the service says it runs (ready)."""
        state = read_state(self.storage)
        assert state is not None and state.state == "ready", state
        assert alive(state.pid)
        return state.version, state.pid

    def log(self) -> str:
        path = self.service / "gateway.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        subprocess.run([sys.executable, str(SERVICE_MANAGER), "stop", str(self.service)], check=True)


def audited_updates(site: Site, since: int, count: int, timeout_s: float = 30.0) -> list[dict[str, object]]:
    """The `update` records of the site's audit log after the first `since`, once `count` of them are
    there (the running gateway appends spooled records every 5 s)."""
    path = site.storage / "audit.jsonl"
    deadline = time.monotonic() + timeout_s
    while True:
        records = updates_in(path)[since:]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def updates_in(path: Path) -> list[dict[str, object]]:
    """The details of every `update` record in an audit log."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line)["detail"] for line in lines if '"kind":"update"' in line]


def site_fixture(root: Path, artifacts: Artifacts, port: int) -> Iterator[Site]:
    """A site (deployed by the first `ensure`); stopped afterwards."""
    site = Site(root, artifacts)
    site.write_config(port)
    try:
        yield site
    finally:
        site.stop()
