"""versions/<v> side by side and one `current` link: switched atomically, pruned, never the running one.

The version directories here are empty but complete (their RELEASE.json); the integration test makes
real venvs in them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.update.versions import COMPLETE, Installed, Layout


def installed(layout: Layout, *versions: str) -> dict[str, Installed]:
    out = {}
    for version in versions:
        path = layout.versions / version
        path.mkdir(parents=True)
        (path / COMPLETE).write_text("{}")
        out[version] = next(i for i in layout.installed() if i.path == path)
    return out


def test_switching_points_current_at_a_version(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert layout.running() is None
    versions = installed(layout, "0.1.0", "0.2.0")
    layout.switch(versions["0.1.0"])
    layout.switch(versions["0.2.0"])
    assert layout.current.readlink() == Path("versions/0.2.0")  # relative: the root may be moved
    running = layout.running()
    assert running is not None and str(running.version) == "0.2.0"
    assert not (tmp_path / ".current.tmp").exists()


def test_half_installed_and_foreign_directories_are_not_versions(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    installed(layout, "0.1.0")
    (layout.versions / "0.2.0").mkdir()  # no RELEASE.json: an install that was cut short
    (layout.versions / "latest").mkdir()
    (layout.versions / "latest" / COMPLETE).write_text("{}")
    assert [str(i.version) for i in layout.installed()] == ["0.1.0"]


def test_pruning_keeps_the_running_version_and_the_newest_others(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    versions = installed(layout, "0.1.0", "0.2.0", "0.3.0", "0.10.0")
    layout.switch(versions["0.2.0"])  # after a downgrade
    gone = layout.prune(keep=3)
    assert [str(i.version) for i in gone] == ["0.1.0"]
    assert [str(i.version) for i in layout.installed()] == ["0.2.0", "0.3.0", "0.10.0"]
    with pytest.raises(ValueError, match="is running"):
        layout.remove(versions["0.2.0"])
