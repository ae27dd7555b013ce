"""Training patches in memory that does not grow with the dataset, and a patch stream that
a resumed run continues instead of replaying.

Decoded (LR, HR) pairs are stored once as uncompressed ``.npy`` files (the *store*, under
``~/.cache/maffsrn_tf/decoded`` by default); each patch is read through a memory map of its
image, which touches only the patch's rows. The process holds a few batches of patches,
whatever the number or size of the images (DIV2K x2: 8.3 GB of decoded pixels on disk,
none of it held in RAM).

Patch ``i`` of the stream (``i = step * batch_size + k``) is a pure function of the seed
and ``i``: image drawn uniformly, crop offset, one of the 8 flips/rotations. A run resumed
at step ``s`` starts the stream at ``s * batch_size`` and sees the batches an uninterrupted
run would have seen.
"""

import hashlib
import json
import logging
import os
import stat
import threading

import numpy as np

from maffsrn_tf.io.atomic import atomic_output
from maffsrn_tf.io.images import read_rgb
from maffsrn_tf.io.paths import default_cache_root

log = logging.getLogger("maffsrn_tf")


def fits_patch(name, lr_size, patch):
    """Whether an image whose LR is ``lr_size`` (height, width) holds a ``patch``-pixel crop;
    when not, the user is told which image training leaves out (one warning per image)."""
    if patch and (lr_size[0] < patch or lr_size[1] < patch):
        log.warning(
            "skipping %s: LR %dx%d is smaller than the %d-pixel patch",
            name,
            lr_size[1],
            lr_size[0],
            patch,
        )
        return False
    return True


def default_store_dir(cache_dir, source, path, scale):
    """Where the store of one training source lives (keyed by the source's absolute path)."""
    root = cache_dir or default_cache_root()
    key = hashlib.sha1(os.fsencode(f"{source}:{os.path.abspath(path or source)}")).hexdigest()[:12]
    return os.path.join(root, "decoded", f"{key}_x{scale}")


def _save(path, array):
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array))


_digests = {}  # (path, size, mtime_ns, ctime_ns, inode) -> digest, within one process


def file_signature(path):
    """``{"size", "blake2b"}`` of a file's bytes: what a cache made from it is judged by
    (a file replaced with other pixels and an older time, ``cp -p``, tar, rsync -a, is
    another file). A digest is computed once per file version in a process (SR291's
    291 files, 68 MB: about 0.3 s)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    digest = _digests.get(key)
    if digest is None:
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = _digests[key] = h.hexdigest()
    return {"size": st.st_size, "blake2b": digest}


def file_state(path):
    """What a run's record of its data keeps of one file (``same_file`` reads it back):
    ``{"size", "mtime_ns", "ctime_ns", "inode", "blake2b"}``, the digest ``file_signature``'s
    (computed once per file version in a process: a run's data is hashed as it is read)."""
    st = os.stat(path)
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
        "blake2b": file_signature(path)["blake2b"],
    }


def same_file(recorded, path):
    """Whether ``path`` holds the bytes ``recorded`` (a ``file_state``) describes: judged by
    its size and times alone while those are all unchanged (no byte read), else by its
    digest (a file copied back, or touched, with the same bytes is the same file; one of
    other bytes with an older time, ``cp -p``, is not). ``OSError`` when it cannot be read."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode) or st.st_size != recorded.get("size"):
        return False
    times = (recorded.get("mtime_ns"), recorded.get("ctime_ns"), recorded.get("inode"))
    if (st.st_mtime_ns, st.st_ctime_ns, st.st_ino) == times:
        return True  # a file of other bytes has at least another ctime
    return file_signature(path)["blake2b"] == recorded.get("blake2b")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _entry(lr_path, hr_path):
    h, w = _mapped(lr_path).shape[:2]
    return lr_path, hr_path, h, w


def store_from_files(pairs, directory, scale, progress=True):
    """Decode ``(lr_path, hr_path)`` pairs into the store (once; redone when a source file's
    bytes change, whatever its time); returns the entries ``(lr_npy, hr_npy, lr_height,
    lr_width)``. Entries are named by the HR file's whole name (``x.jpg`` and ``x.png`` are
    two images); ``NAME.json`` records the sources' signatures (``file_signature``)."""
    os.makedirs(directory, exist_ok=True)
    entries, made = [], 0
    for i, (lr_src, hr_src) in enumerate(pairs, 1):
        name = os.path.basename(hr_src)
        lr_npy = os.path.join(directory, f"{name}_lr.npy")
        hr_npy = os.path.join(directory, f"{name}_hr.npy")
        record = os.path.join(directory, f"{name}.json")
        sources = {"lr": file_signature(lr_src), "hr": file_signature(hr_src)}
        fresh = _read_json(record) == sources and all(os.path.exists(p) for p in (lr_npy, hr_npy))
        if not fresh:
            lr = read_rgb(lr_src)
            hr = read_rgb(hr_src)[: lr.shape[0] * scale, : lr.shape[1] * scale]
            _save(lr_npy, lr)
            _save(hr_npy, hr)
            with atomic_output(record) as tmp, open(tmp, "w") as f:  # last: the pair is whole
                json.dump(sources, f)
            made += 1
            if progress and made % 25 == 0:
                print(f"  decoded {i}/{len(pairs)} training images into {directory}", flush=True)
        entries.append(_entry(lr_npy, hr_npy))
    return entries


