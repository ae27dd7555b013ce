"""Training sources (``data.sources``): DIV2K, folder (cached LR), TFDS, holdout lists, and
the errors that name the file. (The patches drawn from them: test_patches.py.)"""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import DIV2K_SCALE, ROOT, shared_path, smooth_image
from PIL import Image

from maffsrn_tf.data import patches
from maffsrn_tf.data import sources as data
from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.imaging.matlab import imresize

SCALE = DIV2K_SCALE


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
    # a list Windows Notepad saved: its byte order mark had made "\ufeffb.png" not found
    listing.write_bytes(b"\xef\xbb\xbfb.png\r\n")
    assert data.read_holdout(str(listing), str(folder)) == ["b.png"]
    listing.write_text("zzz.png\n")
    with pytest.raises(data.DataError, match="names 1 image not in"):
        data.read_holdout(str(listing), str(folder))
    with pytest.raises(data.DataError, match="needs data_source='folder'"):
        data.training_store("div2k", str(folder), 2, 8, exclude=holdout)


def test_shipped_holdout_list_names_sr291_images():
    sr291 = shared_path("data", "train", "SR291")
    names = data.read_holdout(os.path.join(ROOT, "splits", "sr291_val.txt"), sr291)
    assert len(names) == 10 and all(n.endswith(".png") for n in names)  # BSD images


def test_holdout_that_is_not_a_text_list_is_named_plainly(tmp_path):
    """An image (or any binary file) passed as the list: one DataError saying so, not a
    UnicodeDecodeError; names missing from the folder are listed as names, not a Python list."""
    folder = tmp_path / "hr"
    folder.mkdir()
    Image.fromarray(smooth_image(np.random.default_rng(0), 40, 44)).save(folder / "a.png")
    with pytest.raises(data.DataError, match=r"^holdout='.*a.png' is not a text list of names"):
        data.read_holdout(str(folder / "a.png"), str(folder))
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"a.png\0\0\0")
    with pytest.raises(data.DataError, match="it holds binary data"):
        data.read_holdout(str(nul), str(folder))
    listing = tmp_path / "h.txt"
    listing.write_text("a.png\nnotexisting.png\n")
    with pytest.raises(data.DataError) as caught:
        data.read_holdout(str(listing), str(folder))
    assert str(caught.value).endswith(
        f"2 images, 1 of them not in {folder}: notexisting.png; list file names of that folder"
    )
    listing.write_text("# only a comment\n\n")
    with pytest.raises(data.DataError, match="names no images"):
        data.read_holdout(str(listing), str(folder))


def _store(folder, cache):
    pairs = data.folder_pairs(str(folder), 2, cache_dir=str(cache / "lr"), patch=8)
    entries = patches.store_from_files(pairs, str(cache / "decoded"), 2, progress=False)
    return {os.path.basename(hr): (np.load(lr_npy), np.load(hr_npy))
            for (_, hr), (lr_npy, hr_npy, _, _) in zip(pairs, entries)}  # fmt: skip


def test_two_images_of_one_stem_are_two_images(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "hr"
    folder.mkdir()
    jpg, png = smooth_image(rng, 40, 44), smooth_image(rng, 36, 40)
    Image.fromarray(jpg).save(folder / "x.jpg", quality=95)
    Image.fromarray(png).save(folder / "x.png")
    store = _store(folder, tmp_path / "cache")
    assert sorted(store) == ["x.jpg", "x.png"]
    np.testing.assert_array_equal(store["x.png"][1], png)
    assert store["x.jpg"][1].shape == (40, 44, 3)
    for name, (lr, hr) in store.items():  # each LR is its own HR's
        np.testing.assert_array_equal(lr, imresize(hr, 0.5), err_msg=name)


def test_a_file_replaced_with_an_older_time_is_decoded_again(tmp_path):
    rng = np.random.default_rng(4)
    folder = tmp_path / "hr"
    folder.mkdir()
    first, second = smooth_image(rng, 40, 44), smooth_image(rng, 40, 44)
    Image.fromarray(first).save(folder / "y.png")
    old = os.stat(folder / "y.png").st_mtime_ns
    assert np.array_equal(_store(folder, tmp_path / "cache")["y.png"][1], first)
    Image.fromarray(second).save(folder / "y.png")  # as cp -p, tar or rsync -a leave it
    os.utime(folder / "y.png", ns=(old - 10**9, old - 10**9))
    lr, hr = _store(folder, tmp_path / "cache")["y.png"]
    np.testing.assert_array_equal(hr, second)
    np.testing.assert_array_equal(lr, imresize(second, 0.5))


def test_benchmark_lr_folder_pairs_by_name_and_refuses_ambiguity(tmp_path):
    """An LR folder pairs each HR image with the one LR image of its stem (``a`` or
    ``ax2``); two candidates, or two HR images of one stem, are refused, never one picked."""
    rng = np.random.default_rng(3)
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    hr_dir.mkdir()
    lr_dir.mkdir()
    hr = smooth_image(rng, 32, 32)
    Image.fromarray(hr).save(hr_dir / "a.png")
    lr = imresize(hr, 0.5)
    Image.fromarray(lr).save(lr_dir / "ax2.png")
    ((name, _, got),) = data.load_benchmark(str(hr_dir), 2, str(lr_dir))
    assert name == "a"
    np.testing.assert_array_equal(got, lr)
    Image.fromarray(lr[::-1]).save(lr_dir / "a.png")  # a second candidate
    with pytest.raises(data.DataError, match=r"2 LR images for a.png \(a.png, ax2.png\)"):
        data.load_benchmark(str(hr_dir), 2, str(lr_dir))
    Image.fromarray(hr).save(hr_dir / "a.bmp")
    with pytest.raises(data.DataError, match="two images named 'a'"):
        data.load_benchmark(str(hr_dir), 2)


def test_tfds_that_imports_a_missing_module_at_load_names_it(monkeypatch):
    """TensorFlow Datasets imports much of itself only in ``tfds.load``: a module missing
    there is the same one line as at its import (it had been an unexpected
    ModuleNotFoundError), naming the module and the install that fixes it."""
    import types

    from maffsrn_tf.data.sources import DataError, tfds_dataset

    def load(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'array_record'", name="array_record")

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=load))
    with pytest.raises(DataError) as info:
        tfds_dataset(2)
    assert str(info.value) == (
        "data_source='tfds' reads DIV2K through TensorFlow Datasets, which cannot be imported "
        '(its module array_record is missing): pip install "maffsrn_tf[tfds]" to install what '
        "it needs"
    )


