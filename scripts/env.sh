# shellcheck shell=bash
# Sourced by setup.sh and test.sh: where the heavy, shared installs live.
# They sit outside the checkout so a fresh clone reuses them.
# Sourced under `set -euo pipefail`: every line must succeed on a bare
# machine too (no cache, no venv yet): no pipelines that can fail, no `ls`
# of paths that may not exist (tests/setup_guard.sh checks this).
export STYLIZE_CACHE="${STYLIZE_CACHE:-$HOME/.cache/stylize}"
export STYLIZE_VENV="$STYLIZE_CACHE/venv"
export STYLIZE_MODELS="${STYLIZE_MODELS:-$STYLIZE_CACHE/models}"
STYLIZE_PY_SITE="$STYLIZE_VENV/lib/python3.11/site-packages"
for _site in "$STYLIZE_VENV"/lib/python3*/site-packages; do
  # An unmatched glob stays literal: the default above is kept then.
  if [ -d "$_site" ]; then STYLIZE_PY_SITE="$_site"; break; fi
done
unset _site
# tch builds against the libtorch inside the pinned PyPI torch wheel.
export LIBTORCH="$STYLIZE_PY_SITE/torch"
export LIBTORCH_BYPASS_VERSION_CHECK=1
# Test binaries of the library crates have no rpath to libtorch (only the
# `stylize` binary gets one, from build.rs).
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Every model file the tests and the CLI need; setup rebuilds the models
# when any one is missing, test.sh refuses to start without all of them.
# shellcheck disable=SC2034 # read by setup.sh and test.sh
STYLIZE_MODEL_FILES=(multistyle26.pt multistyle26.json vgg19_features.pt
  arbitrary_predict.pt arbitrary_transform.pt arbitrary.json
  test/invert255.pt test/half_size.pt test/identity.pt)
