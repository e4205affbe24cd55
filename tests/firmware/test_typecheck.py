"""The firmware type-checks against each port's MicroPython stubs (micropython-<port>-stubs).

The stubs replace the standard library's (`--custom-typeshed-dir`) and provide `machine` and
`micropython` (MYPYPATH); the two ports' packages hold the same module names, so each lives in its own
`pip install --target` directory. firmware/mypy.ini holds the options.
"""

import os
import subprocess

import pytest

from tests.firmware import paths


@pytest.mark.parametrize("port", ["esp32", "rp2"])
def test_mypy_against_micropython_stubs(port: str) -> None:
    """mypy --strict finds no error for this port."""
    stubs = paths.STUBS / port
    if not (stubs / "machine.pyi").is_file():
        pytest.fail(
            f"MicroPython stubs for {port} are not installed: pip install --target {stubs.relative_to(paths.ROOT)} "
            f"micropython-{port}-stubs=={paths.STUB_VERSION} (`make setup` does this)"
        )
    search = [stubs, *paths.DRIVER_DIRS]
    env = dict(os.environ, MYPYPATH=os.pathsep.join(str(p) for p in search))
    files = [str(p.relative_to(paths.FIRMWARE)) for p in paths.BOARD_FILES]
    result = subprocess.run(
        [
            str(paths.BIN / "mypy"),
            "--config-file",
            "mypy.ini",
            "--custom-typeshed-dir",
            str(stubs),
            "--cache-dir",
            str(paths.STUBS / f".mypy_cache-{port}"),
            *files,
        ],
        cwd=paths.FIRMWARE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
