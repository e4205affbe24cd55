"""`python -m tests.bench`: run every benchmark, print the table, write run/bench.json."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.bench import decoders, drain, latency, site_cpu
from tests.bench.report import Figure, table, write_json

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "run"


def measure(workdir: Path) -> list[Figure]:
    """Figures 1-4, in order; figure 4's realistic backlog comes from figure 2's event rate."""
    print("figure 1: decoder throughput ...", file=sys.stderr)
    figures = decoders.run()
    site_figures, site = site_cpu.run(workdir / "site")
    figures += site_figures
    figures += latency.run(workdir / "latency")
    figures += drain.run(workdir / "drain", site.events / site.window_s)
    return figures


def main() -> int:
    """Run, print, write; the work directory (brokers, ptys, outboxes) lives under run/ and is removed."""
    started = time.monotonic()
    RUN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=RUN) as tmp:
        figures = measure(Path(tmp))
    elapsed = time.monotonic() - started
    print(table(figures, elapsed))
    write_json(RUN / "bench.json", figures, elapsed)
    print(f"figures written to {RUN / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
