"""Figure 8: what a shadow rollout costs per camera, and how long a rollback takes.

Four cameras are built exactly as a gateway builds them (`build_camera`, the shipped signed models,
the rollout's `attach`), their fall detectors replaced by FallPairs. Rendered frames of a fall scene
and a lie-down scene (`models/fall/camera_eval` frames: 320 px wide, 10 fps, after 3 s of empty
room) go through each camera's pair, first with the baseline alone, then with a bundle in shadow
(the INT8 fall model, threshold 0.02: the flooding variant of tests/e2e/test_shadow_rollout.py),
signed with a throw-away key. Measured:

- shadow CPU ms per frame: the thread CPU time of the shadow's `on_frame` (`CostMeter`, as the
  operator's report measures it), and of the active's for reference;
- process CPU per frame with and without the shadow (all threads);
- resident memory the shadow adds per camera: RSS after the shadow has seen every frame minus RSS
  after the baseline alone had (`/proc/self/statm`);
- rollback: wall time for `Rollout.rollback` to rebuild the previous detectors of all four cameras
  (median of 5 promote/rollback rounds).

`python -m tests.bench shadow`.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import time
from pathlib import Path

from ruamel.yaml import YAML

from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.messages import Frame
from gateway.registry import FALL, ModelSlots
from gateway.rollout.compare import ACTIVE, SHADOW, rss_bytes
from gateway.rollout.manager import Perception, Rollout
from gateway.rollout.pair import FallPair
from gateway.security.signing import ManifestSpec, generate_signing_key, sign_manifest
from gateway.shipped import models_dir
from gateway.trust import load_models
from gateway.vision.pipeline import CameraPipeline, build_camera
from models.fall.camera_eval import _frames
from sim.video import load_scene, scene_path
from sim.video.render import Renderer
from tests.bench.report import Figure

CAMERAS = 4
SCENES = ("fall_forward", "adl_lie_floor")
ROUNDS = 5


def frames() -> list[Frame]:
    """Both scenes' analysis frames, in order (about 50 s of camera time)."""
    out: list[Frame] = []
    for seed, name in enumerate(SCENES):
        out += [frame for _, frame in _frames(Renderer(load_scene(scene_path(name))), seed)]
    return out


def bundle(workdir: Path) -> tuple[Path, Path]:
    """The flooding bundle, signed with a throw-away key; (bundle directory, public key)."""
    generate_signing_key(workdir / "release.pem", workdir / "release.pub.pem")
    directory = workdir / "fall-flood-1"
    (directory / "fall").mkdir(parents=True)
    shutil.copy(models_dir() / "fall" / "fall_model.int8.onnx", directory / "fall" / "fall_model.onnx")
    spec = {"version": "fall-flood-1", "fall": {"threshold": 0.02, "detect_windows": 1}}
    with (directory / "bundle.yaml").open("w") as fh:
        YAML(typ="safe", pure=True).dump(spec, fh)
    files = [Path("bundle.yaml"), Path("fall/fall_model.onnx")]
    sign_manifest(
        ManifestSpec(directory, files, "bundle", "fall-flood-1"),
        workdir / "release.pem",
        directory / "MANIFEST.json",
    )
    return directory, workdir / "release.pub.pem"


def site(workdir: Path, public_key: Path) -> tuple[Rollout, list[CameraPipeline], AuditLog]:
    config = GatewayConfig.model_validate(
        {
            "site": "bench",
            "gateway": "gw",
            "mqtt": {"host": "127.0.0.1"},
            "storage": str(workdir / "storage"),
            "trust": {"public_key": str(public_key)},
            "cameras": [{"id": f"cam{i}", "url": f"http://127.0.0.1:1/cam{i}.mjpg"} for i in range(CAMERAS)],
        }
    )
    models = load_models().value
    fall = ModelSlots(models).slot(FALL)
    cameras = [build_camera(c, fall, models.people, lambda _e: None) for c in config.cameras]
    audit_log = AuditLog(workdir / "audit.jsonl")
    rollout = Rollout(config, audit_log, lambda _v: 0)
    rollout.attach(cameras, config.cameras, Perception(fall, models.people))
    return rollout, cameras, audit_log


def play(pairs: list[FallPair], analysed: list[Frame]) -> float:
    """Every frame through every pair; process CPU seconds per camera-frame."""
    started = resource.getrusage(resource.RUSAGE_SELF)
    for frame in analysed:
        for pair in pairs:
            pair.on_frame(frame)
    ended = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ended.ru_utime + ended.ru_stime) - (started.ru_utime + started.ru_stime)
    return cpu / (len(analysed) * len(pairs))


def run(workdir: Path) -> list[Figure]:
    """Figure 8."""
    workdir.mkdir(parents=True, exist_ok=True)
    directory, public_key = bundle(workdir)
    rollout, _cameras, audit_log = site(workdir, public_key)  # the pipelines hold the pairs
    pairs = [pair for _, pair in rollout.pairs]
    analysed = frames()
    alone = play(pairs, analysed)
    rollout.meter.take(ACTIVE)
    shutil.copytree(directory, rollout.store.incoming / directory.name)
    before = rss_bytes()  # after the baseline has seen every frame: its buffers are all allocated
    rollout.install(directory.name)
    with_shadow = play(pairs, analysed)
    added = (rss_bytes() - before) / CAMERAS / 2**20
    shadow, active = rollout.meter.take(SHADOW), rollout.meter.take(ACTIVE)
    rollbacks = []
    for _ in range(ROUNDS):
        rollout.promote("bench", "bench")
        started = time.monotonic()
        rollout.rollback("bench", "bench")
        rollbacks.append((time.monotonic() - started) * 1000)
        shutil.copytree(directory, rollout.store.incoming / directory.name)
        rollout.install(directory.name)
    audit_log.close()
    method = (
        f"{CAMERAS} cameras built as the gateway builds them; {len(analysed)} rendered frames ({', '.join(SCENES)}, "
        "320 px, 10 fps) through each camera's FallPair, baseline alone then with the INT8/threshold-0.02 bundle "
        "in shadow; thread CPU of each side's on_frame (CostMeter), process CPU (getrusage), RSS from /proc"
    )
    overhead = (with_shadow - alone) * 1000
    return [
        Figure(
            "shadow.cpu_ms_per_frame",
            "shadow fall detector CPU per frame",
            shadow.ms_per_frame or 0.0,
            "ms/frame",
            method,
        ),
        Figure(
            "shadow.active_cpu_ms_per_frame",
            "active fall detector CPU per frame",
            active.ms_per_frame or 0.0,
            "ms/frame",
            method,
        ),
        Figure(
            "shadow.process_overhead_ms", "process CPU added per camera-frame", overhead, "ms/frame", method
        ),
        Figure("shadow.cpu_share", "process CPU, shadow on / off", with_shadow / alone, "x", method),
        Figure("shadow.rss_mb_per_camera", "RSS added by the shadow, per camera", added, "MiB", method),
        Figure(
            "shadow.rollback_ms",
            f"rollback, {CAMERAS} cameras (median of {ROUNDS})",
            statistics.median(rollbacks),
            "ms",
            f"Rollout.rollback wall time: rebuild the previous fall detectors of {CAMERAS} cameras, swap them in",
        ),
    ]
