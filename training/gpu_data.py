"""Training batches made on the training device itself (v3): every photo decoded once and kept
there as uint8, random crops cut by one grid_sample call, scan-like degradations and user
hints drawn as whole-batch tensor operations. On a GPU this keeps the network fed without
Python loops per sample; on a CPU it works too (smoke tests), only slower.

Photos come from a folder or from a tar of JPEGs (the repack carried to a lent GPU machine).
"""
import io
import math
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorspace import torch_rgb_to_lab
from data import EXTS


def _decode(data, max_side):
    im = Image.open(io.BytesIO(data)).convert('RGB')
    if max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BICUBIC)
    return np.asarray(im)


def read_photos(source, limit=0, max_side=384, threads=8):
    """source: a folder of photos or a .tar of them. Returns a list of (h, w, 3) uint8 arrays."""
    if os.path.isfile(source) and source.endswith('.tar'):
        with tarfile.open(source) as tar:
            members = sorted((m for m in tar.getmembers() if m.name.lower().endswith(EXTS)), key=lambda m: m.name)
            blobs = [tar.extractfile(m).read() for m in (members[:limit] if limit else members)]
    elif os.path.isdir(source):
        names = sorted(f for f in os.listdir(source) if f.lower().endswith(EXTS))
        blobs = [open(os.path.join(source, f), 'rb').read() for f in (names[:limit] if limit else names)]
    else:
        raise SystemExit(f"photo source {source!r} not found (a folder, or a .tar of photos)")
    if not blobs:
        raise SystemExit(f"no photos in {source!r}")
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda b: _decode(b, max_side), blobs))


class DeviceCropSampler:
    """Random square crops of `size` px covering 50-100 % of a photo's short side, flipped half
    the time, as (N,3,size,size) sRGB 0..1 on `device`."""

    def __init__(self, photos, size, device, seed=0):
        self.size, self.device = size, device
        hmax = max(p.shape[0] for p in photos)
        wmax = max(p.shape[1] for p in photos)
        self.store = torch.zeros(len(photos), 3, hmax, wmax, dtype=torch.uint8)
        for i, p in enumerate(photos):
            self.store[i, :, :p.shape[0], :p.shape[1]] = torch.from_numpy(p.copy()).permute(2, 0, 1)
        self.store = self.store.to(device)
        self.hw = torch.tensor([p.shape[:2] for p in photos], dtype=torch.float32, device=device)
        self.gen = torch.Generator(device=device).manual_seed(seed)

    def rand(self, *shape):
        return torch.rand(*shape, generator=self.gen, device=self.device)

    def batch(self, n):
        idx = torch.randint(len(self.store), (n,), generator=self.gen, device=self.device)
        h, w = self.hw[idx, 0], self.hw[idx, 1]
        short = torch.minimum(h, w)
        side = torch.maximum(short * (0.5 + 0.5 * self.rand(n)), torch.clamp(short, max=float(self.size)))
        y0, x0 = (h - side) * self.rand(n), (w - side) * self.rand(n)
        hm, wm = self.store.shape[2], self.store.shape[3]
        flip = torch.where(self.rand(n) < 0.5, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3, device=self.device)
        theta[:, 0, 0] = flip * side / wm
        theta[:, 0, 2] = 2 * (x0 + side / 2) / wm - 1
        theta[:, 1, 1] = side / hm
        theta[:, 1, 2] = 2 * (y0 + side / 2) / hm - 1
        grid = F.affine_grid(theta, (n, 3, self.size, self.size), align_corners=False)
        src = self.store[idx].float() / 255.0
        # Shrinking by up to 1.7x with bilinear taps aliases fine detail: a 2x2 box first where
        # the crop is much larger than the output.
        if float(side.min()) > 1.5 * self.size:
            src = F.avg_pool2d(src, 2)
        return F.grid_sample(src, grid, mode='bilinear', padding_mode='border', align_corners=False).clamp(0, 1)


def _gauss_kernels(sigma, k=7):
    """(N,) sigmas -> (N,1,k,k) normalized Gaussian kernels (sigma 0: identity)."""
    r = torch.arange(k, device=sigma.device, dtype=torch.float32) - k // 2
    g = torch.exp(-r[None] ** 2 / (2 * sigma.clamp(min=1e-3)[:, None] ** 2))
    g = g / g.sum(1, keepdim=True)
    return (g[:, :, None] * g[:, None, :])[:, None]


