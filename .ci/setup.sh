#!/usr/bin/env bash
# Idempotent set-up for every make target: a .venv with the pinned project, and Mosquitto.
# Usage: .ci/setup.sh [--models]   (--models adds the training-only dependencies)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
extras="dev"
[[ "${1:-}" == "--models" ]] && extras="dev,models"

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: Python >= 3.11 is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

[[ -x .venv/bin/python ]] || "$PY" -m venv .venv

# Reinstall only when the dependency list changed: pyproject.toml's hash is the stamp.
stamp=".venv/.installed-$extras-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
  rm -f .venv/.installed-"$extras"-*
  touch "$stamp"
fi

# MicroPython type stubs: one folder per port (both define `machine`), outside the venv's site-packages.
for port in esp32 rp2; do
  if [[ ! -f .venv/micropython-stubs/$port/machine.pyi ]]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
      --target ".venv/micropython-stubs/$port" "micropython-$port-stubs==1.29.0.post1"
  fi
done

# The real MicroPython interpreter (WebAssembly) that runs the firmware tests under Node.js.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error: Node.js >= 16 and npm are needed for the firmware tests: sudo apt-get install nodejs npm" >&2
  exit 1
fi
if [[ ! -d firmware/node_modules || firmware/package-lock.json -nt firmware/node_modules ]]; then
  npm ci --prefix firmware --no-audit --no-fund --loglevel=error >/dev/null
  touch firmware/node_modules
fi

if ! command -v mosquitto >/dev/null 2>&1 && [[ ! -x /usr/sbin/mosquitto ]]; then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Mosquitto (Debian package; the system service is not started)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q mosquitto >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q mosquitto >/dev/null; }
  else
    echo "error: Mosquitto is missing. Install it with: sudo apt-get install mosquitto" >&2
    exit 1
  fi
fi

# Debian's Chromium for the commissioning page's browser test (Playwright drives it by executable_path and
# never downloads a browser of its own). About 100 MB of Debian packages on a fresh machine.
if ! command -v chromium >/dev/null 2>&1; then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium (Debian package) for the commissioning page test..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
  else
    echo "warning: the commissioning page's browser test will skip: sudo apt-get install chromium" >&2
  fi
fi

# GStreamer's RTSP server for the simulated RTSP cameras (sim/video/rtsp.py), run by the system Python
# (python3-gi is bound to it). About 140 Debian packages, ~70 MB: ~30 s on a fresh machine.
if ! /usr/bin/python3 sim/video/rtsp.py check >/dev/null 2>&1; then
  gst_packages="python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good"
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing GStreamer's RTSP server (Debian packages)..."
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086  # a list of package names
    apt-get install -y -q --no-install-recommends $gst_packages >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $gst_packages >/dev/null; }
    /usr/bin/python3 sim/video/rtsp.py check
  else
    echo "warning: the RTSP camera tests will skip: sudo apt-get install $gst_packages" >&2
  fi
fi
