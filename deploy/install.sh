#!/usr/bin/env bash
# Install the edge gateway on Raspberry Pi OS (Debian 12 "bookworm", aarch64) as a systemd service.
# Idempotent; it never overwrites a config. Once installed, update with a signed release bundle:
# `sudo edge-gateway update edge-gateway-X.Y.Z.tar` (verified, installed beside, rolled back if unhealthy).
#
# Usage (as root, from a checkout or an unpacked release that has deploy/):
#   deploy/install.sh [edge_gateway-X.Y.Z-py3-none-any.whl]
# Without a wheel it builds one from this checkout (`pip wheel --no-deps`).
# Steps, each skipped when already done: Debian packages; the `edge-gateway` system user (groups
# dialout and video); /etc/edge-gateway and /var/lib/edge-gateway; a venv per version,
# /opt/edge-gateway/versions/X.Y.Z, with the wheel and its pinned dependencies (binary wheels only: a
# Pi has no compilers for them), and /opt/edge-gateway/current pointing at it (what `edge-gateway
# update` switches); the unit deploy/edge-gateway.service, enabled and (re)started once the config
# checks out.
# deploy/README.md explains every step and how to do it by hand.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
PREFIX=/opt/edge-gateway
VENV=$PREFIX/current # the path deploy/edge-gateway.service runs: a link into $VERSIONS
VERSIONS=$PREFIX/versions
CONF_DIR=/etc/edge-gateway
CONFIG=$CONF_DIR/gateway.yaml
STATE=/var/lib/edge-gateway
USER_NAME=edge-gateway
UNIT=$HERE/edge-gateway.service
APT_PACKAGES=(python3 python3-venv python3-pip ca-certificates)

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root: sudo $0 $*"
command -v apt-get >/dev/null || die "this installer is for Debian / Raspberry Pi OS (apt-get not found)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "Python >= 3.11 is needed (Raspberry Pi OS 12 'bookworm' has 3.11)"

# 1. Debian packages: Python with venv; OpenCV, onnxruntime and cryptography come as wheels.
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. The system user: no login, home = its state directory, may open serial ports and cameras.
if ! id "$USER_NAME" >/dev/null 2>&1; then
  say "creating system user $USER_NAME"
  if [[ -f $HERE/edge-gateway.sysusers.conf ]] && command -v systemd-sysusers >/dev/null; then
    install -m 0644 "$HERE/edge-gateway.sysusers.conf" /etc/sysusers.d/edge-gateway.conf
    systemd-sysusers /etc/sysusers.d/edge-gateway.conf
  else
    useradd --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin \
      --comment "Edge gateway" "$USER_NAME"
  fi
fi
usermod -a -G dialout,video "$USER_NAME" # /dev/ttyUSB*, /dev/ttyAMA0; /dev/video*

# 3. Config (root-owned, readable by the gateway) and state (the gateway's own).
install -d -m 0750 -o root -g "$USER_NAME" "$CONF_DIR"
install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$STATE"

# 4. The venv and the package.
wheel=${1:-}
if [[ -z $wheel ]]; then
  [[ -f $REPO/pyproject.toml ]] || die "no wheel given and $REPO is not a checkout"
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  say "building the wheel from $REPO"
  python3 -m pip wheel --quiet --no-deps -w "$build" "$REPO"
  wheel=$(ls "$build"/edge_gateway-*.whl)
fi
[[ -f $wheel ]] || die "no such wheel: $wheel"
version=$(basename "$wheel" | cut -d- -f2) # edge_gateway-X.Y.Z-py3-none-any.whl
target=$VERSIONS/$version
if [[ ! -f $target/RELEASE.json ]]; then # missing or half-installed: (re)make it
  rm -rf "$target"
  say "creating $target"
  install -d -m 0755 "$VERSIONS"
  python3 -m venv "$target"
fi
say "installing $(basename "$wheel") into $target"
pip=("$target/bin/pip" --quiet --disable-pip-version-check)
"${pip[@]}" install --only-binary=:all: --upgrade "$wheel" # the pinned dependencies, as they change
"${pip[@]}" install --no-deps --force-reinstall "$wheel"   # this wheel even if its version is unchanged
# What `edge-gateway update` takes for a complete version (it writes the release's signed manifest here).
printf '{"installed_by": "deploy/install.sh", "wheel": "%s"}\n' "$(basename "$wheel")" >"$target/RELEASE.json"
ln -sfn "versions/$version" "$PREFIX/.current.tmp" && mv -T "$PREFIX/.current.tmp" "$VENV" # atomic switch
if [[ -d $PREFIX/.venv && ! -L $PREFIX/.venv ]]; then
  rm -rf "$PREFIX/.venv" # the layout before versions/: one venv updated in place
fi
ln -sfn "$VENV/bin/edge-gateway" /usr/local/bin/edge-gateway # for technicians: check-config, watch, update
install -m 0644 "$HERE/README.md" "$PREFIX/README.md"          # the unit's Documentation=
"$VENV/bin/edge-gateway" --version

# 5. A first config is the site's to write: leave an example, never touch an existing one.
if [[ ! -f $CONFIG ]]; then
  install -m 0640 -o root -g "$USER_NAME" "$HERE/gateway.example.yaml" "$CONFIG.example"
  say "no $CONFIG yet: write it (example: $CONFIG.example), then run this script again"
fi

# 6. The service: installed always, enabled and (re)started only with a config that checks out.
if [[ ! -f $UNIT ]]; then
  say "deploy/edge-gateway.service is missing: the gateway is installed but not set up as a service"
  exit 0
fi
install -m 0644 "$UNIT" /etc/systemd/system/edge-gateway.service
systemctl daemon-reload
if [[ -f $CONFIG ]]; then
  runuser -u "$USER_NAME" -- "$VENV/bin/edge-gateway" check-config "$CONFIG" \
    || die "$CONFIG has errors (above): the service was not started"
  systemctl enable edge-gateway.service
  systemctl restart edge-gateway.service # starts it, or restarts it on the new version
  say "running: systemctl status edge-gateway; journalctl -u edge-gateway -f"
fi
