#!/usr/bin/env python3
"""Recover v2's float weights from the shipped int8 ONNX file, as a checkpoint train.py can
start from (--init). v2's training checkpoints lived in a git-ignored folder of a machine that
is gone; the shipped model holds the same network with BatchNorm folded into the convolutions
and the weights in per-channel int8, so the weights come back within int8 rounding:

    python3 training/recover_v2.py --onnx models/hued-color-v2-int8.onnx --out training/runs/v2-recovered.pt

Each folded conv goes back into its conv; its BatchNorm is set so that it passes the conv's
output through plus the folded bias, in eval mode *and* in training mode (its running mean and
variance are measured on training crops and its scale and shift chosen to undo them). v2
exported its regression head only, so the classification head starts fresh (zero), and the ab
bins are measured anew on the training photos.
"""
import argparse
import os

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from gpu_data import DeviceCropSampler, read_photos, to_lab_batch
from model import Colorizer
from train import ab_bins, rebalance_weights


def onnx_weights(path):
    """{conv node name: (weight, bias)} with DequantizeLinear applied."""
    g = onnx.load(path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    prod = {o: n for n in g.node for o in n.output}

    def value(name):
        if name in inits:
            return inits[name].astype(np.float32)
        n = prod[name]
        assert n.op_type == 'DequantizeLinear', n.op_type
        q, scale = inits[n.input[0]].astype(np.float32), inits[n.input[1]].astype(np.float32)
        zp = inits[n.input[2]].astype(np.float32) if len(n.input) > 2 else np.zeros_like(scale)
        axis = next((a.i for a in n.attribute if a.name == 'axis'), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        return (q - zp) * scale
    return {n.name: (value(n.input[1]), value(n.input[2]) if len(n.input) > 2 else None) for n in g.node if n.op_type == 'Conv'}


# Conv module -> the BatchNorm after it (EfficientNet's MBConv: _expand_conv/_bn0,
# _depthwise_conv/_bn1, _project_conv/_bn2; conv_bn: index 0 -> 1).
def bn_after(path):
    for conv, bn in (('_expand_conv', '_bn0'), ('_depthwise_conv', '_bn1'), ('_project_conv', '_bn2')):
        if path.endswith(conv):
            return path[: -len(conv)] + bn
    if path == 'stem':
        return 'bn0'
    head, _, last = path.rpartition('.')
    if path.startswith(('center', 'up')) and last == '0':
        return head + '.1'
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--onnx', default='../models/hued-color-v2-int8.onnx')
    ap.add_argument('--train', default='../../shared/data/train')
    ap.add_argument('--out', default='runs/v2-recovered.pt')
    ap.add_argument('--limit', type=int, default=0, help='use only the first N photos (smoke tests)')
    args = ap.parse_args()
    torch.manual_seed(0)
    photos = read_photos(args.train, args.limit)
    sampler = DeviceCropSampler(photos, 128, torch.device('cpu'))
    centers, prob = ab_bins(sampler, n_batches=40)
    weights = rebalance_weights(centers, prob)
    net = Colorizer(len(centers), pretrained=False)
    modules = dict(net.named_modules())
    folded = onnx_weights(args.onnx)
    loaded, bns = set(), []
    with torch.no_grad():
        for name, (w, b) in folded.items():
            # '/net/blocks.0/_depthwise_conv/Conv' -> 'blocks.0._depthwise_conv';
            # '/net/up4/up4.0/up4.0.0/Conv' -> 'up4.0.0' (a Sequential's scope repeats its path).
            parts = name.removeprefix('/net/').removesuffix('/Conv').split('/')
            path = parts[-1] if len(parts) == 1 or parts[-1].startswith(parts[-2]) else '.'.join(parts)
            conv = modules[path]
            assert tuple(conv.weight.shape) == w.shape, (path, conv.weight.shape, w.shape)
            conv.weight.copy_(torch.from_numpy(w))
            bn = bn_after(path)
            if bn is not None:
                bns.append((modules[bn], torch.from_numpy(b)))
                loaded.add(bn)
            elif conv.bias is not None:
                conv.bias.copy_(torch.from_numpy(b))
            loaded.add(path)
        # The classification head was not exported: it starts at zero (a uniform distribution).
        net.cls.weight.zero_(); net.cls.bias.zero_()
        # Pass-through BatchNorms first, then measure the statistics each one sees in training.
        for bn, b in bns:
            bn.running_mean.zero_(); bn.running_var.fill_(1 - bn.eps); bn.weight.fill_(1.0); bn.bias.copy_(b)
        stats = {}
        hooks = [bn.register_forward_hook(lambda m, i, o: stats.setdefault(m, []).append(
            (i[0].mean(dim=(0, 2, 3)), i[0].var(dim=(0, 2, 3))))) for bn, _ in bns]
        net.eval()
        for _ in range(8):
            l, _ab = to_lab_batch(sampler.batch(32))
            net(l, torch.zeros(l.shape[0], 3, *l.shape[2:]))
        for h in hooks:
            h.remove()
        for bn, b in bns:
            mean = torch.stack([s[0] for s in stats[bn]]).mean(0)
            var = torch.stack([s[1] for s in stats[bn]]).mean(0)
            bn.running_mean.copy_(mean); bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps)); bn.bias.copy_(mean + b)
    missing = sorted({p for p, m in modules.items() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))} - loaded - {'cls'})
    assert not missing, missing
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    torch.save({'model': net.state_dict(), 'centers': centers, 'weights': weights, 'step': 0,
                'lineage': [f'recovered from {os.path.basename(args.onnx)}']}, args.out)
    print(f"recovered {len(folded)} convolutions ({len(bns)} with BatchNorm) -> {args.out}; {len(centers)} ab bins")


if __name__ == '__main__':
    main()
