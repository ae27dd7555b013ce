"""Any output size: which model runs for a factor, how large the result is, and the resize
that brings the model's output to that size.

``outscale`` (a factor) or ``width``/``height`` (a box the result fits, aspect kept) set the
output size. The model that runs is the smallest shipped scale at or above the factor (x4
above 4); its output is then resized to ``round(factor x input)`` pixels with Lanczos, which
antialiases when shrinking (x3.5 is the x4 model's output shrunk by 7/8). Above x4 the x4
output is enlarged by Lanczos, as Real-ESRGAN's ``--outscale`` does: no second pass of the
model. Colour with alpha is resized premultiplied, so that transparent pixels' colours do
not bleed into the edges.
"""

import math

import numpy as np
from PIL import Image

from maffsrn_tf.model.presets import SCALES

# the largest output factor (x4 by the model, then x4 by Lanczos at most)
MAX_OUTSCALE = 16.0


def model_scale(factor):
    """The shipped scale that runs for an output ``factor``: the smallest at or above it."""
    return next((s for s in SCALES if s >= factor - 1e-9), SCALES[-1])


def factor_name(factor):
    """How a factor is written in output names: ``3.5``, ``2`` (not ``2.0``), ``3.3334``
    (six significant digits: two factors that differ make two names)."""
    return f"{factor:g}"


def fit_size(height, width, box_width=None, box_height=None):
    """``(out_height, out_width, factor)`` of an image ``height x width`` fitted into the box
    ``box_width x box_height`` (either may be None: only the other is set), aspect kept: the
    constraining side is the box's exactly, the other rounded."""
    fw = box_width / width if box_width else math.inf
    fh = box_height / height if box_height else math.inf
    if fw <= fh:
        return max(1, round(height * fw)), box_width, fw
    return box_height, max(1, round(width * fh)), fh


def scaled_size(height, width, factor):
    """``(out_height, out_width)``: ``round(factor x side)`` each (at least one pixel)."""
    return max(1, round(height * factor)), max(1, round(width * factor))


def _resize_float(channel, size):
    """One float32 channel resized to ``size`` (width, height) by Lanczos."""
    im = Image.fromarray(np.ascontiguousarray(channel, np.float32), mode="F")
    return np.asarray(im.resize(size, Image.LANCZOS), np.float32)


def resize(array, height, width):
    """``array`` (uint8/uint16, HxW or HxWxC; the last channel of 2 or 4 is alpha) resized
    to ``height x width`` by Lanczos, colour premultiplied by alpha, rounded and clipped."""
    if array.shape[:2] == (height, width):
        return array
    top = float(np.iinfo(array.dtype).max)
    size = (width, height)
    x = array.astype(np.float32) / top
    if x.ndim == 2:
        return _to_dtype(_resize_float(x, size), array.dtype)
    channels = x.shape[-1]
    if channels in (2, 4):  # premultiplied colour
        alpha = x[..., -1]
        colour = [_resize_float(x[..., c] * alpha, size) for c in range(channels - 1)]
        new_alpha = np.clip(_resize_float(alpha, size), 0.0, 1.0)
        safe = np.where(new_alpha > 1e-6, new_alpha, 1.0)
        colour = [np.where(new_alpha > 1e-6, c / safe, 0.0) for c in colour]
        out = np.stack([*colour, new_alpha], -1)
    else:
        out = np.stack([_resize_float(x[..., c], size) for c in range(channels)], -1)
    return _to_dtype(out, array.dtype)


def _to_dtype(x, dtype):
    top = float(np.iinfo(dtype).max)
    return np.clip(np.round(x * top), 0, top).astype(dtype)