def degrade(l, gen, p=0.6):
    """Make clean L (N,1,H,W, 0..1) look like a scanned old print on about `p` of the samples:
    faded levels, gamma, blur, film grain, vignetting, dust and scratches, halftone. Only the
    network's input is degraded; the color truth stays the clean photo's."""
    n, _, h, w = l.shape
    dev = l.device
    rnd = lambda *s: torch.rand(*s, generator=gen, device=dev)
    on = (rnd(n) < p).float().view(n, 1, 1, 1)
    some = lambda q: ((rnd(n) < q).float().view(n, 1, 1, 1) * on)
    x = l
    # Faded print: the tonal range squeezed toward the middle.
    lo, hi = 0.25 * rnd(n).view(n, 1, 1, 1), 1 - 0.25 * rnd(n).view(n, 1, 1, 1)
    m = some(0.5)
    x = m * (lo + (hi - lo) * x) + (1 - m) * x
    # Gamma.
    g = torch.exp((rnd(n) - 0.5) * 0.6).view(n, 1, 1, 1)
    m = some(0.5)
    x = m * x.clamp(1e-4, 1) ** g + (1 - m) * x
    # Blur (soft focus, a scan of a small print): per-sample kernels as one grouped conv.
    sigma = 0.3 + 1.2 * rnd(n)
    blurred = F.conv2d(F.pad(x, (3, 3, 3, 3), mode='replicate').view(1, n, h + 6, w + 6), _gauss_kernels(sigma), groups=n).view(n, 1, h, w)
    m = some(0.5)
    x = m * blurred + (1 - m) * x
    # Film grain, fine or clumped.
    noise = torch.randn(n, 1, h, w, generator=gen, device=dev)
    clumped = F.avg_pool2d(noise, 3, 1, 1) * 1.5
    noise = torch.where(rnd(n).view(n, 1, 1, 1) < 0.5, noise, clumped)
    x = x + some(0.6) * 0.035 * rnd(n).view(n, 1, 1, 1) * noise
    # Vignetting.
    yy = torch.linspace(-1, 1, h, device=dev).view(1, 1, h, 1)
    xx = torch.linspace(-1, 1, w, device=dev).view(1, 1, 1, w)
    x = x * (1 - some(0.3) * 0.35 * rnd(n).view(n, 1, 1, 1) * (yy ** 2 + xx ** 2) / 2)
    # Dust (bright or dark specks) and vertical scratches.
    specks = F.max_pool2d((rnd(n, 1, h, w) < 0.0004).float(), 3, 1, 1)
    sign = torch.where(rnd(n).view(n, 1, 1, 1) < 0.5, 1.0, -1.0)
    x = x + some(0.25) * specks * sign * 0.6
    col = (torch.arange(w, device=dev).view(1, 1, 1, w) == (rnd(n) * w).long().view(n, 1, 1, 1)).float()
    x = x + some(0.15) * col * sign * 0.4
    # Halftone screen (a printed photo scanned): a faint diagonal cosine pattern.
    period = 3 + 3 * rnd(n).view(n, 1, 1, 1)
    screen = torch.cos(2 * math.pi * (yy * h / 2 + xx * w / 2) / period)
    x = x + some(0.1) * 0.05 * screen
    return x.clamp(0, 1)


def random_hints(ab, gen, share=0.5, mean_points=8, max_patch=4, max_points=40):
    """User-hint channels (Zhang et al. 2017) for a whole batch at once: on `share` of the samples
    a geometric number (mean `mean_points`) of square patches of 1..max_patch px, each carrying
    the true mean ab of its patch. ab: (N,2,H,W) Lab units. Returns (N,3,H,W): a/110, b/110, mask."""
    n, _, h, w = ab.shape
    dev = ab.device
    rnd = lambda *s: torch.rand(*s, generator=gen, device=dev)
    hinted = rnd(n) < share
    # Geometric count, at least 1: P(k) = (1-q)^(k-1) q with q = 1/mean_points.
    q = 1.0 / mean_points
    k = (torch.floor(torch.log(rnd(n).clamp(min=1e-9)) / math.log(1 - q)) + 1).clamp(max=max_points)
    k = torch.where(hinted, k, torch.zeros_like(k))
    valid = torch.arange(max_points, device=dev)[None] < k[:, None]
    ys = (rnd(n, max_points) * h).long().clamp(max=h - 1)
    xs = (rnd(n, max_points) * w).long().clamp(max=w - 1)
    points = torch.zeros(n, h * w, device=dev)
    points.scatter_(1, ys * w + xs, valid.float())
    points = points.view(n, 1, h, w).clamp(max=1)
    patch = torch.randint(1, max_patch + 1, (n,), generator=gen, device=dev)
    mask = torch.zeros(n, 1, h, w, device=dev)
    value = torch.zeros(n, 2, h, w, device=dev)
    for p in range(1, max_patch + 1):
        sel = (patch == p).view(n, 1, 1, 1).float()
        # A patch's top-left corner is its point: mean ab over [y, y+p) x [x, x+p).
        mean_ab = F.avg_pool2d(F.pad(ab, (0, p - 1, 0, p - 1), mode='replicate'), p, 1)
        spread = lambda t: F.avg_pool2d(F.pad(t, (p - 1, 0, p - 1, 0)), p, 1) * p * p
        count = spread(points)
        m = (count > 0).float()
        mask = mask + sel * m
        value = value + sel * spread(points * mean_ab) / count.clamp(min=1)
    return torch.cat([value / 110.0 * mask, mask], 1)


def to_lab_batch(rgb):
    """(N,3,H,W) sRGB 0..1 -> L/100 (N,1,H,W) and ab (N,2,H,W) in Lab units."""
    lab = torch_rgb_to_lab(rgb)
    return lab[:, :1] / 100.0, lab[:, 1:]
