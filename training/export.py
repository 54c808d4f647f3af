#!/usr/bin/env python3
"""Choose the output head by measurement, export to ONNX, quantize to int8 QDQ, write the manifest.

    python3 export.py --ckpt runs/v3ft-gpu.pt --out ../models --name hued-color-v3

1. Measures candidate heads on validation (fp32, torch): the regression head, the annealed mean
   of the class distribution at several temperatures, and blends, each with and without the
   confidence gate (model.ExportWrapper, gamma) and at vividness 1.0 and 1.2; picks by the
   selection rule: among the candidates that beat the gray baseline on PSNR and CIEDE2000 on
   every kind of photo (val_kinds.tsv) and overall, the most colorful (do no harm, then be as
   vivid as possible). The sweep is written to <out>/export_sweep.json and as a markdown table
   to <out>/export_sweep.md.
2. Exports it as ONNX (opset 13; H and W dynamic) and quantizes it statically to QDQ int8
   (per-channel s8 weights, s8 activations) calibrated on validation photos.
3. Compares int8 with fp32 on validation and writes <name>-int8.onnx and its manifest.
"""
import argparse
import random
import hashlib
import json
import os

import numpy as np
import torch

import evaluate as ev
from data import list_images, load_rgb
from model import Colorizer, ExportWrapper

TARGETS = {'psnr': (22.4, 1), 'ciede2000': (10.4, -1), 'auc': (0.90, 1), 'colorfulness': (31.5, 1)}


class TorchColorizer:
    def __init__(self, wrapper):
        self.w = wrapper.eval()

    @torch.no_grad()
    def __call__(self, l_small):
        l = torch.from_numpy(l_small / 100.0).float()[None, None]
        return self.w(l, torch.zeros(1, 3, *l_small.shape))[0].numpy() * 110.0


def balanced_choice(results, margin=0.3):
    """The selection rule: the most colorful candidate that does no harm (beats gray on PSNR and
    CIEDE2000 overall and on every kind), by the target's margin (+0.3 dB, -0.3 CIEDE2000) where
    any candidate reaches it, else by any margin; where none does, the one whose worst kind
    loses least."""
    for m in (margin, 0.0):
        ok = [r for r in results if ev.does_no_harm(r['metrics'], m)]
        if ok:
            return max(ok, key=lambda r: r['metrics']['hued']['colorfulness'])
    return max(results, key=lambda r: min(worst_gains(r['metrics'])))


def worst_gains(m):
    """Per kind and overall: PSNR gain over gray and CIEDE2000 gain (gray minus model)."""
    groups = [m] + list(m.get('kinds', {}).values())
    return [min(g['hued']['psnr'] - g['gray']['psnr'], g['gray']['ciede2000'] - g['hued']['ciede2000']) for g in groups]


def targets_met(m):
    return sum((m[k] - t) * s >= 0 for k, (t, s) in TARGETS.items())


def load_net(ckpt_path):
    ck = torch.load(ckpt_path, map_location='cpu')
    net = Colorizer(len(ck['centers']), pretrained=False)
    # A checkpoint from before the decoder's hint branches (v1) loads with them at zero,
    # which is exactly the network it was. float16 checkpoints (from a GPU run) load as float.
    state = {k: v.float() if v.is_floating_point() else v for k, v in ck['model'].items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith('hint') for k in missing), (missing, unexpected)
    return net.eval(), ck['centers']


class CachedNet(torch.nn.Module):
    """The network's outputs per input, computed once: the sweep tries many heads on the same photos."""

    def __init__(self, net):
        super().__init__()
        self.net, self.cache = net, {}

    def forward(self, l, hints):
        key = (l.numpy().tobytes(), hints.numpy().tobytes())
        if key not in self.cache:
            self.cache[key] = self.net(l, hints)
        return self.cache[key]


CANDIDATE_HEADS = [(0.0, 1.0), (1.0, 0.38), (1.0, 0.5), (0.5, 0.38)]


def sweep(net, centers, files, gammas=(0.0, 1.0), vividnesses=(1.0, 1.25, 1.5)):
    """Every candidate head's metrics, per kind and overall (gray baseline inside each)."""
    results, cached = [], CachedNet(net)
    for alpha, t in CANDIDATE_HEADS:
        for gamma in gammas:
            for viv in vividnesses:
                m = ev.evaluate(TorchColorizer(ExportWrapper(cached, centers, t, alpha, gamma)), files, viv)
                r = {'alpha': alpha, 'temperature': t, 'gamma': gamma, 'vividness': viv, 'no_harm': ev.does_no_harm(m),
                     'met': targets_met(m['hued']), 'metrics': m}
                print(json.dumps({k: v for k, v in r.items() if k != 'metrics'} | {'worst_gain': round(min(worst_gains(m)), 3),
                                  'colorfulness': round(m['hued']['colorfulness'], 1)}), flush=True)
                results.append(r)
    return results


