"""The tf.data pipeline: alignment, augmentation pairing, determinism, sources and errors."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, shared_path
from PIL import Image

from maffsrn_tf.data import patches
from maffsrn_tf.data import sources as data
from maffsrn_tf.imaging.matlab import imresize

SCALE = 3


def smooth_image(rng, h, w):
    """A random but smooth RGB image (so LR is a faithful shrink of HR)."""
    small = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    return np.array(Image.fromarray(small).resize((w, h), Image.BICUBIC))


@pytest.fixture()
def div2k(tmp_path):
    """A tiny DIV2K-layout folder: 3 usable images and one too small for a patch."""
    rng = np.random.default_rng(0)
    hr_dir = tmp_path / "DIV2K_train_HR"
    lr_dir = tmp_path / "DIV2K_train_LR_bicubic" / f"X{SCALE}"
    hr_dir.mkdir()
    lr_dir.mkdir(parents=True)
    for i, (h, w) in enumerate([(72, 90), (96, 66), (60, 60), (30, 90)], start=1):
        hr = smooth_image(rng, h, w)
        Image.fromarray(hr).save(hr_dir / f"{i:04d}.png")
        Image.fromarray(imresize(hr, 1 / SCALE)).save(lr_dir / f"{i:04d}x{SCALE}.png")
    return tmp_path


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


def test_folder_source_caches_imresize_lr(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "hr"
    folder.mkdir()
    hr = smooth_image(rng, 50, 61)
    Image.fromarray(hr).save(folder / "a.png")
    pairs = data.folder_pairs(str(folder), 2, cache_dir=str(tmp_path / "cache"), patch=8)
    lr = np.array(Image.open(pairs[0][0]))
    np.testing.assert_array_equal(lr, imresize(hr[:50, :60], 0.5))

    def cached():
        return {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*")}

    before = cached()
    assert len([p for p in before if p.is_file()]) == len(pairs)
    assert data.folder_pairs(str(folder), 2, cache_dir=str(tmp_path / "cache"), patch=8) == pairs
    assert cached() == before  # no LR file rewritten, none added


def test_corrupt_file_stops_with_its_name(div2k):
    bad = div2k / "DIV2K_train_HR" / "0002.png"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(data.DataError, match="0002.png"):
        data.div2k_pairs(str(div2k), SCALE, patch=16)
    with pytest.raises(data.DataError, match="DIV2K folder missing"):
        data.div2k_pairs(str(div2k), 4)


def test_tfds_source_with_mock_data(tmp_path, caplog):
    tfds = pytest.importorskip("tensorflow_datasets")

    requested = []

    def as_dataset(builder, split, **kwargs):
        requested.append((builder.info.full_name, split))
        rng = np.random.default_rng(0)
        hrs = [smooth_image(rng, 64, 80), smooth_image(rng, 70, 52), smooth_image(rng, 20, 20)]
        examples = [{"lr": imresize(hr, 0.5), "hr": hr} for hr in hrs]

        def gen():
            yield from examples

        spec = {
            "lr": tf.TensorSpec([None, None, 3], tf.uint8),
            "hr": tf.TensorSpec([None, None, 3], tf.uint8),
        }
        return tf.data.Dataset.from_generator(gen, output_signature=spec)

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        ds = data.tfds_dataset(2, patch=16)
        pairs = list(ds)
    assert requested[0][0].startswith("div2k/bicubic_x2") and requested[0][1] == "train"
    assert len(pairs) == 2  # the 10x10 LR image is filtered out
    for lr, hr in pairs:
        assert lr.dtype == tf.uint8 and hr.shape[0] == 2 * lr.shape[0]
        assert hr.shape[1] == 2 * lr.shape[1]
    examples = [(str(i), lr.numpy(), hr.numpy()) for i, (lr, hr) in enumerate(pairs)]
    small = np.zeros((10, 12, 3), np.uint8), np.zeros((20, 24, 3), np.uint8)
    store = patches.store_from_arrays(
        examples + [("small", *small)], str(tmp_path / "store"), 2, patch=16
    )
    assert "skipping small: LR 12x10 is smaller than the 16-pixel patch" in caplog.text
    assert len(store) == 2 and os.path.exists(tmp_path / "store" / "complete.txt")
    assert patches.store_from_arrays(iter(()), str(tmp_path / "store"), 2) == store  # reused
    batches = patches.patch_dataset(store, 2, patch=16, batch_size=2, seed=0)
    lr, hr = next(iter(batches))
    assert lr.shape == (2, 16, 16, 3) and hr.shape == (2, 32, 32, 3)


def test_holdout_images_leave_training_and_become_validation(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "hr"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(smooth_image(rng, 40, 44)).save(folder / name)
    listing = tmp_path / "holdout.txt"
    listing.write_text("# held out\nb.png\n\n")
    holdout = data.read_holdout(str(listing), str(folder))
    assert holdout == ["b.png"]
    pairs = data.folder_pairs(str(folder), 2, str(tmp_path / "cache"), patch=8, exclude=holdout)
    assert [os.path.basename(hr) for _, hr in pairs] == ["a.png", "c.png"]
    val = data.load_benchmark(str(folder), 2, only=holdout)
    assert [name for name, _, _ in val] == ["b"]
    listing.write_text("b.png\nzzz.png\n")
    with pytest.raises(data.DataError, match="1 of them not in"):
        data.read_holdout(str(listing), str(folder))
    with pytest.raises(data.DataError, match="needs data_source='folder'"):
        data.training_store("div2k", str(folder), 2, 8, exclude=holdout)


def test_shipped_holdout_list_names_sr291_images():
    sr291 = shared_path("data", "train", "SR291")
    names = data.read_holdout(os.path.join(ROOT, "splits", "sr291_val.txt"), sr291)
    assert len(names) == 10 and all(n.endswith(".png") for n in names)  # BSD images


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


def test_resume_point_reads_the_backup(tmp_path):
    from maffsrn_tf.train.distribute import resume_point

    assert resume_point(str(tmp_path / "backup")) == (0, 0)
    assert resume_point(str(tmp_path / "backup"), previous=True) is None
    (tmp_path / "backup").mkdir()
    meta = tmp_path / "backup" / "training_metadata.json"
    meta.write_text('{"epoch": 3, "batch": 120, "steps_done": 121}')
    assert resume_point(str(tmp_path / "backup")) == (3, 121)
    meta.write_text('{"epoch": 3, "batch": 120}')  # Keras' own: it restarts the epoch
    assert resume_point(str(tmp_path / "backup")) == (3, 0)
