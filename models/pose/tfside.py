"""The throwaway TensorFlow venv of the conversion, and running ``_convert_in_tf.py`` in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-convert.txt"
SCRIPT = HERE / "_convert_in_tf.py"


def ensure_venv(root: Path) -> Path:
    """A venv at ``root`` with the pinned TF-side requirements; its python."""
    python = root / "bin" / "python"
    stamp = root / "requirements-convert.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == REQUIREMENTS.read_text():
        return python
    print(f"creating the TF-side venv in {root} (tensorflow, tf2onnx; a few minutes)", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-input", "-r", str(REQUIREMENTS)], check=True
    )
    stamp.write_text(REQUIREMENTS.read_text())
    return python


def convert(python: Path, model_json: Path, frames: Path, out_dir: Path, opset: int) -> dict[str, Any]:
    """Run the TF-side script for one model; it leaves fp32.onnx, fp16w.onnx, tf_outputs.npy in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    log = out_dir / "tf_side.log"
    with log.open("w") as handle:
        done = subprocess.run(
            [str(python), str(SCRIPT), str(model_json), str(frames), str(out_dir), str(opset)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        sys.stderr.write(log.read_text()[-4000:])
        raise RuntimeError(f"TF-side conversion of {model_json.name} failed (log {log})")
    info: dict[str, Any] = json.loads((out_dir / "tf_side.json").read_text())
    return info
