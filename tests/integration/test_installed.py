"""The built wheel, installed outside the checkout, runs a simulated site on its own files.

Scenario, as on a fresh gateway: build the wheel (`pip wheel --no-deps`, from a copy of the sources so
the checkout gets no build/ folder), make a new venv under tmp_path and install the wheel into it with
`--no-deps`. Its third-party dependencies come from this project's venv through a `.pth` line, which
site.py appends *after* the new venv's own site-packages: `gateway`, `sim` and `models` can only come
from the wheel, nothing is downloaded but the build backend (setuptools, from pip's cache once seen),
and whether every pin installs on a Pi is `make check-pi`'s question, not this test's. Then, from a
directory outside the repository: `edge-sim serial` plays the default scenario on pseudo-terminals
and writes the gateway config, `edge-gateway check-config` accepts it, and `edge-gateway run` (default
models, key and policy: the packaged ones) publishes `online` and a source status or an event to a real
Mosquitto. A sitecustomize in the new venv writes, at exit, the file of every module each process
imported: none may lie in the checkout.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.broker import Mosquitto
from tests.mqtt_helpers import Received, Recorder

REPO = Path(__file__).resolve().parents[2]
DEPS = Path(sysconfig.get_paths()["purelib"])  # this venv's site-packages: the third-party packages
SOURCES = ("pyproject.toml", "README.md", "gateway", "sim", "models", "firmware")
IGNORED = shutil.ignore_patterns("__pycache__", "node_modules", "*.egg-info", "build")
# Every process sees only what it installed: no PYTHONPATH=$PWD (the fast loop's) leaks the checkout in.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}

# What a gateway reads at run time and the wheel must carry (pyproject.toml's package-data).
DATA = [
    "models/release.pub.pem",
    "models/MANIFEST.json",
    "models/MANIFEST.sha256",
    "models/air_quality/pm_humidity.onnx",
    "models/flood/nowcast.onnx",
    "models/fall/fall_model.onnx",
    "models/pose/movenet_lightning.onnx",
    "models/person/movenet.json",
    "gateway/privacy/default_policy.yaml",
    "gateway/privacy/MANIFEST.json",
    "gateway/publish/schemas/event-v1.json",
    "gateway/commissioning/static/page.js",
    "gateway/tools/flash/firmware/main.py",
    "gateway/tools/flash/firmware/node/app.py",
    "gateway/tools/flash/firmware/drivers/sds011/manifest.py",
    "sim/scenarios/default.yaml",
]

SITECUSTOMIZE = """\
import atexit, os, sys

def _record():
    modules = sorted((n, getattr(m, "__file__", None)) for n, m in list(sys.modules.items()))
    with open(os.path.join(os.environ["IMPORTS_DIR"], f"{os.getpid()}.txt"), "w") as fh:
        fh.write("".join(f"{name}\\t{file}\\n" for name, file in modules if file))

if os.environ.get("IMPORTS_DIR"):
    atexit.register(_record)
"""


class Installed:
    """A venv outside the repository with the built wheel in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        self.imports = root / "imports"
        self.imports.mkdir(parents=True)
        self.wheel = self._build(root / "src", root / "dist")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", self.venv], check=True, env=CLEAN_ENV)
        pip = [
            sys.executable,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "--python",
            self.venv / "bin/python",
        ]
        subprocess.run([*pip, "install", "--quiet", "--no-deps", self.wheel], check=True, env=CLEAN_ENV)
        self.site_packages = Path(
            subprocess.check_output(
                [self.venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                text=True,
                env=CLEAN_ENV,
            ).strip()
        )
        (self.site_packages / "zz_project_deps.pth").write_text(f"{DEPS}\n")
        (self.site_packages / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.env = {
            k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
        }
        self.env["IMPORTS_DIR"] = str(self.imports)

    @staticmethod
    def _build(src: Path, dist: Path) -> Path:
        src.mkdir()
        for name in SOURCES:
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, src / name, symlinks=True, ignore=IGNORED)
            else:
                shutil.copy2(REPO / name, src / name)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, src],
            check=True,
            env=CLEAN_ENV,
        )
        (wheel,) = dist.glob("edge_gateway-*.whl")
        return wheel

    def run(self, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.venv / "bin" / str(args[0]), *args[1:]],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self, *args: str | Path, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                [self.venv / "bin" / str(args[0]), *args[1:]], cwd=cwd, env=self.env, stdout=out, stderr=out
            )

    def imported(self) -> dict[str, Path]:
        """Module name -> file, of every process that ran and exited (sitecustomize)."""
        lines = [line for path in self.imports.glob("*.txt") for line in path.read_text().splitlines()]
        return {name: Path(file).resolve() for name, file in (line.split("\t") for line in lines)}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return Installed(tmp_path_factory.mktemp("installed"))


