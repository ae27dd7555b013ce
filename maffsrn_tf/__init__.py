"""maffsrn_tf: MAFFSRN (Muqeet et al., ECCV-W 2020) lightweight super-resolution in Keras 3.

The public API::

    maffsrn_tf.build_model("maffsrn_x2")       # a fresh model from a preset
    maffsrn_tf.load_pretrained("maffsrn_x4")   # the shipped weights, input RGB in [0, 1]
    maffsrn_tf.upscale(image, scale=2)         # NumPy/PIL image in, same kind out (tiled)
    maffsrn_tf.imresize(image_uint8, 0.5)      # MATLAB's bicubic imresize, bit-exact
    maffsrn_tf.load_pytorch_weights(model, "official.pt")
"""

from maffsrn_tf.matlab import imresize
from maffsrn_tf.model import MAFFSRN, MIN_INPUT_SIZE, PRESETS, build_model
from maffsrn_tf.porting import load_pytorch_weights
from maffsrn_tf.pretrained import load_pretrained
from maffsrn_tf.upscaler import upscale

__version__ = "0.1.0"

__all__ = [
    "MAFFSRN",
    "MIN_INPUT_SIZE",
    "PRESETS",
    "build_model",
    "imresize",
    "load_pretrained",
    "load_pytorch_weights",
    "upscale",
]
