"""maffsrn_tf: MAFFSRN (Muqeet et al., ECCV-W 2020) lightweight super-resolution in Keras 3.

The public API::

    maffsrn_tf.build_model("maffsrn_x2")       # a fresh model from a preset
    maffsrn_tf.load_pretrained("maffsrn_x4")   # the shipped weights, input RGB in [0, 1]
    maffsrn_tf.upscale(image, scale=2)         # NumPy/PIL image in, same kind out (tiled)
    maffsrn_tf.imresize(image_uint8, 0.5)      # MATLAB's bicubic imresize, bit-exact
    maffsrn_tf.load_pytorch_weights(model, "official.pt")
    maffsrn_tf.MaffsrnError                    # what every error about a request or file is

Names are resolved lazily: ``import maffsrn_tf`` does not import TensorFlow, so the
command lines check their arguments first. The library prints nothing: its notices (an
animated image read at its first frame) are records on the ``maffsrn_tf`` logger, shown
once an application configures logging (the command lines show them as ``warning:`` lines).
"""

import logging

from maffsrn_tf import startup  # noqa: F401  (first: a command's early signals)
from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.lazy import lazy_names
from maffsrn_tf.model.presets import MIN_INPUT_SIZE, PRESETS
from maffsrn_tf.version import __version__

_LAZY = {
    "MAFFSRN": "maffsrn_tf.model.maffsrn",
    "build_model": "maffsrn_tf.model.maffsrn",
    "imresize": "maffsrn_tf.imaging.matlab",
    "load_pretrained": "maffsrn_tf.pretrained.loading",
    "load_pytorch_weights": "maffsrn_tf.pretrained.porting",
    "upscale": "maffsrn_tf.upscaler",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())  # quiet until configured
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
__all__ = ["MIN_INPUT_SIZE", "MaffsrnError", "PRESETS", "__version__", *_LAZY]
