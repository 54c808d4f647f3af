#!/usr/bin/env python3
"""Evaluate a colorization model on a folder of color photos.

    python3 evaluate.py --model ../models/hued-color-v2-int8.onnx --photos ../../shared/data/val \
        --out eval/ [--vividness 1.0]

Each photo is turned gray (its L channel), colorized the way hued does it (L area-shrunk to a
256-px long side in multiples of 32, the model, then a guided upsampling of ab along the
full-resolution L), and compared with the truth. Metrics, for the model and for the gray
baseline (a = b = 0): PSNR (RGB, 8-bit), mean CIEDE2000, AuC of the per-pixel ab error over
thresholds 0..150 (Zhang et al. 2016), Hasler-Suesstrunk colorfulness, and false color: of the
pixels whose true chroma is < 6 (neutral), the share painted with chroma > 12, the green share
of that (hue 100-200 degrees) and the mean predicted (a, b) there. Every metric is reported
overall and per kind of photo (val_kinds.tsv beside the photo folder, where present).
Writes metrics.md, metrics.json and contact_sheet.png (gray | hued | truth).
"""
import argparse
import random
import json
import os

import numpy as np
from PIL import Image

from colorspace import lab_to_rgb, rgb_to_lab
from data import list_images, load_rgb

RADIUS, EPS = 2, 1e-3  # the same as src/pipeline/recombine.rs


