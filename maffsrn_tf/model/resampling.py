"""Resampling layers and functions: the sub-pixel upsampling of the tail (``PixelShuffle``),
PyTorch's bicubic upsampling of the global skip (``BicubicUpsample``), and PyTorch's legacy
nearest upsampling inside ESA, once as index gathers for training (``nearest_gather``, which
XLA compiles) and once as a TFLite builtin for the export (``nearest_resize``).

The TensorFlow-only pieces (``nearest_resize``, ``height_width``)
import TensorFlow lazily, so this module imports without it.
"""

import math

import keras
import numpy as np
from keras import ops

from maffsrn_tf.model.presets import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelShuffle(keras.layers.Layer):
    """Sub-pixel upsampling, ``depth_to_space`` (TFLite builtin DEPTH_TO_SPACE under TF).

    Channel order is TF's ``(i * r + j) * C + c``; ported PyTorch tails are permuted to it.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, x):
        return ops.depth_to_space(x, self.scale)

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale)
        return config


def torch_bicubic_phase_weights(scale, a=-0.75):
    """Taps of PyTorch's bicubic upsampling (align_corners=False) for an integer scale.

    Returns a ``(scale, 5)`` array: output phase ``p`` of source pixel ``k`` is
    ``sum_t w[p, t] * x[k - 2 + t]`` (indices clamped at the borders).
    """

    def cubic(d):
        d = abs(d)
        if d <= 1:
            return ((a + 2) * d - (a + 3)) * d * d + 1
        if d < 2:
            return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        return 0.0

    weights = np.zeros((scale, 5), np.float64)
    for p in range(scale):
        src = (p + 0.5) / scale - 0.5  # relative to k
        base = math.floor(src)
        t = src - base
        for m in range(-1, 3):
            weights[p, base + m + 2] += cubic(m - t)
    return weights


@keras.saving.register_keras_serializable(package=PACKAGE)
class BicubicUpsample(keras.layers.Layer):
    """PyTorch ``interpolate(mode='bicubic', align_corners=False)`` by an integer factor.

    Built from TFLite builtin ops only: edge replication by slicing and concatenation
    (PyTorch clamps out-of-range taps), one fixed 5x5 convolution producing the
    ``scale**2`` phases of each colour channel, and ``depth_to_space``.
    ``tf.image.resize(..., 'bicubic')`` uses a different kernel and has no TFLite builtin.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def build(self, input_shape):
        channels = input_shape[-1]
        s = self.scale
        w = torch_bicubic_phase_weights(s)
        kernel = np.zeros((5, 5, channels, s * s * channels), np.float32)
        for i in range(s):
            for j in range(s):
                for c in range(channels):
                    kernel[:, :, c, (i * s + j) * channels + c] = np.outer(w[i], w[j])
        self.coefficients = kernel  # fixed (NumPy), not a weight

    @staticmethod
    def _replicate_pad(x):
        for axis in (1, 2):
            first = x[:, :1] if axis == 1 else x[:, :, :1]
            last = x[:, -1:] if axis == 1 else x[:, :, -1:]
            x = ops.concatenate([first, first, x, last, last], axis=axis)
        return x

    def call(self, x):
        kernel = ops.cast(self.coefficients, x.dtype)
        y = ops.conv(self._replicate_pad(x), kernel, strides=1, padding="valid")
        return ops.depth_to_space(y, self.scale)

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale)
        return config


def height_width(x):
    """``[height, width]`` of an NHWC tensor as a GATHER of its SHAPE (TensorFlow, export):
    TFLite evaluates that pair when tensors are allocated, so a resized dynamic model plans
    every tensor in its arena (a SLICE of the SHAPE is evaluated only when the model runs,
    and leaves every tensor after the first ESA dynamic)."""
    import tensorflow as tf

    return tf.gather(tf.shape(x), [1, 2])


def nearest_resize(x, like):
    """PyTorch's legacy 'nearest' upsampling of ``x`` to ``like``'s height and width: source
    index ``floor(dst * in / out)`` in float32 (TensorFlow, export).

    TF's ``half_pixel_centers=False`` resize computes exactly that, as one TFLite builtin
    (RESIZE_NEAREST_NEIGHBOR). XLA has no kernel for its gradient.
    """
    import tensorflow as tf

    return tf.raw_ops.ResizeNearestNeighbor(
        images=x, size=height_width(like), align_corners=False, half_pixel_centers=False
    )


def nearest_gather(x, like):
    """``nearest_resize`` in ``keras.ops`` as two index gathers: the same values on every
    backend, and a gradient (a scatter-add) that XLA compiles, so ``jit_compile`` training
    works; used by the Keras layers."""

    def indices(n_in, n_out):
        ratio = ops.cast(n_in, "float32") / ops.cast(n_out, "float32")
        src = ops.floor(ops.cast(ops.arange(n_out), "float32") * ratio)
        return ops.minimum(ops.cast(src, "int32"), n_in - 1)

    _, h_in, w_in, _ = ops.shape(x)
    _, h_out, w_out, _ = ops.shape(like)
    x = ops.take(x, indices(h_in, h_out), axis=1)
    return ops.take(x, indices(w_in, w_out), axis=2)
