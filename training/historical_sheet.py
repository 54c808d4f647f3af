#!/usr/bin/env python3
"""Contact sheet of the historical scans through the real hued binary: each scan as hued sees
it (its lightness, tint removed, after levels) | hued's colorized copy.

    cargo build --release
    python3 training/historical_sheet.py --hued target/release/hued --model models/hued-color-v4-int8.toml \
        --scans ../shared/data/historical --out models/historical_sheet.jpg
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

from colorspace import lab_to_rgb, rgb_to_lab


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--hued', default='target/release/hued')
    ap.add_argument('--model', required=True)
    ap.add_argument('--scans', default='../shared/data/historical')
    ap.add_argument('--out', required=True)
    ap.add_argument('--tile-height', type=int, default=180)
    ap.add_argument('--per-row', type=int, default=4)
    args = ap.parse_args()
    scans = sorted(os.path.join(args.scans, f) for f in os.listdir(args.scans) if f.lower().endswith(('.jpg', '.jpeg', '.png', '.tif')))
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run([args.hued, 'colorize', '--force', '--model', args.model, '--out', tmp, *scans], capture_output=True, text=True)
        if run.returncode not in (0, 1):
            sys.exit(run.stderr)
        for s in scans:
            stem, ext = os.path.splitext(os.path.basename(s))
            out = os.path.join(tmp, f'{stem}.colorized{ext}')
            if not os.path.exists(out):
                print(f"no output for {s}", file=sys.stderr)
                continue
            hued = Image.open(out).convert('RGB')
            L = rgb_to_lab(np.asarray(hued).astype(np.float32) / 255.0)[..., 0]
            gray = Image.fromarray((lab_to_rgb(np.stack([L, 0 * L, 0 * L], -1)) * 255 + 0.5).astype(np.uint8))
            h = args.tile_height
            w = max(1, round(hued.size[0] * h / hued.size[1]))
            pair = Image.new('RGB', (2 * w + 4, h), 'white')
            pair.paste(gray.resize((w, h), Image.LANCZOS), (0, 0))
            pair.paste(hued.resize((w, h), Image.LANCZOS), (w + 4, 0))
            tiles.append(pair)
    rows = [tiles[i:i + args.per_row] for i in range(0, len(tiles), args.per_row)]
    width = max(sum(t.size[0] + 12 for t in r) for r in rows)
    sheet = Image.new('RGB', (width, len(rows) * (args.tile_height + 12)), 'white')
    for y, r in enumerate(rows):
        x = 0
        for t in r:
            sheet.paste(t, (x, y * (args.tile_height + 12)))
            x += t.size[0] + 12
    sheet.save(args.out, quality=82)
    print(f"{len(tiles)} scans -> {args.out} ({sheet.size[0]}x{sheet.size[1]})")


if __name__ == '__main__':
    main()
