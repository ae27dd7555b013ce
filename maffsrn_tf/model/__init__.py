"""The model wing: MAFFSRN in Keras 3, identical to the authors' PyTorch code.

- ``presets``: the preset table, scales, the minimum input size and their checks (plain
  Python: command lines check with it before importing TensorFlow).
- ``convolutions``, ``resampling``, ``layers``, ``maffsrn``: the network.
- ``preset_dirs`` and ``weight_files``: keras-hub-style preset folders and the weight files
  ``MAFFSRN.from_preset`` reads; ``shipped``: where the files shipped in the package lie.
- ``profiling``: parameters and MACs.

Importing the wing imports no Keras: ``MAFFSRN``, ``build_model`` and ``profile`` load on
first use.

May import: ``maffsrn_tf.errors``, ``maffsrn_tf.io``.
"""

from maffsrn_tf.lazy import lazy_names
from maffsrn_tf.model.presets import (
    MIN_INPUT_SIZE,
    PRESETS,
    SCALES,
    check_input_size,
    check_scale,
    preset_config,
    preset_for_scale,
)

_LAZY = {
    "MAFFSRN": "maffsrn_tf.model.maffsrn",
    "build_model": "maffsrn_tf.model.maffsrn",
    "profile": "maffsrn_tf.model.profiling",
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY)

__all__ = [
    "MIN_INPUT_SIZE",
    "PRESETS",
    "SCALES",
    "check_input_size",
    "check_scale",
    "preset_config",
    "preset_for_scale",
    *_LAZY,
]
