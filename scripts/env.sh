# Sourced by setup.sh and test.sh: where the heavy, shared installs live.
# They sit outside the checkout so a fresh clone reuses them.
export STYLIZE_CACHE="${STYLIZE_CACHE:-$HOME/.cache/stylize}"
export STYLIZE_VENV="$STYLIZE_CACHE/venv"
export STYLIZE_MODELS="${STYLIZE_MODELS:-$STYLIZE_CACHE/models}"
STYLIZE_PY_SITE="$(ls -d "$STYLIZE_VENV"/lib/python3*/site-packages 2>/dev/null | head -1)"
STYLIZE_PY_SITE="${STYLIZE_PY_SITE:-$STYLIZE_VENV/lib/python3.11/site-packages}"
# tch builds against the libtorch inside the pinned PyPI torch wheel.
export LIBTORCH="$STYLIZE_PY_SITE/torch"
export LIBTORCH_BYPASS_VERSION_CHECK=1
# Test binaries of the library crates have no rpath to libtorch (only the
# `stylize` binary gets one, from build.rs).
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
