"""The trained model as frozen, folded plain-TF functions: what the TFLite export converts.

Weight norm is evaluated once into plain kernels; the FFG channel shuffle is folded into the
input channels of the 1x1 fusion convs and ``res_scale`` into the last one; the tail's two
λ-weighted branches merge into one 5x5 conv that shares one ``depth_to_space`` with the
bicubic skip. Each composite layer writes its forward pass once, as a static function of its
parts (``DilatedESA._attend``, ``MAB._combine``, ``FFG._fuse``): ``call()`` passes the Keras
sublayers and the functions here pass folded equivalents, so the inference graph cannot drift
from the training graph.
"""

import functools

import keras
import numpy as np
import tensorflow as tf

from maffsrn_tf.model.convolutions import as_numpy, conv_weights
from maffsrn_tf.model.resampling import nearest_resize


def fold_conv(layer, kernel=None, bias=None):
    """A plain-TF function computing ``layer`` (Conv2D, DepthwiseConv2D or WeightNormConv2D)
    with frozen weights (``kernel``/``bias`` replace the layer's own when given).

    The weights are NumPy arrays turned into graph constants when the function is traced.
    """
    if kernel is None:
        kernel, bias = conv_weights(layer)
    if isinstance(layer, keras.layers.DepthwiseConv2D):

        def depthwise(x):
            y = tf.nn.depthwise_conv2d(x, tf.constant(kernel), [1, 1, 1, 1], "SAME")
            return tf.nn.bias_add(y, tf.constant(bias))

        return depthwise
    stride = getattr(layer, "strides", (1, 1))[0]
    padding = getattr(layer, "padding", "same").upper()
    dilation = getattr(layer, "dilation_rate", (1, 1))[0]

    def conv(x):
        y = tf.nn.conv2d(x, tf.constant(kernel), stride, padding, dilations=dilation)
        return tf.nn.bias_add(y, tf.constant(bias))

    return conv


def fold_esa(esa):
    """``DilatedESA`` with TFLite's nearest resize for the legacy nearest upsampling."""
    rc, rs = fold_conv(esa.reduce_channels), fold_conv(esa.reduce_spatial_size)
    convs, ic = [fold_conv(c) for c in esa.convs], fold_conv(esa.increase_channels)
    return lambda x: esa._attend(x, rc, rs, convs, ic, upsample=nearest_resize)


def fold_cea(cea):
    bottom11, bottom11_dw = fold_conv(cea.bottom11), fold_conv(cea.bottom11_dw)
    return lambda x: cea._attend(x, bottom11, bottom11_dw)


def fold_mab(mab):
    return functools.partial(
        mab._combine,
        conv01=fold_conv(mab.conv01),
        conv00=fold_conv(mab.conv00),
        esa=fold_esa(mab.esa),
        cea=fold_cea(mab.cea) if mab.cea is not None else None,
    )


def fold_ffg(ffg):
    """The shuffle folded into the fusion kernels' input channels, ``res_scale`` into the
    last one; ``x_scale`` stays one multiplication."""
    reductions = []
    for k, layer in enumerate(ffg.reductions):
        kernel, bias = conv_weights(layer)
        folded = kernel
        if ffg.shuffle is not None:
            folded = np.zeros_like(kernel)
            folded[:, :, ffg.shuffle.permutation(kernel.shape[2]), :] = kernel
        if k == len(ffg.reductions) - 1:
            res = float(as_numpy(ffg.res_scale.scale)[0])
            folded, bias = folded * res, bias * res
        reductions.append(fold_conv(layer, folded, bias))
    x_scale = float(as_numpy(ffg.x_scale.scale)[0])
    return functools.partial(
        ffg._fuse,
        blocks=[fold_mab(block) for block in ffg.blocks],
        reductions=reductions,
        res_scale=lambda t: t,
        x_scale=lambda t: x_scale * t,
        fusion=ffg.fusion,
    )


def fold_tail(tail):
    """The tail *before* the pixel shuffle (which is linear, so it is shared with the skip):
    one 5x5 conv, the λ-weighted 3x3 kernel zero-padded into the 5x5 one."""
    k3, b3 = conv_weights(tail.tail_k3)
    k5, b5 = conv_weights(tail.tail_k5)
    l3, l5 = float(as_numpy(tail.scale_k3.scale)[0]), float(as_numpy(tail.scale_k5.scale)[0])
    kernel = l5 * k5
    kernel[1:4, 1:4] += l3 * k3
    return fold_conv(tail.tail_k5, kernel, l3 * b3 + l5 * b5)


def fold_upsample(upsample, kernels=None):
    """``BicubicUpsample`` *before* ``depth_to_space`` (the phases): a function returning
    one output per kernel, which sum to the skip.

    ``kernels``: kernels that sum to ``upsample.coefficients`` (the export splits it so that
    int8 quantization stays exact), each applied as its own convolution.
    """
    kernels = [upsample.coefficients] if kernels is None else kernels

    def phases(x):
        padded = upsample._replicate_pad(x)
        return [tf.nn.conv2d(padded, tf.constant(k), 1, "VALID") for k in kernels]

    return phases


def fold_model(model, skip_kernels=None, clamp=True):
    """``MAFFSRN.call`` as a plain-TF function of frozen, folded weights, the tail and the
    skip sharing one ``depth_to_space``; ``skip_kernels`` as in ``fold_upsample``;
    ``clamp`` clips to [0, 1].

    The skip's parts are added to the tail's output smallest first, the main one last: in
    int8 the tensors before that last sum hold the small residual on a fine grid, and the
    last sum is rounded once, on the 8-bit output's own grid (``export.calibrate``).
    """
    head = fold_conv(model.head)
    body = [fold_ffg(ffg) for ffg in model.body]
    tail, skip = fold_tail(model.tail), fold_upsample(model.upsample, skip_kernels)

    def forward(x):
        features = head(x)
        for ffg in body:
            features = ffg(features)
        y = tail(features)
        for part in reversed(skip(x)):
            y = y + part
        y = tf.nn.depth_to_space(y, model.scale)
        return tf.clip_by_value(y, 0.0, 1.0) if clamp else y

    return forward
