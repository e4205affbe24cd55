"""`make run`: a private Mosquitto, the simulator, a gateway, and a live view of its events.

The simulator plays serial sensors on ptys and, unless ``--cameras ""``, live MJPEG cameras (by
default a looping fall in a hall and someone lying down on a bed on purpose) that the gateway reads
over HTTP on 127.0.0.1 exactly as it would read an IP camera.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from ruamel.yaml import YAML

from sim.broker import BrokerError, Mosquitto

BIN = Path(sys.executable).parent
DEFAULT_CAMERAS = "hall=fall_forward,bedroom=adl_lie_bed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _add_cameras(config: Path, cameras: list[str], port: int) -> None:
    """Point the simulator's gateway config at the simulated cameras (``id=scene`` each)."""
    yaml = YAML()
    data = yaml.load(config)
    data["cameras"] = [
        {
            "id": cam,
            "url": f"http://127.0.0.1:{port}/cam/{cam}.mjpg",
            "zones": [{"name": cam, "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        }
        for cam in (spec.split("=", 1)[0] for spec in cameras)
    ]
    yaml.dump(data, config)


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the simulator did not start; see {path.parent}/sim.log")
        time.sleep(0.05)


def main() -> int:
    """Start everything, show the live view, and stop everything on Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--time-scale", type=float, default=5.0, help="scenario seconds per wall second")
    parser.add_argument("--dir", type=Path, default=Path("run/live"), help="working dir, emptied first")
    parser.add_argument(
        "--cameras", default=DEFAULT_CAMERAS, help='simulated cameras as id=scene,... ("" for none)'
    )
    args = parser.parse_args()
    cameras = [spec for spec in args.cameras.split(",") if spec]
    run = args.dir.resolve()
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    try:
        broker = Mosquitto(run / "broker").start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    config = run / "gateway.yaml"
    children: list[subprocess.Popen[bytes]] = []
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        with (run / "sim.log").open("wb") as sim_log, (run / "gateway.log").open("wb") as gw_log:
            children.append(
                subprocess.Popen(
                    [
                        BIN / "edge-sim",
                        "serial",
                        "--scenario",
                        args.scenario,
                        "--dir",
                        str(run / "sim"),
                        "--time-scale",
                        str(args.time_scale),
                        "--loop",
                        "--gateway-config",
                        str(config),
                        "--mqtt-port",
                        str(broker.port),
                        "--storage",
                        str(run / "gateway"),
                    ],
                    stdout=sim_log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
            _wait_for(config, children[0])
            if cameras:
                port = _free_port()
                video = ["video", "serve", "--port", str(port), *[a for c in cameras for a in ("--cam", c)]]
                children.append(
                    subprocess.Popen(
                        [BIN / "edge-sim", *video], stdout=sim_log, stderr=subprocess.STDOUT, env=env
                    )
                )
                _add_cameras(config, cameras, port)
            children.append(
                subprocess.Popen(
                    [BIN / "edge-gateway", "run", "--config", str(config)],
                    stdout=gw_log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
            print(f"broker 127.0.0.1:{broker.port}  logs in {run}/  (Ctrl-C stops everything)")
            return subprocess.call([BIN / "edge-gateway", "watch", "--config", str(config)])
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            child.terminate()
        for child in reversed(children):
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
