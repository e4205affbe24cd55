"""`make run`: a private Mosquitto, the simulator, a gateway, and a live view of its events."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sim.broker import BrokerError, Mosquitto

BIN = Path(sys.executable).parent


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
    args = parser.parse_args()
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
