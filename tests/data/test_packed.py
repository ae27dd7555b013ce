"""Packed training sets (``maffsrn-pack``, ``maffsrn_tf.data.packed``): lossless, scale-free, and
a NumPy patch stream that is a pure function of the seed and the batch index."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from maffsrn_tf.data.packed import PackError, PatchBatches, load_pairs, pack, sample_patch
from maffsrn_tf.imaging.matlab import imresize, mod_crop
from maffsrn_tf.io.images import read_rgb


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "hr"
    src.mkdir()
    Image.fromarray(rng.integers(0, 256, (61, 70, 3), dtype=np.uint8)).save(src / "a.png")
    Image.fromarray(rng.integers(0, 256, (50, 45), dtype=np.uint8)).save(src / "b.png")
    rgba = rng.integers(0, 256, (40, 52, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(src / "c.png")
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(src / "tiny.bmp")
    return src


def test_pack_is_lossless_and_makes_lr_like_the_folder_pipeline(folder, tmp_path):
    path = str(tmp_path / "p.npz")
    assert pack(str(folder), path, exclude=("c.png",)) == 3
    for scale in (2, 3):
        pairs = load_pairs(path, scale, patch=12)
        assert len(pairs) == 2  # c.png held out, tiny.bmp below 12-pixel LR patches
        for (lr, hr), name in zip(pairs, ("a.png", "b.png")):
            want = mod_crop(read_rgb(str(folder / name)), scale)
            np.testing.assert_array_equal(hr, want)
            np.testing.assert_array_equal(lr, imresize(want, 1.0 / scale))


def test_stream_is_a_pure_function_of_seed_and_index():
    rng = np.random.default_rng(1)
    lr = rng.integers(0, 256, (30, 34, 3), dtype=np.uint8)
    pairs = [(lr, np.repeat(np.repeat(lr, 2, 0), 2, 1))]
    for index in range(40):  # LR and HR stay aligned through crops, rotations and flips
        a, b = sample_patch(pairs, 2, 8, seed=0, index=index)
        np.testing.assert_array_equal(b, np.repeat(np.repeat(a, 2, 0), 2, 1))
    whole = PatchBatches(pairs, 2, patch=8, batch_size=4, steps=10, seed=3)
    resumed = PatchBatches(pairs, 2, patch=8, batch_size=4, steps=7, seed=3, start_step=3)
    for got, want in zip(resumed[0], whole[3]):
        np.testing.assert_array_equal(got, want)
    x, y = whole[0]
    assert x.shape == (4, 8, 8, 3) and y.shape == (4, 16, 16, 3) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1 and len(whole) == 10
    other = PatchBatches(pairs, 2, patch=8, batch_size=4, steps=10, seed=4)
    assert not np.array_equal(other[0][0], x)


def test_not_a_pack_is_one_clear_error(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.zeros(3))
    with pytest.raises(PackError, match="not a maffsrn pack"):
        load_pairs(str(bad), 2)


def test_pack_command(folder, tmp_path):
    holdout = tmp_path / "holdout.txt"
    holdout.write_text("b.png\n")
    out = tmp_path / "p.npz"
    cmd = [sys.executable, "-m", "maffsrn_tf.cli.pack", "--data_dir", str(folder),
           "--holdout", str(holdout), "--output", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 images" in proc.stdout and len(load_pairs(str(out), 2, patch=8)) == 3
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 1 and again.stderr.strip().splitlines()[-1].startswith(
        "error: output exists"
    )
    assert os.path.getsize(out) > 0


def test_endless_stream_gives_each_epoch_new_batches():
    """fit(steps_per_epoch=3) over 2 epochs reads batches 0-5 of an endless PatchBatches; a
    finite one (``steps``) is a fixed sequence that every epoch reads again."""
    rng = np.random.default_rng(1)
    lr = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    pairs = [(lr, np.repeat(np.repeat(lr, 2, 0), 2, 1))]

    class Recording(PatchBatches):
        def __getitem__(self, i):
            self.seen.append(i)
            return super().__getitem__(i)

    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.UpSampling2D(2), keras.layers.Conv2D(3, 1)]
    )
    model.compile("sgd", "mae")
    for steps, want in ((None, set(range(6))), (3, {0, 1, 2})):
        batches = Recording(pairs, 2, patch=8, batch_size=2, steps=steps)
        batches.seen = []
        model.fit(batches, epochs=2, steps_per_epoch=None if steps else 3, shuffle=False, verbose=0)
        # tf.data's prefetch may read a few batches ahead (more on a loaded machine): bounded
        assert want <= set(batches.seen) and max(batches.seen) < 12, (steps, batches.seen)
        if steps:
            assert set(batches.seen) == want and len(batches) == steps
    with pytest.raises(TypeError, match="endless"):
        len(PatchBatches(pairs, 2, patch=8))


def test_a_file_that_cannot_be_packed_fails_alone(tmp_path):
    """A name that is not UTF-8 (a zip cannot hold it), a broken link, an empty file, a
    FIFO and a folder named like an image: each one ``on_error`` as it is found, the other
    images packed, then one ``PackError`` naming them (one bad file stopped the whole pack,
    with nothing written). None packable: nothing written."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(folder / "b.png")
    with open(os.path.join(os.fsencode(folder), b"a\xff.png"), "wb") as f:
        f.write((folder / "b.png").read_bytes())
    os.symlink("nowhere.png", folder / "c.png")
    (folder / "d.png").write_bytes(b"")
    os.mkfifo(folder / "e.png")
    (folder / "f.png").mkdir()
    errors = []
    with pytest.raises(PackError) as caught:
        pack(str(folder), str(tmp_path / "p.npz"), on_error=errors.append)
    assert str(caught.value) == (
        "5 of 6 images were not packed: a\\xff.png, c.png, d.png, e.png, f.png; "
        f"{tmp_path / 'p.npz'} holds the other 1"
    )
    assert caught.value.packed == 1
    assert [str(e) for e in errors][:2] == [
        f"{str(folder / 'a')!r}"[:-1] + "\\udcff.png': its name is not UTF-8, which a pack (a "
        "zip file) cannot hold: rename it",
        f"input cannot be opened: {folder / 'c.png'} is a broken link to nowhere.png",
    ]
    assert len(errors) == 5 and "is a folder" in str(errors[4])
    assert len(load_pairs(str(tmp_path / "p.npz"), 2, patch=8)) == 1
    with np.load(tmp_path / "p.npz") as held:
        assert json.loads(bytes(held["meta"]))["images"] == ["b.png"]
    os.unlink(folder / "b.png")
    with pytest.raises(PackError, match=r"^none of the 5 images of .* could be packed: a"):
        pack(str(folder), str(tmp_path / "q.npz"), on_error=errors.append)
    assert not (tmp_path / "q.npz").exists()
