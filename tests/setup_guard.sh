#!/usr/bin/env bash
# Guard for the README's first command on a bare machine (issue 12): with an
# empty STYLIZE_CACHE, scripts/env.sh must source cleanly under
# `set -euo pipefail`, and `scripts/setup.sh --check` must walk every step
# and say it would install the venv, the models and Azurite. A warm cache
# (CI's) cannot hide a bare-machine failure from this test.
set -euo pipefail
cd "$(dirname "$0")/.."
empty="$(mktemp -d)"
trap 'rm -rf "$empty"' EXIT
fails=0 passes=0
check() { # name, command...
  local name=$1
  shift
  if "$@"; then
    echo "setup-guard: ok: $name"
    passes=$((passes + 1))
  else
    echo "setup-guard: FAILED: $name"
    fails=$((fails + 1))
  fi
}

sources_clean() {
  env STYLIZE_CACHE="$empty/cache" bash -c "set -euo pipefail; source scripts/env.sh; [ -n \"\$LIBTORCH\" ]"
}
check "env.sh sources under set -euo pipefail with an empty cache" sources_clean

out="$empty/check.log"
check "setup.sh --check exits 0 on an empty cache" \
  env STYLIZE_CACHE="$empty/cache" STYLIZE_MODELS="$empty/cache/models" bash scripts/setup.sh --check 2>"$out"
# Steps 2-4 are planned because their cache is empty; the build (5/5) is
# planned on every run (cargo decides what is stale), so it proves nothing.
for step in "2/5 python venv" "3/5 models" "4/5 azurite"; do
  check "setup.sh --check plans step $step" grep -q "would: \[$step\]" "$out"
done
# ...and on the warm cache (the one this run was set up with) they are not.
warm="$empty/warm.log"
bash scripts/setup.sh --check 2>"$warm" || true
for step in "2/5 python venv" "3/5 models" "4/5 azurite"; do
  check "setup.sh --check on the warm cache finds step $step present" grep -q "\[$step\] present" "$warm"
done
check "setup.sh --check created nothing" test ! -e "$empty/cache"

# A failing step names itself in one line instead of exiting silently.
fake="$empty/bin"
mkdir -p "$fake"
printf '#!/bin/sh\nexit 7\n' >"$fake/python3"
chmod +x "$fake/python3"
failing_step_named() {
  local out
  out=$(env PATH="$fake:$PATH" STYLIZE_CACHE="$empty/c2" bash scripts/setup.sh 2>&1 >/dev/null || true)
  grep -q '^setup: error: step "2/5 python venv" failed (exit 7)' <<<"$out"
}
check "a failing step prints one line naming it" failing_step_named

echo "setup-guard: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
