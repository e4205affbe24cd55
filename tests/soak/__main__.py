"""`python -m tests.soak --minutes M --seed S --out DIR`: run a soak, write soak.json, soak.txt, soak.svg."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.soak.report import write
from tests.soak.run import SoakOptions, run_soak
from tests.soak.schedule import KINDS


def main() -> int:
    """Run, write the figures, print the summary; exit 1 unless every check passed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("run/soak"))
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--time-scale", type=float, default=20.0, help="scenario seconds per wall second")
    parser.add_argument(
        "--keepalive", type=int, default=5, help="the gateway's MQTT keepalive [s] (5 is the least)"
    )
    parser.add_argument("--no-camera", action="store_true", help="sensors only (no camera faults)")
    parser.add_argument("--faults", default=",".join(KINDS), help="fault kinds to inject, comma-separated")
    parser.add_argument(
        "--kill-every",
        type=int,
        default=1,
        help="SIGKILL the gateway in the first cycle of faults and every N-th after it (long lives: memory trends)",
    )
    args = parser.parse_args()
    options = SoakOptions(
        minutes=args.minutes,
        seed=args.seed,
        out=args.out.resolve(),
        scenario=args.scenario,
        time_scale=args.time_scale,
        keepalive_s=args.keepalive,
        camera=not args.no_camera,
        kinds=tuple(k for k in args.faults.split(",") if k),
        kill_every=args.kill_every,
    )
    figures = write(run_soak(options), options.out)
    print((options.out / "soak.txt").read_text(), end="")
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
