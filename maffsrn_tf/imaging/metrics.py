"""PSNR and SSIM by the SR field's MATLAB protocol, in NumPy.

Protocol: the Y channel of ITU-R BT.601 ``rgb2ycbcr`` (computed on [0,1] doubles, in
[16, 235]), ``scale`` pixels shaved from every border, PSNR with peak 255, and SSIM of
Wang et al. (2004): 11x11 gaussian window, sigma 1.5, K1=0.01, K2=0.03, 'valid' filtering.
A single-channel image is evaluated on its own values, as the MATLAB scripts do.
"""

import math

import numpy as np

_Y = np.array([65.481, 128.553, 24.966]) / 255.0


def to_y(image):
    """Y channel in [0, 255] float64 of a uint8 RGB image; a 2-D image is returned as is."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0].astype(np.float64)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected HxW or HxWx3 image, got shape {image.shape}")
    return 16.0 + image.astype(np.float64) @ _Y


def _prepare(hr, sr, scale):
    hr, sr = np.asarray(hr), np.asarray(sr)
    if hr.shape[:2] != sr.shape[:2]:
        raise ValueError(f"HR {hr.shape} and SR {sr.shape} differ in size")
    if hr.ndim == 2 and sr.ndim == 3:  # grayscale ground truth, colour output
        sr = np.round(sr.astype(np.float64).mean(axis=-1))
    y_hr, y_sr = to_y(hr), to_y(sr)
    if scale:
        y_hr = y_hr[scale:-scale, scale:-scale]
        y_sr = y_sr[scale:-scale, scale:-scale]
    return y_hr, y_sr


SSIM_WINDOW = 11  # ssim's gaussian window


def min_hr_side(scale):
    """The smallest HR side measured at ``scale``: mod-cropped to the scale, ``scale``
    pixels shaved from each border, at least SSIM's 11x11 window left."""
    return scale * math.ceil((SSIM_WINDOW + 2 * scale) / scale)


def psnr(hr, sr, scale):
    """PSNR (dB) of uint8 ``sr`` against ``hr`` on Y, ``scale`` border pixels shaved."""
    y_hr, y_sr = _prepare(hr, sr, scale)
    mse = np.mean((y_hr - y_sr) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _gaussian_window(size=11, sigma=1.5):
    ax = np.arange(size) - (size - 1) / 2
    g = np.exp(-(ax**2) / (2 * sigma**2))
    w = np.outer(g, g)
    return w / w.sum()


def _filter_valid(image, window):
    k = window.shape[0]
    h, w = image.shape
    out = np.zeros((h - k + 1, w - k + 1))
    for dy in range(k):
        for dx in range(k):
            out += window[dy, dx] * image[dy : dy + h - k + 1, dx : dx + w - k + 1]
    return out


def ssim(hr, sr, scale):
    """SSIM of uint8 ``sr`` against ``hr`` on Y, ``scale`` border pixels shaved."""
    y_hr, y_sr = _prepare(hr, sr, scale)
    window = _gaussian_window(SSIM_WINDOW)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = _filter_valid(y_hr, window), _filter_valid(y_sr, window)
    s11 = _filter_valid(y_hr * y_hr, window) - mu1 * mu1
    s22 = _filter_valid(y_sr * y_sr, window) - mu2 * mu2
    s12 = _filter_valid(y_hr * y_sr, window) - mu1 * mu2
    num = (2 * mu1 * mu2 + c1) * (2 * s12 + c2)
    den = (mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2)
    return float(np.mean(num / den))
