"""Weight files of a built model: our compressed ``.npz`` and Keras' ``.weights.h5``.

The shipped weights are ``.npz`` files keyed by each variable's path inside the model
(``head/v``, ``body.0/b0/conv01/kernel``…, the official module names): 1.5 MB per model
instead of the 5.7 MB of Keras' ``.weights.h5``, whose HDF5 overhead per variable dominates
for a model of 343 small tensors. ``load_weights_file`` reads either format.

This module sits below the model: it reads and writes the variables of a model it is given
and builds none (``maffsrn_tf.pretrained.loading`` builds models and loads files into them).
"""

import re

import keras
import numpy as np

from maffsrn_tf.errors import MaffsrnError

# Keras reads its files only by their lower-case suffixes; ours (.npz) by any spelling
KERAS_SUFFIXES = (".keras", ".weights.h5", ".h5")


def weight_format(path):
    """``"npz"``, ``"keras"`` (a whole model), ``"h5"`` (Keras weights) or ``None``, from the
    file name's suffix in any case.

    ``MaffsrnError`` for a Keras suffix in another case (``W.KERAS``): Keras would refuse the
    file as "not supported", so the error says to rename it instead.
    """
    lower = str(path).lower()
    for suffix in KERAS_SUFFIXES:
        if lower.endswith(suffix) and not str(path).endswith(suffix):
            stem = str(path)[: -len(suffix)]
            raise MaffsrnError(
                f"{path}: Keras reads {suffix} files only by the lower-case suffix; "
                f"rename it to {stem}{suffix}"
            )
    if lower.endswith(".npz"):
        return "npz"
    if lower.endswith(".keras"):
        return "keras"
    return "h5" if lower.endswith(".h5") else None


# the first bytes of files someone may pass as weights, and what they are
_SIGNATURES = (
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),  # an empty one
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (WebP, WAV, AVI)"),
    (b"\x93NUMPY", "one NumPy array (.npy)"),
    (b"\x80", "a Python pickle (an old PyTorch checkpoint?)"),
)
# what each weight format is inside: a .keras model and an .npz are zip archives
_CONTAINER = {"keras": "a zip archive", "npz": "a zip archive", "h5": "an HDF5 file"}
_NAMED = {"keras": "a .keras model", "npz": "an .npz file", "h5": "Keras weights"}
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")


def _content(path):
    """What the file at ``path`` is by its first bytes (``_SIGNATURES``; None: none of
    them): an HDF5 file also where its signature follows a user block (at 512, 1024, 2048
    or 4096 bytes)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if not head:
            return "empty"
        for offset in (512, 1024, 2048, 4096):
            f.seek(offset)
            if f.read(8) == b"\x89HDF\r\n\x1a\n":
                return "an HDF5 file"
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    if head[4:8] == b"TFL3":  # a FlatBuffer with TFLite's file identifier
        return "a TFLite model (a LiteRT model, run as one)"
    return None


def check_weights_file(path):
    """``weight_format(path)`` after the file's bytes were found to be what its name says
    (a ``.keras`` file and an ``.npz`` are zip archives, Keras weights an HDF5 file): Keras
    and NumPy would otherwise answer with their own words for a picture named ``w.keras``.
    ``MaffsrnError`` naming what the file is, or what names weights take."""
    import os

    kind = weight_format(path)
    if kind is None:
        suffix = os.path.splitext(str(path))[1].lower()
        hint = ""
        if suffix in TORCH_SUFFIXES:
            hint = (
                " (a PyTorch state dict converts first: the maffsrn-convert-weights command, "
                "or maffsrn_tf.load_pytorch_weights)"
            )
        raise MaffsrnError(
            f"{path}: weights are read from .weights.h5, .keras or .npz files, and this one "
            f"is named {suffix or 'without a suffix'}{hint}"
        )
    content = _content(path)
    if content != _CONTAINER[kind]:
        if content:
            what = f"{content}, not {_CONTAINER[kind]}: name the weights file itself"
        else:
            what = f"not {_CONTAINER[kind]}: it is damaged, or another kind of file"
        raise MaffsrnError(f"{path} is named as {_NAMED[kind]} but is {what}")
    if kind == "npz" and _is_pack(path):
        raise MaffsrnError(
            f"{path} is a pack of training images (maffsrn-pack), not weights: train on it "
            f"(data_dir={str(path)!r}), and name a weights file here"
        )
    return kind


def _is_pack(path):
    """Whether the ``.npz`` at ``path`` is a pack of training images (``data.packed``: its
    ``meta`` member and ``hr/NAME`` images), read from the zip's directory alone."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False  # reading it says what is wrong
    return "meta.npy" in names and any(n.startswith("hr/") for n in names)


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


