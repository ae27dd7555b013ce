"""The image reader's pixel limit: one per call, checked from the header before decoding,
with no process-wide setting changed per call (reads under different limits may run in
threads at once)."""

import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from maffsrn_tf.io import images
from maffsrn_tf.io.images import DEFAULT_MAX_PIXELS, ImageError, read_image


def test_each_call_applies_its_own_limit_from_two_threads_at_once(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.full((100, 100, 3), 7, np.uint8)).save(path)  # 10,000 pixels
    barrier, outcomes = threading.Barrier(2), {"low": [], "high": []}

    def read(limit, key):
        barrier.wait()
        for _ in range(200):
            try:
                read_image(str(path), max_pixels=limit)
                outcomes[key].append("read")
            except ImageError as err:
                assert "over the limit of 9,999" in str(err)
                outcomes[key].append("refused")

    threads = [
        threading.Thread(target=read, args=(9_999, "low")),
        threading.Thread(target=read, args=(10_000, "high")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes["low"] == ["refused"] * 200
    assert outcomes["high"] == ["read"] * 200


def _png_header_only(width, height):
    """A PNG that declares ``width x height`` (one tiny IDAT: it is never decoded)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def test_a_bomb_is_refused_from_its_header_without_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(30_000, 30_000))  # 900 megapixels declared
    start = time.perf_counter()
    with pytest.raises(ImageError, match=r"30000x30000 = 900,000,000 pixels is over the limit"):
        read_image(str(path))
    assert time.perf_counter() - start < 5
    with pytest.raises(ImageError, match="over the limit of 1,000,000"):
        read_image(str(path), data=path.read_bytes(), max_pixels=1_000_000)
    assert DEFAULT_MAX_PIXELS == 200_000_000


def test_no_module_level_limit_and_pillow_s_setting_is_not_changed_per_call(tmp_path):
    assert not hasattr(images, "MAX_PIXELS")
    assert Image.MAX_IMAGE_PIXELS is None  # set once, at import: our check replaces it
    path = tmp_path / "a.png"
    Image.new("RGB", (20, 20)).save(path)
    with pytest.raises(ImageError):
        read_image(str(path), max_pixels=10)
    assert Image.MAX_IMAGE_PIXELS is None
    array, _ = read_image(str(path), max_pixels=400)
    assert array.shape == (20, 20, 3)
