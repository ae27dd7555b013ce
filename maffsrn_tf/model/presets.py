"""Preset names and configurations, the model's minimum input size and the tiling defaults.

Plain Python, no TensorFlow: command lines validate presets, scales and image sizes with it
before they import TensorFlow.
"""

import json
from importlib import resources

from maffsrn_tf.errors import MaffsrnError

SCALES = (2, 3, 4)

# the package under which the layers and models are registered for Keras serialization
PACKAGE = "maffsrn_tf"

# The tiling numbers every front end shares, in one data file (model/tiling.json): the Python
# package reads it here, tflite/run_tflite.py keeps a copy that tests hold equal to it, the web
# page fetches it and android/generate_defaults.py writes the Kotlin core's Defaults.kt from it.
TILING = json.loads(resources.files(__package__).joinpath("tiling.json").read_text("utf-8"))
# ESA's stride-2 conv followed by its 7x7/3 max-pool needs at least this many pixels per side.
MIN_INPUT_SIZE = TILING["min_input_size"]
# The default tile and overlap in LR pixels (measured: maffsrn_tf.upscaler.tiling), and the
# LR input size of the shipped fixed-shape models (maffsrn_x2_int8_128px.tflite and the like).
DEFAULT_TILE = TILING["tile"]
DEFAULT_OVERLAP = TILING["overlap"]
FIXED_MODEL_TILE = TILING["fixed_model_tile"]

PRESETS = {
    "maffsrn_x2": {"scale": 2, "n_ffgs": 4, "n_feats": 32, "params": 402394},
    "maffsrn_x3": {"scale": 3, "n_ffgs": 4, "n_feats": 32, "params": 418774},
    "maffsrn_x4": {"scale": 4, "n_ffgs": 4, "n_feats": 32, "params": 441706},
    "maffsrn_l_x2": {"scale": 2, "n_ffgs": 8, "n_feats": 32, "params": 790754},
    "maffsrn_l_x3": {"scale": 3, "n_ffgs": 8, "n_feats": 32, "params": 807134},
    "maffsrn_l_x4": {"scale": 4, "n_ffgs": 8, "n_feats": 32, "params": 830066},
}


def check_scale(scale):
    """``scale`` as an int; ``MaffsrnError`` unless it is one of ``SCALES``."""
    if isinstance(scale, bool) or scale not in SCALES:
        raise MaffsrnError(f"scale={scale!r} is not one of {', '.join(map(str, SCALES))}")
    return int(scale)


# What a MAFFSRN may be configured to (the paper's models: 4 or 8 FFGs of 32 features). A
# config outside these ranges is refused before anything is built (a preset directory's
# config.json is untrusted input: n_feats=1e7 would build for minutes and gigabytes).
ARCHITECTURE_RANGES = {"n_ffgs": (1, 32), "n_feats": (8, 256), "n_colors": (1, 4)}


def check_architecture(config):
    """``MaffsrnError`` unless ``config`` (MAFFSRN's constructor arguments) is a model this
    package can build: the scale one of ``SCALES``, ``n_ffgs``/``n_feats``/``n_colors``
    integers within ``ARCHITECTURE_RANGES``, ``n_feats`` a multiple of 4 (ESA reduces by 4,
    the channel shuffle splits in 2), ``cea`` and ``shuffle`` booleans."""
    check_scale(config.get("scale", 2))
    for name, (lo, hi) in ARCHITECTURE_RANGES.items():
        value = config.get(name, {"n_ffgs": 4, "n_feats": 32, "n_colors": 3}[name])
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise MaffsrnError(f"{name}={value!r} is not an integer in {lo}..{hi}")
    if config.get("n_feats", 32) % 4:
        raise MaffsrnError(f"n_feats={config['n_feats']} is not a multiple of 4")
    for name in ("cea", "shuffle"):
        if not isinstance(config.get(name, True), bool):
            raise MaffsrnError(f"{name}={config[name]!r} is not True or False")


def preset_config(name):
    """The constructor arguments of a preset (without its declared parameter count)."""
    if name not in PRESETS:
        raise MaffsrnError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return {k: v for k, v in PRESETS[name].items() if k != "params"}


def preset_for_scale(scale, large=False):
    """The preset name for a scale, e.g. ``maffsrn_x2`` or ``maffsrn_l_x2``."""
    return f"maffsrn_{'l_' if large else ''}x{check_scale(scale)}"


def check_input_size(height, width):
    """Raise ``MaffsrnError`` when an input is smaller than the model accepts."""
    for name, size in (("height", height), ("width", width)):
        if size is not None and int(size) < MIN_INPUT_SIZE:
            raise MaffsrnError(
                f"input {name} {int(size)} is below MAFFSRN's minimum of {MIN_INPUT_SIZE} pixels "
                f"(its attention branch downsamples by 2 and max-pools 7x7); pad or upscale the "
                f"image to at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} first"
            )


def checked_input_size(x, message):
    """``x`` (NHWC, traced by TensorFlow with unknown height and width) behind a runtime
    check that both are at least ``MIN_INPUT_SIZE`` (``InvalidArgumentError(message)``).

    The result depends on the check, so it runs before the network: graph ops without a
    data dependency run in any order, and a too-small image reaching the ESA's pooling
    first fails with a cryptic resize error or kills the process.
    """
    import tensorflow as tf

    check = tf.debugging.assert_greater_equal(
        tf.reduce_min(tf.shape(x)[1:3]), MIN_INPUT_SIZE, message=message
    )
    with tf.control_dependencies([check]):
        return tf.identity(x)
