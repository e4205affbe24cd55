"""Where the files that ship with the gateway are: found beside the installed code, never in a checkout.

The ONNX models, their signed manifest and the release key are package data of the `models` package
(pyproject.toml's package-data). Only its empty `__init__` is imported to find them: the training code
in its subpackages needs the `models` extra and is never imported at run time.
"""

from __future__ import annotations

from importlib import metadata, resources
from pathlib import Path


def package_dir(package: str) -> Path:
    """The directory of an installed package; FileNotFoundError when it is not a plain directory."""
    root = resources.files(package)
    if not isinstance(root, Path):  # a zipped install: onnxruntime and SQLite need real files
        raise FileNotFoundError(f"package {package!r} is not installed as files: {root}")
    return root


def models_dir() -> Path:
    """The shipped models: the ONNX files, MANIFEST.json (signed), MANIFEST.sha256, release.pub.pem."""
    return package_dir("models")


def distribution_version() -> str:
    """The installed edge-gateway's version (pyproject.toml's, as pip recorded it)."""
    try:
        return metadata.version("edge-gateway")
    except metadata.PackageNotFoundError:  # imported from a checkout that was never pip-installed
        return "unknown"
