#!/usr/bin/env bash
# Run every test: the set-up guard and shellcheck over the scripts, then
# unit tests and end-to-end CLI tests on clips the tests make themselves
# with FFmpeg. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
missing=()
for f in "${STYLIZE_MODEL_FILES[@]}"; do
  [ -f "$STYLIZE_MODELS/$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test: models missing in $STYLIZE_MODELS (${missing[*]}): run scripts/setup.sh first" >&2
  exit 2
fi
command -v shellcheck >/dev/null || { echo "test: shellcheck missing: run scripts/setup.sh first" >&2; exit 2; }
shellcheck -x -P scripts scripts/*.sh tests/*.sh tests/nodes/*.sh .ci/run
bash tests/setup_guard.sh
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "test: no GPU here: the CUDA tests (models/tests/cuda.rs) run and report themselves skipped"
fi
# Tests that cannot run here say so in STYLIZE_SKIP_LOG (cargo's capture
# would swallow their stderr); the run ends with the counts and names them.
STYLIZE_SKIP_LOG="$(mktemp)"
export STYLIZE_SKIP_LOG
log="$(mktemp)"
set +e
cargo test --release --workspace "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
ran=$(awk '/^test result:/ { n += $4 } END { print n + 0 }' "$log")
failed=$(awk '/^test result:/ { n += $6 } END { print n + 0 }' "$log")
skipped=$(grep -c . "$STYLIZE_SKIP_LOG" || true)
echo "tests: $((ran - skipped)) passed, $failed failed, $skipped skipped"
sed 's/^/  skipped: /' "$STYLIZE_SKIP_LOG"
rm -f "$log" "$STYLIZE_SKIP_LOG"
exit "$rc"
