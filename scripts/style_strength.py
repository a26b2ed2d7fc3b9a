"""How much of a picture's structure each built-in style keeps.

For each photo and style: the correlation of the input's and the output's
edge maps (gradient magnitude of luma, averaged over 4x4 blocks so that a
style's brush texture does not count as structure). Averaged over the
photos, printed from most kept to least. `models/src/catalog.rs` keeps the
figures (`CONTENT_KEPT`) and calls a style strong below 0.25.

    python scripts/style_strength.py MODELS/multistyle26.pt photo1.png photo2.png ...

Photos about 480 px wide; run with the venv scripts/setup.sh makes.
"""

import sys

import numpy as np
import torch
from PIL import Image

NUM_STYLES = 26


def gray(a):
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def edges(g):
    gx = np.zeros_like(g)
    gy = np.zeros_like(g)
    gx[:, 1:-1] = g[:, 2:] - g[:, :-2]
    gy[1:-1, :] = g[2:, :] - g[:-2, :]
    return np.hypot(gx, gy)


def blocks(g, k=4):
    h, w = g.shape[0] // k * k, g.shape[1] // k * k
    return g[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    torch.set_num_threads(2)
    model = torch.jit.load(sys.argv[1]).eval()
    photos = sys.argv[2:]
    kept = np.zeros(NUM_STYLES)
    for path in photos:
        a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
        x = torch.from_numpy(a).permute(2, 0, 1)[None]
        e_in = blocks(edges(gray(a))).ravel()
        for s in range(NUM_STYLES):
            style = torch.zeros(NUM_STYLES)
            style[s] = 1
            with torch.no_grad():
                y = model(x, style)[0].permute(1, 2, 0).clamp(0, 1).numpy()
            e_out = blocks(edges(gray(y))).ravel()
            kept[s] += np.corrcoef(e_in, e_out)[0, 1] / len(photos)
    for i in np.argsort(-kept):
        print(f"{i:2d} {kept[i]:.3f}")


if __name__ == "__main__":
    main()