def npz_headers(path):
    """``{key: (shape, dtype)}`` of an ``.npz`` from its members' ``.npy`` headers, without
    reading (or decompressing) any array data.

    ``MaffsrnError`` for a file that is not an ``.npz``, holds object (pickled) arrays, or
    whose members' sizes disagree with their headers (a zip bomb cannot hide there).
    """
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise MaffsrnError(f"{path} is not a readable .npz file ({err})") from None
    headers = {}
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise MaffsrnError(f"{path}: member {info.filename!r} is not an .npy array")
            try:
                with archive.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"unsupported .npy version {version}")
                    offset = f.tell()
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
                raise MaffsrnError(
                    f"{path}: member {info.filename!r} is unreadable ({err})"
                ) from None
            if dtype.hasobject:
                raise MaffsrnError(f"{path}: {info.filename!r} holds Python objects; refused")
            size = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if info.file_size != size:
                raise MaffsrnError(
                    f"{path}: {info.filename!r} unpacks to {info.file_size:,} bytes, but its "
                    f"header describes {size:,} ({shape} {dtype}); refused"
                )
            headers[info.filename[: -len(".npy")]] = (tuple(shape), dtype)
    return headers


def bad_values(named):
    """``(name, problem)`` of the first of ``named`` (``(name, array)`` pairs) that cannot be
    a weight: not floating point (a file of strings or integers), or holding NaN or infinite
    values (a run that diverged, a damaged file), which would make every output NaN without
    a word; None when all are sound."""
    for name, value in named:
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            return name, f"is {value.dtype}, not floating point"
        if not np.isfinite(value).all():
            return name, "holds NaN or infinite values"
        with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf in the model
            stored = value.astype(np.float32)
        if not np.isfinite(stored).all():
            return name, "holds values too large for float32, the model's type"
    return None


def check_values(named, source):
    """``MaffsrnError`` naming ``source`` (a file) and its first unsound weight
    (``bad_values``)."""
    bad = bad_values(named)
    if bad:
        raise MaffsrnError(
            f"{source}: {bad[0]} {bad[1]} (a diverged run or a damaged file); use other weights"
        )