def store_from_arrays(examples, directory, scale, patch=None, progress=True):
    """Store ``(name, lr, hr)`` uint8 arrays (e.g. TFDS examples). A marker file records a
    complete store, so a second run reads the files without iterating the source again."""
    os.makedirs(directory, exist_ok=True)
    marker = os.path.join(directory, "complete.txt")
    if os.path.exists(marker):
        with open(marker) as f:
            names = f.read().split()
        return [
            _entry(os.path.join(directory, f"{n}_lr.npy"), os.path.join(directory, f"{n}_hr.npy"))
            for n in names
        ]
    entries, names = [], []
    for i, (name, lr, hr) in enumerate(examples, 1):
        lr, hr = np.asarray(lr, np.uint8), np.asarray(hr, np.uint8)
        if not fits_patch(name, lr.shape[:2], patch):
            continue
        lr_npy = os.path.join(directory, f"{name}_lr.npy")
        hr_npy = os.path.join(directory, f"{name}_hr.npy")
        _save(lr_npy, lr)
        _save(hr_npy, hr[: lr.shape[0] * scale, : lr.shape[1] * scale])
        entries.append(_entry(lr_npy, hr_npy))
        names.append(name)
        if progress and i % 25 == 0:
            print(f"  decoded {i} training images into {directory}", flush=True)
    with atomic_output(marker) as tmp, open(tmp, "w") as f:
        f.write("\n".join(names) + "\n")
    return entries


_layouts = {}  # (store file, mtime, size) -> (dtype, shape, data offset)
_layouts_lock = threading.Lock()


def _mapped(path):
    """Read-only memory map of a store file. Its ``.npy`` header is parsed once per file
    version and under a lock: the header parser (``ast``) is not thread-safe in CPython 3.11,
    and tf.data reads patches from several threads (a training run on 3.11 died in its sixth
    epoch with "SystemError: AST constructor recursion depth mismatch" inside ``np.load``)."""
    st = os.stat(path)
    key = path, st.st_mtime_ns, st.st_size
    layout = _layouts.get(key)
    if layout is None:
        with _layouts_lock:
            m = np.load(path, mmap_mode="r")
            layout = _layouts[key] = (m.dtype, m.shape, m.offset)
    dtype, shape, offset = layout
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def _read_window(lr_path, hr_path, y, x, patch, scale):
    lr = _mapped(os.fsdecode(lr_path))  # the file system's bytes: any name works
    hr = _mapped(os.fsdecode(hr_path))
    hp = patch * scale
    return (
        np.array(lr[y : y + patch, x : x + patch]),
        np.array(hr[y * scale : y * scale + hp, x * scale : x * scale + hp]),
    )


def patch_dataset(entries, scale, patch=48, batch_size=16, seed=0, start_step=0, augment=True):
    """Infinite batches of (LR, HR) float32 patches in [0, 1] from store ``entries``.

    ``batch_size`` is the *global* batch under ``tf.distribute``; ``start_step`` the number
    of batches already trained (a resumed run). Without ``augment``, patches are the
    top-left crops, unrotated.
    """
    if not entries:
        raise ValueError("no training images (all smaller than the patch?)")
    import tensorflow as tf  # here: the store and fits_patch serve every backend

    lr_paths = tf.constant([os.fsencode(e[0]) for e in entries])  # a name not UTF-8 too
    hr_paths = tf.constant([os.fsencode(e[1]) for e in entries])
    sizes = tf.constant([[e[2], e[3]] for e in entries], tf.int32)
    hp = patch * scale

    def make(index):
        seeds = tf.random.experimental.stateless_split(
            tf.stack([tf.cast(seed, tf.int64), index]), 5
        )
        image = tf.random.stateless_uniform([], seeds[0], 0, len(entries), tf.int32)
        h, w = sizes[image][0], sizes[image][1]
        if augment:
            y = tf.random.stateless_uniform([], seeds[1], 0, h - patch + 1, tf.int32)
            x = tf.random.stateless_uniform([], seeds[2], 0, w - patch + 1, tf.int32)
        else:
            y = x = tf.constant(0, tf.int32)
        lr, hr = tf.numpy_function(
            lambda a, b, yy, xx: _read_window(a, b, int(yy), int(xx), patch, scale),
            [lr_paths[image], hr_paths[image], y, x],
            [tf.uint8, tf.uint8],
            stateful=False,
        )
        lr, hr = tf.ensure_shape(lr, [patch, patch, 3]), tf.ensure_shape(hr, [hp, hp, 3])
        if augment:
            k = tf.random.stateless_uniform([], seeds[3], 0, 4, tf.int32)
            flip = tf.random.stateless_uniform([], seeds[4], 0, 2, tf.int32) > 0
            lr, hr = tf.image.rot90(lr, k), tf.image.rot90(hr, k)
            lr = tf.cond(flip, lambda: tf.image.flip_left_right(lr), lambda: lr)
            hr = tf.cond(flip, lambda: tf.image.flip_left_right(hr), lambda: hr)
        return tf.cast(lr, tf.float32) / 255.0, tf.cast(hr, tf.float32) / 255.0

    start = int(start_step) * int(batch_size)
    ds = tf.data.Dataset.range(start, 2**62)
    ds = ds.map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
