"""Photo folders -> training batches (L, hints, ab truth) with random crops, flips and scales."""
import os
import random

import numpy as np
import torch
from PIL import Image

from colorspace import torch_rgb_to_lab

EXTS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff')


def list_images(folder):
    if not os.path.isdir(folder):
        raise SystemExit(f"photo folder {folder!r} not found (the shared data lives in ../shared/data)")
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(EXTS))
    if not files:
        raise SystemExit(f"no images in {folder!r}")
    return files


def load_rgb(path, max_side=None):
    im = Image.open(path).convert('RGB')
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BICUBIC)
    return im


class CropSampler:
    """Keeps every photo decoded in memory (3,323 photos of <= 384 px: about 1 GB) and cuts
    random square crops of `size` px covering 50-100 % of the short side, flipped half the time."""

    def __init__(self, files, size, max_side=384, seed=0):
        self.images = [np.asarray(load_rgb(f, max_side)) for f in files]
        self.size = size
        self.rng = random.Random(seed)

    def crop(self):
        img = self.images[self.rng.randrange(len(self.images))]
        h, w = img.shape[:2]
        side = int(min(h, w) * self.rng.uniform(0.5, 1.0))
        side = max(side, min(h, w, self.size))
        y, x = self.rng.randint(0, h - side), self.rng.randint(0, w - side)
        im = Image.fromarray(img[y:y + side, x:x + side]).resize((self.size, self.size), Image.BILINEAR)
        a = np.asarray(im)
        if self.rng.random() < 0.5:
            a = a[:, ::-1]
        return a

    def batch(self, n):
        rgb = np.stack([self.crop() for _ in range(n)]).astype(np.float32) / 255.0
        return torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous()


def random_hints(ab, rng, share=0.5, mean_points=8, max_patch=4):
    """User-hint channels as in Zhang et al. 2017: on `share` of the samples, a geometric
    number of small patches carrying the true mean ab of the patch; none on the rest.
    ab: (N,2,H,W) in Lab units. Returns (N,3,H,W): a/110, b/110, mask."""
    n, _, h, w = ab.shape
    hints = torch.zeros(n, 3, h, w)
    for i in range(n):
        if rng.random() >= share:
            continue
        k = 1
        while rng.random() > 1.0 / mean_points and k < 40:
            k += 1
        for _ in range(k):
            p = rng.randint(1, max_patch)
            y, x = rng.randint(0, h - p), rng.randint(0, w - p)
            patch = ab[i, :, y:y + p, x:x + p].mean(dim=(1, 2))
            hints[i, 0:2, y:y + p, x:x + p] = (patch / 110.0).view(2, 1, 1)
            hints[i, 2, y:y + p, x:x + p] = 1.0
    return hints


def to_lab_batch(rgb):
    """(N,3,H,W) sRGB 0..1 -> L/100 (N,1,H,W) and ab (N,2,H,W) in Lab units."""
    lab = torch_rgb_to_lab(rgb)
    return lab[:, :1] / 100.0, lab[:, 1:]