def load_npz(model, path):
    """Load a ``save_npz`` file; ``MaffsrnError`` naming missing, unexpected or mis-shaped
    keys. Names and shapes are checked from the headers before any array is read."""
    stored = npz_headers(path)
    wanted = {_key(model, w): w for w in model.weights}
    missing = sorted(set(wanted) - set(stored))
    unexpected = sorted(set(stored) - set(wanted))
    shapes = [
        f"{k}: file {stored[k][0]} vs model {tuple(w.shape)}"
        for k, w in wanted.items()
        if k in stored and stored[k][0] != tuple(w.shape)
    ]
    if shapes and not missing and not unexpected:  # the tail alone: another scale's
        shape = stored.get("tail/tail_k3/v", ((),))[0]
        other = other_scale(shape[-1], model) if len(shape) == 4 else None
        if other:
            raise MaffsrnError(
                f"{path} holds x{other} weights, and {model.name} is x{model.scale}: load them "
                f"into an x{other} model (scale={other})"
            )
    if missing or unexpected or shapes:
        raise MaffsrnError(
            f"{path} does not fit {model.name}: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, mis-shaped {shapes[:5]}"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            values = {k: data[k] for k in wanted}
    except (ValueError, OSError, EOFError) as err:
        raise MaffsrnError(f"{path} is not a readable .npz file ({err})") from None
    check_values(values.items(), path)  # before any is assigned
    for k, w in wanted.items():
        w.assign(values[k])


def other_scale(channels, model):
    """The scale whose tail gives ``channels`` outputs to the pixel shuffle (``n_colors *
    scale**2``), when that is not ``model``'s; else None. Weights and checkpoints of
    another scale differ from ``model`` there alone."""
    if not channels or channels % model.n_colors:
        return None
    scale = round((channels // model.n_colors) ** 0.5)
    return scale if scale * scale * model.n_colors == channels and scale != model.scale else None


def _h5_shapes(path):
    """Shapes of the model variables in a Keras ``.weights.h5`` (optimizer state left out),
    and the file's FFG groups."""
    import h5py

    shapes = []
    try:
        with h5py.File(path, "r") as f:

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer/"):
                    shapes.append(tuple(obj.shape))

            f.visititems(visit)
            groups = sorted(f["body"].keys()) if isinstance(f.get("body"), h5py.Group) else []
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise MaffsrnError(
            f"{path} is not a readable Keras weights file ({type(err).__name__}: {err})"
        ) from None
    return shapes, groups


def file_depth(path):
    """The number of FFGs of the model whose weights ``path`` holds (``.npz`` or Keras
    ``.weights.h5``, from its keys or groups; nothing is loaded), or None (a ``.keras``
    model, or none found). ``MaffsrnError`` for a file that is not what its name says."""
    kind = check_weights_file(path)
    if kind == "h5":
        return len(_h5_shapes(path)[1]) or None
    if kind == "npz":
        groups = {m.group(1) for k in npz_headers(path) if (m := re.match(r"body\.(\d+)/", k))}
        return len(groups) or None
    return None


def _shape_difference(have, want):
    """Shapes in ``have`` but not ``want`` (as multisets), and the other way round."""
    from collections import Counter

    a, b = Counter(have), Counter(want)
    return sorted((a - b).elements()), sorted((b - a).elements())


def load_weights_file(model, path):
    """Load ``.npz`` (``save_npz``) or Keras ``.weights.h5`` weights into a built model.

    ``MaffsrnError`` when the file's variables do not match the model's (Keras itself loads
    a MAFFSRN-L file into MAFFSRN without a word, dropping four FFGs), or one of them is not
    finite floating point (``check_values``: a ``.weights.h5`` is checked once loaded, so the
    model then holds them).
    """
    kind = check_weights_file(path)
    if kind == "npz":
        load_npz(model, path)
        return
    if kind == "h5":
        shapes, groups = _h5_shapes(path)
        wanted = [tuple(w.shape) for w in model.weights]
        if len(shapes) != len(wanted):
            presets = {4: "maffsrn_x", 8: "maffsrn_l_x"}
            fix = ""
            if len(groups) in presets and len(groups) != len(model.body):
                fix = (
                    f": weights of a {len(groups)}-FFG model; load them into one "
                    f"(preset='{presets[len(groups)]}{model.scale}'), or pass the run's "
                    "best.keras, which holds its own model"
                )
            raise MaffsrnError(
                f"{path} does not fit {model.name}: {len(shapes)} variables in "
                f"{len(groups)} FFG groups ({', '.join(groups)}) against the model's "
                f"{len(wanted)} in {len(model.body)} (body.0-body.{len(model.body) - 1}){fix}"
            )
        extra, lacking = _shape_difference(shapes, wanted)
        tails = sorted({s[-1] for s in extra if len(s) == 4 and s[:2] == (3, 3)})
        other = [r for c in tails if (r := other_scale(c, model)) and 2 <= r <= 8]
        if extra and other:  # the tail alone differs: another scale's
            raise MaffsrnError(
                f"{path} holds x{other[0]} weights, and {model.name} is x{model.scale}: load "
                f"them into an x{other[0]} model (scale={other[0]})"
            )
        if extra:
            raise MaffsrnError(
                f"{path} does not fit {model.name} (x{model.scale}): its {len(shapes)} "
                f"variables include shapes {extra[:3]} where the model has {lacking[:3]} "
                "(weights of another scale or width?)"
            )
    try:
        model.load_weights(path)
    except (OSError, ValueError, KeyError) as err:
        raise MaffsrnError(
            f"{path} is not a readable Keras weights file ({type(err).__name__}: {err})"
        ) from None
    check_values(((w.path, w.numpy()) for w in model.weights), path)
