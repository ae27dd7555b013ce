"""The MAFFSRN model, its presets, and the minimum-input-size check.

The input is RGB float in [0, 1] with dynamic height and width (no mean shift, as in the
official code); the output is the super-resolved image, not clipped.
"""

import keras
import numpy as np
import tensorflow as tf

from maffsrn_tf.layers import FFG, PACKAGE, BicubicUpsample, DilatedESA, Tail, WeightNormConv2D

MIN_INPUT_SIZE = DilatedESA.MIN_SIZE

PRESETS = {
    "maffsrn_x2": {"scale": 2, "n_ffgs": 4, "n_feats": 32, "params": 402394},
    "maffsrn_x3": {"scale": 3, "n_ffgs": 4, "n_feats": 32, "params": 418774},
    "maffsrn_x4": {"scale": 4, "n_ffgs": 4, "n_feats": 32, "params": 441706},
    "maffsrn_l_x2": {"scale": 2, "n_ffgs": 8, "n_feats": 32, "params": 790754},
    "maffsrn_l_x3": {"scale": 3, "n_ffgs": 8, "n_feats": 32, "params": 807134},
    "maffsrn_l_x4": {"scale": 4, "n_ffgs": 8, "n_feats": 32, "params": 830066},
}


def check_input_size(height, width):
    """Raise ``ValueError`` when an input is smaller than the model accepts."""
    for name, size in (("height", height), ("width", width)):
        if size is not None and int(size) < MIN_INPUT_SIZE:
            raise ValueError(
                f"input {name} {int(size)} is below MAFFSRN's minimum of {MIN_INPUT_SIZE} pixels "
                f"(its attention branch downsamples by 2 and max-pools 7x7); pad or upscale the "
                f"image to at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} first"
            )


@keras.saving.register_keras_serializable(package=PACKAGE)
class MAFFSRN(keras.Model):
    """MAFFSRN / MAFFSRN-L: head conv, ``n_ffgs`` feature fusion groups, two-branch tail,
    plus PyTorch-bicubic upsampling of the input as global skip."""

    def __init__(self, scale=2, n_ffgs=4, n_feats=32, n_colors=3, **kwargs):
        super().__init__(**kwargs)
        if scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {scale!r}")
        self.scale = scale
        self.n_ffgs = n_ffgs
        self.n_feats = n_feats
        self.n_colors = n_colors
        self.head = WeightNormConv2D(n_feats, 3, name="head")
        self.body = [FFG(n_feats, name=f"body.{i}") for i in range(n_ffgs)]
        self.tail = Tail(scale, n_feats, n_colors, name="tail")
        self.upsample = BicubicUpsample(scale, name="upsample")

    def build(self, input_shape=None):
        if input_shape is None:
            input_shape = (None, None, None, self.n_colors)
        input_shape = tuple(input_shape)
        features = (*input_shape[:-1], self.n_feats)
        self.head.build(input_shape)
        for ffg in self.body:
            ffg.build(features)
        self.tail.build(features)
        self.upsample.build(input_shape)
        self.built = True

    def call(self, x):
        check_input_size(x.shape[1], x.shape[2])
        tf.debugging.assert_greater_equal(
            tf.reduce_min(tf.shape(x)[1:3]),
            MIN_INPUT_SIZE,
            message=f"input height and width must be at least {MIN_INPUT_SIZE} pixels",
        )
        features = self.head(x)
        for ffg in self.body:
            features = ffg(features)
        return self.tail(features) + self.upsample(x)

    def _is_multi_worker(self):
        return isinstance(self._distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def train_step(self, data):
        logs = super().train_step(data)
        if self._is_multi_worker():
            # Keras 3 reduces step outputs with strategy.reduce("MEAN", v, axis=0) under
            # multi-worker collectives, which fails on scalars: give each a leading axis.
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def test_step(self, data):
        logs = super().test_step(data)
        if self._is_multi_worker():
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras 3's ``fit`` builds from one batch that it *reduces* across replicas with an
        eager ``strategy.reduce``; MultiWorkerMirroredStrategy cannot reduce a PerReplica
        eagerly (keras-team/keras#20585). Only the shapes matter, so take this worker's first
        local replica batch instead; other strategies behave as before."""
        if iterator is not None and self._is_multi_worker():
            strategy = self._distribute_strategy
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: (
                        strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    batch,
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def predict(self, x, *args, **kwargs):
        shape = getattr(x, "shape", None)
        if shape is not None and len(shape) == 4:
            check_input_size(shape[1], shape[2])
        return super().predict(x, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            scale=self.scale, n_ffgs=self.n_ffgs, n_feats=self.n_feats, n_colors=self.n_colors
        )
        return config


def preset_config(name):
    """The constructor arguments of a preset (without its declared parameter count)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return {k: v for k, v in PRESETS[name].items() if k != "params"}


def preset_for_scale(scale, large=False):
    """The preset name for a scale, e.g. ``maffsrn_x2`` or ``maffsrn_l_x2``."""
    name = f"maffsrn_{'l_' if large else ''}x{scale}"
    if name not in PRESETS:
        raise ValueError(f"unsupported scale {scale!r}; MAFFSRN exists for x2, x3 and x4")
    return name


def build_model(name="maffsrn_x2", **overrides):
    """Build a preset (``maffsrn_x2`` ... ``maffsrn_l_x4``) with built weights."""
    config = preset_config(name)
    config.update(overrides)
    model = MAFFSRN(**config, name=name)
    model.build((None, None, None, config.get("n_colors", 3)))
    return model


def model_scale(model):
    """The upscaling factor of a MAFFSRN model."""
    return int(model.scale)


def run(model, lr):
    """Run a model on a float NHWC (or HWC) array in one call, returning a NumPy array."""
    lr = np.asarray(lr, np.float32)
    single = lr.ndim == 3
    batch = lr[None] if single else lr
    check_input_size(batch.shape[1], batch.shape[2])
    out = model(tf.convert_to_tensor(batch), training=False)
    out = keras.ops.convert_to_numpy(out)
    return out[0] if single else out
