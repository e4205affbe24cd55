"""The release tool's own parts (the downloads and the wheel build run on the release machine only):
the lock pins each downloaded wheel by its hash, and the dependencies are the wheel's own pins.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from gateway.tools.release import lock_text, requirements
from gateway.update.bundle import check_lock


def test_the_release_tool_locks_each_wheel_by_its_hash(tmp_path: Path) -> None:
    wheels = []
    for name in ("numpy-2.4.6-cp311-cp311-manylinux_2_28_aarch64.whl", "numpy-2.4.6-cp311-cp311-linux_aarch64.whl",
                 "rich-15.0.0-py3-none-any.whl"):  # fmt: skip
        (tmp_path / name).write_bytes(name.encode())
        wheels.append(tmp_path / name)
    text = lock_text(wheels)
    assert check_lock(text, tmp_path / "lock") == ["numpy", "rich"]
    assert hashlib.sha256(wheels[2].read_bytes()).hexdigest() in text
    (tmp_path / "numpy-2.4.5-cp311-cp311-linux_aarch64.whl").write_bytes(b"older")
    with pytest.raises(ValueError, match=r"both 2\.4\.6 and 2\.4\.5"):
        lock_text([*wheels, tmp_path / "numpy-2.4.5-cp311-cp311-linux_aarch64.whl"])


def test_the_dependencies_are_the_wheels_runtime_pins(tmp_path: Path) -> None:
    wheel = tmp_path / "edge_gateway-0.2.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "edge_gateway-0.2.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: edge-gateway\nVersion: 0.2.0\nRequires-Dist: numpy==2.4.6\n"
            'Requires-Dist: packaging==26.4\nRequires-Dist: pytest==9.2.0; extra == "dev"\n',
        )
    assert requirements(wheel) == ["numpy==2.4.6", "packaging==26.4"]
