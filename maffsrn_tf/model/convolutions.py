"""Convolutions as the official PyTorch code makes them: its default initializers, symmetric
"same" padding, PyTorch ``weight_norm`` (``WeightNormConv2D``), and the weights of a conv as
NumPy arrays (``conv_weights``, which the TFLite export folds).
"""

import math

import keras
import numpy as np
from keras import ops

from maffsrn_tf.model.presets import PACKAGE


def as_numpy(value):
    """A weight or tensor of any backend as a float32 NumPy array."""
    return np.asarray(keras.ops.convert_to_numpy(value), np.float32)


def conv_weights(layer):
    """(kernel, bias) as float32 NumPy arrays; a weight-normed kernel is evaluated once."""
    kernel = layer.effective_kernel() if hasattr(layer, "effective_kernel") else layer.kernel
    return as_numpy(kernel), as_numpy(layer.bias)


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
