"""Where rollout bundles and the rollout's state live on the device: `<storage>/rollout/`.

    incoming/<name>/     dropped by `edge-gateway bundle install` (written as .tmp-*, then renamed)
    bundles/<version>/   the active, the shadow and the previous bundle; nothing else is kept
    state.json           which is which, since when, the shadow's running totals, and the history

The state is rewritten atomically on every change, so a restart resumes exactly: the same active
detectors, the same shadow with its totals, the same bundle to roll back to.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.messages import JsonValue

log = logging.getLogger(__name__)

STATE: Final = "state.json"
HISTORY: Final = 50  # changes kept in the state (every one is in the audit log too)
TOTALS: Final = ("in_both", "only_active", "only_shadow")


@dataclass
class RolloutState:
    """Versions by role (None: no bundle; previous may be "baseline") and what happened."""

    active: str | None = None
    active_since: float = 0.0
    shadow: str | None = None
    shadow_since: float = 0.0
    previous: str | None = None
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOTALS, 0))
    history: list[dict[str, JsonValue]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """As stored."""
        return asdict(self)


class BundleStore:
    """The rollout directory: incoming bundles, kept bundles, and the state."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / "incoming"
        self.bundles = root / "bundles"
        for directory in (self.incoming, self.bundles):
            directory.mkdir(parents=True, exist_ok=True)

    def load_state(self) -> RolloutState:
        """The saved state (see read_state)."""
        return read_state(self.root)

    def save_state(self, state: RolloutState) -> None:
        """Rewrite the state atomically."""
        path = self.root / STATE
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(state.to_json(), indent=1), encoding="utf-8")
        tmp.replace(path)

    def waiting(self) -> list[Path]:
        """Bundles dropped into incoming/, oldest name first (half-copied ones start with a dot)."""
        return sorted(p for p in self.incoming.iterdir() if p.is_dir() and not p.name.startswith("."))

    def path(self, version: str) -> Path:
        """Where a kept bundle lives."""
        return self.bundles / version

    def keep(self, incoming: Path, version: str) -> Path:
        """Move a verified incoming bundle to bundles/<version> (replacing one of that version)."""
        target = self.path(version)
        if target.exists():
            shutil.rmtree(target)
        incoming.replace(target)
        return target

    def discard(self, path: Path) -> None:
        """Remove a bundle directory (refused, superseded or rolled back)."""
        shutil.rmtree(path, ignore_errors=True)

    def prune(self, keep: set[str]) -> None:
        """Remove every kept bundle but `keep` (the active, shadow and previous versions)."""
        for path in self.bundles.iterdir():
            if path.name not in keep:
                self.discard(path)


def read_state(root: Path) -> RolloutState:
    """The saved state; a missing or unreadable one is a fresh start (logged)."""
    path = root / STATE
    try:
        return RolloutState(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return RolloutState()
    except (OSError, ValueError, TypeError) as exc:
        log.warning("rollout state %s unreadable (%s): running the baseline, no shadow", path, exc)
        return RolloutState()


def describe(storage: Path) -> dict[str, JsonValue]:
    """The rollout's state for the register: versions by role and the latest changes."""
    state = read_state(storage / "rollout")
    return {
        "active": state.active or "baseline",
        "shadow": state.shadow,
        "previous": state.previous,
        "history": list[JsonValue](state.history[-10:]),
    }
