#!/usr/bin/env bash
# MPI scaling on one machine: the same job on 1 rank and on 2 ranks, each
# rank with one model thread, and the bytes that crossed MPI per frame
# (compressed segments both ways) against raw RGB frames.
#   benches/mpi_scaling.sh [SIZE] [FRAMES]      (default 640x360 48)
# Writes bench-out/mpi_scaling.json and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SIZE="${1:-640x360}"; FRAMES="${2:-48}"
BIN="$PWD/target/release/stylize"
OUT="$PWD/bench-out"; mkdir -p "$OUT"
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ffmpeg -v error -f lavfi -i "testsrc2=s=${SIZE}:r=25" -f lavfi -i sine=f=440 -frames:v "$FRAMES" -shortest \
  -c:v libx264 -preset veryfast -g 12 -c:a aac "$WORK/clip.mp4"
for n in 1 2; do
  mpirun --oversubscribe -n "$n" "$BIN" submit "$WORK/clip.mp4" -o "$WORK/n$n" --threads 1 --shard-frames 12 --json > "$WORK/n$n.json"
done
python3 - "$WORK" "$OUT/mpi_scaling.json" "$SIZE" "$FRAMES" <<'PY'
import json, sys, datetime
work, out, size, frames = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
r = {n: json.load(open(f"{work}/n{n}.json")) for n in (1, 2)}
fps = {n: r[n]["video"]["frames"] / r[n]["wall_secs"] for n in r}
res = {
    "date": datetime.date.today().isoformat(), "size": size, "frames": frames,
    "fps_1_rank": fps[1], "fps_2_ranks": fps[2], "scaling": fps[2] / fps[1],
    "mpi_bytes_per_frame": r[2]["transfer"]["bytes_per_frame"],
    "raw_bytes_per_frame": r[2]["transfer"]["raw_bytes_per_frame"],
}
json.dump(res, open(out, "w"), indent=2)
print(f"{'ranks':<8}{'frames/s':>10}")
print(f"{1:<8}{fps[1]:>10.2f}\n{2:<8}{fps[2]:>10.2f}")
print(f"scaling {res['scaling']:.2f}x; MPI bytes/frame {res['mpi_bytes_per_frame']:.0f} "
      f"(raw RGB there and back: {res['raw_bytes_per_frame']}, {res['raw_bytes_per_frame']/max(res['mpi_bytes_per_frame'],1):.0f}x more)")
PY
