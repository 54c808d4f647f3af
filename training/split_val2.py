#!/usr/bin/env python3
"""The second validation set (issue 38): a third of the extra photos (extra_data.py), held out
of training and labelled by kind, so that a candidate is also judged on photos unlike the
shared val's sunny scenes.

    python3 extra_data.py --out extra && python3 split_val2.py --extra extra --out extra-val

Moves every third photo of each kind (sorted by name) from --extra to --out, with its
LICENSES.tsv rows and a val_kinds.tsv (evaluate.py reads it). Kinds, by where the photo comes
from: `everyday` (interiors, musicians with their instruments, street and people photos of the
OpenCV samples: man-made things of arbitrary color), `objects` (GCompris' object pictures, the
OpenCV still lifes), `outdoor` (monuments, the sea), `nature` (animals). Both folders stay out
of git (.gitignore), like the extra photos.
"""
import argparse
import csv
import os
import shutil


def kind_of(name):
    n = name.lower()
    if n.startswith('tiktok__') or 'explore_world_music' in n or any(k in n for k in ('messi', 'licenseplate', 'left.jpg', 'right.jpg', 'leuven', 'graf', 'aero')):
        return 'everyday'
    if 'categorization' in n or n.startswith('opencv__'):
        return 'objects'
    if 'monuments' in n or 'clickgame_sea' in n:
        return 'outdoor'
    return 'nature'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--extra', default='extra')
    ap.add_argument('--out', default='extra-val')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = sorted(f for f in os.listdir(args.extra) if f.lower().endswith(('.jpg', '.jpeg', '.png', '.webp')))
    by_kind = {}
    for n in names:
        by_kind.setdefault(kind_of(n), []).append(n)
    held = {n: k for k, members in by_kind.items() for i, n in enumerate(members) if i % 3 == 1}
    with open(os.path.join(args.extra, 'LICENSES.tsv'), newline='') as f:
        rows = list(csv.reader(f, delimiter='\t'))
    header, body = rows[0], rows[1:]
    keep = [r for r in body if r and r[0] not in held]
    moved = [r for r in body if r and r[0] in held]
    for n in held:
        shutil.move(os.path.join(args.extra, n), os.path.join(args.out, n))
    for folder, part in ((args.extra, keep), (args.out, moved)):
        with open(os.path.join(folder, 'LICENSES.tsv'), 'w', newline='') as f:
            w = csv.writer(f, delimiter='\t')
            w.writerow(header)
            w.writerows(part)
    with open(os.path.join(args.out, 'val_kinds.tsv'), 'w') as f:
        f.write('file\tkind\n')
        for n in sorted(held):
            f.write(f'{n}\t{held[n]}\n')
    counts = {k: sum(1 for v in held.values() if v == k) for k in sorted(by_kind)}
    print(f'held out {len(held)} of {len(names)} photos into {args.out}: {counts}; {len(names) - len(held)} stay for training')


if __name__ == '__main__':
    main()
