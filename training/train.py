#!/usr/bin/env python3
"""Train hued's colorizer.

    python3 train.py --out runs/v1 --minutes 90        # CPU (see MODEL_CARD.md for the v3 GPU commands)
    python3 train.py --out runs/gpu --device cuda --minutes 6 --batch 64 --size 224 --distill 1

Loss: rebalanced cross-entropy over quantized ab bins with soft targets (Zhang et al. 2016)
plus an L1 regression head; export.py measures both heads on validation and picks the mix.
v3 adds: batches made on the device (gpu_data.py), scan-like degradations of the input
(--degrade), distillation of the ImageNet encoder's features of the color crop (--distill),
an exponential moving average of the weights (--ema; what export.py uses), optionally an L1
weighted toward rare colors (--reg-balance) and a slower encoder (--enc-lr-mult).
Checkpoints go to --out (git-ignored); `--resume` continues from the last one.
"""
import time as _time

STARTED = _time.time()

import argparse
import contextlib
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from gpu_data import DeviceCropSampler, degrade, random_hints, read_photos, to_lab_batch
from model import Colorizer, ImageNetTeacher

GRID = 10.0  # ab bin size


def ab_bins(sampler, n_batches=40, batch=32):
    """The ab bins that real photos use (out-of-gamut bins never occur), and their frequencies."""
    counts = {}
    for _ in range(n_batches):
        _, ab = to_lab_batch(sampler.batch(batch))
        ab = ab.cpu()
        q = torch.round(ab / GRID).long().permute(0, 2, 3, 1).reshape(-1, 2)
        keys, c = torch.unique(q, dim=0, return_counts=True)
        for k, v in zip(keys.tolist(), c.tolist()):
            counts[tuple(k)] = counts.get(tuple(k), 0) + v
    keys = sorted(counts)
    centers = torch.tensor(keys, dtype=torch.float32) * GRID
    freq = torch.tensor([counts[k] for k in keys], dtype=torch.float32)
    return centers, freq / freq.sum()


def rebalance_weights(centers, prob, lam=0.5, sigma=5.0):
    """Zhang et al. 2016: smooth the bin distribution, mix with uniform, invert, normalize to E[w]=1."""
    d2 = torch.cdist(centers, centers) ** 2
    smooth = (torch.exp(-d2 / (2 * sigma ** 2)) @ prob)
    smooth = smooth / smooth.sum()
    w = 1.0 / ((1 - lam) * smooth + lam / len(centers))
    return w / (w * smooth).sum()


