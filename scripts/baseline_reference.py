#!/usr/bin/env python3
"""Rebuild of the reference design that stylize replaces, timed as a benchmark baseline.

The reference stylized a video in three separate steps, and this script repeats
them on purpose, warts included, so the benchmark harness can compare stylize's
throughput against it on the same clip, model and device:

  1. split:   the ffmpeg CLI writes every frame as a JPEG file (-q:v 2) and
              re-encodes the audio to AAC into a side file;
  2. model:   a Python loop, one frame at a time: PIL open, to tensor, forward
              through the TorchScript model, to PIL, save as JPEG (quality 95);
  3. stitch:  the ffmpeg CLI re-encodes the JPEGs at a hard-coded 30 fps with
              libx264 and muxes the audio back (re-encoding it again).

Usage:
    python scripts/baseline_reference.py INPUT.mp4 OUTPUT.mp4 \\
        [--style-index 17] [--model PATH [--range 0-1|0-255]] \\
        [--device cpu|cuda] [--threads N] [--json]

Without --model the built-in 26-style model (~/.cache/stylize/models/
multistyle26.pt) runs with a one-hot style vector (17 = mosaic). A model given
with --model is called with the image only, unless its forward() takes a second
argument, in which case it is treated like the built-in one. --json prints one
JSON object on stdout; errors are one line on stderr and exit status 1.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image

DEFAULT_MODEL = pathlib.Path.home() / ".cache/stylize/models/multistyle26.pt"
NUM_STYLES = 26
# The reference stitched at a hard-coded 30 fps whatever the source rate was.
# This is a bug (a 25 fps clip comes out sped up), kept deliberately: the
# baseline must do the work the reference did, not what it should have done.
REFERENCE_FPS = 30


class Fail(Exception):
    pass


def run_ffmpeg(args):
    """Run ffmpeg/ffprobe with an argument list (never a shell); return stdout."""
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise Fail(f"{args[0]} failed: {lines[-1]}")
    return proc.stdout


def has_audio(path):
    out = run_ffmpeg(["ffprobe", "-v", "error", "-select_streams", "a",
                      "-show_entries", "stream=index", "-of", "csv=p=0", str(path)])
    return bool(out.strip())


def split(src, frames_dir, audio_path):
    run_ffmpeg(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
                "-q:v", "2", str(frames_dir / "%06d.jpg")])
    if has_audio(src):
        run_ffmpeg(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
                    "-vn", "-c:a", "aac", str(audio_path)])
        return audio_path
    return None


def load_model(path, style_index, device):
    try:
        model = torch.jit.load(str(path), map_location=device).eval()
    except Exception as e:  # torch raises many types here; report one line
        raise Fail(f"cannot load model {path}: {str(e).splitlines()[0]}")
    # forward(self, image, style_weights) -> multi-style; forward(self, image) -> single.
    if len(model.forward.schema.arguments) == 3:
        if not 0 <= style_index < NUM_STYLES:
            raise Fail(f"--style-index must be in 0..{NUM_STYLES - 1}")
        weights = torch.zeros(NUM_STYLES, device=device)
        weights[style_index] = 1.0
        return lambda x: model(x, weights)
    return model


def stylize_frame(model, src, dst, device, scale):
    img = Image.open(src).convert("RGB")
    x = TF.to_tensor(img).unsqueeze(0).to(device)  # 1x3xHxW, 0-1
    h, w = x.shape[2:]
    # The network needs H and W to be multiples of 4: reflect-pad, crop after.
    ph, pw = -h % 4, -w % 4
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    y = model(x * scale) / scale
    # Crop back, scaled in case the model changes the resolution.
    oh = y.shape[2] * h // (h + ph)
    ow = y.shape[3] * w // (w + pw)
    y = y[0, :, :oh, :ow].clamp(0, 1).cpu()
    TF.to_pil_image(y).save(dst, quality=95)


def stitch(frames_dir, audio, dst):
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
           "-framerate", str(REFERENCE_FPS), "-i", str(frames_dir / "%06d.jpg")]
    if audio is not None:
        cmd += ["-i", str(audio)]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
    if audio is not None:
        cmd += ["-c:a", "aac"]  # the reference re-encoded the audio a second time
    run_ffmpeg(cmd + [str(dst)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", type=pathlib.Path)
    ap.add_argument("output", type=pathlib.Path)
    ap.add_argument("--style-index", type=int, default=17, help="style for the 26-style model (17 = mosaic)")
    ap.add_argument("--model", type=pathlib.Path, default=DEFAULT_MODEL, help="TorchScript model file")
    ap.add_argument("--range", choices=["0-1", "0-255"], default="0-1", help="pixel range the model expects")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads(N)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args()

    if not args.input.is_file():
        raise Fail(f"no such input file: {args.input}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise Fail("--device cuda given but torch sees no CUDA device")
    if args.threads is not None:
        if args.threads < 1:
            raise Fail("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    scale = 255.0 if args.range == "0-255" else 1.0

    # Loading the model is setup, not per-video work: timed but kept out of total.
    t = time.perf_counter()
    model = load_model(args.model, args.style_index, device)
    load_secs = time.perf_counter() - t

    # TemporaryDirectory removes everything on exit, on errors too.
    with tempfile.TemporaryDirectory(prefix="stylize-ref-") as tmp:
        tmp = pathlib.Path(tmp)
        in_dir, out_dir = tmp / "in", tmp / "out"
        in_dir.mkdir()
        out_dir.mkdir()

        t0 = time.perf_counter()
        audio = split(args.input, in_dir, tmp / "audio.m4a")
        t1 = time.perf_counter()

        frames = sorted(in_dir.glob("*.jpg"))
        if not frames:
            raise Fail(f"ffmpeg extracted no frames from {args.input}")
        with Image.open(frames[0]) as first:
            size = "%dx%d" % first.size
        with torch.no_grad():
            for f in frames:
                stylize_frame(model, f, out_dir / f.name, device, scale)
        t2 = time.perf_counter()

        stitch(out_dir, audio, args.output)
        t3 = time.perf_counter()

    total = t3 - t0
    result = {
        "method": "reference",
        "frames": len(frames),
        "total_secs": round(total, 4),
        "fps": round(len(frames) / total, 3),
        "phases": {
            "split_secs": round(t1 - t0, 4),
            "model_secs": round(t2 - t1, 4),
            "stitch_secs": round(t3 - t2, 4),
        },
        "load_secs": round(load_secs, 4),
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "size": size,
    }
    if args.json:
        print(json.dumps(result))
    else:
        p = result["phases"]
        print(f"reference: {len(frames)} frames {size} on {args.device} "
              f"({result['threads']} threads) in {total:.2f}s = {result['fps']:.2f} fps")
        print(f"  split {p['split_secs']:.2f}s, model {p['model_secs']:.2f}s "
              f"({len(frames) / max(t2 - t1, 1e-9):.2f} fps), stitch {p['stitch_secs']:.2f}s; "
              f"model load {load_secs:.2f}s (not in total)")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"baseline_reference: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(1)
    except Exception as e:  # e.g. a model forward error: still one line, exit 1
        msg = (str(e).strip().splitlines() or [""])[0]
        print(f"baseline_reference: {type(e).__name__}: {msg}", file=sys.stderr)
        sys.exit(1)
