"""Keras 3 layers of MAFFSRN, each matching one module of the official PyTorch code.

Sublayers are named after the official modules (``conv01``, ``reduce_channels``, ``tail_k3``
...) so that porting a PyTorch state dict is a name map (see ``maffsrn_tf.pretrained.porting``).
Every layer here works on NHWC tensors and on dynamic height and width. The building blocks
they share are in ``maffsrn_tf.model.convolutions`` (PyTorch-initialized and weight-normed
convolutions) and ``maffsrn_tf.model.resampling`` (pixel shuffle, bicubic and nearest upsampling).

Each composite layer writes its forward pass once, as a static function of its parts
(``_attend``, ``_combine``, ``_fuse``); ``call()`` passes the Keras sublayers and the TFLite
export (``maffsrn_tf.export.folding``) passes frozen, folded equivalents, so the inference
graph cannot drift from the training graph.

Backends: ``call()`` is written in ``keras.ops`` and runs under TensorFlow, JAX and PyTorch
(``tests/upscaler/test_engines.py``); this module imports without TensorFlow.
"""

import functools

import keras
import numpy as np
from keras import ops

from maffsrn_tf.model.convolutions import (
    WeightNormConv2D,
    conv2d,
    torch_bias_initializer,
    torch_kernel_initializer,
)
from maffsrn_tf.model.presets import PACKAGE
from maffsrn_tf.model.resampling import PixelShuffle, nearest_gather

LEAKY_SLOPE = 0.05  # activation('lrelu') of the official code


