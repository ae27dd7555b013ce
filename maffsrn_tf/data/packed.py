"""A training set packed into one small file, and a NumPy patch stream from it: training
input where only JAX or PyTorch is installed (no tf.data), and a dataset that travels with a
small checkout (SR291 without the holdout: see README "Backends" for its size).

The pack is an ``.npz`` without pickles: each HR image as lossless WebP bytes (``hr/NAME``)
and a JSON record (``meta``). It does not depend on the scale: LR images are made when the
pack is loaded, by the same MATLAB-exact ``imresize`` of the mod-cropped HR as the folder
pipeline (``maffsrn_tf.data.sources``). Loaded images are held decoded in memory (SR291 x2: 123 MiB
of LR and HR, loaded in about 9 s), so a pack is meant for SR291-sized sets; DIV2K trains
through the TensorFlow pipeline.

Batch ``i`` of the stream is a pure function of the seed and ``i`` (image, crop offset, one
of the 8 flips/rotations per patch), so a run resumed at step ``s`` starts at ``s``.
"""

import io
import json
import logging
import os

import keras
import numpy as np
from PIL import Image

from maffsrn_tf.errors import MaffsrnError, one_line
from maffsrn_tf.imaging.matlab import imresize, mod_crop
from maffsrn_tf.io.atomic import atomic_output
from maffsrn_tf.io.images import ImageError, list_images, open_image, read_rgb

FORMAT = 1
log = logging.getLogger("maffsrn_tf")


class PackError(MaffsrnError):
    """A bad pack or pack request: printed as one line by the commands."""


def pack(folder, output, exclude=(), progress=None, on_error=None):
    """Pack every image of ``folder`` (minus the names in ``exclude``) into ``output``;
    returns the number of images. Grayscale and alpha images are stored as RGB.

    A file that cannot be packed (not an image, cut short, a link that leads nowhere, a
    name that is not UTF-8, which a zip cannot hold) fails alone: ``on_error(PackError)``
    is called as it is found (by default it is logged), the others are packed, and then
    ``PackError`` lists the failures (its ``packed``: how many the pack holds). When none
    can be packed nothing is written."""
    names = [os.path.basename(p) for p in list_images(folder)]
    names = [n for n in names if n not in set(exclude)]
    if not names:
        raise PackError(f"no images left to pack in {folder}")
    report = on_error or (lambda err: log.error("%s", err))
    arrays, failed = {}, []
    for i, name in enumerate(names, 1):
        path = os.path.join(folder, name)
        try:
            arrays[f"hr/{name}"] = _webp(path, name)
        except (PackError, ImageError) as err:
            failed.append(name)
            report(err if isinstance(err, PackError) else PackError(str(err)))
        if progress and (i % 25 == 0 or i == len(names)):
            progress(f"  packed {i - len(failed)}/{len(names)} images")
    held = [n for n in names if n not in set(failed)]
    shown = ", ".join(one_line(n) for n in failed[:5]) + (" ..." if len(failed) > 5 else "")
    if not held:
        raise PackError(f"none of the {len(names)} images of {folder} could be packed: {shown}")
    meta = {"format": FORMAT, "source": os.path.abspath(folder), "images": held}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with atomic_output(output) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    if failed:
        err = PackError(
            f"{len(failed)} of {len(names)} images were not packed: {shown}; {output} holds "
            f"the other {len(held)}"
        )
        err.packed = len(held)
        raise err
    return len(held)


def _webp(path, name):
    """The lossless WebP bytes of the image at ``path`` (as RGB), a uint8 array."""
    try:  # a pack is a zip file: its member names are UTF-8
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise PackError(
            f"{path!r}: its name is not UTF-8, which a pack (a zip file) cannot hold: rename it"
        ) from None
    buffer = io.BytesIO()
    # lossless; effort 2/50: 2.6 % larger than effort 4/100 at a tenth of the time
    # (effort 6: 60x the time for the same size)
    Image.fromarray(read_rgb(path)).save(buffer, "WEBP", lossless=True, quality=50, method=2)
    return np.frombuffer(buffer.getvalue(), np.uint8)


