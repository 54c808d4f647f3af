#!/usr/bin/env python3
"""Repack the training photos into one tar of WebP files small enough to carry to a lent GPU
machine (the device tool carries at most 64 MiB with the repository): long side 296 px, q 75,
about 35 MB for the 3,323 photos. The color truth is only used at 1/4 resolution, so the
compression is harmless.

    python3 training/repack.py [../shared/data/train] [.gpu/train.tar]
"""
import io
import os
import sys
import tarfile

from PIL import Image


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else '../shared/data/train'
    dst = sys.argv[2] if len(sys.argv) > 2 else '.gpu/train.tar'
    side, quality = 296, 75
    os.makedirs(os.path.dirname(dst) or '.', exist_ok=True)
    files, total = sorted(os.listdir(src)), 0
    with tarfile.open(dst, 'w') as tar:
        for f in files:
            im = Image.open(os.path.join(src, f)).convert('RGB')
            if max(im.size) > side:
                s = side / max(im.size)
                im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.LANCZOS)
            b = io.BytesIO()
            im.save(b, 'WEBP', quality=quality, method=4)
            data = b.getvalue()
            total += len(data)
            info = tarfile.TarInfo(os.path.splitext(f)[0] + '.webp')
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    print(f"{len(files)} photos, {total / 1e6:.1f} MB -> {dst}")


if __name__ == '__main__':
    main()
