#!/usr/bin/env python3
"""The README's picture of a reference photo at work, made through the real `hued colorize`.

    python3 bench/reference_picture.py --hued target/release/hued [--photo ../shared/data/val/NAME.jpg] [--out docs/reference-example.jpg]

One validation photo made into bench/reference_photo.py's same-scene pair (a gray crop, and a
color crop of the same photo that overlaps it on half its area, rescaled and re-exposed),
colorized without and with the reference; the strip shows the gray photo, hued's colors
without the reference, the reference, hued's colors with it, and the truth. Needs pillow.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'training'))
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from colorspace import lab_to_rgb, rgb_to_lab  # noqa: E402
from evaluate import load_rgb, psnr  # noqa: E402
from reference_photo import crops, reference_image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--hued', required=True)
    ap.add_argument('--photo', default=os.path.join(HERE, '..', '..', 'shared', 'data', 'val', 'debian_wallpapers__plasma-workspace-wallpapers__Kite.jpg'))
    ap.add_argument('--out', default=os.path.join(HERE, '..', 'docs', 'reference-example.jpg'))
    ap.add_argument('--seed', type=int, default=3)
    args = ap.parse_args()
    truth = np.asarray(load_rgb(args.photo))
    rng = random.Random(args.seed)
    (x, y, cw, ch), ref_box = crops(truth.shape[1], truth.shape[0], rng)
    target = np.ascontiguousarray(truth[y:y + ch, x:x + cw])
    lab = rgb_to_lab(target.astype(np.float32) / 255.0)
    gray = lab_to_rgb(np.stack([lab[..., 0], np.zeros_like(lab[..., 0]), np.zeros_like(lab[..., 0])], -1))
    work = tempfile.mkdtemp(prefix='hued-reference-picture-')
    gray_path = os.path.join(work, 'photo.png')
    Image.fromarray(np.clip(gray[..., 1] * 255 + 0.5, 0, 255).astype(np.uint8), 'L').save(gray_path)
    ref_path = os.path.join(work, 'postcard.jpg')
    reference_image(truth, ref_box, rng).save(ref_path, quality=92)
    results = {}
    for case, extra in (('without', []), ('with', ['--reference', ref_path])):
        out = os.path.join(work, case)
        r = subprocess.run([args.hued, 'colorize', '--force', '--out', out, *extra, gray_path], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        results[case] = np.asarray(Image.open(os.path.join(out, 'photo.colorized.png')).convert('RGB'))
        print(case, f'{psnr(results[case], target):.2f} dB', r.stderr.strip().splitlines()[-1] if extra else '')
    h = 200
    panels = [('gray photo', Image.open(gray_path).convert('RGB')), ('hued, no reference', Image.fromarray(results['without'])),
              ('the reference', Image.open(ref_path)), ('hued with it', Image.fromarray(results['with'])), ('truth', Image.fromarray(target))]
    scaled = [(t, p.resize((round(p.width * h / p.height), h), Image.LANCZOS)) for t, p in panels]
    strip = Image.new('RGB', (sum(p.width for _, p in scaled) + 8 * (len(scaled) - 1), h + 22), 'white')
    draw, at = ImageDraw.Draw(strip), 0
    for title, p in scaled:
        strip.paste(p, (at, 22))
        draw.text((at + 4, 4), title, fill='black')
        at += p.width + 8
    strip.save(args.out, quality=88)
    print('wrote', args.out)


if __name__ == '__main__':
    main()
