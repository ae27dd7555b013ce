"""Training and evaluation data: DIV2K (folder layout or TFDS), HR image folders, holdouts.

Sources give aligned (LR, HR) uint8 image pairs with ``HR size == LR size * scale``:

* ``div2k_pairs(root, scale)``: ``DIV2K_train_HR/0001.png`` and
  ``DIV2K_train_LR_bicubic/X{s}/0001x{s}.png`` (the official layout);
* ``folder_pairs(folder, scale, cache_dir)``: any folder of HR images; LR made once by the
  MATLAB-exact ``imresize`` and cached as PNG on disk;
* ``tfds_dataset(scale)``: TensorFlow Datasets ``div2k/bicubic_x{s}``.

``training_store`` decodes a source once into the on-disk store that ``maffsrn_tf.data.patches``
streams patches from.

Every file is opened and verified up front, so a corrupt file stops the run at once with an
error naming it, never mid-epoch; images smaller than a patch are skipped with a warning.
"""

import collections
import hashlib
import json
import logging
import os
import stat

import numpy as np
from PIL import Image, PngImagePlugin

from maffsrn_tf.data.patches import file_signature, fits_patch
from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.imaging.matlab import imresize, mod_crop
from maffsrn_tf.imaging.metrics import SSIM_WINDOW, min_hr_side
from maffsrn_tf.io.atomic import atomic_output
from maffsrn_tf.io.images import ImageError, list_images, read_image, read_rgb, to_uint8
from maffsrn_tf.io.paths import default_cache_root
from maffsrn_tf.model.presets import check_scale

log = logging.getLogger("maffsrn_tf")


class DataError(MaffsrnError):
    """A data file or folder that cannot be used, with the path and the fix in the message."""


def _checked_size(path):
    """(height, width) of an image file, after verifying that the whole file decodes."""
    try:
        return read_image(path)[0].shape[:2]
    except ImageError as err:
        raise DataError(str(err)) from None


