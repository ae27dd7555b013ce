"""Training patches (``data.patches``): aligned and augmented LR/HR crops, a deterministic
stream that a resumed run continues, and store files read safely from tf.data's threads."""

import logging
import os

import numpy as np
import tensorflow as tf
from conftest import DIV2K_SCALE
from PIL import Image

from maffsrn_tf.data import patches
from maffsrn_tf.data import sources as data

SCALE = DIV2K_SCALE


def decoded(pairs):
    return {hr: (np.array(Image.open(lr)), np.array(Image.open(hr))) for lr, hr in pairs}


def test_div2k_patches_are_aligned_augmented_and_deterministic(div2k, caplog):
    with caplog.at_level(logging.WARNING, logger="maffsrn_tf"):
        pairs = data.div2k_pairs(str(div2k), SCALE, patch=16)
    assert len(pairs) == 3 and "smaller than the 16-pixel patch" in caplog.text
    images = decoded(pairs)
    store = patches.store_from_files(pairs, str(div2k / "store"), SCALE)
    ds = patches.patch_dataset(store, SCALE, patch=16, batch_size=4, seed=7)
    lr, hr = next(iter(ds))
    assert lr.shape == (4, 16, 16, 3) and hr.shape == (4, 48, 48, 3)
    assert lr.dtype == tf.float32 and 0 <= float(tf.reduce_min(hr)) <= float(tf.reduce_max(hr)) <= 1
    transforms = set()
    for lr_b, hr_b in ds.take(6):
        for lr_p, hr_p in zip(lr_b.numpy(), hr_b.numpy()):
            lr_u8 = np.round(lr_p * 255).astype(np.uint8)
            hr_u8 = np.round(hr_p * 255).astype(np.uint8)
            found = False
            for k in range(4):
                for flip in (False, True):
                    # undo the dihedral transform, then find the crop in a source image
                    hr_c = np.rot90(hr_u8[:, ::-1] if flip else hr_u8, -k)
                    lr_c = np.rot90(lr_u8[:, ::-1] if flip else lr_u8, -k)
                    for lr_img, hr_img in images.values():
                        ys, xs = np.nonzero((lr_img[:-15, :-15] == lr_c[0, 0]).all(-1))
                        for y, x in zip(ys, xs):
                            if (lr_img[y : y + 16, x : x + 16] == lr_c).all() and (
                                hr_img[y * SCALE : y * SCALE + 48, x * SCALE : x * SCALE + 48]
                                == hr_c
                            ).all():
                                found = True
                    if found:
                        transforms.add((k, flip))
                        break
                if found:
                    break
            assert found, "LR patch is not the crop of the LR image at HR offset / scale"
    assert len(transforms) >= 4  # the 8 dihedral transforms are drawn
    # a fresh pipeline with the same seed gives the same batches (a new run, a new process)
    fresh = [patches.patch_dataset(store, SCALE, 16, 4, seed=s) for s in (7, 7, 8)]
    a, b, c = (next(iter(d))[0].numpy() for d in fresh)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_resumed_stream_continues_where_the_run_stopped(div2k):
    """A run resumed at step s sees the batches an uninterrupted run saw from step s on."""
    store = patches.store_from_files(
        data.div2k_pairs(str(div2k), SCALE, patch=16), str(div2k / "store"), SCALE
    )
    full = [b[0].numpy() for b in patches.patch_dataset(store, SCALE, 16, 4, seed=3).take(7)]
    resumed = patches.patch_dataset(store, SCALE, 16, 4, seed=3, start_step=5).take(2)
    for got, want in zip((b[0].numpy() for b in resumed), full[5:]):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(full[0], full[5])  # not a replay of the first batches


def test_patch_reads_parse_each_store_header_once(div2k, monkeypatch):
    """tf.data reads patches from several threads; the ``.npy`` header parser (``ast``) is not
    thread-safe in CPython 3.11, so each file's header is parsed once, not once per patch."""
    import ast

    store = patches.store_from_files(
        data.div2k_pairs(str(div2k), SCALE, patch=16), str(div2k / "store"), SCALE
    )
    parses = []
    real = ast.literal_eval
    monkeypatch.setattr(ast, "literal_eval", lambda s: parses.append(s) or real(s))
    batches = list(patches.patch_dataset(store, SCALE, 16, 8, seed=1).take(12))
    assert len(batches) == 12 and 0 < len(parses) <= 2 * len(store)  # 96 patches, 3 images
    # a store file rewritten with another shape is mapped with its new header
    path = str(div2k / "store" / "again.npy")
    np.save(path, np.zeros((4, 5, 3), np.uint8))
    assert patches._mapped(path).shape == (4, 5, 3)
    os.remove(path)
    np.save(path, np.ones((6, 7, 3), np.uint8))
    np.testing.assert_array_equal(patches._mapped(path), np.ones((6, 7, 3), np.uint8))


def test_a_store_under_a_name_that_is_not_utf8_streams(tmp_path):
    """Store paths go to tf.data as the file system's bytes: a training image (or store)
    whose name is not UTF-8 is read, not an 'unexpected ValueError' that stops the run."""
    rng = np.random.default_rng(0)
    folder = os.path.join(os.fsencode(tmp_path), b"hr\xff")
    os.mkdir(folder)
    hr = rng.integers(0, 256, (40, 44, 3), dtype=np.uint8)
    Image.fromarray(hr).save(os.path.join(folder, b"a\xff.png"))
    pairs = data.folder_pairs(os.fsdecode(folder), 2, str(tmp_path / "cache"), patch=8)
    store = patches.store_from_files(pairs, os.fsdecode(folder) + "/store", 2)
    lr, hr_batch = next(iter(patches.patch_dataset(store, 2, 8, 2, seed=0)))
    assert lr.shape == (2, 8, 8, 3) and hr_batch.shape == (2, 16, 16, 3)
