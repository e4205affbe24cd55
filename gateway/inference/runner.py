"""Verified loading and running of ONNX models with onnxruntime.

Owns the integrity check: a model file is read once, its sha256 compared with its line in the manifest
(``models/MANIFEST.sha256``, ``sha256sum`` format, paths relative to the manifest's directory), and only
those verified bytes are handed to onnxruntime, so the file cannot change between check and load.

A model's version is the first 12 hex digits of its sha256: it names exactly the bytes that were
verified and run, and cannot be left stale the way a hand-set version string can.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from gateway.security.signing import ManifestError, VerifiedManifest
from gateway.shipped import models_dir

DEFAULT_MANIFEST: Final = models_dir() / "MANIFEST.sha256"
VERSION_LENGTH: Final = 12

# onnxruntime type strings of the inputs we can build a warm-up tensor for.
_NUMPY_TYPES: Final[dict[str, type[np.generic]]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
}


# Told (model name, seconds) after every inference but the warm-up. gateway/metrics.py listens here,
# so timing every model takes no code in any detector.
INFERENCE_OBSERVERS: list[Callable[[str, float], None]] = []


class ModelIntegrityError(Exception):
    """A model file does not match the manifest, or cannot be checked against it: never loaded."""


def read_manifest(manifest: Path) -> dict[str, str]:
    """Relative path -> lowercase hex sha256, from a ``sha256sum``-format file."""
    try:
        text = manifest.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ModelIntegrityError(f"manifest {manifest} not found: cannot verify any model") from exc
    entries = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, name = line.partition(" ")
        if not sep or len(digest) != 64:
            raise ModelIntegrityError(f"{manifest}:{number}: not a sha256sum line: {line[:80]!r}")
        entries[name.lstrip(" *")] = digest.lower()
    return entries


def verified_bytes(path: Path, manifest: Path = DEFAULT_MANIFEST) -> tuple[bytes, str]:
    """The file's bytes and hex sha256, if they match its manifest entry; else ModelIntegrityError."""
    entries = read_manifest(manifest)
    try:
        key = path.resolve().relative_to(manifest.resolve().parent).as_posix()
    except ValueError as exc:
        raise ModelIntegrityError(f"{path} is outside {manifest.parent}: it has no manifest entry") from exc
    expected = entries.get(key)
    if expected is None:
        raise ModelIntegrityError(f"{key} has no entry in {manifest}: refusing to load it")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(
            f"{path}: sha256 {actual} does not match {expected} in {manifest}: "
            "the file is corrupt or was changed without regenerating the manifest; refusing to load it"
        )
    return data, actual


class OnnxModel:
    """One verified ONNX model with one input and one output, on the CPU with a single thread."""

    def __init__(self, path: Path, manifest: Path = DEFAULT_MANIFEST, name: str | None = None) -> None:
        """Verify ``path`` against ``manifest``, load it and run one warm-up inference.

        Raises ModelIntegrityError on a hash mismatch or missing entry, FileNotFoundError if the
        model file is missing. Both are fatal: retrying cannot fix them.
        """
        data, digest = verified_bytes(path, manifest)
        self._load(data, digest, name or path.stem)

    @classmethod
    def from_signed(cls, manifest: VerifiedManifest, file: str, name: str) -> OnnxModel:
        """Load `file` of a verified signed manifest: its bytes are re-checked as they are read."""
        try:
            data = manifest.read_verified(file)
        except ManifestError as exc:
            raise ModelIntegrityError(f"refusing to load {file}: {exc}") from exc
        model = cls.__new__(cls)
        model._load(data, hashlib.sha256(data).hexdigest(), name)
        return model

    def _load(self, data: bytes, digest: str, name: str) -> None:
        self.name = name
        self.version = digest[:VERSION_LENGTH]
        self.sha256 = digest
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        (model_input,) = self._session.get_inputs()
        (model_output,) = self._session.get_outputs()
        self._input_name: str = model_input.name
        self._output_name: str = model_output.name
        self._dtype = _NUMPY_TYPES[model_input.type]
        self._warm_up([d if isinstance(d, int) else 1 for d in model_input.shape])

    def _warm_up(self, shape: list[int]) -> None:
        # The first run allocates and plans; do it now, not on the first real reading.
        self._infer(np.zeros(shape, dtype=self._dtype))

    def run(self, inputs: npt.ArrayLike) -> npt.NDArray[np.generic]:
        """The model's output for ``inputs``, converted to the model's input dtype."""
        start = time.perf_counter()
        result = self._infer(inputs)
        elapsed = time.perf_counter() - start
        for observe in INFERENCE_OBSERVERS:
            observe(self.name, elapsed)
        return result

    def _infer(self, inputs: npt.ArrayLike) -> npt.NDArray[np.generic]:
        array = np.ascontiguousarray(inputs, dtype=self._dtype)
        (output,) = self._session.run([self._output_name], {self._input_name: array})
        result: npt.NDArray[np.generic] = np.asarray(output)
        return result
