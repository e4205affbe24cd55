"""`python -m tests.fleet --gateways 50,200,500`: many gateways on one broker; table + run/fleet/fleet.json.

See tests/fleet/__init__.py for what runs, and docs/fleet.md for what the figures mean for a city.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.fleet import acl_load
from tests.fleet.report import table, write_json
from tests.fleet.run import Options, default_processes, measure
from tests.fleet.worker import raise_fd_limit

ROOT = Path(__file__).resolve().parents[2]


def _numbers(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    cli = argparse.ArgumentParser(prog="python -m tests.fleet", description=__doc__)
    cli.add_argument("--gateways", default="50,200,500", help="fleet sizes, comma-separated")
    cli.add_argument("--processes", type=int, default=0, help="worker processes (0: max(2, N/125))")
    cli.add_argument("--steady-s", type=float, default=20.0, help="seconds of the steady phase")
    cli.add_argument("--step-s", type=float, default=10.0, help="seconds of each ramp step")
    cli.add_argument(
        "--ramp", default="250,500,750,1000,1500,2000,3000,4000", help="event msg/s over the fleet"
    )
    cli.add_argument("--no-restart", action="store_true", help="skip the broker-restart phase")
    cli.add_argument(
        "--acl-sizes", default="500,2000,8000,16000", help="gateways in the ACL whose load time is measured"
    )
    cli.add_argument("--broker-nofile", type=int, default=None, help="the broker's soft descriptor limit")
    cli.add_argument("--connect-timeout", type=float, default=120.0, help="seconds for the fleet to connect")
    cli.add_argument("--seed", type=int, default=12)
    cli.add_argument("--out", type=Path, default=ROOT / "run" / "fleet", help="where fleet.json goes")
    return cli.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run every fleet size in turn, print the table, write the JSON."""
    args = parse(argv)
    limits = raise_fd_limit()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    started = time.monotonic()
    load = os.getloadavg()
    for n in (int(x) for x in _numbers(args.gateways)):
        options = Options(
            gateways=n,
            processes=args.processes or default_processes(n),
            steady_s=args.steady_s,
            step_s=args.step_s,
            ramp=_numbers(args.ramp),
            restart=not args.no_restart,
            broker_nofile=args.broker_nofile,
            seed=args.seed,
            connect_timeout_s=args.connect_timeout,
        )
        before = os.getloadavg()  # the machine is shared: how busy it was as this size began
        with tempfile.TemporaryDirectory(prefix=f"work-{n}-", dir=args.out) as tmp:
            results.append(measure(Path(tmp), options) | {"loadavg_before": before})
    print("ACL load times ...", file=sys.stderr)
    acl = acl_load.measure(tuple(int(x) for x in _numbers(args.acl_sizes)), args.out)
    note = (
        f"{os.cpu_count()} CPUs shared with other work: load average {load[0]:.1f} at the start; "
        f"this process's descriptor limit {limits[0]} (soft) / {limits[1]} (hard)"
    )
    print(table(results, acl, note))
    meta = {
        "command": "python -m tests.fleet " + " ".join(argv),
        "note": note,
        "run_time_s": round(time.monotonic() - started, 1),
    }
    out = args.out / "fleet.json"
    write_json(out, results, acl, meta)
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
