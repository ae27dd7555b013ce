"""MATLAB's bicubic ``imresize`` for uint8 images, reproduced bit for bit.

The SR benchmarks' LR images are made with MATLAB ``imresize(hr, 1/s, 'bicubic')``; a
different resampler changes every published PSNR. MATLAB's algorithm: a cubic kernel with
a = -0.5, stretched by 1/scale (antialiasing) when shrinking and normalized per output pixel,
out-of-range taps clamped to the edge, the height resized before the width, and the result
rounded half-up and saturated to uint8 after each 1-D pass.
"""

import math
import numbers

import numpy as np

from maffsrn_tf.errors import MaffsrnError

# the largest result imresize makes (a typo'd scale would otherwise ask for terabytes)
MAX_OUTPUT_PIXELS = 1_000_000_000


def _cubic(x):
    x = np.abs(x)
    x2, x3 = x * x, x * x * x
    return (1.5 * x3 - 2.5 * x2 + 1) * (x <= 1) + (-0.5 * x3 + 2.5 * x2 - 4 * x + 2) * (
        (x > 1) & (x <= 2)
    )


def _exact(scale):
    """Snap ``scale`` and ``1/scale`` to integers when they are integers up to rounding."""
    inv = 1.0 / scale
    if abs(inv - round(inv)) < 1e-9:
        return 1.0 / round(inv), float(round(inv))
    if abs(scale - round(scale)) < 1e-9:
        return float(round(scale)), 1.0 / round(scale)
    return scale, inv


def contributions(in_length, out_length, scale):
    """Taps ``(indices, weights)``, each ``(out_length, P)``, as MATLAB's ``contributions``."""
    scale, inv = _exact(scale)
    kernel_width = 4.0
    antialias = scale < 1
    if antialias:
        kernel_width /= scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x * inv + 0.5 * (1 - inv)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    dist = u[:, None] - indices
    weights = scale * _cubic(dist * scale) if antialias else _cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    indices = np.clip(indices, 1, in_length).astype(np.int64) - 1
    keep = np.any(weights != 0, axis=0)
    return indices[:, keep], weights[:, keep]


def _resize_axis(image, out_length, scale, axis):
    indices, weights = contributions(image.shape[axis], out_length, scale)
    moved = np.moveaxis(image.astype(np.float64), axis, 0)
    out = np.zeros((out_length, *moved.shape[1:]), np.float64)
    for t in range(indices.shape[1]):
        w = weights[:, t].reshape(-1, *([1] * (moved.ndim - 1)))
        out += w * moved[indices[:, t]]
    out = np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
    return np.moveaxis(out, 0, axis)


def output_size(length, scale):
    """MATLAB's output length ``ceil(length * scale)`` (robust to 1/3-style rounding)."""
    value = length * scale
    return int(round(value)) if abs(value - round(value)) < 1e-9 else int(math.ceil(value))


def imresize(image, scale):
    """Resize a uint8 ``H x W`` or ``H x W x C`` image by ``scale`` like MATLAB's bicubic.

    ``scale`` is MATLAB's factor: 0.5 halves, 1/3 shrinks x3, 2 doubles.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise MaffsrnError(f"imresize expects a uint8 image array, got {image.dtype}")
    if image.ndim not in (2, 3):
        raise MaffsrnError(f"imresize expects HxW or HxWxC, got shape {image.shape}")
    if (
        isinstance(scale, bool)
        or not isinstance(scale, numbers.Real)
        or not math.isfinite(scale)
        or not scale > 0
    ):
        raise MaffsrnError(f"scale={scale!r} is not a positive finite number")
    out_h = output_size(image.shape[0], scale)
    out_w = output_size(image.shape[1], scale)
    if out_h < 1 or out_w < 1:
        raise MaffsrnError(
            f"imresize by {scale:.4g} shrinks a {image.shape[1]}x{image.shape[0]} image to nothing"
        )
    if out_h * out_w > MAX_OUTPUT_PIXELS:
        raise MaffsrnError(
            f"scale={scale} makes a {out_w}x{out_h} image, over {MAX_OUTPUT_PIXELS:,} pixels"
        )
    return _resize_axis(_resize_axis(image, out_h, scale, 0), out_w, scale, 1)


def mod_crop(image, scale):
    """Crop an image's height and width down to multiples of ``scale`` (top-left kept)."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]