def soft_targets(ab, centers, k=5, sigma=5.0):
    """(N,2,h,w) ab -> (N,Q,h,w) soft one-hot over the k nearest bins (Gaussian weights)."""
    n, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d = torch.cdist(flat, centers)
    dk, ik = d.topk(k, largest=False)
    wk = torch.exp(-dk ** 2 / (2 * sigma ** 2))
    wk = wk / wk.sum(1, keepdim=True)
    t = torch.zeros(flat.shape[0], centers.shape[0], device=ab.device).scatter_(1, ik, wk)
    return t.view(n, h, w, -1).permute(0, 3, 1, 2), ik[:, 0].view(n, h, w)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--train', nargs='+', default=['../../shared/data/train'], help='photo folders (or .tar files); the first is the main set, the others extra photos (extra_data.py)')
    ap.add_argument('--extra-repeat', type=int, default=1, help='each photo of the sources after the first is drawn this many times as often (v8: 3)')
    ap.add_argument('--val', default='../../shared/data/val')
    ap.add_argument('--out', default='runs/v1')
    ap.add_argument('--steps', type=int, default=100000, help='upper bound on steps')
    ap.add_argument('--minutes', type=float, default=0, help='time budget: the learning-rate schedule follows elapsed time and training stops when it is spent (0: schedule by --steps)')
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--size', type=int, default=128, help='crop size (multiple of 32)')
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--reg-weight', type=float, default=10.0)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--limit', type=int, default=0, help='use only the first N photos (smoke tests)')
    ap.add_argument('--no-pretrained', action='store_true', help='random encoder (smoke tests)')
    ap.add_argument('--resume', action='store_true')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--init', help='start from the weights of this checkpoint (new layers start at zero), with a fresh optimizer and schedule')
    ap.add_argument('--hint-share', type=float, default=0.5, help='share of samples that carry hints')
    ap.add_argument('--hint-points', type=float, default=8, help='mean number of hint patches on a hinted sample')
    ap.add_argument('--hint-max-patch', type=int, default=4, help='largest hint patch side in pixels')
    ap.add_argument('--hint-weight', type=float, default=0.0, help='extra L1 weight on output cells that hold a hint')
    ap.add_argument('--degrade', type=float, default=0.0, help='share of samples whose input is made to look like an old scan')
    ap.add_argument('--distill', type=float, default=0.0, help='weight of the ImageNet-feature distillation loss')
    ap.add_argument('--ema', type=float, default=0.0, help='decay of the weights\' moving average (0: none)')
    ap.add_argument('--reg-balance', type=float, default=0.0, help='L1 weighted by the rebalancing weight to this power (0: plain L1)')
    ap.add_argument('--enc-lr-mult', type=float, default=0.3, help='encoder learning rate as a share of --lr')
    ap.add_argument('--save-every', type=int, default=1000, help='checkpoint (and --half-out) every N steps')
    ap.add_argument('--head-lr-mult', type=float, default=1.0, help='learning rate of the classification head as a multiple of --lr (a fresh head learns faster)')
    ap.add_argument('--only', nargs='*', default=[], help='train only the parameters under these module names (e.g. cls); the rest stay frozen')
    ap.add_argument('--freeze-bn', action='store_true', help='keep every BatchNorm layer in eval mode (its running statistics as loaded, its scale and shift still trained): a small CPU batch would drift the statistics (v7)')
    ap.add_argument('--neutral-weight', type=float, default=0.0, help='weight of the cast penalty: the squared batch-mean (a, b) the regression head paints on truly neutral pixels (true chroma < 6), plus their L1 weighted up by the same factor (v4)')
    ap.add_argument('--half-out', help='also write the final weights (the average where --ema) in float16 here, for transfer')
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = dev.type == 'cuda'

    t0 = time.time()
    photos = read_photos(args.train[0], args.limit)
    for extra in args.train[1:]:
        photos += read_photos(extra, args.limit) * args.extra_repeat
    sampler = DeviceCropSampler(photos, args.size, dev, seed=args.seed)
    del photos
    gen = sampler.gen
    print(f"loaded {len(sampler.store)} photos in {time.time() - t0:.0f}s ({time.time() - STARTED:.0f}s since start)", flush=True)

    ckpt_path = os.path.join(args.out, 'last.pt')
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location='cpu')
        centers, weights = ck['centers'], ck['weights']
    elif args.init:
        ck, init = None, torch.load(args.init, map_location='cpu')
        centers, weights = init['centers'], init['weights']
    else:
        ck = None
        centers, prob = ab_bins(sampler, n_batches=10 if args.limit else 40)
        weights = rebalance_weights(centers, prob)
    print(f"{len(centers)} ab bins in use", flush=True)

    net = Colorizer(len(centers), pretrained=not args.no_pretrained).to(dev)
    if args.only:
        for name, p in net.named_parameters():
            p.requires_grad_(name.split('.')[0] in args.only)
        # Frozen layers keep their BatchNorm statistics: a small CPU batch would drift them.
        for name, module in net.named_children():
            if name not in args.only:
                module.eval()
    if args.freeze_bn:
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
    enc_params = list(net.stem.parameters()) + list(net.bn0.parameters()) + list(net.blocks.parameters())
    enc_ids = {id(p) for p in enc_params}
    dec_params = [p for p in net.parameters() if id(p) not in enc_ids]
    head_ids = {id(p) for p in net.cls.parameters()}
    enc_params = [p for p in enc_params if p.requires_grad]
    head_params = [p for p in dec_params if p.requires_grad and id(p) in head_ids]
    dec_params = [p for p in dec_params if p.requires_grad and id(p) not in head_ids]
    groups = [{'params': enc_params, 'lr': args.lr * args.enc_lr_mult}, {'params': dec_params, 'lr': args.lr},
              {'params': head_params, 'lr': args.lr * args.head_lr_mult}]
    opt = torch.optim.AdamW([g for g in groups if g['params']], weight_decay=1e-4)
    ema = torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None
    teacher = ImageNetTeacher().to(dev) if args.distill else None
    amp = torch.autocast('cuda', dtype=torch.bfloat16) if dev.type == 'cuda' else contextlib.nullcontext()
    start, elapsed_before = 0, 0.0
    if args.init and not ck:
        missing, unexpected = net.load_state_dict(init['model'], strict=False)
        assert not unexpected, unexpected
        print(f"initialized from {args.init}; new layers: {sorted({k.split('.')[0] for k in missing})}", flush=True)
    if ck:
        net.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        if ema is not None and 'ema' in ck:
            ema.module.load_state_dict(ck['ema'])
        start = ck['step']
        elapsed_before = ck.get('elapsed_s', 0)
    base_lrs = [g['lr'] for g in opt.param_groups]
    centers_d, weights_d = centers.to(dev), weights.to(dev)

    lineage = (ck.get('lineage', []) if ck else init.get('lineage', []) + [args.init] if args.init else [])
    done_steps = start

    def save():
        torch.save({'model': net.state_dict(), 'opt': opt.state_dict(), 'step': done_steps,
                    'ema': ema.module.state_dict() if ema is not None else None,
                    'centers': centers, 'weights': weights, 'args': vars(args), 'lineage': lineage,
                    'elapsed_s': time.time() - t_start + elapsed_before}, ckpt_path + '.tmp')
        os.replace(ckpt_path + '.tmp', ckpt_path)
        if args.half_out:
            final = (ema.module if ema is not None else net).state_dict()
            torch.save({'model': {k: v.half() if v.is_floating_point() else v for k, v in final.items()}, 'step': done_steps,
                        'centers': centers, 'weights': weights, 'args': vars(args), 'lineage': lineage}, args.half_out + '.tmp')
            os.replace(args.half_out + '.tmp', args.half_out)

    print(f"training from {time.time() - STARTED:.0f}s since start", flush=True)
    log = open(os.path.join(args.out, 'train_log.jsonl'), 'a')
    t_start, run_ce, run_l1, run_dist, run_cast = time.time(), 0.0, 0.0, 0.0, 0.0
    for step in range(start, args.steps):
        warm = min(1.0, (step + 1) / 100)
        done_steps = step
        if args.minutes:
            frac = (time.time() - t_start + elapsed_before) / (args.minutes * 60)
            if frac >= 1.0:
                break
        else:
            frac = step / args.steps
        cos = 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        for g, lr in zip(opt.param_groups, base_lrs):
            g['lr'] = lr * warm * (0.02 + 0.98 * cos)
        rgb = sampler.batch(args.batch)
        l, ab = to_lab_batch(rgb)
        hints = random_hints(ab, gen, args.hint_share, args.hint_points, args.hint_max_patch)
        if args.degrade:
            l = degrade(l, gen, args.degrade)
        with amp:
            if teacher is not None:
                logits, reg, feats = net(l, hints, return_features=True)
                t_feats = teacher(rgb)
            else:
                logits, reg = net(l, hints)
        logits, reg = logits.float(), reg.float()
        ab4 = F.avg_pool2d(ab, 4)
        target, nearest = soft_targets(ab4, centers_d)
        ce = -(target * F.log_softmax(logits, 1)).sum(1)
        ce = (ce * weights_d[nearest]).mean()
        l1_map = (reg - ab4 / 110.0).abs()
        if args.reg_balance:
            # Rare colors weigh more, so the regression stops averaging toward the commonest
            # (green-brown) ones; normalized so the loss keeps its scale.
            w = weights_d[nearest].unsqueeze(1) ** args.reg_balance
            l1 = (l1_map * w).mean() / w.mean()
        else:
            l1 = l1_map.mean()
        if args.hint_weight:
            # Where the user gave a color the answer is known: following it is weighted up.
            at_hint = F.max_pool2d(hints[:, 2:3], 4)
            l1 = l1 + args.hint_weight * (l1_map * at_hint).sum() / at_hint.sum().clamp(min=1.0) / 2
        loss = ce + args.reg_weight * l1
        cast = torch.zeros(())
        if args.neutral_weight:
            # The measured cast (v3: mean b +6.5 on neutral pixels) is a learned prior: where the
            # truth is gray, the batch-mean color painted there is pushed to zero (cast, in ab
            # units squared / 100), and those pixels' own L1 weighs (1 + weight) times, so gray
            # walls and white robes stay gray. The logged l1_ab stays the plain L1.
            neutral = (ab4.norm(dim=1, keepdim=True) < 6.0).float()
            mean_ab = (reg * 110.0 * neutral).sum(dim=(0, 2, 3)) / neutral.sum().clamp(min=1.0)
            cast = (mean_ab ** 2).sum() / 100.0
            loss = loss + args.neutral_weight * (args.reg_weight * (l1_map * neutral).mean() + cast)
        dist = torch.zeros(())
        if teacher is not None:
            # Each teacher channel scaled to unit variance, so both strides weigh alike.
            dist = sum(((s.float() - t.float()) ** 2 / (t.float().var(dim=(0, 2, 3), keepdim=True) + 1e-3)).mean()
                       for s, t in zip(feats, t_feats)) / 2
            loss = loss + args.distill * dist
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            ema.update_parameters(net)
        done_steps = step + 1
        run_ce += ce.item(); run_l1 += l1.item(); run_dist += float(dist.detach()); run_cast += float(cast.detach())
        if (step + 1) % 50 == 0 or step + 1 == args.steps:
            n = 50 if (step + 1) % 50 == 0 else (step + 1) % 50
            el = time.time() - t_start
            rec = {'step': step + 1, 'ce': run_ce / n, 'l1_ab': run_l1 / n * 110, 'distill': run_dist / n, 'cast': run_cast / n, 'elapsed_s': round(el)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + '\n'); log.flush()
            run_ce = run_l1 = run_dist = run_cast = 0.0
        if (step + 1) % args.save_every == 0 or step + 1 == args.steps:
            save()
    save()
    print(f"done: {done_steps - start} steps in {time.time() - t_start:.0f}s", flush=True)


if __name__ == '__main__':
    main()
