"""The MAFFSRN model and ``build_model`` (presets are in ``maffsrn_tf.model.presets``).

The input is RGB float in [0, 1] with dynamic height and width (no mean shift, as in the
official code); the output is the super-resolved image, not clipped.
"""

import json

import keras

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.model.convolutions import WeightNormConv2D
from maffsrn_tf.model.layers import FFG, Tail
from maffsrn_tf.model.presets import (
    MIN_INPUT_SIZE,
    PACKAGE,
    check_architecture,
    check_input_size,
    check_scale,
    checked_input_size,
    preset_config,
)
from maffsrn_tf.model.resampling import BicubicUpsample


@keras.saving.register_keras_serializable(package=PACKAGE)
class MAFFSRN(keras.Model):
    """MAFFSRN / MAFFSRN-L: head conv, ``n_ffgs`` feature fusion groups, two-branch tail,
    plus PyTorch-bicubic upsampling of the input as global skip.

    The paper's ablation variants (defaults: MAFFSRN): ``fusion`` "m-bff" | "bff" | "hff"
    and ``cea`` (Table 1), ``shuffle`` (Table 2), ``esa_branch`` "3x3+3x3d2" | "3x3+3x3" |
    "3x3+3x3+3x3" | "3x3+5x5" | "5x5+3x3" (Table 3).
    """

    def __init__(
        self,
        scale=2,
        n_ffgs=4,
        n_feats=32,
        n_colors=3,
        fusion="m-bff",
        cea=True,
        shuffle=True,
        esa_branch="3x3+3x3d2",
        **kwargs,
    ):
        check_architecture(
            dict(scale=scale, n_ffgs=n_ffgs, n_feats=n_feats, n_colors=n_colors, cea=cea,
                 shuffle=shuffle)
        )  # fmt: skip
        super().__init__(**kwargs)
        self.scale = check_scale(scale)
        self.n_ffgs = n_ffgs
        self.n_feats = n_feats
        self.n_colors = n_colors
        self.fusion, self.cea, self.shuffle, self.esa_branch = fusion, cea, shuffle, esa_branch
        self.head = WeightNormConv2D(n_feats, 3, name="head")
        # "body_{i}", not the official "body.{i}": Keras' PyTorch backend registers every
        # variable under its path and torch refuses dots there. Weight files keep "body.{i}".
        self.body = [
            FFG(n_feats, 4, fusion, shuffle, cea, esa_branch, name=f"body_{i}")
            for i in range(n_ffgs)
        ]
        self.tail = Tail(scale, n_feats, n_colors, name="tail")
        self.upsample = BicubicUpsample(scale, name="upsample")
        self._metadata_json = "{}"  # a string: Keras tracks dicts set on a built model

    @property
    def metadata(self):
        """The preset's record (scale, training data, iterations, PSNR…) when loaded by
        ``from_preset``; ``save_to_preset`` writes it to ``metadata.json``."""
        return json.loads(self._metadata_json)

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
        if keras.backend.backend() == "tensorflow" and None in tuple(x.shape[1:3]):
            # only TensorFlow traces graphs of unknown size: check the size when it runs
            x = checked_input_size(
                x, f"input height and width must be at least {MIN_INPUT_SIZE} pixels"
            )
        features = self.head(x)
        for ffg in self.body:
            features = ffg(features)
        return self.tail(features) + self.upsample(x)

    @classmethod
    def from_preset(cls, name_or_dir):
        """A shipped preset by name (``maffsrn_x2``…, with its weights) or a directory
        written by ``save_to_preset``; ``model.metadata`` holds its record."""
        from maffsrn_tf.model import preset_dirs

        return preset_dirs.load(cls, name_or_dir)

    def save_to_preset(self, directory, metadata=None, overwrite=False):
        """Write keras-hub's preset layout: ``config.json``, ``model.weights.h5`` and
        ``metadata.json`` (scale, training data, iterations, PSNR, package version). A
        folder that already holds a preset's files is a ``MaffsrnError`` unless
        ``overwrite=True``."""
        from maffsrn_tf.model import preset_dirs

        return preset_dirs.save(self, directory, metadata, overwrite=overwrite)

    def predict(self, x, *args, **kwargs):
        shape = getattr(x, "shape", None)
        if shape is not None and len(shape) == 4:
            check_input_size(shape[1], shape[2])
        return super().predict(x, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            scale=self.scale,
            n_ffgs=self.n_ffgs,
            n_feats=self.n_feats,
            n_colors=self.n_colors,
            fusion=self.fusion,
            cea=self.cea,
            shuffle=self.shuffle,
            esa_branch=self.esa_branch,
        )
        return config


def build_model(name="maffsrn_x2", **overrides):
    """Build a preset (``maffsrn_x2`` ... ``maffsrn_l_x4``) with built weights;
    ``overrides``: architecture arguments of ``MAFFSRN`` that replace the preset's (an
    ablation: ``n_ffgs=1``, ``cea=False``...), anything else a ``MaffsrnError``."""
    config = preset_config(name)
    known = ("scale", "n_ffgs", "n_feats", "n_colors", "fusion", "cea", "shuffle", "esa_branch",
             "dtype")  # fmt: skip
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise MaffsrnError(
            f"unknown option{'s' if len(unknown) > 1 else ''} of build_model: "
            f"{', '.join(unknown)}; it takes {', '.join(known)}"
        )
    config.update(overrides)
    model = MAFFSRN(**config, name=name)
    model.build((None, None, None, config.get("n_colors", 3)))
    return model
