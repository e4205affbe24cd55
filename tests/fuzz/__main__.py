"""Coverage-guided fuzzing with atheris (libFuzzer): `python -m tests.fuzz [TARGET ...] --seconds 60`.

Each target runs in a process of its own (atheris fuzzes one function per process) over a corpus
seeded with valid inputs (tests/fuzz/seeds.py) and grown in `<out>/corpus/<target>/`. A crashing
input is written to `<out>/crashes/<target>/`; copy it to tests/fuzz/crashes/<target>/ and it
becomes a regression test (tests/unit/test_fuzz_targets.py). The summary gives executions per
second and in total for each target; the exit code is 1 if any target crashed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path


def fuzz_one(name: str, libfuzzer_args: list[str]) -> None:
    """In this process: instrument the gateway's parsers (and ruamel's), then fuzz one target."""
    import atheris  # dev-only dependency, and only for `make fuzz`

    with atheris.instrument_imports(include=["gateway", "ruamel"]):
        from tests.fuzz.targets import TARGETS

    atheris.Setup([sys.argv[0], *libfuzzer_args], TARGETS[name])
    atheris.Fuzz()


def run(name: str, seconds: int, out: Path, seed: int) -> tuple[bool, str]:
    """Fuzz one target in a child process; (crashed, one-line summary)."""
    from tests.fuzz.seeds import seeds

    corpus, crashes = out / "corpus" / name, out / "crashes" / name
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(seeds(name)):
        (corpus / f"seed-{i}").write_bytes(data)
    args = [
        f"-max_total_time={seconds}",
        f"-seed={seed}",
        "-timeout=10",  # one input taking 10 s is a hang: reported like a crash
        "-rss_limit_mb=2048",
        "-max_len=4096",
        "-print_final_stats=1",
        f"-artifact_prefix={crashes}/",
        str(corpus),
    ]
    child = [sys.executable, "-m", "tests.fuzz", "--child", name, "--", *args]
    result = subprocess.run(child, capture_output=True, text=True, check=False)
    log = result.stdout + result.stderr
    (out / f"{name}.log").write_text(log)
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    speed = re.search(r"stat::average_exec_per_sec:\s*(\d+)", log)
    crashed = result.returncode != 0
    verdict = f"CRASH {_replay(name, crashes)}" if crashed else "ok"
    execs = f"{int(speed.group(1)) if speed else 0:>7} exec/s {int(runs.group(1)) if runs else 0:>10} runs"
    return crashed, f"{name:18} {execs}  {verdict}"


def _replay(name: str, crashes: Path) -> str:
    """What the newest crashing input raises (libFuzzer's log may not show Python's traceback)."""
    from tests.fuzz.targets import TARGETS

    found = sorted(crashes.glob("*"), key=lambda p: p.stat().st_mtime)
    if not found:
        return "(no input written)"
    try:
        TARGETS[name](found[-1].read_bytes())
    except Exception as exc:  # noqa: BLE001 (reporting whatever the target raised is the point)
        return f"{found[-1]}: {type(exc).__name__}: {str(exc)[:120]}"
    return f"{found[-1]}: (does not reproduce: a timeout or out of memory?)"


def main() -> int:
    """Fuzz the named targets (default: all) one after the other."""
    from tests.fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("targets", nargs="*", choices=[[], *TARGETS], help="default: every target")
    parser.add_argument("--seconds", type=int, default=60, help="per target")
    parser.add_argument("--out", type=Path, default=Path("run/fuzz"), help="corpus, crashes and logs")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    crashed = False
    for name in args.targets or TARGETS:
        failed, summary = run(name, args.seconds, args.out, args.seed)
        crashed |= failed
        print(summary, flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        fuzz_one(sys.argv[2], sys.argv[4:])
    else:
        sys.exit(main())
