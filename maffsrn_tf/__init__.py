"""maffsrn_tf: MAFFSRN (Muqeet et al., ECCV-W 2020) lightweight super-resolution in Keras 3."""

from maffsrn_tf.model import MAFFSRN, MIN_INPUT_SIZE, PRESETS, build_model
from maffsrn_tf.porting import load_pytorch_weights

__version__ = "0.1.0"

__all__ = ["MAFFSRN", "MIN_INPUT_SIZE", "PRESETS", "build_model", "load_pytorch_weights"]
