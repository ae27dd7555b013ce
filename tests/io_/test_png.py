"""The fast PNG encoder: the files decode (Pillow, pypng) to the exact pixels, one stream."""

import io
import zlib

import numpy as np
import png
import pytest
from PIL import Image, ImageCms

from maffsrn_tf.io import images
from maffsrn_tf.io import png as pngwriter
from maffsrn_tf.io.png import adler32_combine, encode_png, sub_filtered
from maffsrn_tf.model.shipped import sample_photo_path

SHAPES = [(1, 1), (1, 1, 3), (13, 13), (5, 7, 2), (7, 5, 4), (3, 2000, 3), (700, 900, 3)]


def idat(data):
    """The joined IDAT payload of PNG bytes."""
    out, i = b"", 8
    while i < len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        if data[i + 4 : i + 8] == b"IDAT":
            out += data[i + 8 : i + 8 + n]
        i += n + 12
    return out


@pytest.mark.parametrize("block", [1, 5000, pngwriter.BLOCK_BYTES])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_decodes_to_the_same_pixels(shape, threads, block, monkeypatch):
    monkeypatch.setattr(pngwriter, "BLOCK_BYTES", block)  # one row per block ... one block
    a = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(a, threads=threads)
    with Image.open(io.BytesIO(data)) as im:
        assert np.array_equal(np.asarray(im).reshape(a.shape), a)
    w, h, rows, meta = png.Reader(bytes=data).read()  # strict: chunk CRCs, the zlib stream
    assert (h, w, meta["bitdepth"]) == (shape[0], shape[1], 8)
    assert np.array_equal(np.vstack(list(rows)).reshape(a.shape), a)
    # one zlib stream (its Adler-32 checked) over the Sub-filtered scanlines
    assert zlib.decompress(idat(data)) == sub_filtered(a.reshape(*shape[:2], -1)).tobytes()


def test_photo_in_blocks_is_one_valid_stream(monkeypatch):
    with Image.open(sample_photo_path()) as im:
        rgb = np.asarray(im.convert("RGB"))
    one = encode_png(rgb, threads=1)
    monkeypatch.setattr(pngwriter, "BLOCK_BYTES", 100_000)  # 66 blocks of 65 rows
    data = encode_png(rgb, threads=2)
    assert zlib.decompress(idat(data)) == sub_filtered(rgb).tobytes()
    with Image.open(io.BytesIO(data)) as im:
        assert np.array_equal(np.asarray(im), rgb)
    assert len(data) < 1.01 * len(one)  # blocks deflated apart cost under 1 % in size


def test_adler32_combine_matches_zlib():
    rng = np.random.default_rng(0)
    for n in [0, 1, 5, 65521, 65522, 300_000]:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        for cut in {0, n // 3, n}:
            a, b = data[:cut], data[cut:]
            assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(data)


def test_icc_profile_kept_and_write_image_uses_it(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    path = images.write_image(str(tmp_path / "a.png"), rgb, {"icc_profile": icc})
    with Image.open(path) as im:
        assert im.info["icc_profile"] == icc
        assert np.array_equal(np.asarray(im), rgb)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((4, 4, 3), np.uint16), "uint8"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "shape"),
    ],
)
def test_refuses_what_it_cannot_write(array, message):
    with pytest.raises(ValueError, match=message):
        encode_png(array)
