"""The pretrained weights shipped inside the package (``maffsrn_tf/weights/``)."""

import json
import os

from maffsrn_tf.model import PRESETS, build_model

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


def weights_path(name):
    """Path of a preset's shipped ``.weights.h5``; ``ValueError`` when none is shipped."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    path = os.path.join(WEIGHTS_DIR, f"{name}.weights.h5")
    if not os.path.exists(path):
        shipped = ", ".join(available()) or "none"
        raise ValueError(
            f"no pretrained weights are shipped for {name!r} (shipped: {shipped}); train them "
            f"with maffsrn-train and pass the file with --weights / model.load_weights()"
        )
    return path


def available():
    """Presets with shipped weights."""
    if not os.path.isdir(WEIGHTS_DIR):
        return []
    return sorted(
        f[: -len(".weights.h5")] for f in os.listdir(WEIGHTS_DIR) if f.endswith(".weights.h5")
    )


def model_card(name):
    """The training record shipped next to a preset's weights (``{name}.json``), or {}."""
    path = os.path.join(WEIGHTS_DIR, f"{name}.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def load_pretrained(name="maffsrn_x2"):
    """A ready Keras MAFFSRN with the shipped weights (input RGB float in [0, 1])."""
    path = weights_path(name)
    model = build_model(name)
    model.load_weights(path)
    return model


def load_model_for(scale, weights=None, preset=None):
    """A model for ``scale`` from a ``.weights.h5``/``.keras`` file, or the shipped weights."""
    from maffsrn_tf.model import preset_for_scale

    name = preset or preset_for_scale(scale)
    if not weights:
        return load_pretrained(name)
    if not os.path.exists(weights):
        raise FileNotFoundError(f"weights file not found: {weights}")
    if weights.endswith(".keras"):
        import keras

        model = keras.saving.load_model(weights)
        if model.scale != scale:
            raise ValueError(f"{weights} is an x{model.scale} model, but x{scale} was asked for")
        return model
    model = build_model(name)
    try:
        model.load_weights(weights)
    except ValueError as err:
        raise ValueError(f"{weights} does not fit {name}: {err}") from None
    return model
