"""The sha256 manifest of every ONNX file under models/ (``models/MANIFEST.sha256``).

The gateway refuses to load a model whose bytes do not match its line here (gateway/inference/runner.py).
The file is in ``sha256sum`` format (``<hex>  <path>``, paths relative to models/), so on a gateway
``cd models && sha256sum -c MANIFEST.sha256`` checks it too. It is always rewritten whole from the
.onnx files present, never edited by hand: ``python -m models.manifest``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
MANIFEST_NAME = "MANIFEST.sha256"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_lines(models_dir: Path = MODELS_DIR) -> list[str]:
    """One ``sha256sum`` line per .onnx file under ``models_dir``, sorted by relative path."""
    paths = sorted(models_dir.rglob("*.onnx"), key=lambda p: p.relative_to(models_dir).as_posix())
    return [f"{sha256_file(p)}  {p.relative_to(models_dir).as_posix()}" for p in paths]


def write_manifest(models_dir: Path = MODELS_DIR) -> Path:
    """Rewrite ``models_dir/MANIFEST.sha256`` from all .onnx files found below it; returns its path."""
    path = models_dir / MANIFEST_NAME
    lines = manifest_lines(models_dir)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def main() -> None:
    """Rewrite the repository's manifest and print it."""
    path = write_manifest()
    print(f"{path}:")
    print(path.read_text(encoding="utf-8"), end="")


if __name__ == "__main__":
    main()
