#!/usr/bin/env python3
"""The README's before/after picture of color hints: `1890CliffHouseSF.jpg` colorized by the real
`hued colorize` without hints and with three blue sky hints and one sand hint, side by side,
the hints drawn as dots.

    python3 bench/hints_picture.py --hued target/release/hued [--out docs/hints-cliff-house.jpg]

Needs pillow and ../shared/data/historical.
"""
import argparse
import os
import subprocess
import tempfile

from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
SKY, SAND = '#6d8fc4', '#c8b48c'
HINTS = [(80, 60, SKY), (330, 40, SKY), (250, 120, SKY), (300, 420, SAND)]


def colorize(hued, photo, folder, hints):
    os.makedirs(folder, exist_ok=True)
    args = [hued, 'colorize', '--out', folder, photo]
    for x, y, color in hints:
        args += ['--hint', f'{x},{y},{color}']
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    (name,) = [f for f in os.listdir(folder) if '.colorized.' in f]
    return Image.open(os.path.join(folder, name)).convert('RGB')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--hued', default=os.path.join(HERE, '..', 'target', 'release', 'hued'))
    ap.add_argument('--photo', default=os.path.join(HERE, '..', '..', 'shared', 'data', 'historical', '1890CliffHouseSF.jpg'))
    ap.add_argument('--out', default=os.path.join(HERE, '..', 'docs', 'hints-cliff-house.jpg'))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain = colorize(args.hued, args.photo, os.path.join(tmp, 'plain'), [])
        hinted = colorize(args.hued, args.photo, os.path.join(tmp, 'hinted'), HINTS)
    w, h = plain.size
    gap, top = 10, 28
    sheet = Image.new('RGB', (2 * w + gap, h + top), 'white')
    sheet.paste(plain, (0, top))
    sheet.paste(hinted, (w + gap, top))
    draw = ImageDraw.Draw(sheet)
    draw.text((6, 8), 'no hints', fill='black')
    draw.text((w + gap + 6, 8), f'3 sky hints {SKY} + 1 sand hint {SAND}', fill='black')
    for x, y, color in HINTS:
        cx, cy = w + gap + x, top + y
        draw.ellipse((cx - 5, cy - 5, cx + 5, cy + 5), fill=color, outline='black')
    sheet.save(args.out, quality=88)
    print(f'wrote {args.out} ({sheet.size[0]}x{sheet.size[1]})')


if __name__ == '__main__':
    main()