def sweep_markdown(results, chosen):
    """The candidates table for MODEL_CARD.md: per kind, PSNR and CIEDE2000 against gray."""
    kinds = list(results[0]['metrics'].get('kinds', {}))
    head = ('| head | gate | viv | ' + ' | '.join(f'{k} dPSNR / dDE' for k in kinds) +
            ' | all dPSNR / dDE | colorful | false color | no harm |\n|' + '---|' * (len(kinds) + 7) + '\n')
    rows = []
    for r in results:
        m = r['metrics']
        d = lambda g: f"{g['hued']['psnr'] - g['gray']['psnr']:+.2f} / {g['hued']['ciede2000'] - g['gray']['ciede2000']:+.2f}"
        name = 'regression' if r['alpha'] == 0 else f"{r['alpha']:g} x mean(T={r['temperature']:g})" + (' + reg' if r['alpha'] < 1 else '')
        mark = ' **chosen**' if r is chosen else ''
        rows.append(f"| {name}{mark} | {r['gamma']:g} | {r['vividness']:g} | " + ' | '.join(d(m['kinds'][k]) for k in kinds) +
                    f" | {d(m)} | {m['hued']['colorfulness']:.1f} | {100 * m['hued']['false_color']:.1f} % | {'yes' if r['no_harm'] else 'no'} |\n")
    return head + ''.join(rows)


class CalibrationReader:
    """Validation photos at one model size (256x192, portraits turned): the percentile
    calibrator needs equal shapes, and a turned photo has the same statistics."""

    def __init__(self, files, n=48):
        # Half the samples carry true-color hints: calibrated on zeros alone, the hint input's
        # quantization range collapsed to nothing and the int8 model ignored every hint (v1).
        self.items, rng = [], random.Random(0)
        for i, f in enumerate(files[:n]):
            lab = ev.rgb_to_lab(np.asarray(load_rgb(f)).astype(np.float32) / 255.0)
            if lab.shape[0] > lab.shape[1]:
                lab = lab.transpose(1, 0, 2)
            w, h = 256, 192
            small = np.stack([ev.shrink(lab[..., c], w, h) for c in range(3)], -1)
            hints = ev.true_hints(small, rng, rng.randint(1, 12)) if i % 2 else np.zeros((3, h, w), np.float32)
            self.items.append({'l': (small[..., 0] / 100.0)[None, None].astype(np.float32), 'hints': hints[None]})
        self.it = iter(self.items)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):
        self.it = iter(self.items)


def export_onnx(wrapper, path):
    l, hints = torch.rand(1, 1, 256, 192), torch.zeros(1, 3, 256, 192)
    torch.onnx.export(wrapper.eval(), (l, hints), path, input_names=['l', 'hints'], output_names=['ab'], opset_version=13,
                      dynamic_axes={'l': {2: 'h', 3: 'w'}, 'hints': {2: 'h', 3: 'w'}, 'ab': {2: 'h4', 3: 'w4'}},
                      do_constant_folding=True, dynamo=False)


