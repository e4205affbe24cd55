#!/usr/bin/env bash
# Does every pinned runtime dependency install on Raspberry Pi OS (Debian 12 "bookworm", aarch64,
# CPython 3.11) from a binary wheel? A Pi has no compilers for onnxruntime, OpenCV or cryptography:
# a dependency without an aarch64 wheel would make `pip install` build from source, or fail.
#
# For each dependency in pyproject.toml's [project] dependencies, `pip download` asks the index for a
# wheel that fits the Pi (manylinux2014 / manylinux_2_28 / plain linux aarch64, cp311 or abi3 or
# pure Python) without resolving its own dependencies, and prints one line per dependency.
# Exit 0 when all resolve, 1 otherwise. Downloads ~100 MB, so `make check-pi` runs it, not `make test`.
#
# Usage: deploy/check_aarch64.sh [PYTHON]   (PYTHON: an interpreter with pip; default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

mapfile -t deps < <("$PY" -c '
import tomllib
for dep in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    print(dep)
')

pi_wheels() {  # pip download for the Pi's platform; binary wheels only
  "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform linux_aarch64 \
    --python-version 3.11 --implementation cp --abi cp311 "$@"
}

failed=0
for dep in "${deps[@]}"; do
  if log=$(pi_wheels --no-deps -d "$dest/$dep" "$dep" 2>&1); then
    printf 'ok       %-34s %s\n' "$dep" "$(ls "$dest/$dep")"
  else
    printf 'MISSING  %-34s %s\n' "$dep" "$(echo "$log" | grep -m1 -i error || echo "$log" | tail -1)"
    failed=1
  fi
done

# Their own dependencies (pydantic-core, cffi, protobuf, ...) must have aarch64 wheels too: resolve the
# whole set at once, as `pip install` on the Pi would, and list the compiled wheels it picked.
if log=$(pi_wheels -d "$dest/all" "${deps[@]}" 2>&1); then
  wheels=("$dest"/all/*.whl)
  echo "ok       all ${#wheels[@]} wheels with their dependencies; compiled for aarch64:"
  for wheel in "${wheels[@]}"; do
    if [[ $wheel == *aarch64* ]]; then echo "           $(basename "$wheel")"; fi
  done
else
  echo "MISSING  with their dependencies: $(echo "$log" | grep -m1 -i error || echo "$log" | tail -1)"
  failed=1
fi
exit "$failed"
