"""sRGB <-> CIELAB (D65), the same formulas as hued's Rust code (src/color.rs).

L is in 0..100, a and b roughly in -110..110. Written out here (rather than taken from
scikit-image) so that training, evaluation and the Rust pipeline agree to the last constant.
"""
import numpy as np
import torch

# sRGB primaries, D65 white: linear RGB -> XYZ.
RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                       [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]], dtype=np.float32)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ).astype(np.float32)
WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
DELTA = 6.0 / 29.0


def srgb_to_linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c):
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _f(t):
    return np.where(t > DELTA ** 3, np.cbrt(t), t / (3 * DELTA ** 2) + 4.0 / 29.0)


def _finv(f):
    return np.where(f > DELTA, f ** 3, 3 * DELTA ** 2 * (f - 4.0 / 29.0))


def rgb_to_lab(rgb):
    """rgb: float array (..., 3) in 0..1 (sRGB). Returns (..., 3) Lab."""
    lin = srgb_to_linear(rgb.astype(np.float32))
    xyz = lin @ RGB_TO_XYZ.T / WHITE
    f = _f(xyz)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1).astype(np.float32)


def lab_to_rgb(lab):
    """lab: (..., 3). Returns sRGB in 0..1 (clipped)."""
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    fy = (L + 16) / 116
    fx = fy + a / 500
    fz = fy - b / 200
    xyz = np.stack([_finv(fx), _finv(fy), _finv(fz)], axis=-1) * WHITE
    lin = xyz @ XYZ_TO_RGB.T
    return linear_to_srgb(lin).astype(np.float32)


def gray_l(rgb):
    """The L channel of an sRGB image: what hued keeps of its input."""
    return rgb_to_lab(rgb)[..., 0]


# ---- torch versions (N, 3, H, W), used on the fly in training ----
_RGB_TO_XYZ_T = torch.from_numpy(RGB_TO_XYZ / WHITE[:, None])


def torch_rgb_to_lab(rgb):
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum('ij,njhw->nihw', _RGB_TO_XYZ_T.to(rgb), lin)
    f = torch.where(xyz > DELTA ** 3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * DELTA ** 2) + 4 / 29)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], dim=1)
