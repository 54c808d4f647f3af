#!/usr/bin/env python3
"""How much a color reference photo helps, measured through the real `hued colorize`.

    python3 bench/reference_photo.py --hued target/release/hued [--photos ../shared/data/val] [--out /tmp/ref] [--seed 0]

The protocol of issue 42, on every validation photo:
- the target: a gray crop of the photo (70 % of each side, at a seeded random place; its L as
  an 8-bit gray PNG, as training/evaluate.py makes gray photos);
- same scene: the reference is a color crop of the same photo, of the same size, shifted so that
  it overlaps the target on about half of the target's area, rescaled (x0.6 to x1.6) and
  re-exposed (gain 0.8 to 1.2, gamma 0.85 to 1.15), saved as a JPEG: a postcard of the same
  place differs in framing and exposure;
- mismatched: the reference is made the same way from a photo of another kind (val_kinds.tsv);
- with 5 hints: 5 true-color hints at seeded random points (as bench/hint_propagation.py), with
  and without the same-scene reference.
Each case is one `hued colorize --force` run over a folder of gray targets whose sidecars name
the reference (`reference = "../refs/<name>.jpg"`) and the hints. Prints the mean PSNR (RGB,
8-bit) against the truth per case, the gains per kind, and the photos made worse. Needs numpy
and pillow.
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
from hint_propagation import true_hints  # noqa: E402  (the same hints as its bench)

CASES = ('none', 'same', 'other', 'hints', 'hints+same')
SIDE = 0.7


def crops(w, h, rng):
    """The target's and the same-scene reference's boxes (x, y, cw, ch): each 70 % of a side,
    the reference shifted by about 29 % of the box each way (overlap (1 - 0.29)^2 = 0.5)."""
    cw, ch = int(w * SIDE), int(h * SIDE)
    fx = rng.uniform(0.22, 0.36)
    fy = 1 - 0.5 / (1 - fx)
    dx, dy = int(fx * cw), int(fy * ch)
    sx, sy = rng.choice((-1, 1)), rng.choice((-1, 1))
    # The target anywhere the reference still fits beside it.
    x_lo, x_hi = max(0, -sx * dx), min(w - cw, w - cw - sx * dx)
    y_lo, y_hi = max(0, -sy * dy), min(h - ch, h - ch - sy * dy)
    tx, ty = rng.randint(x_lo, max(x_lo, x_hi)), rng.randint(y_lo, max(y_lo, y_hi))
    return (tx, ty, cw, ch), (tx + sx * dx, ty + sy * dy, cw, ch)


def reference_image(truth, box, rng):
    """The color crop `box` of `truth`, rescaled and re-exposed, as a PIL image."""
    x, y, cw, ch = box
    crop = Image.fromarray(truth[y:y + ch, x:x + cw])
    s = rng.uniform(0.6, 1.6)
    crop = crop.resize((max(8, round(cw * s)), max(8, round(ch * s))), Image.BICUBIC)
    gain, gamma = rng.uniform(0.8, 1.2), rng.uniform(0.85, 1.15)
    v = np.asarray(crop).astype(np.float32) / 255.0
    v = np.clip(gain * v ** gamma, 0, 1)
    return Image.fromarray((v * 255 + 0.5).astype(np.uint8))


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
    kinds = read_kinds(args.photos)
    work = args.out or tempfile.mkdtemp(prefix='hued-reference-')
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(work, 'refs'), exist_ok=True)
    for case in CASES:
        os.makedirs(os.path.join(work, 'in-' + case), exist_ok=True)
        os.makedirs(os.path.join(work, 'out-' + case), exist_ok=True)
    truths = {}
    photos = {f: np.asarray(load_rgb(os.path.join(args.photos, f))) for f in files}
    for i, f in enumerate(files):
        truth = photos[f]
        h, w = truth.shape[:2]
        target_box, ref_box = crops(w, h, rng)
        x, y, cw, ch = target_box
        target = np.ascontiguousarray(truth[y:y + ch, x:x + cw])
        lab = rgb_to_lab(target.astype(np.float32) / 255.0)
        gray = lab_to_rgb(np.stack([lab[..., 0], np.zeros_like(lab[..., 0]), np.zeros_like(lab[..., 0])], -1))
        stem = os.path.splitext(f)[0]
        name = stem + '.png'
        reference_image(truth, ref_box, rng).save(os.path.join(work, 'refs', stem + '.jpg'), quality=92)
        # Another kind's photo, made into a reference the same way.
        others = [g for g in files if kinds.get(g) != kinds.get(f)] or [g for g in files if g != f]
        other = others[rng.randrange(len(others))]
        ot = photos[other]
        _, other_box = crops(ot.shape[1], ot.shape[0], rng)
        reference_image(ot, other_box, rng).save(os.path.join(work, 'refs', stem + '.other.jpg'), quality=92)
        hints = true_hints(target, rng, 5)
        for case in CASES:
            Image.fromarray(np.clip(gray[..., 1] * 255 + 0.5, 0, 255).astype(np.uint8), 'L').save(os.path.join(work, 'in-' + case, name))
            lines = []
            if case in ('same', 'hints+same'):
                lines.append(f'reference = "../refs/{stem}.jpg"\n')
            if case == 'other':
                lines.append(f'reference = "../refs/{stem}.other.jpg"\n')
            if case.startswith('hints'):
                lines += [f'[[hint]]\nx = {hx}\ny = {hy}\ncolor = "{color}"\n' for hx, hy, color in hints]
            if lines:
                with open(os.path.join(work, 'in-' + case, name + '.hints.toml'), 'w') as side:
                    side.write('\n'.join(lines))
        truths[name] = (f, target)
    for case in CASES:
        cmd = [args.hued, 'colorize', '--force', '--out', os.path.join(work, 'out-' + case), os.path.join(work, 'in-' + case)]
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'RUST_LOG': 'warn'})
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    scores = {case: {} for case in CASES}
    for name, (orig, truth) in truths.items():
        stem = os.path.splitext(name)[0]
        for case in CASES:
            pred = np.asarray(Image.open(os.path.join(work, 'out-' + case, stem + '.colorized.png')).convert('RGB'))
            scores[case][orig] = psnr(pred, truth)
    print(f'{len(files)} photos from {args.photos}, seed {args.seed}, work folder {work}')
    groups = {'all': [orig for orig, _ in truths.values()]}
    for orig, _ in truths.values():
        groups.setdefault(kinds.get(orig, 'unlabelled'), []).append(orig)
    print('| photos | no reference | same scene (gain) | mismatched (gain) | 5 hints | 5 hints + same scene (gain over hints) |')
    print('|---|---|---|---|---|---|')
    for g, members in sorted(groups.items(), key=lambda kv: (kv[0] != 'all', kv[0])):
        m = {c: float(np.mean([scores[c][p] for p in members])) for c in CASES}
        print(f"| {g} ({len(members)}) | {m['none']:.2f} dB | {m['same']:.2f} ({m['same'] - m['none']:+.2f}) | {m['other']:.2f} ({m['other'] - m['none']:+.2f}) "
              f"| {m['hints']:.2f} | {m['hints+same']:.2f} ({m['hints+same'] - m['hints']:+.2f}) |")
    for case, base in (('same', 'none'), ('other', 'none'), ('hints+same', 'hints')):
        diffs = sorted((scores[case][p] - scores[base][p], p) for p in scores[base])
        worse = [(d, p) for d, p in diffs if d < 0]
        print(f'{case} against {base}: worst {diffs[0][0]:+.2f} dB ({diffs[0][1]}); {len(worse)} photo(s) worse'
              + (': ' + ', '.join(f'{p} {d:+.2f}' for d, p in worse[:12]) + (' ...' if len(worse) > 12 else '') if worse else ''))


if __name__ == '__main__':
    main()
