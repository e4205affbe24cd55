"""The firmware's logic and drivers on the real MicroPython interpreter (WebAssembly port, Node.js).

Each module in tests/firmware/mpy runs in a fresh interpreter with the board's file layout and a fake
`machine` (see run_mpy.mjs). Every test function must report PASS: a test that did not run fails here.
"""

import shutil
import subprocess

import pytest

from tests.firmware import paths

TIMEOUT_S = 60


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: it runs the MicroPython (wasm) interpreter for these tests")
    if not paths.INTERPRETER.is_file():
        pytest.fail(
            "MicroPython (wasm) is not installed: run `npm ci --prefix firmware` "
            f"(expected {paths.INTERPRETER.relative_to(paths.ROOT)})"
        )
    return node


@pytest.mark.parametrize("module", paths.mpy_test_modules())
def test_on_micropython(module: str) -> None:
    """All of one module's tests pass on MicroPython."""
    result = subprocess.run(
        [_node(), str(paths.RUNNER), str(paths.FIRMWARE), str(paths.MPY_TESTS), module],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"MicroPython run of {module} failed:\n{output}"
    passed = sorted(line.split()[1] for line in result.stdout.splitlines() if line.startswith("PASS "))
    assert passed == paths.mpy_test_functions(module), output
