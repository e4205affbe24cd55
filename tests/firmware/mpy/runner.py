"""Runs one test module's test_* functions on MicroPython, one line per test: PASS/FAIL name."""

import sys


def main(module_name: str) -> None:
    """Import `module_name`, run its tests in name order, exit non-zero if any failed."""
    module = __import__(module_name)
    names = sorted(name for name in dir(module) if name.startswith("test_"))
    failed = 0
    for name in names:
        try:
            getattr(module, name)()
        except Exception as e:  # noqa: BLE001 - every failure is reported, with its traceback
            failed += 1
            print("FAIL %s: %r" % (name, e))
            sys.print_exception(e)  # type: ignore[attr-defined]
        else:
            print("PASS %s" % name)
    print("mpy-summary: %d tests, %d failed" % (len(names), failed))
    if failed:
        raise SystemExit(1)
