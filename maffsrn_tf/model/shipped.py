"""The files shipped inside the package, found through ``importlib.resources``.

``maffsrn_tf/weights/`` holds, per preset, the trained weights (``{preset}.npz``), their
training record (``{preset}.json``) and the exported TFLite models (named by
``tflite_name``: ``maffsrn_x{scale}_{quantization}[_{tile}px][_uint8io].tflite``);
``maffsrn_tf/samples/`` the sample photo. They install with the package, so a plain
``pip install`` has everything ``load_pretrained`` and the TFLite upscaler need.
"""

import json
from importlib import resources

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.model.presets import PRESETS

WEIGHTS_EXT = ".npz"
# the dynamic-shape TFLite models the upscaler runs (``upscale(quantization=...)``)
SHIPPED_VARIANTS = ("float16", "int8")
DEFAULT_VARIANT = "float16"


def tflite_name(scale, quantization, tile=0, uint8_io=False):
    """The file name of an exported TFLite model (``maffsrn-export`` writes these names,
    and the shipped models are found by them): ``tile`` 0 is the dynamic-shape model."""
    return (
        f"maffsrn_x{scale}_{quantization}"
        + (f"_{tile}px" if tile else "")
        + ("_uint8io" if uint8_io else "")
        + ".tflite"
    )


def _folder():
    return resources.files("maffsrn_tf") / "weights"


def _files():
    folder = _folder()
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def available():
    """Presets with shipped weights."""
    return [f[: -len(WEIGHTS_EXT)] for f in _files() if f.endswith(WEIGHTS_EXT)]


def weights_path(name):
    """Path of a preset's shipped weights; ``MaffsrnError`` when none is shipped."""
    if name not in PRESETS:
        raise MaffsrnError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    path = _folder() / (name + WEIGHTS_EXT)
    if not path.is_file():
        shipped = ", ".join(available()) or "none"
        raise MaffsrnError(
            f"no pretrained weights are shipped for {name!r} (shipped: {shipped}): train them "
            f"(maffsrn-train, preset={name!r}) and pass the file they are saved to "
            "(weights=PATH)"
        )
    return str(path)


def model_card(name):
    """The training record shipped next to a preset's weights (``{name}.json``), or {}."""
    path = _folder() / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def sample_photo_path():
    """Path of the sample photo (Grace Hopper, public domain: ``samples/LICENSE.txt``)."""
    return str(resources.files("maffsrn_tf") / "samples" / "grace_hopper.jpg")


def tflite_path(scale, variant=DEFAULT_VARIANT):
    """Path of a shipped dynamic-shape ``.tflite`` model (``variant``: one of
    ``SHIPPED_VARIANTS``); ``MaffsrnError`` listing the shipped ones."""
    path = _folder() / tflite_name(scale, variant)
    if not path.is_file():
        shipped = ", ".join(f for f in _files() if f.endswith(".tflite")) or "none"
        raise MaffsrnError(
            f"no shipped TFLite model {path.name} (shipped: {shipped}); export one "
            "(maffsrn_tf.export) and pass its path as model=PATH"
        )
    return str(path)
