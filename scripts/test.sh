#!/usr/bin/env bash
# Run every test: unit tests, end-to-end CLI tests on clips the tests make
# themselves with FFmpeg. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
if [ ! -f "$STYLIZE_MODELS/multistyle26.pt" ]; then
  echo "test: models missing in $STYLIZE_MODELS: run scripts/setup.sh first" >&2
  exit 2
fi
cargo test --release --workspace "$@"