def load_pairs(path, scale, patch=48, progress=None):
    """``(lr, hr)`` uint8 pairs of a pack for ``scale`` (images whose LR is smaller than the
    patch are left out)."""
    from maffsrn_tf.model.weight_files import npz_headers

    try:
        members = npz_headers(path)  # sizes checked against headers before unpacking
        data = np.load(path, allow_pickle=False)
        meta = json.loads(bytes(data["meta"]).decode())
    except (MaffsrnError, OSError, ValueError, KeyError, UnicodeDecodeError) as err:
        raise PackError(
            f"{path} is not a maffsrn pack ({err}); make one with maffsrn-pack"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise PackError(f"{path}: pack format {found}, this version reads {FORMAT}")
    names = meta.get("images")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PackError(f"{path}: its index of images is not a list of names")
    absent = [n for n in names if f"hr/{n}" not in members]
    if absent:
        raise PackError(f"{path}: its index names images it does not hold: {absent[:3]}")
    pairs = []
    for i, name in enumerate(names, 1):
        try:
            # a pack holds lossless WebP (PNG taken too); never a format read by a program
            with open_image(io.BytesIO(bytes(data[f"hr/{name}"])), name, ["WEBP", "PNG"]) as im:
                hr = mod_crop(np.asarray(im.convert("RGB")), scale)
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise PackError(f"{path}: image {name!r} is corrupt ({err})") from None
        if min(hr.shape[:2]) // scale >= patch:
            pairs.append((imresize(hr, 1.0 / scale), hr))
        if progress and (i % 50 == 0 or i == len(names)):
            progress(f"  loaded {i}/{len(names)} images (LR x{scale} by imresize)")
    if not pairs:
        raise PackError(f"{path}: no image is large enough for {patch}-pixel LR patches")
    return pairs


def sample_patch(pairs, scale, patch, seed, index, augment=True):
    """Patch ``index`` of the stream: a pure function of ``seed`` and ``index``."""
    rng = np.random.default_rng([seed, index])
    lr, hr = pairs[int(rng.integers(len(pairs)))]
    if augment:
        y = int(rng.integers(lr.shape[0] - patch + 1))
        x = int(rng.integers(lr.shape[1] - patch + 1))
    else:
        y = x = 0
    lr = lr[y : y + patch, x : x + patch]
    hr = hr[y * scale : (y + patch) * scale, x * scale : (x + patch) * scale]
    if augment:
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        lr, hr = np.rot90(lr, k), np.rot90(hr, k)
        if flip:
            lr, hr = lr[:, ::-1], hr[:, ::-1]
    return lr, hr


class PatchBatches(keras.utils.PyDataset):
    """Float32 (LR, HR) patch batches in [0, 1] for ``model.fit``: the stream from its batch
    ``start_step`` on (a resumed run continues it).

    Without ``steps`` the stream is endless, and ``fit(..., steps_per_epoch=N)`` trains each
    epoch on the next N batches, as the tf.data pipeline does. ``steps`` makes it a sequence
    of that many batches, which Keras reads again from its first batch every epoch (a fixed
    set, e.g. to compare runs), so it is not for training over several epochs.
    """

    def __init__(
        self,
        pairs,
        scale,
        patch=48,
        batch_size=16,
        steps=None,
        seed=0,
        start_step=0,
        augment=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.pairs, self.scale, self.patch = pairs, scale, patch
        self.batch_size, self.steps, self.seed = batch_size, steps, seed
        self.start_step, self.augment = start_step, augment

    @property
    def num_batches(self):
        return self.steps  # None: endless

    def __len__(self):
        if self.steps is None:
            raise TypeError("an endless PatchBatches has no length (give steps for a sequence)")
        return self.steps

    def __getitem__(self, i):
        first = (self.start_step + i) * self.batch_size
        patches = [
            sample_patch(self.pairs, self.scale, self.patch, self.seed, first + k, self.augment)
            for k in range(self.batch_size)
        ]
        lr = np.stack([p[0] for p in patches]).astype(np.float32) / 255.0
        hr = np.stack([p[1] for p in patches]).astype(np.float32) / 255.0
        return lr, hr
