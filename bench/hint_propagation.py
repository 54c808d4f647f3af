#!/usr/bin/env python3
"""How much true color hints help, measured through the real `hued colorize`.

    python3 bench/hint_propagation.py --hued target/release/hued [--photos ../shared/data/val] [--out /tmp/hints]

The protocol of Zhang et al. 2017 ("Real-Time User-Guided Image Colorization with Learned Deep
Priors"), as issue 24 states it: each photo turned gray (its L as an 8-bit gray PNG, as
training/evaluate.py does), then colorized by hued with 0, 5 and 20 hints at seeded random
points, each hint's color the truth's mean over 5x5 pixels. The hints go in a sidecar
`<photo>.png.hints.toml` beside each gray photo, so one `hued colorize` run covers a whole hint
count. Prints the mean PSNR (RGB, 8-bit) against the truth per hint count, the gains, per kind
of photo (val_kinds.tsv), and the photos made worse by hints. Needs numpy and pillow.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'training'))
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from colorspace import lab_to_rgb, rgb_to_lab  # noqa: E402
from evaluate import load_rgb, psnr, read_kinds  # noqa: E402

COUNTS = (0, 5, 20)


def true_hints(truth, rng, n):
    """n (x, y, '#rrggbb'): random points at least 2 px from the border, the 5x5 mean color."""
    h, w = truth.shape[:2]
    out = []
    for _ in range(n):
        x, y = rng.randint(2, w - 3), rng.randint(2, h - 3)
        rgb = truth[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3).astype(np.float64).mean(0)
        out.append((x, y, '#' + ''.join(f'{int(c + 0.5):02x}' for c in rgb)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--hued', required=True, help='the hued binary (a release build)')
    ap.add_argument('--photos', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data', 'val'))
    ap.add_argument('--out', help='working folder (default: a new temporary one)')
    ap.add_argument('--limit', type=int, default=0, help='only the first N photos')
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    if not os.path.isdir(args.photos):
        raise SystemExit(f'{args.photos}: no such folder (the shared validation photos)')
    files = sorted(f for f in os.listdir(args.photos) if f.lower().endswith(('.jpg', '.jpeg', '.png')))
    if args.limit:
        files = files[:args.limit]
    work = args.out or tempfile.mkdtemp(prefix='hued-hints-')
    rng = random.Random(args.seed)
    truths = {}
    for n in COUNTS:
        os.makedirs(os.path.join(work, f'in{n}'), exist_ok=True)
        os.makedirs(os.path.join(work, f'out{n}'), exist_ok=True)
    for f in files:
        truth = np.asarray(load_rgb(os.path.join(args.photos, f)))
        lab = rgb_to_lab(truth.astype(np.float32) / 255.0)
        gray = lab_to_rgb(np.stack([lab[..., 0], np.zeros_like(lab[..., 0]), np.zeros_like(lab[..., 0])], -1))
        name = os.path.splitext(f)[0] + '.png'
        hints = true_hints(truth, rng, max(COUNTS))   # the 5 are the first 5 of the 20
        for n in COUNTS:
            Image.fromarray(np.clip(gray[..., 1] * 255 + 0.5, 0, 255).astype(np.uint8), 'L').save(os.path.join(work, f'in{n}', name))
            if n:
                with open(os.path.join(work, f'in{n}', name + '.hints.toml'), 'w') as side:
                    for x, y, color in hints[:n]:
                        side.write(f'[[hint]]\nx = {x}\ny = {y}\ncolor = "{color}"\n\n')
        truths[name] = (f, truth)
    for n in COUNTS:
        cmd = [args.hued, 'colorize', '--force', '--out', os.path.join(work, f'out{n}'), os.path.join(work, f'in{n}')]
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'RUST_LOG': 'warn'})
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    kinds = read_kinds(args.photos)
    scores = {n: {} for n in COUNTS}
    for name, (orig, truth) in truths.items():
        stem = os.path.splitext(name)[0]
        for n in COUNTS:
            pred = np.asarray(Image.open(os.path.join(work, f'out{n}', stem + '.colorized.png')).convert('RGB'))
            scores[n][orig] = psnr(pred, truth)
    print(f'{len(files)} photos from {args.photos}, seed {args.seed}, work folder {work}')
    groups = {'all': [orig for orig, _ in truths.values()]}
    for orig, _ in truths.values():
        groups.setdefault(kinds.get(orig, 'unlabelled'), []).append(orig)
    print('| photos | 0 hints | 5 hints (gain) | 20 hints (gain) |')
    print('|---|---|---|---|')
    for g, members in sorted(groups.items(), key=lambda kv: (kv[0] != 'all', kv[0])):
        mean = {n: float(np.mean([scores[n][m] for m in members])) for n in COUNTS}
        print(f'| {g} ({len(members)}) | {mean[0]:.2f} dB | {mean[5]:.2f} ({mean[5] - mean[0]:+.2f}) | {mean[20]:.2f} ({mean[20] - mean[0]:+.2f}) |')
    for n in COUNTS[1:]:
        worse = sorted((scores[n][m] - scores[0][m], m) for m in scores[0] if scores[n][m] < scores[0][m])
        print(f'{n} hints: {len(worse)} photo(s) worse than without hints' + (': ' + ', '.join(f'{m} {d:+.2f} dB' for d, m in worse) if worse else ''))


if __name__ == '__main__':
    main()