@keras.saving.register_keras_serializable(package=PACKAGE)
class Scale(keras.layers.Layer):
    """The trainable scalar lambda of the official ``Scale`` module: ``x * scale``."""

    def __init__(self, init_value=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.init_value = init_value

    def build(self, input_shape):
        self.scale = self.add_weight(
            name="scale",
            shape=(1,),
            initializer=keras.initializers.Constant(self.init_value),
        )

    def call(self, x):
        return x * self.scale

    def get_config(self):
        config = super().get_config()
        config.update(init_value=self.init_value)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet channel shuffle in NHWC, identical to the official NCHW ``channel_shuffle``.

    Output channel ``c * groups + g`` is input channel ``g * (C // groups) + c``.
    """

    def __init__(self, groups=2, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups

    def call(self, x):
        _, height, width, channels = ops.shape(x)
        if channels % self.groups:
            raise ValueError(f"{channels} channels cannot be shuffled in {self.groups} groups")
        y = ops.reshape(x, (-1, height, width, self.groups, channels // self.groups))
        y = ops.transpose(y, (0, 1, 2, 4, 3))
        return ops.reshape(y, (-1, height, width, channels))

    def permutation(self, channels):
        """``perm[k]``: the input channel that the shuffle puts at position ``k``."""
        per = channels // self.groups
        return np.array([(k % self.groups) * per + k // self.groups for k in range(channels)])

    def get_config(self):
        config = super().get_config()
        config.update(groups=self.groups)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class DilatedESA(keras.layers.Layer):
    """Enhanced spatial attention with a dilated conv branch (first half of the official MAB).

    1x1 reduce -> 3x3 stride-2 conv (1 pixel zero padding on every side) -> 7x7/3 max-pool
    (no padding) -> 3x3 conv + 3x3 dilation-2 conv (LeakyReLU 0.05 each, summed) -> legacy
    nearest upsample to the reduced map's size -> + reduced map -> 1x1 conv -> ReLU -> sigmoid.
    Returns the attention map (same shape as the input).
    """

    # the conv branch after the pool (the paper's Table 3); "3x3+3x3d2" is MAFFSRN's
    BRANCHES = {
        "3x3+3x3d2": ((3, 1), (3, 2)),
        "3x3+3x3": ((3, 1), (3, 1)),
        "3x3+3x3+3x3": ((3, 1), (3, 1), (3, 1)),
        "3x3+5x5": ((3, 1), (5, 1)),
        "5x5+3x3": ((5, 1), (3, 1)),
    }

    def __init__(self, n_feats=32, reduction_factor=4, branch="3x3+3x3d2", **kwargs):
        super().__init__(**kwargs)
        if branch not in self.BRANCHES:
            raise ValueError(f"unknown ESA branch {branch!r}; one of {', '.join(self.BRANCHES)}")
        self.n_feats = n_feats
        self.reduction_factor = reduction_factor
        self.branch = branch
        f = n_feats // reduction_factor
        self.reduce_channels = conv2d(f, 1, "reduce_channels", n_feats)
        self.reduce_spatial_size = keras.layers.Conv2D(
            f,
            3,
            strides=2,
            padding="valid",
            name="reduce_spatial_size",
            kernel_initializer=torch_kernel_initializer(),
            bias_initializer=torch_bias_initializer(f * 9),
        )
        # attributes conv1, conv2 (conv3): Keras' .weights.h5 files key sublayers by attribute
        for i, (k, d) in enumerate(self.BRANCHES[branch], 1):
            setattr(self, f"conv{i}", conv2d(f, k, f"conv{i}", f, dilation=d))
        self.increase_channels = conv2d(n_feats, 1, "increase_channels", f)

    @property
    def convs(self):
        """The branch's convolutions, ``conv1`` first."""
        return [getattr(self, f"conv{i}") for i in range(1, len(self.BRANCHES[self.branch]) + 1)]

    def build(self, input_shape):
        f = self.n_feats // self.reduction_factor
        self.reduce_channels.build(input_shape)
        reduced = (*input_shape[:-1], f)
        self.reduce_spatial_size.build(reduced)
        for conv in self.convs:
            conv.build(reduced)
        self.increase_channels.build(reduced)

    def call(self, x):
        return self._attend(
            x,
            self.reduce_channels,
            self.reduce_spatial_size,
            self.convs,
            self.increase_channels,
            upsample=nearest_gather,
        )

    @staticmethod
    def _attend(x, reduce_channels, reduce_spatial_size, convs, increase_channels, upsample):
        rc = reduce_channels(x)
        rs = reduce_spatial_size(ops.pad(rc, [[0, 0], [1, 1], [1, 1], [0, 0]]))
        pool = ops.max_pool(rs, 7, 3, padding="valid")
        # the official sum order, last conv first: lrelu(conv2(pool)) + lrelu(conv1(pool))
        branches = [ops.leaky_relu(conv(pool), LEAKY_SLOPE) for conv in reversed(convs)]
        conv = functools.reduce(lambda a, b: a + b, branches)
        up = upsample(conv, rc)
        return ops.sigmoid(ops.relu(increase_channels(up + rc)))

    def get_config(self):
        config = super().get_config()
        config.update(
            n_feats=self.n_feats, reduction_factor=self.reduction_factor, branch=self.branch
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class CEA(keras.layers.Layer):
    """Cost-efficient attention: sigmoid(depthwise 5x5(1x1 conv(x))), no activations between."""

    def __init__(self, n_feats=32, **kwargs):
        super().__init__(**kwargs)
        self.n_feats = n_feats
        self.bottom11 = conv2d(n_feats, 1, "bottom11", n_feats)
        self.bottom11_dw = keras.layers.DepthwiseConv2D(
            5,
            padding="same",
            name="bottom11_dw",
            depthwise_initializer=torch_kernel_initializer(),
            bias_initializer=torch_bias_initializer(25),
        )

    def build(self, input_shape):
        self.bottom11.build(input_shape)
        self.bottom11_dw.build((*input_shape[:-1], self.n_feats))

    def call(self, x):
        return self._attend(x, self.bottom11, self.bottom11_dw)

    @staticmethod
    def _attend(x, bottom11, bottom11_dw):
        return ops.sigmoid(bottom11_dw(bottom11(x)))

    def get_config(self):
        config = super().get_config()
        config.update(n_feats=self.n_feats)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class MAB(keras.layers.Layer):
    """Multi-attention block: ``x = conv00(lrelu(conv01(x)))``, then ``esa(x) * x * cea(x)``
    (``esa(x) * x`` without CEA, the paper's Table 1)."""

    def __init__(self, n_feats=32, reduction_factor=4, cea=True, branch="3x3+3x3d2", **kwargs):
        super().__init__(**kwargs)
        self.n_feats = n_feats
        self.reduction_factor = reduction_factor
        self.use_cea = cea
        self.branch = branch
        self.conv01 = conv2d(n_feats, 3, "conv01", n_feats)
        self.conv00 = conv2d(n_feats, 3, "conv00", n_feats)
        self.esa = DilatedESA(n_feats, reduction_factor, branch, name="esa")
        self.cea = CEA(n_feats, name="cea") if cea else None

    def build(self, input_shape):
        shape = (*input_shape[:-1], self.n_feats)
        for layer in (self.conv01, self.conv00, self.esa, self.cea):
            if layer is not None:
                layer.build(shape)

    def call(self, x):
        return self._combine(x, self.conv01, self.conv00, self.esa, self.cea)

    @staticmethod
    def _combine(x, conv01, conv00, esa, cea):
        x = conv00(ops.leaky_relu(conv01(x), LEAKY_SLOPE))
        y = esa(x) * x
        return y * cea(x) if cea is not None else y

    def get_config(self):
        config = super().get_config()
        config.update(
            n_feats=self.n_feats,
            reduction_factor=self.reduction_factor,
            cea=self.use_cea,
            branch=self.branch,
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class FFG(keras.layers.Layer):
    """Feature fusion group: four MABs fused by the modified binarized feature fusion.

    ``x0 = b0(x); x1 = b1(x0) + x0; x2 = b2(x1) + x1; x3 = b3(x2)``; then three weight-normed
    1x1 convs each fuse a channel-shuffled (2 groups) concatenation:
    ``res = r3(shuf[r2(shuf[r1(shuf[x0, x1]), x2]), x3])``; output ``res_scale*res + x_scale*x``.

    The paper's ablations (Fig. 4, Tables 1-2): ``fusion="bff"`` fuses as a binary tree,
    ``r3(shuf[r1(shuf[x0, x1]), r2(shuf[x2, x3])])``; ``fusion="hff"`` fuses all four at once,
    ``r1(shuf[x0, x1, x2, x3])``; ``shuffle=False`` drops the channel shuffle.
    """

    FUSIONS = ("m-bff", "bff", "hff")

    def __init__(
        self,
        n_feats=32,
        reduction_factor=4,
        fusion="m-bff",
        shuffle=True,
        cea=True,
        branch="3x3+3x3d2",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if fusion not in self.FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; one of {', '.join(self.FUSIONS)}")
        self.n_feats = n_feats
        self.reduction_factor = reduction_factor
        self.fusion = fusion
        self.use_shuffle = shuffle
        self.use_cea = cea
        self.branch = branch
        self.blocks = [MAB(n_feats, reduction_factor, cea, branch, name=f"b{j}") for j in range(4)]
        count = 1 if fusion == "hff" else 3
        self.reductions = [
            WeightNormConv2D(n_feats, 1, name=f"reduction{j}") for j in range(1, count + 1)
        ]
        self.shuffle = ChannelShuffle(2, name="shuffle") if shuffle else None
        self.res_scale = Scale(1.0, name="res_scale")
        self.x_scale = Scale(1.0, name="x_scale")

    def _reduction_inputs(self):
        """Channels entering each fusion conv."""
        return [4 * self.n_feats] if self.fusion == "hff" else [2 * self.n_feats] * 3

    def build(self, input_shape):
        shape = (*input_shape[:-1], self.n_feats)
        for block in self.blocks:
            block.build(shape)
        for reduction, channels in zip(self.reductions, self._reduction_inputs()):
            reduction.build((*input_shape[:-1], channels))
        self.res_scale.build(shape)
        self.x_scale.build(shape)

    def call(self, x):
        if self.shuffle is None:
            reductions = self.reductions
        else:
            reductions = [lambda t, r=r: r(self.shuffle(t)) for r in self.reductions]
        return self._fuse(x, self.blocks, reductions, self.res_scale, self.x_scale, self.fusion)

    @staticmethod
    def _fuse(x, blocks, reductions, res_scale, x_scale, fusion="m-bff"):
        b0, b1, b2, b3 = blocks
        x0 = b0(x)
        x1 = b1(x0) + x0
        x2 = b2(x1) + x1
        x3 = b3(x2)
        cat = functools.partial(ops.concatenate, axis=-1)
        if fusion == "m-bff":
            res = x0
            for reduction, other in zip(reductions, (x1, x2, x3)):
                res = reduction(cat([res, other]))
        elif fusion == "bff":
            r1, r2, r3 = reductions
            res = r3(cat([r1(cat([x0, x1])), r2(cat([x2, x3]))]))
        else:  # hff
            res = reductions[0](cat([x0, x1, x2, x3]))
        return res_scale(res) + x_scale(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            n_feats=self.n_feats,
            reduction_factor=self.reduction_factor,
            fusion=self.fusion,
            shuffle=self.use_shuffle,
            cea=self.use_cea,
            branch=self.branch,
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class Tail(keras.layers.Layer):
    """Reconstruction: ``pixelshuffle(0.5-init λ * wn3x3(x)) + pixelshuffle(λ * wn5x5(x))``."""

    def __init__(self, scale, n_feats=32, n_colors=3, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.n_feats = n_feats
        self.n_colors = n_colors
        out = scale * scale * n_colors
        self.tail_k3 = WeightNormConv2D(out, 3, name="tail_k3")
        self.tail_k5 = WeightNormConv2D(out, 5, name="tail_k5")
        self.scale_k3 = Scale(0.5, name="scale_k3")
        self.scale_k5 = Scale(0.5, name="scale_k5")
        self.pixelshuffle = PixelShuffle(scale, name="pixelshuffle")

    def build(self, input_shape):
        out_shape = (*input_shape[:-1], self.scale * self.scale * self.n_colors)
        self.tail_k3.build(input_shape)
        self.tail_k5.build(input_shape)
        self.scale_k3.build(out_shape)
        self.scale_k5.build(out_shape)

    def call(self, x):
        x0 = self.pixelshuffle(self.scale_k3(self.tail_k3(x)))
        x1 = self.pixelshuffle(self.scale_k5(self.tail_k5(x)))
        return x0 + x1

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, n_feats=self.n_feats, n_colors=self.n_colors)
        return config
