"""Convolutions as the official PyTorch code makes them: its default initializers, symmetric
"same" padding, PyTorch ``weight_norm`` (``WeightNormConv2D``), and the frozen plain-TF
convolutions (``fold_conv``) that the TFLite export is built from.

``fold_conv`` imports TensorFlow lazily, so this module imports without it.
"""

import math

import keras
import numpy as np
from keras import ops

from maffsrn_tf.presets import PACKAGE


def as_numpy(value):
    """A weight or tensor of any backend as a float32 NumPy array."""
    return np.asarray(keras.ops.convert_to_numpy(value), np.float32)


def conv_weights(layer):
    """(kernel, bias) as float32 NumPy arrays; a weight-normed kernel is evaluated once."""
    kernel = layer.effective_kernel() if hasattr(layer, "effective_kernel") else layer.kernel
    return as_numpy(kernel), as_numpy(layer.bias)


def fold_conv(layer, kernel=None, bias=None):
    """A plain-TF function computing ``layer`` (Conv2D, DepthwiseConv2D or WeightNormConv2D)
    with frozen weights (``kernel``/``bias`` replace the layer's own when given).

    The weights are NumPy arrays turned into graph constants when the function is traced.
    """
    import tensorflow as tf

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


def torch_kernel_initializer():
    """PyTorch's default conv init (kaiming_uniform with a=sqrt(5)): U(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_initializer(fan_in):
    """PyTorch's default conv bias init: U(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)


def conv2d(filters, kernel_size, name, in_channels, dilation=1):
    """A stride-1 conv with symmetric zero padding, as ``nn.Conv2d(padding=k//2*d)``."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        dilation_rate=dilation,
        kernel_initializer=torch_kernel_initializer(),
        bias_initializer=torch_bias_initializer(in_channels * kernel_size**2),
        name=name,
    )


@keras.saving.register_keras_serializable(package=PACKAGE)
class WeightNormConv2D(keras.layers.Layer):
    """Conv2D with PyTorch ``weight_norm`` semantics: ``w = g * v / ||v||`` per output channel.

    ``v`` is stored as a Keras kernel (HWIO) and ``g`` with shape ``(filters,)``. As in
    PyTorch, ``g`` starts at ``||v||`` so that the initial effective kernel equals ``v``.
    Stride 1, symmetric "same" padding (all uses in MAFFSRN are stride 1, odd kernels).
    """

    def __init__(self, filters, kernel_size, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.use_bias = use_bias

    def build(self, input_shape):
        in_channels = input_shape[-1]
        k = self.kernel_size
        self.v = self.add_weight(
            name="v",
            shape=(k, k, in_channels, self.filters),
            initializer=torch_kernel_initializer(),
        )
        v_norm = np.sqrt(np.sum(np.square(keras.ops.convert_to_numpy(self.v)), axis=(0, 1, 2)))
        self.g = self.add_weight(
            name="g",
            shape=(self.filters,),
            initializer=keras.initializers.Constant(v_norm),
        )
        self.g.adamp_channel_axis = 0  # AdamP: one output channel per entry, like (O,1,1,1)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=torch_bias_initializer(in_channels * k * k),
            )

    def effective_kernel(self):
        """The kernel the convolution actually uses, ``g * v / ||v||`` (HWIO)."""
        norm = ops.sqrt(ops.sum(ops.square(self.v), axis=(0, 1, 2)))
        return self.v * (self.g / norm)

    def call(self, x):
        y = ops.conv(x, self.effective_kernel(), strides=1, padding="same")
        if self.bias is not None:
            y = y + self.bias
        return y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, use_bias=self.use_bias)
        return config