def input_size(w, h, long_side=256, multiple=32, min_side=64, max_side=512):
    """The same rule as Manifest::input_size in src/model/manifest.rs."""
    long = max(min_side, min(max_side, long_side // multiple * multiple))
    def rnd(short, long_px):
        s = int(round(short * long / long_px / multiple)) * multiple
        return max(min_side, min(long, s))
    return (long, rnd(h, w)) if w >= h else (rnd(w, h), long)


def shrink(plane, w, h):
    return np.asarray(Image.fromarray(plane.astype(np.float32), mode='F').resize((w, h), Image.BOX), dtype=np.float32)


def box_mean(x, r):
    h, w = x.shape
    s = np.zeros((h + 1, w + 1))
    s[1:, 1:] = x.astype(np.float64).cumsum(0).cumsum(1)
    ys, xs = np.arange(h), np.arange(w)
    y0, y1 = np.maximum(ys - r, 0), np.minimum(ys + r + 1, h)
    x0, x1 = np.maximum(xs - r, 0), np.minimum(xs + r + 1, w)
    tot = s[y1][:, x1] - s[y0][:, x1] - s[y1][:, x0] + s[y0][:, x0]
    return (tot / ((y1 - y0)[:, None] * (x1 - x0)[None, :])).astype(np.float32)


def bilinear_up(plane, w, h):
    lh, lw = plane.shape
    u = np.clip((np.arange(w) + 0.5) * lw / w - 0.5, 0, lw - 1)
    v = np.clip((np.arange(h) + 0.5) * lh / h - 0.5, 0, lh - 1)
    x0, y0 = np.floor(u).astype(int), np.floor(v).astype(int)
    x1, y1 = np.minimum(x0 + 1, lw - 1), np.minimum(y0 + 1, lh - 1)
    tx, ty = (u - x0)[None, :], (v - y0)[:, None]
    top = plane[y0][:, x0] * (1 - tx) + plane[y0][:, x1] * tx
    bot = plane[y1][:, x0] * (1 - tx) + plane[y1][:, x1] * tx
    return top * (1 - ty) + bot * ty


def guided_upsample(L, ab_low):
    """Fast guided filter: ab = A * L + B with A, B fitted at low resolution."""
    h, w = L.shape
    lh, lw = ab_low.shape[1:]
    guide = shrink(L, lw, lh) / 100.0
    i_full = L / 100.0
    out = []
    for p in ab_low:
        mi, mp = box_mean(guide, RADIUS), box_mean(p, RADIUS)
        var = box_mean(guide * guide, RADIUS) - mi * mi
        cov = box_mean(guide * p, RADIUS) - mi * mp
        a = cov / (var + EPS)
        b = mp - a * mi
        a, b = box_mean(a, RADIUS), box_mean(b, RADIUS)
        out.append(bilinear_up(a, w, h) * i_full + bilinear_up(b, w, h))
    return np.clip(np.stack(out, -1), -128, 127)


class OnnxColorizer:
    def __init__(self, path, threads=2):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
        self.names = [i.name for i in self.sess.get_inputs()]

    def __call__(self, l_small, hints=None):
        """l_small: (h, w) L in 0..100; hints: (3, h, w) a/110, b/110, mask, or None.
        Returns ab (2, h/4, w/4) in Lab units."""
        feeds = {'l': (l_small / 100.0)[None, None].astype(np.float32)}
        if 'hints' in self.names:
            feeds['hints'] = (np.zeros((3,) + l_small.shape, np.float32) if hints is None else hints)[None].astype(np.float32)
        return self.sess.run(['ab'], feeds)[0][0] * 110.0


HINT_PATCH = 3   # side of the square a hint covers at model resolution; src/pipeline/hints.rs uses the same


def true_hints(lab_small, rng, n):
    """n hints as a user who knows the true colors would give them: at random points, the mean
    true ab of a HINT_PATCH square. lab_small: (h, w, 3). Returns (3, h, w)."""
    h, w = lab_small.shape[:2]
    hints = np.zeros((3, h, w), np.float32)
    for _ in range(n):
        y, x = rng.randint(0, h - HINT_PATCH), rng.randint(0, w - HINT_PATCH)
        ab = lab_small[y:y + HINT_PATCH, x:x + HINT_PATCH, 1:].reshape(-1, 2).mean(0) / 110.0
        hints[0:2, y:y + HINT_PATCH, x:x + HINT_PATCH] = ab[:, None, None]
        hints[2, y:y + HINT_PATCH, x:x + HINT_PATCH] = 1.0
    return hints


def colorize(rgb_u8, model, vividness=1.0, n_hints=0, rng=None):
    """Truth RGB (h, w, 3 uint8) -> (gray L, predicted RGB float 0..1). With n_hints, the model
    also gets that many true-color hints (see true_hints)."""
    lab = rgb_to_lab(rgb_u8.astype(np.float32) / 255.0)
    L = lab[..., 0]
    h, w = L.shape
    mw, mh = input_size(w, h)
    if n_hints:
        small = np.stack([shrink(lab[..., c], mw, mh) for c in range(3)], -1)
        ab_low = model(small[..., 0], true_hints(small, rng, n_hints))
    else:
        ab_low = model(shrink(L, mw, mh))
    ab = guided_upsample(L, ab_low) * vividness
    return L, lab_to_rgb(np.concatenate([L[..., None], ab], -1)), lab


# ---- metrics ----
def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def ciede2000(lab1, lab2):
    L1, a1, b1 = [lab1[..., i].astype(np.float64) for i in range(3)]
    L2, a2, b2 = [lab2[..., i].astype(np.float64) for i in range(3)]
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    Cm = (C1 + C2) / 2
    G = 0.5 * (1 - np.sqrt(Cm ** 7 / (Cm ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp, dCp = L2 - L1, C2p - C1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(C1p * C2p == 0, 0, dh)
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dh / 2))
    Lpm, Cpm = (L1 + L2) / 2, (C1p + C2p) / 2
    hs = h1p + h2p
    hpm = np.where(C1p * C2p == 0, hs, np.where(np.abs(h1p - h2p) <= 180, hs / 2, np.where(hs < 360, (hs + 360) / 2, (hs - 360) / 2)))
    T = 1 - 0.17 * np.cos(np.radians(hpm - 30)) + 0.24 * np.cos(np.radians(2 * hpm)) + 0.32 * np.cos(np.radians(3 * hpm + 6)) - 0.20 * np.cos(np.radians(4 * hpm - 63))
    dtheta = 30 * np.exp(-((hpm - 275) / 25) ** 2)
    Rc = 2 * np.sqrt(Cpm ** 7 / (Cpm ** 7 + 25.0 ** 7))
    Sl = 1 + 0.015 * (Lpm - 50) ** 2 / np.sqrt(20 + (Lpm - 50) ** 2)
    Sc, Sh = 1 + 0.045 * Cpm, 1 + 0.015 * Cpm * T
    Rt = -np.sin(np.radians(2 * dtheta)) * Rc
    return np.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh))


def auc(ab_pred, ab_true):
    err = np.sqrt(((ab_pred - ab_true) ** 2).sum(-1)).ravel()
    thresholds = np.arange(0, 151)
    return float(np.mean([(err <= t).mean() for t in thresholds]))


def colorfulness(rgb_u8):
    r, g, b = [rgb_u8[..., i].astype(np.float64) for i in range(3)]
    # Absolute opponent values, as in the common implementation the project's targets use.
    rg, yb = np.abs(r - g), np.abs(0.5 * (r + g) - b)
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


NEUTRAL_CHROMA, FALSE_CHROMA = 6.0, 12.0


def false_color_counts(pred_lab, truth_lab):
    """Counts for the false-color metric: neutral pixels (true chroma < 6), those painted with
    chroma > 12, the green-ish ones among them (hue 100-200 degrees), and the sums of predicted
    a and b over neutral pixels. Summed over photos, then turned into rates (false_color_rates)."""
    neutral = np.hypot(truth_lab[..., 1], truth_lab[..., 2]) < NEUTRAL_CHROMA
    a, b = pred_lab[..., 1][neutral], pred_lab[..., 2][neutral]
    false = np.hypot(a, b) > FALSE_CHROMA
    hue = np.degrees(np.arctan2(b[false], a[false])) % 360
    return {'neutral': int(neutral.sum()), 'false': int(false.sum()), 'false_green': int(((hue >= 100) & (hue <= 200)).sum()),
            'sum_a': float(a.sum()), 'sum_b': float(b.sum())}


def false_color_rates(counts):
    n = max(1, sum(c['neutral'] for c in counts))
    f = sum(c['false'] for c in counts)
    return {'false_color': f / n, 'false_green_share': sum(c['false_green'] for c in counts) / max(1, f),
            'neutral_mean_a': sum(c['sum_a'] for c in counts) / n, 'neutral_mean_b': sum(c['sum_b'] for c in counts) / n}


def measure(pred_rgb, truth_u8, truth_lab):
    pred_u8 = np.clip(pred_rgb * 255 + 0.5, 0, 255).astype(np.uint8)
    pred_lab = rgb_to_lab(pred_u8.astype(np.float32) / 255.0)
    return {'psnr': psnr(pred_u8, truth_u8), 'ciede2000': float(ciede2000(pred_lab, truth_lab).mean()),
            'auc': auc(pred_lab[..., 1:], truth_lab[..., 1:]), 'colorfulness': colorfulness(pred_u8)}, pred_u8, \
        false_color_counts(pred_lab, truth_lab)


def read_kinds(folder):
    """{file name: kind} from val_kinds.tsv beside (or in) the photo folder; {} where absent."""
    for path in (os.path.join(folder, 'val_kinds.tsv'), os.path.join(os.path.dirname(os.path.normpath(folder)), 'val_kinds.tsv')):
        if os.path.exists(path):
            rows = [line.rstrip('\n').split('\t') for line in open(path) if line.strip()]
            return {r[0]: r[1] for r in rows[1:] if len(r) >= 2}
    return {}


def summarize(rows, counts, truth_cf):
    """Per-photo rows -> means, for hued and gray, plus false-color rates and truth colorfulness."""
    mean = {k: {m: float(np.mean([r[m] for r in v])) for m in v[0]} for k, v in rows.items()}
    for k in rows:
        mean[k].update(false_color_rates(counts[k]))
    mean['truth_colorfulness'] = float(np.mean(truth_cf))
    mean['photos'] = len(truth_cf)
    return mean


def evaluate(model, files, vividness=1.0, sheet=None, sheet_n=24, n_hints=0, kinds=None):
    """Metrics for the model and the gray baseline over `files`: overall, and under 'kinds' per
    kind of photo when `kinds` ({file name: kind}) is given (None: read val_kinds.tsv)."""
    per = []
    tiles = []
    rng = random.Random(0)
    for i, f in enumerate(files):
        truth = np.asarray(load_rgb(f))
        L, pred, lab = colorize(truth, model, vividness, n_hints, rng)
        m, pred_u8, c = measure(pred, truth, lab)
        gray = lab_to_rgb(np.stack([L, np.zeros_like(L), np.zeros_like(L)], -1))
        g, gray_u8, gc = measure(gray, truth, lab)
        per.append((os.path.basename(f), m, c, g, gc, colorfulness(truth)))
        if sheet and i < sheet_n:
            tiles.append(np.concatenate([gray_u8, pred_u8, truth], 1))

    return aggregate(per, files, kinds, tiles, sheet)


def aggregate(per, files, kinds=None, tiles=(), sheet=None):
    """Per-photo results (name, hued metrics, hued counts, gray metrics, gray counts, truth
    colorfulness) -> means overall and per kind; writes the contact sheet where asked."""
    def agg(items):
        return summarize({'hued': [p[1] for p in items], 'gray': [p[3] for p in items]},
                         {'hued': [p[2] for p in items], 'gray': [p[4] for p in items]}, [p[5] for p in items])
    mean = agg(per)
    if kinds is None:
        kinds = read_kinds(os.path.dirname(files[0])) if files else {}
    if kinds:
        groups = {}
        for p in per:
            groups.setdefault(kinds.get(p[0], 'unlabelled'), []).append(p)
        mean['kinds'] = {k: agg(v) for k, v in sorted(groups.items())}
    if sheet:
        write_sheet(tiles, sheet)
    return mean


def evaluate_hued(hued, model, files, extra=(), sheet=None, sheet_n=24, kinds=None, workdir=None):
    """The same metrics, measured through the real `hued colorize` (the folded graph tract runs,
    the guided upsampling, levels auto): each photo turned gray (its L as an 8-bit gray PNG),
    colorized by `hued colorize --model MODEL [extra]`, and the gray baseline through the same
    command at `--vividness 0 --levels off`."""
    import subprocess
    import tempfile
    work = workdir or tempfile.mkdtemp(prefix='hued-eval-')
    src, out, base = (os.path.join(work, d) for d in ('in', 'out', 'gray'))
    for d in (src, out, base):
        os.makedirs(d, exist_ok=True)
    truths = {}
    for f in files:
        truth = np.asarray(load_rgb(f))
        lab = rgb_to_lab(truth.astype(np.float32) / 255.0)
        L = lab[..., 0]
        gray = lab_to_rgb(np.stack([L, np.zeros_like(L), np.zeros_like(L)], -1))
        name = os.path.splitext(os.path.basename(f))[0] + '.png'
        Image.fromarray(np.clip(gray[..., 1] * 255 + 0.5, 0, 255).astype(np.uint8), 'L').save(os.path.join(src, name))
        truths[name] = (os.path.basename(f), truth, lab)
    for folder, flags in ((out, list(extra)), (base, ['--vividness', '0', '--levels', 'off'])):
        cmd = [hued, 'colorize', '--force', '--model', model, '--out', folder, *flags, src]
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'RUST_LOG': 'warn'})
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    per, tiles = [], []
    for i, (name, (orig, truth, lab)) in enumerate(sorted(truths.items())):
        stem = os.path.splitext(name)[0]
        pred = np.asarray(Image.open(os.path.join(out, stem + '.colorized.png')).convert('RGB'), dtype=np.float32) / 255.0
        gray = np.asarray(Image.open(os.path.join(base, stem + '.colorized.png')).convert('RGB'), dtype=np.float32) / 255.0
        m, pred_u8, c = measure(pred, truth, lab)
        g, gray_u8, gc = measure(gray, truth, lab)
        per.append((orig, m, c, g, gc, colorfulness(truth)))
        if sheet and i < sheet_n:
            tiles.append(np.concatenate([gray_u8, pred_u8, truth], 1))
    return aggregate(per, files, kinds, tiles, sheet)


