"""Weight files of a built model: our compressed ``.npz`` and Keras' ``.weights.h5``.

The shipped weights are ``.npz`` files keyed by each variable's path inside the model
(``head/v``, ``body.0/b0/conv01/kernel``…, the official module names): 1.5 MB per model
instead of the 5.7 MB of Keras' ``.weights.h5``, whose HDF5 overhead per variable dominates
for a model of 343 small tensors. ``load_weights_file`` reads either format.

This module sits below the model: it reads and writes the variables of a model it is given
and builds none (``maffsrn_tf.pretrained`` builds models and loads files into them).
"""

import re

import keras
import numpy as np

from maffsrn_tf.errors import MaffsrnError


def _key(model, variable):
    """The variable's file key: its path in the model with the official ``body.{i}`` (the
    Keras layers are named ``body_{i}``, see ``MAFFSRN``)."""
    prefix = model.name + "/"
    path = variable.path[len(prefix) :] if variable.path.startswith(prefix) else variable.path
    return re.sub(r"^body_(\d+)/", r"body.\1/", path)


def save_npz(model, path):
    """Write every variable of ``model`` to a compressed ``.npz`` (keys: paths in the model)."""
    arrays = {_key(model, w): keras.ops.convert_to_numpy(w) for w in model.weights}
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_npz(model, path):
    """Load a ``save_npz`` file; ``MaffsrnError`` naming missing, unexpected or mis-shaped
    keys."""
    with np.load(path) as data:
        stored = {k: data[k] for k in data.files}
    wanted = {_key(model, w): w for w in model.weights}
    missing = sorted(set(wanted) - set(stored))
    unexpected = sorted(set(stored) - set(wanted))
    shapes = [
        f"{k}: file {stored[k].shape} vs model {tuple(w.shape)}"
        for k, w in wanted.items()
        if k in stored and stored[k].shape != tuple(w.shape)
    ]
    if missing or unexpected or shapes:
        raise MaffsrnError(
            f"{path} does not fit {model.name}: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, mis-shaped {shapes[:5]}"
        )
    for k, w in wanted.items():
        w.assign(stored[k])


def _h5_shapes(path):
    """Shapes of the model variables in a Keras ``.weights.h5`` (optimizer state left out),
    and the file's FFG groups."""
    import h5py

    shapes = []
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer/"):
                shapes.append(tuple(obj.shape))

        f.visititems(visit)
        groups = sorted(f["body"].keys()) if "body" in f else []
    return shapes, groups


def load_weights_file(model, path):
    """Load ``.npz`` (``save_npz``) or Keras ``.weights.h5`` weights into a built model.

    ``MaffsrnError`` when the file's variables do not match the model's (Keras itself loads
    a MAFFSRN-L file into MAFFSRN without a word, dropping four FFGs).
    """
    if path.endswith(".npz"):
        load_npz(model, path)
        return
    if path.endswith(".h5"):
        shapes, groups = _h5_shapes(path)
        wanted = [tuple(w.shape) for w in model.weights]
        if sorted(shapes) != sorted(wanted):
            raise MaffsrnError(
                f"{path} does not fit {model.name}: {len(shapes)} variables in "
                f"{len(groups)} FFG groups ({', '.join(groups)}) against the model's "
                f"{len(wanted)} in {len(model.body)} (body.0-body.{len(model.body) - 1})"
            )
    model.load_weights(path)
