"""A disk cache of recorded simulator scenes (run/fall_cache/), keyed by the code that makes them.

Rendering and running the camera path is the slow part of training (seconds per scene). The key is a
hash of every source file that can change a recording (the simulator, the gateway's person,
tracking, silhouette and fall modules) and of RECORDING_VERSION, bumped by hand when
models/fall/data.py changes what it records. Arrays
are stored with numpy's .npz (no pickle) and the rest as JSON.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.fall.data import SceneData, TruthEvent, record_each
from models.fall.replay import Records

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "run" / "fall_cache"
SOURCES = (
    "gateway/vision/person.py",
    "gateway/vision/tracking.py",
    "gateway/vision/silhouette.py",
    "gateway/vision/fall.py",
    "gateway/vision/regions.py",
)
RECORDING_VERSION = "1"  # bump when models/fall/data.py changes what `record` stores


def _simulator_sources() -> list[Path]:
    """The simulator modules a recording imports: another module added next to them (a camera
    server, say) cannot change a rendering and must not throw away half an hour of recordings."""
    importlib.import_module("sim.video.generate")
    importlib.import_module("sim.video.render")
    files = {getattr(m, "__file__", None) for name, m in sys.modules.items() if name.startswith("sim.video")}
    return sorted(Path(f) for f in files if f)


def code_key() -> str:
    """Hash of the code a recording depends on."""
    digest = hashlib.sha256(RECORDING_VERSION.encode())
    for path in [*(REPO / s for s in SOURCES), *_simulator_sources()]:
        digest.update(path.relative_to(REPO).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _path(seed: int, kind: str) -> Path:
    return CACHE / code_key() / f"{kind}-{seed:05d}.npz"


def save(data: SceneData, path: Path) -> None:
    """Write one scene."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "seed": data.seed,
        "kind": data.kind,
        "duration_s": data.duration_s,
        "truth": [[e.person, e.type, e.kind, e.start_t, e.impact_t, e.end_t] for e in data.events],
        "person": list(data.person),
    }
    r = data.records
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp, time=r.time, track=r.track, silhouette=r.silhouette, window=r.window, windows=r.windows,
        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
    )  # fmt: skip
    tmp.replace(path)


def load(path: Path) -> SceneData:
    """Read one scene."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        records = Records(z["time"], z["track"], z["silhouette"], z["window"], z["windows"])
    events = tuple(TruthEvent(*e) for e in meta["truth"])
    return SceneData(meta["seed"], meta["kind"], meta["duration_s"], events, records, tuple(meta["person"]))


def load_scenes(
    jobs: Sequence[tuple[int, str]], workers: int = 2
) -> tuple[list[SceneData], list[tuple[int, str, str]]]:
    """Every (seed, kind) scene, recorded now if not cached, in the order of ``jobs``; and the
    (seed, kind, error) of scenes the simulator failed to render (remembered, not retried)."""
    failures_file = CACHE / code_key() / "failed.json"
    failed = [tuple(f) for f in json.loads(failures_file.read_text())] if failures_file.exists() else []
    known_bad = {(f[0], f[1]) for f in failed}
    missing = [job for job in jobs if not _path(*job).exists() and job not in known_bad]
    for done, data in enumerate(record_each(missing, workers), start=1):
        if isinstance(data, SceneData):
            save(data, _path(data.seed, data.kind))
        else:
            failed.append(data)
            failures_file.parent.mkdir(parents=True, exist_ok=True)
            failures_file.write_text(json.dumps(sorted(failed)))
        if done % 20 == 0 or done == len(missing):
            print(f"  recorded {done}/{len(missing)} scenes ({len(failed)} failed)", flush=True)
    wanted = set(jobs)
    bad = sorted((int(s), str(k), str(e)) for s, k, e in failed if (s, k) in wanted)
    return [load(_path(*job)) for job in jobs if _path(*job).exists()], bad