def write_sheet(tiles, path, width=3 * 256):
    ims = []
    for t in tiles:
        im = Image.fromarray(t)
        s = width / im.size[0]
        ims.append(im.resize((width, max(1, int(im.size[1] * s))), Image.BILINEAR))
    cols = 2
    rows = (len(ims) + cols - 1) // cols
    col_h = [sum(im.size[1] + 6 for im in ims[c::cols]) for c in range(cols)]
    sheet = Image.new('RGB', (cols * (width + 10), max(col_h)), 'white')
    for c in range(cols):
        y = 0
        for im in ims[c::cols]:
            sheet.paste(im, (c * (width + 10), y))
            y += im.size[1] + 6
    sheet.save(path)


def does_no_harm(mean, margin=0.0):
    """Beats gray by `margin` on PSNR and CIEDE2000, overall and on every kind (the selection rule)."""
    groups = [mean] + list(mean.get('kinds', {}).values())
    return all(m['hued']['psnr'] >= m['gray']['psnr'] + margin and m['hued']['ciede2000'] <= m['gray']['ciede2000'] - margin
               for m in groups)


def markdown(mean, title):
    """One row per kind and overall: the model against gray on each metric."""
    head = ("| kind (photos) | PSNR dB (vs gray) | CIEDE2000 (vs gray) | AuC (gray) | colorfulness (truth) "
            "| false color (green share) | neutral mean a, b |\n|---|---|---|---|---|---|---|\n")

    def row(name, m):
        h, g = m['hued'], m['gray']
        return (f"| {name} ({m['photos']}) | {h['psnr']:.2f} ({h['psnr'] - g['psnr']:+.2f}) | {h['ciede2000']:.2f} "
                f"({h['ciede2000'] - g['ciede2000']:+.2f}) | {h['auc']:.3f} ({g['auc']:.3f}) | {h['colorfulness']:.1f} "
                f"({m['truth_colorfulness']:.1f}) | {100 * h['false_color']:.1f} % ({100 * h['false_green_share']:.0f} %) "
                f"| {h['neutral_mean_a']:+.1f}, {h['neutral_mean_b']:+.1f} |\n")
    rows = [row(k, m) for k, m in mean.get('kinds', {}).items()] + [row('**all**', mean)]
    return f"### {title}\n\n" + head + ''.join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', required=True, help='an ONNX model with inputs l (and hints), output ab')
    ap.add_argument('--photos', default='../../shared/data/val')
    ap.add_argument('--out', default='eval')
    ap.add_argument('--vividness', type=float, default=1.0)
    ap.add_argument('--hints', type=int, default=0, help='give the model this many true-color hints per photo')
    ap.add_argument('--hued', help='measure through this hued binary (`hued colorize`, no flags but --vividness where given; '
                    '--model is then its manifest .toml or .onnx), not through onnxruntime')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sheet = os.path.join(args.out, 'contact_sheet.png')
    if args.hued:
        extra = ['--vividness', str(args.vividness)] if args.vividness != 1.0 else []
        mean = evaluate_hued(args.hued, args.model, list_images(args.photos), extra, sheet=sheet)
        title = f"{os.path.basename(args.model)} through {os.path.basename(args.hued)} colorize on {args.photos} ({' '.join(extra) or 'no flags'})"
    else:
        mean = evaluate(OnnxColorizer(args.model), list_images(args.photos), args.vividness, sheet=sheet, n_hints=args.hints)
        title = f"{os.path.basename(args.model)} on {args.photos} (vividness {args.vividness}, {args.hints} hints)"
    md = markdown(mean, title)
    open(os.path.join(args.out, 'metrics.md'), 'w').write(md)
    json.dump(mean, open(os.path.join(args.out, 'metrics.json'), 'w'), indent=1)
    print(md)


if __name__ == '__main__':
    main()
