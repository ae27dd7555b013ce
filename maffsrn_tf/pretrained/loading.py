"""Models with weights in them: the shipped pretrained weights, a model for a scale from
whatever file a user passes, and a training run's initial weights from another run.

The file formats themselves (``.npz``, ``.weights.h5``) are ``maffsrn_tf.model.weight_files``.
"""

import os

import keras

from maffsrn_tf.errors import MaffsrnError, first_line
from maffsrn_tf.io.paths import not_a_file
from maffsrn_tf.model.maffsrn import build_model
from maffsrn_tf.model.presets import SCALES, check_scale, preset_for_scale
from maffsrn_tf.model.shipped import available, weights_path
from maffsrn_tf.model.weight_files import (
    check_values,
    check_weights_file,
    load_npz,
    load_weights_file,
)


def load_pretrained(name="maffsrn_x2"):
    """A ready Keras MAFFSRN with the shipped weights (input RGB float in [0, 1])."""
    path = weights_path(name)
    model = build_model(name)
    load_npz(model, path)
    return model


def load_keras_file(path):
    """A MAFFSRN from a ``.keras`` file (Keras' safe mode: no code in the file runs);
    ``MaffsrnError`` for a file that is not one, or holds another model."""
    from maffsrn_tf.model.maffsrn import MAFFSRN

    try:
        model = keras.saving.load_model(path, compile=False)  # inference: no optimizer
    except Exception as err:  # Keras raises many kinds for a bad archive or config
        first = first_line(err, 200)
        raise MaffsrnError(
            f"cannot load {path} as a .keras model ({type(err).__name__}: {first})"
        ) from None
    if not isinstance(model, MAFFSRN):
        raise MaffsrnError(f"{path} holds a {type(model).__name__}, not a MAFFSRN model")
    check_values(((w.path, w.numpy()) for w in model.weights), path)
    return model


def load_model_for(scale, weights=None, preset=None):
    """A model for ``scale`` from a ``.weights.h5``/``.npz``/``.keras`` file, or the shipped."""
    scale = check_scale(scale)
    name = preset or preset_for_scale(scale)
    if not weights:
        return load_pretrained(name)
    if not_a_file(weights) == "not found":
        raise FileNotFoundError(f"weights file not found: {weights}")
    if not_a_file(weights):  # a FIFO would block, /dev/zero never end
        raise MaffsrnError(f"weights {weights} is {not_a_file(weights)}: name a weights file")
    if check_weights_file(weights) == "keras":
        model = load_keras_file(weights)
        if model.scale != scale:
            raise MaffsrnError(
                f"{weights} is an x{model.scale} model, but scale={scale}: pass scale={model.scale}"
            )
        return model
    model = build_model(name)
    load_weights_file(model, weights)  # its errors name the file and the model
    return model


def _initial_path(path):
    """The file of initial weights: ``path``, or the shipped weights of the preset it names
    (``"maffsrn_x2"``; a file of that name wins)."""
    if not os.path.exists(path) and path in available():
        return weights_path(path)
    return path


def check_initial_weights(path, preset):
    """``MaffsrnError``, before any work, for initial weights (a file, or a shipped preset's
    name) of a model of another depth than ``preset``'s (MAFFSRN has 4 FFGs, MAFFSRN-L 8)
    or a file that is not what its name says."""
    from maffsrn_tf.model.presets import preset_config
    from maffsrn_tf.model.weight_files import file_depth

    path = _initial_path(path)
    depth, want = file_depth(path), preset_config(preset)["n_ffgs"]
    if depth and depth != want:
        raise MaffsrnError(
            f"init_weights={path!r} holds a model of {depth} FFGs, and preset={preset!r} has "
            f"{want}: pass the weights of a {want}-FFG model, or a preset of {depth} FFGs"
        )


def load_initial_weights(model, path, skip_tail=None):
    """Initialize from a ``.weights.h5``/``.npz``/``.keras`` of another run (x3 from a trained x2),
    or from shipped weights by their preset's name (``"maffsrn_x2"``; a file of that name wins).

    The file's scale and depth are read from its contents: it is loaded into a MAFFSRN of the
    model's depth at each scale until one fits. ``skip_tail`` (default: when the file's scale
    differs) leaves the scale-specific tail freshly initialized. A file of another
    architecture (e.g. MAFFSRN-L weights for MAFFSRN) is a ``MaffsrnError`` naming the layers.
    Returns the number of variables copied.
    """
    path = _initial_path(path)
    if check_weights_file(path) == "keras":
        source = load_keras_file(path)
    else:
        source, errors = None, []
        for scale in (model.scale, *(s for s in SCALES if s != model.scale)):
            probe = build_model(preset_for_scale(scale), n_ffgs=model.n_ffgs)
            try:
                load_weights_file(probe, path)
            except MaffsrnError as err:
                errors.append(str(err))
                continue
            source = probe
            break
        if source is None:
            raise MaffsrnError(
                f"init_weights={path!r} fits no MAFFSRN with {model.n_ffgs} FFGs at x2/x3/x4 "
                f"(another architecture?): {errors[0]}"
            )
    if source.n_ffgs != model.n_ffgs:
        raise MaffsrnError(
            f"init_weights={path!r} has {source.n_ffgs} FFGs "
            f"(body.0-body.{source.n_ffgs - 1}), the model {model.n_ffgs} "
            f"(body.0-body.{model.n_ffgs - 1})"
        )
    if skip_tail is None:
        skip_tail = source.scale != model.scale
    elif not skip_tail and source.scale != model.scale:  # its tail has another shape
        raise MaffsrnError(
            f"init_weights={path!r} holds x{source.scale} weights and the model is "
            f"x{model.scale}: their tails differ in shape and cannot be copied; leave out "
            "(init_skip_tail), and the tail is trained anew"
        )
    copied = 0
    for layer, src in zip(
        [model.head, *model.body, model.tail], [source.head, *source.body, source.tail]
    ):
        if layer is model.tail and skip_tail:
            continue
        for dst_w, src_w in zip(layer.weights, src.weights):
            dst_w.assign(src_w)
            copied += 1
    return copied
