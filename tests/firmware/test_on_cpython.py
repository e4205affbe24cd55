"""The same firmware tests under CPython, for fast feedback and tracebacks with values.

The firmware's modules are imported as the board sees them (node/ as a package, each driver as a
top-level module), with the fake `machine` from tests/firmware/mpy. t_main is MicroPython-only: main.py
imports `micropython`, which CPython does not have.
"""

import importlib
import sys
from collections.abc import Callable

import pytest

from tests.firmware import paths

MICROPYTHON_ONLY = {"t_main"}
for _path in [paths.MPY_TESTS, paths.FIRMWARE, *paths.DRIVER_DIRS]:
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def _cases() -> list[tuple[str, str]]:
    return [
        (module, name)
        for module in paths.mpy_test_modules()
        if module not in MICROPYTHON_ONLY
        for name in paths.mpy_test_functions(module)
    ]


@pytest.mark.parametrize(("module", "name"), _cases())
def test_on_cpython(module: str, name: str) -> None:
    """One MicroPython-side test, run by CPython."""
    test: Callable[[], None] = getattr(importlib.import_module(module), name)
    test()