def div2k_pairs(root, scale, split="train", patch=None):
    """(lr_path, hr_path) pairs of DIV2K in its standard folder layout."""
    hr_dir = os.path.join(root, f"DIV2K_{split}_HR")
    lr_dir = os.path.join(root, f"DIV2K_{split}_LR_bicubic", f"X{scale}")
    for d in (hr_dir, lr_dir):
        if not os.path.isdir(d):
            raise DataError(
                f"DIV2K folder missing: {d} (expected DIV2K_{split}_HR/ and "
                f"DIV2K_{split}_LR_bicubic/X{scale}/ under {root})"
            )
    pairs = []
    for hr_path in list_images(hr_dir):
        stem = os.path.splitext(os.path.basename(hr_path))[0]
        lr_path = os.path.join(lr_dir, f"{stem}x{scale}.png")
        if not os.path.exists(lr_path):
            raise DataError(f"LR image missing for {hr_path}: expected {lr_path}")
        hr_size, lr_size = _checked_size(hr_path), _checked_size(lr_path)
        if (hr_size[0] // scale, hr_size[1] // scale) != lr_size:
            raise DataError(f"{lr_path} is {lr_size}, expected HR {hr_size} / {scale}")
        if fits_patch(lr_path, lr_size, patch):
            pairs.append((lr_path, hr_path))
    return pairs


def default_cache_dir():
    return os.path.join(default_cache_root(), "lr")


MAX_HOLDOUT_BYTES = 10_000_000  # a list of names; anything larger is not one


def read_holdout(path, folder):
    """Image names listed in ``path`` (one per line, ``#`` comments), each checked to be in
    ``folder``: held out of training and used for validation. A file that is not text (an
    image named by mistake) is a ``DataError`` saying so."""
    not_a_list = (
        f"holdout={path!r} is not a text list of names (one image file name a line, # comments)"
    )
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, /dev/zero not end
            raise DataError(f"{not_a_list}: it is not a regular file")
        if os.path.getsize(path) > MAX_HOLDOUT_BYTES:
            raise DataError(f"{not_a_list}: it is over {MAX_HOLDOUT_BYTES:,} bytes")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise DataError(f"cannot read the holdout list {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise DataError(f"{not_a_list}: it is not UTF-8 text") from None
    if "\0" in text:
        raise DataError(f"{not_a_list}: it holds binary data")
    text = text.removeprefix("\ufeff")  # the byte order mark Windows editors put first
    names = [line.split("#")[0].strip() for line in text.splitlines()]
    names = [n for n in names if n]
    repeated = sorted(n for n, count in collections.Counter(names).items() if count > 1)
    if repeated:
        log.warning("holdout=%r lists %s more than once", path, ", ".join(repeated[:3]))
        names = list(dict.fromkeys(names))
    if not names:
        raise DataError(f"holdout={path!r} names no images; list file names of {folder}")
    present = {os.path.basename(p) for p in list_images(folder)}
    missing = [n for n in names if n not in present]
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        counted = f"{len(names)} images, {len(missing)} of them" if len(names) > 1 else "1 image"
        raise DataError(
            f"holdout={path!r} names {counted} not in {folder}: {shown}; list file names of "
            "that folder"
        )
    return names


LR_SOURCE = "maffsrn-hr-source"  # a cached LR PNG's text: the signature of its HR file


def _made_from(lr_path):
    """The HR signature a cached LR PNG records (``LR_SOURCE``), or None."""
    try:
        with Image.open(lr_path) as im:
            return im.text.get(LR_SOURCE)
    except (OSError, ValueError, AttributeError):
        return None


def folder_pairs(folder, scale, cache_dir=None, patch=None, progress=True, exclude=()):
    """(lr_path, hr_path) pairs for a folder of HR images; LR made by imresize, cached.

    HR images are mod-cropped to the scale on the fly (the pipeline crops; the cached LR
    is ``imresize(mod_crop(hr), 1/scale)``). The cache key includes the folder's absolute
    path, so read-only data folders work; a cached LR is named by its HR file's whole name
    (``x.jpg`` and ``x.png`` are two images) and remade when that file's bytes change,
    whatever its time (``patches.file_signature``).
    """
    files = [f for f in list_images(folder) if os.path.basename(f) not in set(exclude)]
    key = hashlib.sha1(os.fsencode(os.path.abspath(folder))).hexdigest()[:12]
    cache = os.path.join(cache_dir or default_cache_dir(), f"{key}_x{scale}")
    pairs = []
    made = 0
    for i, hr_path in enumerate(files):
        h, w = _checked_size(hr_path)
        lr_size = (h // scale, w // scale)
        if not fits_patch(hr_path, lr_size, patch):
            continue
        lr_path = os.path.join(cache, f"{os.path.basename(hr_path)}.png")  # x.jpg, x.png: two
        source = json.dumps(file_signature(hr_path), sort_keys=True)
        if _made_from(lr_path) != source:
            lr = imresize(mod_crop(read_rgb(hr_path), scale), 1.0 / scale)
            info = PngImagePlugin.PngInfo()
            info.add_text(LR_SOURCE, source)  # the HR file's signature, beside the pixels
            os.makedirs(cache, exist_ok=True)  # made with its first image: none, no folder
            with atomic_output(lr_path) as tmp:
                Image.fromarray(lr).save(tmp, format="PNG", pnginfo=info)
            made += 1
            if progress and made % 25 == 0:
                print(f"  made LR x{scale}: {i + 1}/{len(files)}", flush=True)
        pairs.append((lr_path, hr_path))
    if not pairs and not files and exclude:
        raise DataError(
            f"no training images left in {folder}: the holdout list names every image of it "
            "(held out for validation); list fewer images in the holdout file"
        )
    if not pairs:
        raise DataError(f"no usable images in {folder} (all smaller than the patch?)")
    return pairs


def _names(folder):
    """The image names of ``folder`` (``list_images``), none where it has none or is gone."""
    try:
        return [os.path.basename(p) for p in list_images(folder)]
    except ImageError:
        return []


def data_files(source, data_dir, scale, val_dir="", holdout=None):
    """The files a run trains and validates on, as a run's record of its data lists them:
    ``{"training": (root, names), "validation": (root, names)}``, each name a path relative
    to its ``root`` (as given), or None where there are none to list: a TFDS ``data_dir``
    (TensorFlow Datasets versions its own data) and a run without validation. A folder
    source: its images less ``holdout`` (the names held out, which are the validation
    images); DIV2K: its HR images and their LR of ``scale``; a pack: the file."""
    training = None
    if source == "folder":
        held = set(holdout or ())
        training = (data_dir, [n for n in _names(data_dir) if n not in held])
    elif source == "div2k":
        names = []
        for sub in ("DIV2K_train_HR", os.path.join("DIV2K_train_LR_bicubic", f"X{scale}")):
            names += [os.path.join(sub, n) for n in _names(os.path.join(data_dir, sub))]
        training = (data_dir, names)
    elif source == "packed":
        training = (os.path.dirname(data_dir), [os.path.basename(data_dir)])
    validation = None
    if holdout:
        validation = (data_dir, sorted(set(holdout)))
    elif val_dir:
        validation = (val_dir, _names(val_dir))
    return {"training": training, "validation": validation}


TFDS_INSTALL = 'pip install "maffsrn_tf[tfds]"'
TFDS_MISSING = (
    "data_source='tfds' reads DIV2K through TensorFlow Datasets, and its package "
    f"(tensorflow-datasets) is not installed: {TFDS_INSTALL}"
)


def tfds_import_error(err):
    """The one line for ``import tensorflow_datasets`` failing with ``err``: the package
    missing, or one of its own imports (a broken install), named."""
    if err.name == "tensorflow_datasets":
        return TFDS_MISSING
    why = f"its module {err.name} is missing" if err.name else str(err).splitlines()[0]
    return (
        "data_source='tfds' reads DIV2K through TensorFlow Datasets, which cannot be imported "
        f"({why}): {TFDS_INSTALL} to install what it needs"
    )


def tfds_dataset(scale, split="train", data_dir=None, patch=None):
    """DIV2K from TensorFlow Datasets (``div2k/bicubic_x{scale}``) as uint8 (lr, hr) pairs."""
    import tensorflow as tf

    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise DataError(tfds_import_error(err)) from err
    try:  # TensorFlow Datasets imports much of itself only here (array_record, etils...)
        ds = tfds.load(f"div2k/bicubic_x{scale}", split=split, data_dir=data_dir)
    except ImportError as err:
        raise DataError(tfds_import_error(err)) from err

    def to_pair(example):
        return example["lr"], example["hr"]

    def big_enough(lr, hr):
        return tf.reduce_min(tf.shape(lr)[:2]) >= patch

    ds = ds.map(to_pair)
    return ds.filter(big_enough) if patch else ds


def training_store(source, path, scale, patch, cache_dir=None, exclude=()):
    """Decode a source into the patch store (``maffsrn_tf.data.patches``); returns its entries.

    ``source``: ``folder``, ``div2k`` or ``tfds``; ``exclude``: image names of a ``folder``
    source left out (the validation holdout). ``cache_dir`` holds the LR cache and the store.
    """
    from maffsrn_tf.data import patches

    if exclude and source != "folder":
        raise DataError(f"a holdout list needs data_source='folder', not {source!r}")
    directory = patches.default_store_dir(cache_dir, source, path, scale)
    if source == "folder":
        lr_cache = os.path.join(cache_dir, "lr") if cache_dir else None
        pairs = folder_pairs(path, scale, lr_cache, patch, exclude=exclude)
        return patches.store_from_files(pairs, directory, scale)
    if source == "div2k":
        return patches.store_from_files(div2k_pairs(path, scale, patch=patch), directory, scale)
    if source == "tfds":
        examples = (
            (f"{i:04d}", lr, hr)
            for i, (lr, hr) in enumerate(
                tfds_dataset(scale, data_dir=path or None).as_numpy_iterator()
            )
        )
        return patches.store_from_arrays(examples, directory, scale, patch)
    raise DataError(f"unknown data source {source!r}: use folder, div2k or tfds")


def load_benchmark(folder, scale, lr_folder=None, only=None):
    """Benchmark images as a list of ``(name, hr_uint8, lr_uint8)``.

    HR is mod-cropped to the scale; LR is read from ``lr_folder`` (same file stems) or made
    by the MATLAB-exact ``imresize``. ``only``: file names to keep (a holdout list).
    Grayscale HR stays 2-D (evaluated on its own values).
    """
    scale = check_scale(scale)
    least = min_hr_side(scale)
    items = []
    stems = {}
    for path in list_images(folder):
        if only is not None and os.path.basename(path) not in only:
            continue
        name = os.path.splitext(os.path.basename(path))[0]
        if name in stems:  # a.png and a.jpg: one name in the table, one LR for both
            raise DataError(
                f"{folder} holds two images named {name!r} ({os.path.basename(stems[name])} "
                f"and {os.path.basename(path)}): keep one of them"
            )
        stems[name] = path
    lr_images = list_images(lr_folder) if lr_folder else []
    for name, path in stems.items():
        hr = _gray_or_rgb(path)
        if min(hr.shape[:2]) < least:  # imresize would shrink it to nothing, or SSIM fail
            h, w = hr.shape[:2]
            raise DataError(
                f"{path} is {w}x{h}: too small to measure at x{scale} (at least {least}x{least}: "
                f"{scale} pixels are shaved from each border, and SSIM needs "
                f"{SSIM_WINDOW}x{SSIM_WINDOW}); leave it out of {folder}"
            )
        hr = mod_crop(hr, scale)
        if lr_folder:
            candidates = [
                f
                for f in lr_images
                if os.path.splitext(os.path.basename(f))[0] in (name, f"{name}x{scale}")
            ]
            if not candidates:
                raise DataError(f"no LR image for {path} in {lr_folder}")
            if len(candidates) > 1:  # never pick one of a.png / ax2.png / a.jpg silently
                found = ", ".join(os.path.basename(f) for f in candidates)
                raise DataError(
                    f"{lr_folder} holds {len(candidates)} LR images for {os.path.basename(path)}"
                    f" ({found}): keep one of them"
                )
            lr = _gray_or_rgb(candidates[0])
            if hr.ndim != lr.ndim:  # a mistake more likely than a choice: say it
                log.warning(
                    "LR image %s is %s and its HR image %s %s: the LR is read as %s",
                    candidates[0],
                    "grayscale" if lr.ndim == 2 else "colour",
                    path,
                    "grayscale" if hr.ndim == 2 else "colour",
                    "grey RGB (the model sees no colour)" if lr.ndim == 2 else "grayscale",
                )
            if hr.ndim == 2 and lr.ndim == 3:
                lr = np.array(Image.fromarray(lr).convert("L"))
            elif hr.ndim == 3 and lr.ndim == 2:
                lr = np.repeat(lr[..., None], 3, -1)
        else:
            lr = imresize(hr, 1.0 / scale)
        items.append((name, hr, lr))
    return items


def _gray_or_rgb(path):
    """uint8 image: grayscale stays 2-D (evaluated on its own values), alpha dropped."""
    try:
        array = to_uint8(read_image(path)[0])
    except ImageError as err:
        raise DataError(str(err)) from None
    if array.ndim == 3 and array.shape[-1] == 2:
        return array[..., 0]
    return array[..., :3] if array.ndim == 3 else array