def quantize(fp32_path, int8_path, files, exclude=()):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    pre = fp32_path.replace('.onnx', '.pre.onnx')
    quant_pre_process(fp32_path, pre, skip_symbolic_shape=True)
    quantize_static(pre, int8_path, CalibrationReader(files), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.Percentile, nodes_to_exclude=list(exclude),
                    extra_options={'ActivationSymmetric': True, 'CalibPercentile': 99.99})
    os.remove(pre)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ckpt', default='runs/v2/last.pt')
    ap.add_argument('--val', default='../../shared/data/val')
    ap.add_argument('--out', default='../models')
    ap.add_argument('--name', default='hued-color-v3')
    ap.add_argument('--alpha', type=float, help='skip the sweep: use this head mix')
    ap.add_argument('--temperature', type=float, default=0.38)
    ap.add_argument('--gamma', type=float, default=0.0, help='with --alpha: the confidence gate exponent')
    ap.add_argument('--vividness', type=float, default=1.0, help='with --alpha: chroma gain built into the graph')
    ap.add_argument('--limit', type=int, default=0, help='use only N validation photos (smoke tests)')
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    files = list_images(args.val)
    if args.limit:
        files = files[:args.limit]
    net, centers = load_net(args.ckpt)

    if args.alpha is None:
        results = sweep(net, centers, files)
        best = balanced_choice(results)
        json.dump({'candidates': results, 'chosen': results.index(best)}, open(os.path.join(args.out, 'export_sweep.json'), 'w'), indent=1)
        open(os.path.join(args.out, 'export_sweep.md'), 'w').write(sweep_markdown(results, best))
        alpha, temperature, gamma, vividness = best['alpha'], best['temperature'], best['gamma'], best['vividness']
        print(f"chosen: alpha {alpha}, T {temperature}, gamma {gamma}, vividness {vividness} "
              f"(does no harm: {best['no_harm']}; {best['met']}/4 overall targets)")
    else:
        alpha, temperature, gamma, vividness = args.alpha, args.temperature, args.gamma, args.vividness
    # The chosen vividness goes into the graph, so hued's default (1.0) gives what was measured.
    wrapper = ExportWrapper(net, centers, temperature, alpha, gamma, gain=vividness)

    fp32 = os.path.join(args.out, f'{args.name}-fp32.onnx')
    int8 = os.path.join(args.out, f'{args.name}-int8.onnx')
    export_onnx(wrapper, fp32)
    # The class probabilities and the head after them stay in float: 8-bit softmax outputs
    # cost more accuracy than they save in size.
    import onnx
    g = onnx.load(fp32).graph
    tail = [n.name for n in g.node if n.op_type in ('Softmax', 'Div', 'Mul', 'Add', 'Tanh') and not n.name.startswith('/net/blocks')]
    # Everything after the network (head mix, confidence gate, gain) stays in float too.
    tail += [n.name for n in g.node if not n.name.startswith('/net/')]
    # The decoder's hint branches are tiny (about 0.1 MB in float) and their inputs are sparse:
    # kept in float, they follow a hint as trained.
    tail += [n.name for n in g.node if n.name.startswith('/net/hint') or (n.op_type in ('AveragePool', 'MaxPool') and not n.name.startswith('/net/blocks'))]
    # So is the last decoder stage with the heads (about 0.3 MB more): in int8, their rounding
    # put a faint tint on neutral areas (v2 CIEDE2000 12.16 fp32 -> 12.95 int8, worse than gray).
    tail += [n.name for n in g.node if n.name.startswith(('/net/up4', '/net/reg', '/net/cls'))]
    quantize(fp32, int8, files, exclude=tail)

    # The vividness is inside the graph now: measured at hued's default of 1.0.
    m32 = ev.evaluate(ev.OnnxColorizer(fp32), files, 1.0)
    m8 = ev.evaluate(ev.OnnxColorizer(int8), files, 1.0, sheet=os.path.join(args.out, 'contact_sheet.png'))
    # How much the user's color hints help: 5 true-color hints per photo (evaluate.true_hints).
    m8h = ev.evaluate(ev.OnnxColorizer(int8), files, 1.0, n_hints=5)
    report = {'alpha': alpha, 'temperature': temperature, 'gamma': gamma, 'vividness': vividness, 'fp32': m32, 'int8': m8, 'int8_5_hints': m8h,
              'int8_size_bytes': os.path.getsize(int8), 'fp32_size_bytes': os.path.getsize(fp32)}
    json.dump(report, open(os.path.join(args.out, f'{args.name}-eval.json'), 'w'), indent=1)
    print(ev.markdown(m32, 'fp32'))
    print(ev.markdown(m8, 'int8'))
    print(ev.markdown(m8h, 'int8, 5 true-color hints per photo'))
    print(f"int8 - fp32 PSNR: {m8['hued']['psnr'] - m32['hued']['psnr']:+.3f} dB; size {os.path.getsize(int8) / 1e6:.2f} MB")

    sha = hashlib.sha256(open(int8, 'rb').read()).hexdigest()
    with open(os.path.join(args.out, f'{args.name}-int8.toml'), 'w') as f:
        f.write(f'''# hued's own colorizer: see MODEL_CARD.md. Written by training/export.py.
name = "{args.name}-int8"
onnx = "{args.name}-int8.onnx"
sha256 = "{sha}"
description = "EfficientNet-Lite0 U-Net, int8 QDQ; head: {alpha} x annealed mean (T={temperature}) + {1 - alpha:.2f} x regression, confidence gate gamma {gamma}, chroma gain {vividness} built in"

[input]
l_name = "l"
l_scale = 0.01
l_offset = 0.0
hints_name = "hints"
hint_ab_scale = {1 / 110}
size_multiple = 32
long_side = 256
min_side = 64
max_side = 512

[output]
name = "ab"
ab_scale = 110.0
downsample = 4
''')
    print(f"wrote {int8} and its manifest")


if __name__ == '__main__':
    main()
