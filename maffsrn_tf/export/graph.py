"""The inference graph that is converted to TFLite: the folded model as a ``tf.Module``.

Folding (``maffsrn_tf.export.folding``): weight norm evaluated once into plain kernels; the FFG
channel shuffle folded into the input channels of the 1x1 fusion convs (no reshape or
transpose); ``res_scale`` folded into the last fusion conv; the tail's two weighted branches
merged into one 5x5 conv whose output shares one DEPTH_TO_SPACE with the bicubic skip;
dilated convs as single CONV_2D ops; the output clamped to [0, 1]. Here the skip's kernel is
also split for exact int8 quantization (``split_for_int8``).
"""

import numpy as np
import tensorflow as tf

from maffsrn_tf.export.folding import fold_model


def split_for_int8(kernel):
    """``kernel`` as two kernels that sum to it: one exactly on the per-output-channel int8
    grid TFLite quantizes weights to, and the (127x smaller) remainder.

    The bicubic skip's fixed coefficients are not int8 numbers: quantized, they shift every
    output pixel (0.1 dB at x4 in the dynamic, int8 and int16x8 models). Split this way the
    first part quantizes exactly and the second one's error is ~250x smaller; in float the
    two convolutions (3 input channels) add a negligible cost.
    """
    kernel = np.asarray(kernel, np.float64)
    step = np.abs(kernel).max(axis=(0, 1, 2)) / 127.0
    step[step == 0] = 1.0
    high = np.round(kernel / step) * step
    return high.astype(np.float32), (kernel - high).astype(np.float32)


class InferenceGraph(tf.Module):
    """The folded MAFFSRN as a ``tf.function`` of plain TFLite-builtin ops."""

    def __init__(self, model, clamp=True):
        super().__init__(name="maffsrn_inference")
        self.scale = int(model.scale)
        skip = split_for_int8(model.upsample.coefficients)
        self._forward = fold_model(model, skip_kernels=skip, clamp=clamp)

    def __call__(self, x):
        return self._forward(x)

    def concrete_function(self, height=None, width=None):
        spec = tf.TensorSpec([1, height, width, 3], tf.float32, name="lr")
        fn = tf.function(lambda lr: {"sr": self(lr)})
        return fn.get_concrete_function(spec)
