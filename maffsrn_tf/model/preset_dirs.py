"""Preset directories in keras-hub's layout: ``config.json`` (the model's serialized
constructor arguments), ``model.weights.h5`` and ``metadata.json``.

``MAFFSRN.from_preset`` and ``MAFFSRN.save_to_preset`` are the entry points; they pass the
model class in, so this module imports no model (as keras-hub's ``preset_utils``). A shipped
preset loads by name (its compact ``.npz`` storage stays as it is); a directory written by
``save_to_preset`` loads from its path, in this version or a later one.
"""

import collections.abc
import json
import os
import time

import keras

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.io.atomic import OutputExists, atomic_output
from maffsrn_tf.model.presets import PRESETS, check_architecture, preset_config
from maffsrn_tf.model.shipped import model_card, weights_path
from maffsrn_tf.model.weight_files import load_npz, load_weights_file

CONFIG, WEIGHTS, METADATA = "config.json", "model.weights.h5", "metadata.json"


def shipped_metadata(name):
    """The metadata of a shipped preset, from its training record."""
    card = model_card(name)
    evaluation = card.get("evaluation", {})
    return {
        "preset": name,
        "scale": PRESETS[name]["scale"],
        "training_data": card.get("training_data"),
        "iterations": card.get("cumulative_iterations", card.get("total_steps")),
        "psnr": {k: v["ours"][0] for k, v in evaluation.items() if "ours" in v},
        "ssim": {k: v["ours"][1] for k, v in evaluation.items() if "ours" in v},
    }


MAX_CONFIG_BYTES = 1_000_000


def _checked_config(path, cls):
    """The serialized model of ``config.json``, checked before anything is built: a JSON
    object describing ``cls`` whose constructor arguments pass ``check_architecture``."""
    if os.path.getsize(path) > MAX_CONFIG_BYTES:
        raise MaffsrnError(f"{path} is over {MAX_CONFIG_BYTES:,} bytes: not a model config")
    try:
        with open(path) as f:
            config = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        raise MaffsrnError(f"{path} is not valid JSON ({err})") from None
    arguments = config.get("config") if isinstance(config, dict) else None
    if config.get("class_name") != cls.__name__ or not isinstance(arguments, dict):
        found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise MaffsrnError(f"{path} describes a {found!r}, not a {cls.__name__}")
    try:
        check_architecture(arguments)
    except MaffsrnError as err:
        raise MaffsrnError(f"{path}: {err}") from None
    return config


def load(cls, name_or_dir):
    """A ``cls`` model from a shipped preset name or a preset directory, ``metadata`` set."""
    if os.path.isdir(name_or_dir):
        paths = [os.path.join(name_or_dir, f) for f in (CONFIG, WEIGHTS)]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise MaffsrnError(f"{name_or_dir} is not a preset directory: missing {missing}")
        model = keras.saving.deserialize_keras_object(_checked_config(paths[0], cls))
        if not isinstance(model, cls):
            raise MaffsrnError(f"{paths[0]} describes a {type(model).__name__}, not {cls.__name__}")
        if not model.built:  # the config usually carries its build shape
            model.build((None, None, None, model.n_colors))
        load_weights_file(model, paths[1])
        meta_path = os.path.join(name_or_dir, METADATA)
        metadata = {}
        if os.path.exists(meta_path):
            with open(meta_path) as f:
                metadata = json.load(f)
        model._metadata_json = json.dumps(metadata)
        return model
    if name_or_dir in PRESETS:
        path = weights_path(name_or_dir)  # before building: no weights, no model
        config = preset_config(name_or_dir)
        model = cls(**config, name=name_or_dir)
        model.build((None, None, None, config.get("n_colors", 3)))
        load_npz(model, path)
        model._metadata_json = json.dumps(shipped_metadata(name_or_dir))
        return model
    raise MaffsrnError(
        f"{name_or_dir!r} is neither a preset ({', '.join(PRESETS)}) nor a preset directory"
    )


def save(model, directory, metadata=None, overwrite=False):
    """Write ``model`` as a preset directory (created as needed). A folder that already holds
    a preset's files (``config.json``, ``model.weights.h5``, ``metadata.json``) is a
    ``MaffsrnError`` unless ``overwrite=True``; nothing is written then. Each file is written
    whole or not at all."""
    from maffsrn_tf.version import __version__

    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise MaffsrnError(f"{directory} is a file, not a folder: name a folder for the preset")
    present = [
        n for n in (CONFIG, WEIGHTS, METADATA) if os.path.lexists(os.path.join(directory, n))
    ]
    if present and not overwrite:
        raise MaffsrnError(
            f"{directory} already holds a preset ({', '.join(present)}); pass overwrite=True to "
            "replace it, or name another folder"
        )
    for name in present:
        if os.path.isdir(os.path.join(directory, name)):
            raise MaffsrnError(f"{os.path.join(directory, name)} is a folder, not a file")
    if metadata is not None and not isinstance(metadata, collections.abc.Mapping):
        raise MaffsrnError(f"metadata is a dict of what to record, not {type(metadata).__name__}")
    meta = dict(getattr(model, "metadata", None) or {})  # from_preset's record, if any
    meta.update(metadata or {})
    meta.update(
        scale=int(model.scale),
        parameter_count=int(model.count_params()),
        maffsrn_tf_version=__version__,
        keras_version=keras.__version__,
        date=time.strftime("%Y-%m-%d"),
    )
    try:  # every file's content made before any is written: a failure replaces none
        meta_text = json.dumps(meta, indent=2, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise MaffsrnError(
            f"metadata cannot be written as JSON ({err}): give numbers, strings, lists and "
            "dicts of them"
        ) from None
    config_text = json.dumps(keras.saving.serialize_keras_object(model), indent=2)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as err:
        raise MaffsrnError(f"cannot make the preset folder {directory} ({err.strerror})") from None
    try:  # without overwrite, a file another writer made meanwhile is not replaced
        with atomic_output(os.path.join(directory, WEIGHTS), overwrite) as tmp:
            model.save_weights(tmp)
        with atomic_output(os.path.join(directory, CONFIG), overwrite) as tmp, open(tmp, "w") as f:
            f.write(config_text)
        with (
            atomic_output(os.path.join(directory, METADATA), overwrite) as tmp,
            open(tmp, "w") as f,
        ):
            f.write(meta_text)
    except OutputExists as err:
        raise MaffsrnError(
            f"{err} (another process wrote it meanwhile); pass overwrite=True to replace it"
        ) from None
    return directory
