#!/usr/bin/env bash
# Build .gpu/ (ignored by git): what scripts/gpu-check.sh needs on a GPU
# machine lent through the device tool, which has Python 3.12 with
# torch 2.11.0+cu130, no Rust, no FFmpeg and no network, and takes a
# working tree of 64 MiB at most. In it:
#   bundle.tar.xz  the stylize binary and the CUDA test binary, built here
#                  against the libtorch of that torch (its pip wheel's
#                  headers and libraries; on the machine they load its own
#                  torch's, CUDA included); ffmpeg and ffprobe; the
#                  FFmpeg, x264 and MPI libraries they load, stand-ins
#                  (scripts/gpu/stub_lib.py) for the codec, filter and
#                  protocol libraries Debian's FFmpeg links but stylize
#                  never uses (their functions return 0); the models; a
#                  640x360 and a 1920x1080 clip.
# Then it proves the bundle complete: it runs from a clean root holding
# only the bundle, the C and C++ runtimes, and that torch's libraries
# (chroot), a CPU job included.
#
#   scripts/gpu-bundle.sh            (about 10 minutes on 2 cores)
#
# `--dry-run DIR` lays the same bundle out unpacked in DIR/bundle from this
# machine's own builds (STYLIZE_DRY_STYLIZE, default target/release/stylize;
# STYLIZE_DRY_CUDA_TESTS, default the newest target/release/deps/cuda-*),
# with short clips and without torch 2.11, stand-ins, RPATHs, the clean
# root or the archive: seconds, for tests/gpu_check.rs, which then runs
# scripts/gpu-check.sh on it on the CPU. It catches what a refactor breaks
# in the recipe (a file, a test target, a flag renamed), not a tch 0.24
# build error.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
log() { echo "gpu-bundle: $*" >&2; }
DRY=""
if [ "${1:-}" = --dry-run ]; then
  DRY="${2:?--dry-run DIR}"
fi
V="${STYLIZE_GPU_TORCH:-2.11.0}"
T="$STYLIZE_CACHE/gpu/torch-$V"
OUT=.gpu
work="$(mktemp -d)"
B="$work/bundle"
[ -z "$DRY" ] || B="$DRY/bundle"

