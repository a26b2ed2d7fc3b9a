#!/usr/bin/env bash
# The GPU check, in one shot on a machine lent through the device tool
# (one H200, torch 2.11.0+cu130 in its python3, no Rust, no FFmpeg, no
# network), from the repository root, with the bundle that
# scripts/gpu-bundle.sh built here carried along:
#
#   device run: command "bash scripts/gpu-check.sh", carry [".gpu"], timeout_s 540
#
# In about 8 minutes: the CUDA tests, then `stylize bench` on the GPU at
# 640x360 and 1920x1080 (the model alone in fp32, fp16 and bf16 at batches
# 1, 4 and 8 on channels-last input; the engine end to end in each
# precision and as `submit` runs it; the reference way; the pipeline
# ceiling). Everything it prints and writes lands in $OUT (bench JSON and
# charts, logs), for the README's GPU figures.
set -uo pipefail
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT" /tmp/gpu
started=$(date +%s)
say() { echo "gpu-check [$(($(date +%s) - started)) s]: $*" | tee -a "$OUT/check.log"; }

# STYLIZE_GPU_BUNDLE: an unpacked bundle instead (`gpu-bundle.sh --dry-run`).
B="${STYLIZE_GPU_BUNDLE:-/tmp/gpu/bundle}"
if [ -z "${STYLIZE_GPU_BUNDLE:-}" ]; then
  tar -C /tmp/gpu -xJf .gpu/bundle.tar.xz || { say "no bundle: run scripts/gpu-bundle.sh first"; exit 1; }
fi
torch_lib="${STYLIZE_GPU_CHECK_TORCH_LIB:-$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')}"
gpus="$(python3 -c 'import torch; print(torch.cuda.device_count())' 2>&1)"
# The bundle's programs find its libraries by their RPATH, and libtorch
# (libtorch_cuda included, whose start-up registers CUDA) here.
export LD_LIBRARY_PATH="$torch_lib"
export PATH="$B:$PATH" STYLIZE_MODELS="$B/models"
STYLIZE_VENV="$(dirname "$(dirname "$(command -v python3)")")"
export STYLIZE_VENV
export STYLIZE_REFERENCE_SCRIPT="$PWD/scripts/baseline_reference.py" STYLIZE_CACHE="${STYLIZE_GPU_CHECK_CACHE:-/tmp/gpu/cache}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee -a "$OUT/check.log"
stylize --version 2>&1 | tee -a "$OUT/check.log"
# If libtorch_cuda's start-up did not register CUDA, stylize sees no GPU
# where torch does: said plainly, the figures would be the CPU's.
say "GPUs seen by torch: $gpus"
# A dry run here: STYLIZE_GPU_CHECK_DEVICES=cpu STYLIZE_GPU_CHECK_QUICK=1
# (tests/gpu_check.rs).
devices="${STYLIZE_GPU_CHECK_DEVICES:-cuda}"
quick="${STYLIZE_GPU_CHECK_QUICK:+--quick}"

say "CUDA tests"
CI=true STYLIZE_REQUIRE_CUDA="$([ "$devices" = cpu ] && echo 0 || echo 1)" timeout 60 "$B/cuda-tests" --test-threads 1 2>&1 | tee "$OUT/cuda-tests.log"
tests=${PIPESTATUS[0]}
say "CUDA tests: exit $tests"

# 1080p: two rounds and no reference way (JPEG files of 1080p frames
# would take the rest of the lease).
for run in "640x360 200 --repeats 3" "1920x1080 220 --repeats 2 --no-reference"; do
  read -r size limit opts <<<"$run"
  say "bench $size"
  # shellcheck disable=SC2086
  timeout "$limit" stylize bench --clip "$B/clips/$size.mp4" --devices "$devices" $quick $opts -o "$OUT/bench-$size" \
    2>&1 | tee "$OUT/bench-$size.log"
  say "bench $size: exit ${PIPESTATUS[0]}"
done
for size in 640x360 1920x1080; do
  for f in bench.json bench.png; do
    [ -f "$OUT/bench-$size/$f" ] && mv "$OUT/bench-$size/$f" "$OUT/$size-$f"
  done
  rm -rf "$OUT/bench-$size"
done
say "done"
exit "$tests"
