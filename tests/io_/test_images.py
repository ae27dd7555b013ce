"""The image reader's pixel limit: one per call, checked from the header before decoding,
with no process-wide setting changed per call (reads under different limits may run in
threads at once)."""

import os
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


# --- every mode read as its plain equivalent: tRNS transparency, CIELAB, CMYK -----------------


def _ramp(h=20, w=24, channels=3, top=255):
    """A smooth image (lossy formats keep it closely): HxW or HxWxC, values 0..top."""
    y, x = np.mgrid[0:h, 0:w] / [[[h - 1]], [[w - 1]]]
    planes = [(x + y) / 2, x, y, 1 - x * y][:channels]
    array = np.round(np.stack(planes, -1) * top).astype(np.uint16 if top > 255 else np.uint8)
    return array[..., 0] if channels == 1 else array


def test_grey_and_rgb_pngs_with_trns_are_read_with_alpha(tmp_path):
    gray = _ramp(channels=1)
    Image.fromarray(gray).save(tmp_path / "l.png", transparency=int(gray[2, 3]))
    got, _ = read_image(str(tmp_path / "l.png"))
    assert got.dtype == np.uint8 and got.shape == (20, 24, 2)
    np.testing.assert_array_equal(got[..., 0], gray)
    np.testing.assert_array_equal(got[..., 1], np.where(gray == gray[2, 3], 0, 255))
    rgb = _ramp()
    key = tuple(int(v) for v in rgb[4, 5])
    Image.fromarray(rgb).save(tmp_path / "rgb.png", transparency=key)
    got, _ = read_image(str(tmp_path / "rgb.png"))
    assert got.shape == (20, 24, 4)
    np.testing.assert_array_equal(got[..., :3], rgb)
    np.testing.assert_array_equal(got[..., 3], np.where((rgb == key).all(-1), 0, 255))


def test_16_bit_pngs_with_trns_stay_16_bit_with_alpha(tmp_path):
    import png

    g16 = _ramp(channels=1, top=65535)
    Image.fromarray(g16).save(tmp_path / "g16.png", transparency=int(g16[1, 1]))
    got, _ = read_image(str(tmp_path / "g16.png"))
    assert got.dtype == np.uint16 and got.shape == (20, 24, 2)
    np.testing.assert_array_equal(got[..., 0], g16)
    np.testing.assert_array_equal(got[..., 1], np.where(g16 == g16[1, 1], 0, 65535))
    c16 = _ramp(top=65535)
    key = tuple(int(v) for v in c16[3, 2])
    with open(tmp_path / "c16.png", "wb") as f:
        png.Writer(24, 20, greyscale=False, bitdepth=16, transparent=key).write(
            f, c16.reshape(20, -1).tolist()
        )
    got, _ = read_image(str(tmp_path / "c16.png"))
    assert got.dtype == np.uint16 and got.shape == (20, 24, 4)
    np.testing.assert_array_equal(got[..., :3], c16)
    np.testing.assert_array_equal(got[..., 3], np.where((c16 == key).all(-1), 0, 65535))


def test_lab_is_refused_and_cmyk_ycbcr_are_read_as_rgb(tmp_path):
    rgb = Image.fromarray(_ramp())
    rgb.convert("LAB").save(tmp_path / "lab.tif")
    with pytest.raises(ImageError) as err:
        read_image(str(tmp_path / "lab.tif"))
    assert str(err.value) == (
        f"{tmp_path / 'lab.tif'}: mode LAB is not supported: convert it to RGB first"
    )
    for mode in ("CMYK", "YCbCr"):
        rgb.convert(mode).save(tmp_path / f"{mode}.tif")
        got, info = read_image(str(tmp_path / f"{mode}.tif"))
        np.testing.assert_array_equal(got, np.asarray(rgb.convert(mode).convert("RGB")))


def test_image_array_and_read_image_agree_on_16_bit_and_float_tiffs(tmp_path):
    """The API (a PIL image) and the file path read the same pixels the same way."""
    g16 = _ramp(channels=1, top=65535)
    Image.frombytes("I;16B", (24, 20), g16.astype(">u2").tobytes()).save(tmp_path / "b.tif")
    Image.fromarray((g16 / 65535.0).astype(np.float32)).save(tmp_path / "f.tif")
    for name in ("b.tif", "f.tif"):
        from_file, _ = read_image(str(tmp_path / name))
        with Image.open(tmp_path / name) as im:
            from_pil, _ = images.image_array(im)
        np.testing.assert_array_equal(from_file, g16)
        np.testing.assert_array_equal(from_pil, g16)


# --- outputs: only formats that hold the result ---------------------------------------------

KINDS = {
    f"{bits}-bit {name}": _ramp(channels=c, top=255 if bits == 8 else 65535)
    for bits in (8, 16)
    for name, c in (("gray", 1), ("gray+alpha", 2), ("RGB", 3), ("RGBA", 4))
}
# what each format refuses, by extension: the known answer
REFUSED = {
    ".bmp": {"8-bit gray+alpha", "8-bit RGBA", *[k for k in KINDS if k.startswith("16")]},
    ".tif": {"16-bit gray+alpha", "16-bit RGB", "16-bit RGBA"},
    ".tiff": {"16-bit gray+alpha", "16-bit RGB", "16-bit RGBA"},
}