# The models and the clips: the same in the bundle and in a dry run.
models_and_clips() {
  local frames360=240 frames1080=120
  [ -z "$DRY" ] || { frames360=16; frames1080=6; }
  mkdir -p "$B/models/test" "$B/clips"
  cp "$STYLIZE_MODELS"/multistyle26.{pt,json} "$B/models/"
  cp "$STYLIZE_MODELS"/test/*.pt "$B/models/test/"
  # The clips: no ffmpeg CLI runs there before the bundle is unpacked.
  ffmpeg -v error -y -f lavfi -i testsrc2=s=640x360:r=25 -f lavfi -i sine=f=440:r=48000 -frames:v "$frames360" \
    -shortest -c:v libx264 -preset veryfast -g 48 -c:a aac "$B/clips/640x360.mp4"
  ffmpeg -v error -y -f lavfi -i testsrc2=s=1920x1080:r=25 -frames:v "$frames1080" -c:v libx264 -preset veryfast \
    -g 48 "$B/clips/1920x1080.mp4"
}

if [ -n "$DRY" ]; then
  stylize="${STYLIZE_DRY_STYLIZE:-target/release/stylize}"
  cuda_test="${STYLIZE_DRY_CUDA_TESTS:-}"
  if [ -z "$cuda_test" ]; then
    # The newest build of the CUDA tests.
    for f in target/release/deps/cuda-*; do
      [[ "$f" != *.d && -x "$f" ]] || continue
      if [ -z "$cuda_test" ] || [ "$f" -nt "$cuda_test" ]; then cuda_test="$f"; fi
    done
  fi
  [ -x "$stylize" ] || { log "error: no stylize build at $stylize (cargo build --release)"; exit 1; }
  [ -x "$cuda_test" ] || { log "error: no CUDA test build (cargo test --release -p stylize-models --test cuda)"; exit 1; }
  rm -rf "$B"
  mkdir -p "$B"
  cp "$stylize" "$B/stylize"
  cp "$cuda_test" "$B/cuda-tests"
  cp /usr/bin/ffmpeg /usr/bin/ffprobe "$B/"
  models_and_clips
  rm -rf "$work"
  log "dry run: $B"
  exit 0
fi

# 1. The device's torch, for its headers and libraries.
if [ ! -f "$T/torch/version.py" ]; then
  log "torch $V from PyPI (headers and libraries only)"
  mkdir -p "$T/wheel"
  "$STYLIZE_VENV/bin/pip" download -q --no-deps "torch==$V" -d "$T/wheel"
  unzip -q -o "$T"/wheel/torch-*.whl 'torch/include/*' 'torch/lib/*' 'torch/share/*' 'torch/version.py' -d "$T"
  rm -rf "$T/wheel"
fi

# 2. stylize and the CUDA tests against it, from a copy of this tree whose
# tch is the release made for that torch (tch's C++ shim names every
# libtorch op of its own release: 0.26's has ops 2.11 lacks). Linked
# without libtorch_cuda (step 3 adds it as a needed library).
TCH="${STYLIZE_GPU_TCH:-0.24.0}"
# A fixed place, files with their own times: a second run rebuilds only
# what changed.
src="$PWD/target/gpu-src"
mkdir -p "$src"
git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$src"
sed -i "s/^tch = .*/tch = \"=$TCH\"/" "$src/Cargo.toml"
touch -r Cargo.toml "$src/Cargo.toml"
log "building against torch $V with tch $TCH (target/gpu)"
export LIBTORCH="$T/torch" LIBTORCH_BYPASS_VERSION_CHECK=1 STYLIZE_CUDA=0
export LD_LIBRARY_PATH="$T/torch/lib" CARGO_TARGET_DIR="$PWD/target/gpu"
(cd "$src" && cargo build -q --release --bin stylize)
cuda_test="$(cd "$src" && cargo test -q --release -p stylize-models --test cuda --no-run \
  --message-format=json | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m.get("target", {}).get("name") == "cuda": print(m["executable"])')"

# 3. The files, and the libraries they load that the machine lacks.
mkdir -p "$B/lib"
cp "$CARGO_TARGET_DIR/release/stylize" "$B/"
cp "$cuda_test" "$B/cuda-tests"
cp /usr/bin/ffmpeg /usr/bin/ffprobe "$B/"
strip "$B/stylize" "$B/cuda-tests"
# They find the bundle's libraries by their own RPATH (an old-style one,
# which also serves the libraries they load), not by LD_LIBRARY_PATH: the
# Python the bench starts there (the reference way) must not load them.
command -v patchelf >/dev/null || apt-get install -y -q patchelf >/dev/null
for bin in stylize cuda-tests ffmpeg ffprobe; do
  # shellcheck disable=SC2016 # $ORIGIN is for the loader, not the shell
  patchelf --force-rpath --set-rpath '$ORIGIN/lib' "$B/$bin"
done
models_and_clips
# Carried for real: FFmpeg's own libraries, x264, MPI and what they need
# to start, and the libraries whose demuxers every probe asks (game music,
# tracker modules); everything else Debian's FFmpeg links becomes a
# stand-in. The bundle is for the GPU check's H.264 clips, not to ship:
# an AV1 input, say, would reach libdav1d's stand-in.
real='^lib(av|sw|postproc|x264|mpi|open-(rte|pal)|hwloc|event|z\.|bz2|lzma|udev|zstd|numa|ltdl|m\.|gomp'
real+='|gme|openmpt|mpg123|vorbis|ogg)'
system='^(libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|ld-linux|libstdc\+\+|libgcc_s|libtorch|libc10|libcudart|libcupti|libnvrtc|libcuda)'
for bin in "$B/stylize" "$B/cuda-tests" "$B/ffmpeg" "$B/ffprobe"; do
  ldd "$bin" | awk '/=> \// {print $1, $3}'
done | sort -u | while read -r name path; do
  if [[ "$name" =~ $system ]]; then continue; fi
  if [[ "$name" =~ $real ]]; then
    cp -L "$path" "$B/lib/$name"
  else
    python3 scripts/gpu/stub_lib.py "$path" "$B/lib" >/dev/null
  fi
done
# CUDA: libtorch_cuda (the machine's, found beside libtorch_cpu) is made
# a needed library of stylize and the CUDA tests, so its start-up
# registers CUDA with libtorch; nothing else (ffmpeg, the Python the bench
# starts) loads it.
patchelf --add-needed libtorch_cuda.so "$B/stylize"
patchelf --add-needed libtorch_cuda.so "$B/cuda-tests"
# A library with a RUNPATH of its own (libmpi's) ignores the program's
# RPATH for what it loads: each one looks beside itself.
for lib in "$B"/lib/*; do
  # shellcheck disable=SC2016
  patchelf --force-rpath --set-rpath '$ORIGIN' "$lib"
done

# 4. Proof: a clean root with the bundle, the C/C++ runtimes and torch.
root="$(mktemp -d)"
cleanup() {
  umount "$root/dev" "$root/proc" "$root/nvidia" 2>/dev/null || true
  rm -rf --one-file-system "$root" "$work"
}
trap cleanup EXIT
mkdir -p "$root/lib64" "$root/lib/x86_64-linux-gnu" "$root/torch" "$root/tmp" "$root/dev" "$root/proc"
for l in ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1 \
  libstdc++.so.6 libgcc_s.so.1; do
  cp -L "/lib/x86_64-linux-gnu/$l" "$root/lib/x86_64-linux-gnu/"
done
ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
cp -a "$B" "$root/bundle"
cp -a "$T/torch/lib" "$root/torch/lib"
# libtorch's CUDA libraries come from NVIDIA's wheels, beside torch
# (../../nvidia from its lib): setup's venv has them (torch+cu130).
nvidia="$(echo "$STYLIZE_VENV"/lib/python3*/site-packages/nvidia)"
[ -d "$nvidia/cu13/lib" ] || { log "error: no CUDA 13 libraries in $nvidia (setup's venv has torch+cu130)"; exit 1; }
mkdir -p "$root/nvidia"
mount --bind -o ro "$nvidia" "$root/nvidia"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
inside() {
  /usr/sbin/chroot "$root" /usr/bin/env -i PATH=/bundle LD_LIBRARY_PATH=/torch/lib \
    STYLIZE_MODELS=/bundle/models HOME=/tmp TMPDIR=/tmp "$@"
}
mkdir -p "$root/usr/bin"
cp /usr/bin/env "$root/usr/bin/env"
inside /bundle/stylize --version
inside /bundle/stylize submit /bundle/clips/640x360.mp4 -o /tmp/out/ --model /bundle/models/test/identity.pt -q
inside /bundle/stylize submit /bundle/clips/640x360.mp4 -o /tmp/out/ --style mosaic --device cpu -q
styled="$(cd "$root/tmp/out" && ls 640x360.mosaic.*.mp4)"
frames="$(inside /bundle/ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "/tmp/out/$styled")"
[ "${frames%%[^0-9]*}" = 240 ] || { log "error: the mosaic job in the clean root gave '$frames' frames, not 240"; exit 1; }
log "the bundle ran from a clean root: version, an identity job, a mosaic job"

# 5. Packed, within the device tool's limit.
mkdir -p "$OUT"
tar -C "$(dirname "$B")" -cJf "$OUT/bundle.tar.xz" bundle
size=$(stat -c %s "$OUT/bundle.tar.xz")
log "$OUT/bundle.tar.xz: $((size / 1048576)) MiB"
if [ "$size" -gt $((60 * 1048576)) ]; then
  log "error: over 60 MiB: the device tool carries 64 MiB with the tree"
  exit 1
fi
