"""Detector state that users have been told (bands, CO2 levels, flood levels), kept across restarts.

One small JSON file in the gateway's storage, rewritten atomically only when a snapshot changes,
so a restart neither announces a band again with `previous: null` nor misses its end. A file
that cannot be read starts the gateway fresh, with one warning: it holds no event, only context.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from gateway.messages import JsonValue

log = logging.getLogger(__name__)

Snapshot = Mapping[str, JsonValue]


class Remembers(Protocol):
    """A detector whose user-visible state can be saved and resumed."""

    def snapshot(self) -> dict[str, JsonValue]:
        """The state worth keeping, as JSON values."""
        ...

    def restore(self, snapshot: Snapshot) -> None:
        """Resume from a snapshot (ignoring what does not fit)."""
        ...


class StateFile:
    """Snapshots by key (a source id), persisted as one JSON object."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._saved: dict[str, JsonValue] = {}
        self._failing = False  # log a failing disk once, and its recovery once
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("detector state %s unreadable (%s): starting fresh", path, exc)
            return
        if isinstance(loaded, dict):
            self._saved = loaded
        else:
            log.warning("detector state %s is not a JSON object: starting fresh", path)

    def restore(self, key: str, detector: Remembers) -> None:
        """Resume `detector` from what was saved under `key`, if anything."""
        saved = self._saved.get(key)
        if isinstance(saved, dict):
            detector.restore(saved)

    def save(self, key: str, detector: Remembers) -> None:
        """Persist `detector`'s snapshot if it changed; a failed write is logged, never raised."""
        snapshot = detector.snapshot()
        if self._saved.get(key) == snapshot:
            return
        self._saved[key] = snapshot
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            tmp.write_text(json.dumps(self._saved), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            if not self._failing:
                log.warning("detector state not saved to %s: %s", self.path, exc)
            self._failing = True
            return
        if self._failing:
            log.warning("detector state saved to %s again", self.path)
        self._failing = False