@pytest.mark.parametrize("ext", sorted(images.OUTPUT_EXTENSIONS))
def test_each_output_format_round_trips_what_it_accepts_and_refuses_the_rest(ext, tmp_path):
    for kind, array in KINDS.items():
        path = str(tmp_path / f"{kind.replace(' ', '_')}{ext}")
        if kind in REFUSED.get(ext, ()):
            with pytest.raises(ImageError, match=f"^cannot write .*: {ext} cannot hold a"):
                images.check_output_path(path, array)
            with pytest.raises(ImageError, match="cannot hold a"):
                images.write_image(path, array)
            assert not os.path.exists(path)
            continue
        images.check_output_path(path, array)
        back, info = read_image(images.write_image(path, array))
        alpha = array.ndim == 3 and array.shape[-1] in (2, 4)
        kept = array if ext in (".png", ".tif", ".tiff") else images.to_uint8(array)
        if ext in (".png", ".bmp", ".tif", ".tiff"):  # lossless, 16-bit kept where accepted
            assert back.dtype == array.dtype, (ext, kind)
            np.testing.assert_array_equal(back, kept, err_msg=f"{ext} {kind}")
            continue
        # lossy: 8-bit; JPEG drops alpha (left as it is), WebP keeps it; grey comes back from
        # WebP as RGB with equal channels (WebP has no grey)
        assert back.dtype == np.uint8
        gray = kept.ndim == 2 or kept.shape[-1] == 2
        colour = kept if kept.ndim == 2 else kept[..., 0] if gray else kept[..., :3]
        if ext == ".webp":
            assert back.shape == (20, 24, 4 if alpha else 3), kind
            got = back[..., :3]
            if alpha:
                assert np.abs(back[..., 3].astype(int) - kept[..., -1]).max() <= 1, kind
        else:
            assert back.shape == colour.shape, kind
            got = back
        if gray and got.ndim == 3:
            got = got.astype(int).mean(-1)
            assert np.ptp(back[..., :3].astype(int), -1).max() <= 2, kind
        diff = np.abs(got.astype(int) - colour.astype(int))
        assert diff.mean() < 3, (ext, kind, diff.mean())


@pytest.mark.parametrize(
    "name, message",
    [
        ("o.ico", ".ico is not an image format this writes"),
        ("o.gif", ".gif is not an image format this writes"),
        ("o.txt", ".txt is not an image format this writes"),
        ("o.JPG2", ".jpg2 is not an image format this writes"),
        ("o", "it has no extension"),
    ],
)
def test_an_unknown_output_extension_is_refused_naming_the_formats(tmp_path, name, message):
    path = str(tmp_path / name)
    rgb = _ramp()
    formats = "; use .png, .jpg/.jpeg, .webp, .bmp or .tif/.tiff"
    with pytest.raises(ImageError) as err:
        images.check_output_path(path)
    folder = " (a folder: end it in /)" if message.startswith("it has") else ""
    assert str(err.value) == f"cannot write {path}: {message}{formats}{folder}"
    with pytest.raises(ImageError, match=message):
        images.write_image(path, rgb)
    assert os.listdir(tmp_path) == []
    for ext in (".PNG", ".Jpeg", ".tiff"):
        images.check_output_path(str(tmp_path / f"o{ext}"), rgb)


def test_a_side_over_the_format_s_limit_is_refused():
    wide = np.zeros((4, 8200, 3), np.uint8)
    images.check_output_path("o.webp", wide)
    images.check_output_path("o.png", wide, scale=2)
    with pytest.raises(ImageError, match=r"\.webp holds at most 16383 pixels a side, and the "):
        images.check_output_path("o.webp", wide, scale=2)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16_bit_colour_png_is_oriented_as_an_8_bit_one(orientation, tmp_path):
    """16-bit colour PNGs are read by pypng, beside Pillow: their EXIF orientation must be
    applied the same way (each value of the 16-bit file is the 8-bit one times 257)."""
    import png

    rgb8 = np.random.default_rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb8).save(tmp_path / "a8.png", exif=exif.tobytes())
    rgb16 = rgb8.astype(np.uint16) * 257
    with open(tmp_path / "raw16.png", "wb") as f:
        png.Writer(10, 6, greyscale=False, bitdepth=16).write(f, rgb16.reshape(6, 30).tolist())
    chunks = (tmp_path / "a8.png").read_bytes()  # the eXIf chunk Pillow wrote there
    raw = (tmp_path / "raw16.png").read_bytes()
    start = chunks.index(b"eXIf") - 4
    length = int.from_bytes(chunks[start : start + 4], "big")
    exif_chunk = chunks[start : start + 12 + length]
    idat = raw.index(b"IDAT") - 4
    (tmp_path / "a16.png").write_bytes(raw[:idat] + exif_chunk + raw[idat:])
    eight, _ = read_image(str(tmp_path / "a8.png"))
    sixteen, _ = read_image(str(tmp_path / "a16.png"))
    assert sixteen.dtype == np.uint16 and sixteen.shape == eight.shape
    np.testing.assert_array_equal(sixteen, eight.astype(np.uint16) * 257)