@pytest.fixture
def site_dir(tmp_path: Path) -> Iterator[Path]:
    site = tmp_path / "site"
    site.mkdir()
    assert REPO not in site.resolve().parents
    yield site


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(20) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_the_wheel_carries_the_data_a_gateway_reads(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert not [name for name in DATA if name not in names]


def test_flash_finds_the_installed_firmware(installed: Installed, tmp_path: Path) -> None:
    probe = "from gateway.tools.flash import FIRMWARE_DIR, firmware_sources as f; print(FIRMWARE_DIR, len(f(FIRMWARE_DIR)))"
    result = installed.run("python", "-c", probe, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    where, count = result.stdout.split()
    assert Path(where) == installed.site_packages / "gateway" / "tools" / "flash" / "firmware"
    assert int(count) >= 10  # main.py, node/*.py and the drivers


def test_an_installed_gateway_runs_a_simulated_site_outside_the_checkout(
    installed: Installed, site_dir: Path, broker: Mosquitto
) -> None:
    version = installed.run("edge-gateway", "--version", cwd=site_dir)
    assert version.returncode == 0 and version.stdout.startswith("edge-gateway "), version.stderr

    config, sim_log, gateway_log = site_dir / "gateway.yaml", site_dir / "sim.log", site_dir / "gateway.log"
    simulator = installed.start(
        "edge-sim", "serial", "--scenario", "default", "--time-scale", "20", "--dir", "sim",
        "--gateway-config", config, "--mqtt-port", str(broker.port), "--storage", "storage",
        cwd=site_dir, log=sim_log,
    )  # fmt: skip
    recorder = Recorder(broker.host, broker.port, "city/#")
    try:
        deadline = time.monotonic() + 30
        while not config.exists():
            assert simulator.poll() is None and time.monotonic() < deadline, sim_log.read_text()
            time.sleep(0.1)
        checked = installed.run("edge-gateway", "check-config", config, cwd=site_dir)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "OK" in checked.stdout

        gateway = installed.start("edge-gateway", "run", "-c", config, cwd=site_dir, log=gateway_log)
        try:

            def published(messages: list[Received]) -> bool:
                online = any(m.topic.endswith("/status") and m.payload == b"online" for m in messages)
                news = any("/events/" in m.topic or "/sources/" in m.topic for m in messages)
                return online and news

            messages = recorder.wait_for(published, timeout=60)
            assert published(messages), gateway_log.read_text()[-3000:]
        finally:
            stop(gateway, gateway_log)
    finally:
        recorder.close()
        stop(simulator, sim_log)

    modules = installed.imported()
    site_packages, deps = installed.site_packages.resolve(), DEPS.resolve()
    in_checkout = {n: f for n, f in modules.items() if REPO in f.parents and deps not in f.parents}
    assert not in_checkout
    ours = {n: f for n, f in modules.items() if n.split(".")[0] in {"gateway", "sim", "models"}}
    assert {"gateway.app", "gateway.inference.runner", "sim.site", "models"} <= set(ours)
    assert not {n: f for n, f in ours.items() if site_packages not in f.parents}
    # The models package is only where the model files are: no training code runs on a gateway.
    assert [n for n in ours if n.startswith("models")] == ["models"]