def test_a_holdout_of_every_image_or_a_name_twice_is_named(tmp_path, caplog):
    """A holdout list naming every training image was "no usable images (all smaller than
    the patch?)"; a name listed twice passed without a word (fuzz pass 21)."""
    folder = tmp_path / "hr"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(smooth_image(np.random.default_rng(4), 40, 44)).save(folder / name)
    listing = tmp_path / "holdout.txt"
    listing.write_text("a.png\nb.png\na.png\n")
    with caplog.at_level("WARNING", logger="maffsrn_tf"):
        holdout = data.read_holdout(str(listing), str(folder))
    assert holdout == ["a.png", "b.png"]
    assert [r.getMessage() for r in caplog.records] == [
        f"holdout={str(listing)!r} lists a.png more than once"
    ]
    with pytest.raises(data.DataError) as err:
        data.folder_pairs(str(folder), 2, str(tmp_path / "cache"), patch=8, exclude=holdout)
    assert str(err.value) == (
        f"no training images left in {folder}: the holdout list names every image of it (held "
        "out for validation); list fewer images in the holdout file"
    )
    assert not (tmp_path / "cache").exists()


def test_a_grey_lr_for_a_colour_hr_is_warned(tmp_path, caplog):
    """An LR folder whose image is grayscale where its HR image is colour (or the reverse)
    was measured without a word: a mistake more likely than a choice (fuzz pass 21)."""
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    hr_dir.mkdir()
    lr_dir.mkdir()
    hr = smooth_image(np.random.default_rng(5), 32, 32)
    Image.fromarray(hr).save(hr_dir / "a.png")
    Image.fromarray(imresize(hr, 0.5)).convert("L").save(lr_dir / "a.png")
    with caplog.at_level("WARNING", logger="maffsrn_tf"):
        ((_, _, lr),) = data.load_benchmark(str(hr_dir), 2, str(lr_dir))
    assert lr.shape == (16, 16, 3)
    assert [r.getMessage() for r in caplog.records] == [
        f"LR image {lr_dir / 'a.png'} is grayscale and its HR image {hr_dir / 'a.png'} colour: "
        "the LR is read as grey RGB (the model sees no colour)"
    ]


def test_a_benchmark_image_too_small_to_measure_is_named(tmp_path):
    """A 1x1 validation image was "imresize by 0.5 shrinks a 0x0 image to nothing", naming
    neither the file nor the fix (fuzz pass 22); scale=0 a ZeroDivisionError."""
    (tmp_path / "v").mkdir()
    Image.new("RGB", (1, 1)).save(tmp_path / "v" / "t.png")
    with pytest.raises(data.DataError) as err:
        data.load_benchmark(str(tmp_path / "v"), 2)
    assert str(err.value) == (
        f"{tmp_path / 'v' / 't.png'} is 1x1: too small to measure at x2 (at least 16x16: 2 "
        f"pixels are shaved from each border, and SSIM needs 11x11); leave it out of "
        f"{tmp_path / 'v'}"
    )
    with pytest.raises(MaffsrnError, match=r"^scale=0 is not one of 2, 3, 4$"):
        data.load_benchmark(str(tmp_path / "v"), 0)
