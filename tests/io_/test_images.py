"""The image reader's pixel limit: one per call, checked from the header before decoding,
with no process-wide setting changed per call (reads under different limits may run in
threads at once)."""

import functools
import io
import logging
import os
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from maffsrn_tf.io import images, png
from maffsrn_tf.io.images import DEFAULT_MAX_PIXELS, ORIENTATION, ImageError, read_image


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
        # lossy: 8-bit; JPEG drops alpha (left as it is), WebP and AVIF keep it; grey comes
        # back from WebP as RGB with equal channels (WebP has no grey), grey+alpha from AVIF
        # as RGBA (AVIF has grey, but Pillow writes grey+alpha as RGBA)
        assert back.dtype == np.uint8
        gray = kept.ndim == 2 or kept.shape[-1] == 2
        colour = kept if kept.ndim == 2 else kept[..., 0] if gray else kept[..., :3]
        if ext == ".webp" or (ext == ".avif" and not (gray and not alpha)):
            assert back.shape == (20, 24, 4 if alpha else 3), kind
            got = back[..., :3]
            if alpha:  # WebP: alpha lossless by default; AVIF: lossy as the colour
                alpha_error = np.abs(back[..., 3].astype(int) - kept[..., -1]).max()
                assert alpha_error <= (1 if ext == ".webp" else 8), kind
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
    formats = "; use .png, .jpg/.jpeg, .webp, .avif, .bmp or .tif/.tiff"
    with pytest.raises(ImageError) as err:
        images.check_output_path(path)
    folder = " (a folder: end it in /, or make it first)" if message.startswith("it has") else ""
    assert str(err.value) == f"cannot write {path}: {message}{formats}{folder}"
    with pytest.raises(ImageError, match=message):
        images.write_image(path, rgb)
    assert os.listdir(tmp_path) == []
    for ext in (".PNG", ".Jpeg", ".tiff", ".TIF", ".Avif"):
        images.check_output_path(str(tmp_path / f"o{ext}"), rgb)


def test_a_side_over_the_format_s_limit_is_refused():
    wide = np.zeros((4, 8200, 3), np.uint8)
    images.check_output_path("o.webp", wide)
    images.check_output_path("o.png", wide, scale=2)
    with pytest.raises(ImageError, match=r"\.webp holds at most 16383 pixels a side, and the "):
        images.check_output_path("o.webp", wide, scale=2)
    # AVIF: libavif reads at most 32768 a side and 16384 x 16384 pixels (Pillow 13: a larger
    # file is written, then cannot be opened)
    images.check_output_path("o.avif", np.zeros((4, 16384, 3), np.uint8), scale=2)
    with pytest.raises(ImageError) as err:
        images.check_output_path("o.avif", np.zeros((4, 16385, 3), np.uint8), scale=2)
    assert str(err.value) == (
        "cannot write o.avif: .avif holds at most 32768 pixels a side, and the result is "
        "32770x8; use .png, .bmp or .tif/.tiff"
    )
    images.check_output_path("o.avif", np.zeros((8192, 8192), np.uint16), scale=2)
    with pytest.raises(ImageError) as err:
        images.check_output_path("o.avif", np.zeros((8193, 8192, 4), np.uint8), scale=2)
    assert str(err.value) == (
        "cannot write o.avif: .avif holds at most 268,435,456 pixels, and the result is "
        "16384x16386; use .png or .tif/.tiff"
    )


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


# --- metadata: EXIF, XMP, ICC and DPI read upright and written where the format carries them ---


@functools.lru_cache(maxsize=1)
def _srgb():
    """One sRGB profile for the whole module: each new one holds its creation time, so two
    made a second apart differ."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
    b'syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:dc="http:'
    b'//purl.org/dc/elements/1.1/" tiff:Orientation="6"><dc:creator>Ann Example</dc:creator>'
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)
BASE = {0x010F: "Canon", 0x0110: "Canon EOS 5D", 0x0132: "2024:05:06 07:08:09"}
GPS = {1: "N", 2: (48.0, 51.0, 29.5), 3: "E", 4: (2.0, 17.0, 40.0)}
EXIF_IFD = {0x9003: "2024:05:06 07:08:09", 0x829A: 0.004}
# stored 32 rows x 48 columns, four flat quadrants; orientation 6 shows it turned 90 degrees
# clockwise (48 rows x 32 columns)
QUADRANTS = {(0, 0): (220, 30, 30), (0, 1): (30, 200, 40), (1, 0): (40, 40, 210), (1, 1): 235}


def _camera_jpeg_once(folder):
    """``_camera_jpeg`` written in ``folder`` (once), its path."""
    path = folder / "camera.jpg"
    if not path.exists():
        _camera_jpeg(path)
    return path


def _camera_jpeg(path):
    """A camera's JPEG: EXIF (Make, Model, DateTime, GPS, an EXIF IFD, Orientation 6), XMP
    (whose tiff:Orientation is 6 too), an sRGB ICC profile, 300 DPI; returns the upright
    pixels it shows."""
    stored = np.zeros((32, 48, 3), np.uint8)
    for (i, j), colour in QUADRANTS.items():
        stored[i * 16 : i * 16 + 16, j * 24 : j * 24 + 24] = colour
    exif = Image.Exif()
    exif.update(BASE)
    exif[0x0112] = 6
    exif.get_ifd(0x8825).update(GPS)
    exif.get_ifd(0x8769).update(EXIF_IFD)
    Image.fromarray(stored).save(
        path, exif=exif, xmp=XMP, icc_profile=_srgb(), dpi=(300, 300), quality=95
    )
    return np.rot90(stored, -1)


def _assert_upright(array):
    """``array`` is the camera JPEG shown upright (48 x 32: blue, red over white, green), as a
    lossy format keeps it: each quadrant's centre within 8 of its colour."""
    assert array.shape == (48, 32, 3)
    shown = {(12, 8): (1, 0), (12, 24): (0, 0), (36, 8): (1, 1), (36, 24): (0, 1)}
    for (r, c), quadrant in shown.items():
        assert np.abs(array[r, c].astype(int) - QUADRANTS[quadrant]).max() <= 8, (r, c)


def _exif(data):
    exif = Image.Exif()
    exif.load(data)
    return exif


def _assert_camera_exif(data):
    assert data.startswith(b"Exif\x00\x00")
    exif = _exif(data)
    assert {t: exif[t] for t in BASE} == BASE
    assert exif.get(0x0112, 1) == 1  # applied to the pixels
    assert dict(exif.get_ifd(0x8825)) == GPS
    assert {t: exif.get_ifd(0x8769)[t] for t in EXIF_IFD} == EXIF_IFD
    assert not set(exif) & images.TIFF_LAYOUT_TAGS


def _assert_camera_xmp(xmp):
    xmp = xmp.encode() if isinstance(xmp, str) else xmp
    assert xmp == XMP.replace(b'tiff:Orientation="6"', b'tiff:Orientation="1"')


def test_read_image_keeps_the_metadata_and_resets_the_orientation(tmp_path):
    path = tmp_path / "camera.jpg"
    upright = _camera_jpeg(path)
    array, info = read_image(str(path))
    _assert_upright(array)
    assert np.abs(array.astype(int) - upright).mean() < 4
    assert set(info) == {"format", "icc_profile", "exif", "xmp", "dpi", "text"} | COLOUR_KEYS
    assert info["format"] == "JPEG" and info["icc_profile"] == _srgb()
    assert {k: info[k] for k in COLOUR_KEYS} == dict.fromkeys(COLOUR_KEYS)  # PNG's only
    assert info["dpi"] == (300.0, 300.0)
    _assert_camera_exif(info["exif"])
    _assert_camera_xmp(info["xmp"])
    with Image.open(path) as im:  # the orientation patched in place: every other byte kept
        stored = im.info["exif"]
    assert len(info["exif"]) == len(stored)
    changed = [i for i, (a, b) in enumerate(zip(stored, info["exif"])) if a != b]
    assert len(changed) == 1 and (stored[changed[0]], info["exif"][changed[0]]) == (6, 1)


# PNG's gAMA, cHRM and sRGB as read_image's info names them (Pillow's names)
COLOUR_KEYS = {"gamma", "chromaticity", "srgb"}
# what each output format carries: the known answer (the module docstring's table)
CARRIES = {
    ".png": {"icc_profile", "exif", "xmp", "dpi"},
    ".jpg": {"icc_profile", "exif", "xmp", "dpi"},
    ".webp": {"icc_profile", "exif", "xmp"},
    ".avif": {"icc_profile", "exif", "xmp"},
    ".tif": {"icc_profile", "exif", "xmp", "dpi"},
    ".bmp": {"dpi"},
}


@pytest.mark.parametrize(
    "ext, sixteen",
    [(ext, False) for ext in sorted(CARRIES)]
    # 16-bit RGB: TIFF holds 16-bit grey only (next test), BMP no 16-bit
    + [(ext, True) for ext in (".avif", ".jpg", ".png", ".webp")],
)
def test_metadata_written_back_as_each_format_carries_it(ext, sixteen, tmp_path):
    array, info = read_image(str(_camera_jpeg_once(tmp_path)))
    if sixteen:
        array = array.astype(np.uint16) * 257
    back, got = read_image(images.write_image(str(tmp_path / f"out{ext}"), array, info))
    assert back.shape == array.shape  # upright, and not turned again
    if ext in (".png", ".tif", ".bmp"):  # lossless
        np.testing.assert_array_equal(back, array)
    else:
        _assert_upright(images.to_uint8(back))
    carried = CARRIES[ext]
    assert (got["icc_profile"] == _srgb()) == ("icc_profile" in carried)
    if "exif" in carried:
        _assert_camera_exif(got["exif"])
    else:
        assert got["exif"] is None
    if "xmp" in carried:
        _assert_camera_xmp(got["xmp"])
    else:
        assert got["xmp"] is None
    if "dpi" in carried:
        assert got["dpi"] == (300.0, 300.0)
    else:
        assert got["dpi"] is None


def test_16_bit_grey_tiff_and_png_keep_the_metadata(tmp_path):
    _, info = read_image(str(_camera_jpeg_once(tmp_path)))
    grey = _ramp(channels=1, top=65535)
    for ext in (".tif", ".png"):
        back, got = read_image(images.write_image(str(tmp_path / f"g{ext}"), grey, info))
        np.testing.assert_array_equal(back, grey)
        _assert_camera_exif(got["exif"])
        _assert_camera_xmp(got["xmp"])
        assert got["dpi"] == (300.0, 300.0)
        assert got["icc_profile"] is None  # an RGB profile does not fit grey pixels


def test_without_metadata_drops_exif_and_xmp_but_keeps_icc_and_dpi(tmp_path):
    array, info = read_image(str(_camera_jpeg_once(tmp_path)))
    kept = images.without_metadata(info)
    assert kept == {**info, "exif": None, "xmp": None, "text": None}
    assert info["exif"] and info["xmp"]  # a copy: the original is unchanged
    assert images.without_metadata(None) == {"exif": None, "xmp": None, "text": None}
    for ext in (".png", ".jpg", ".webp", ".avif", ".tif"):
        data = images.encode_image(array, ext, kept)
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            assert not im.getexif().get(0x010F), ext
            assert "xmp" not in im.info and b"Ann Example" not in data, ext
            assert im.info.get("icc_profile") == _srgb(), ext
        _, got = read_image(str(tmp_path / "x"), data=data)
        assert got["exif"] is None and got["xmp"] is None, ext
        assert got["dpi"] == ((300.0, 300.0) if CARRIES[ext] >= {"dpi"} else None), ext


def test_icc_profile_written_only_where_its_colour_space_fits():
    rgb_icc = _srgb()
    grey_icc = rgb_icc[:16] + b"GRAY" + rgb_icc[20:]  # the header field the check reads
    grey, rgb = _ramp(channels=1), _ramp()
    expected = {  # (pixels, profile, ext): written?
        ("grey", "RGB", ".png"): False,
        ("grey", "GRAY", ".png"): True,
        ("rgb", "GRAY", ".png"): False,
        ("rgb", "RGB", ".png"): True,
        ("grey", "GRAY", ".jpg"): True,
        ("grey", "GRAY", ".tif"): True,
        ("grey", "GRAY", ".webp"): False,  # WebP stores grey as RGB
        ("grey", "RGB", ".webp"): True,
    }
    for (pixels, space, ext), written in expected.items():
        icc = {"RGB": rgb_icc, "GRAY": grey_icc}[space]
        array = {"grey": grey, "rgb": rgb}[pixels]
        data = images.encode_image(array, ext, {"icc_profile": icc})
        with Image.open(io.BytesIO(data)) as im:
            assert (im.info.get("icc_profile") == icc) is written, (pixels, space, ext)


def test_exif_too_long_for_jpeg_is_left_out_with_a_warning(caplog):
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x010E] = "x" * 70_000  # ImageDescription: over JPEG's 64 KB segment
    info = {"exif": exif.tobytes(), "xmp": b"<x>" + b"y" * 70_000 + b"</x>"}
    with caplog.at_level("WARNING", logger="maffsrn_tf"):
        data = images.encode_image(_ramp(), ".jpg", info)
    assert "EXIF of" in caplog.text and "XMP of" in caplog.text
    with Image.open(io.BytesIO(data)) as im:
        assert not im.getexif() and "xmp" not in im.info
    with Image.open(io.BytesIO(images.encode_image(_ramp(), ".png", info))) as im:
        im.load()
        assert im.getexif()[0x010F] == "Canon" and len(im.info["xmp"]) == 70_007


def test_a_tiff_s_own_tags_are_not_read_as_exif(tmp_path):
    exif = Image.Exif()
    exif.update(BASE)
    exif[0x0112] = 8
    Image.fromarray(_ramp()).save(tmp_path / "a.tif", exif=exif, dpi=(150, 150))
    array, info = read_image(str(tmp_path / "a.tif"))
    assert array.shape == (24, 20, 3)  # orientation 8: turned
    got = _exif(info["exif"])  # Pillow applies a TIFF's orientation on load, and drops it
    assert dict(got) == BASE
    assert info["dpi"] == (150.0, 150.0) and info["xmp"] is None


def test_xmp_orientation_element_form_and_str_are_reset():
    xmp = "<tiff:Orientation>8</tiff:Orientation><a tiff:Orientation='3'/>"
    assert images._xmp_upright(xmp) == (
        "<tiff:Orientation>1</tiff:Orientation><a tiff:Orientation='1'/>"
    )
    assert images._xmp_upright(b"") is None and images._xmp_upright(None) is None


def test_an_orientation_in_xmp_alone_is_applied_and_reset(tmp_path):
    """Pillow takes the orientation from XMP when EXIF has none: the pixels are turned, the
    XMP says 1 after, and no EXIF is made up."""
    rgb = _ramp()
    xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><a tiff:Orientation="6"/></x:xmpmeta>'
    data = images.encode_image(rgb, ".png", {"xmp": xmp})
    array, info = read_image("a.png", data=data)
    np.testing.assert_array_equal(array, np.rot90(rgb, -1))
    assert info["exif"] is None
    assert info["xmp"] == xmp.replace('"6"', '"1"').encode()


def test_no_metadata_reads_as_none(tmp_path):
    Image.fromarray(_ramp()).save(tmp_path / "a.png")
    _, info = read_image(str(tmp_path / "a.png"))
    assert info == {
        "format": "PNG", "icc_profile": None, "exif": None, "xmp": None, "dpi": None,
        "gamma": None, "chromaticity": None, "srgb": None, "text": None,
    }  # fmt: skip


# --- formats: --format choices, what folder runs read ------------------------------------------


def test_output_formats_are_one_per_format_from_output_extensions():
    assert images.OUTPUT_FORMATS == ("png", "jpg", "webp", "avif", "bmp", "tiff")
    formats = {fmt for fmt, _ in images.OUTPUT_EXTENSIONS.values()}
    assert {images.OUTPUT_EXTENSIONS["." + f][0] for f in images.OUTPUT_FORMATS} == formats
    for ext in (".jpeg", ".tif"):  # still accepted as file names
        images.check_output_path(f"o{ext}", _ramp())
    assert images.LOSSY == (".jpg", ".jpeg", ".webp", ".avif")


def test_avif_is_written_in_8_bits_at_pillow_s_default_quality():
    sixteen = _ramp(top=65535)
    data = images.encode_image(sixteen, ".avif")
    with Image.open(io.BytesIO(data)) as im:
        assert (im.format, im.mode) == ("AVIF", "RGB")
    assert data == images.encode_image(images.to_uint8(sixteen), ".avif", quality=75)
    assert len(images.encode_image(_ramp(), ".avif", quality=20)) < len(data)


def test_image_extensions_are_what_pillow_opens(tmp_path):
    exts = images.IMAGE_EXTENSIONS
    assert isinstance(exts, tuple) and exts[:8] == images.COMMON_EXTENSIONS
    assert {".gif", ".avif", ".qoi", ".jp2", ".ppm", ".tga", ".mpo"} <= set(exts)
    assert not {".pdf", ".palm"} & set(exts)  # Pillow only writes these
    assert not {".h5", ".grib", ".bufr", ".wmf", ".mpg"} & set(exts)  # identified, not decoded
    assert len(exts) == len(set(exts))
    for name in ("a.gif", "b.AVIF", "c.qoi"):
        Image.fromarray(_ramp()).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    Image.fromarray(_ramp()).save(tmp_path / "d.pdf")
    found = images.list_images(str(tmp_path))
    assert [os.path.basename(f) for f in found] == ["a.gif", "b.AVIF", "c.qoi"]
    for path in found:
        assert read_image(path)[0].shape == (20, 24, 3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageError, match=r"no images \(\.png, \.bmp, .* extensions Pillow reads"):
        images.list_images(str(empty))


# --- files Pillow decodes by running another program: refused by their format, not name -----

# an EPS file (Pillow decodes it by running Ghostscript on it)
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nshowpage\n"
# a DOS EPS binary header (its magic number, then offsets), as Pillow recognises it too
DOS_EPS = b"\xc5\xd0\xd3\xc6" + b"\x20\x00\x00\x00" + b"\x00" * 24 + EPS


def _no_ghostscript(monkeypatch):
    """Pillow told Ghostscript is installed, and any run of a program fails the test:
    nothing is run on the file (without the refusal, Pillow would run ``gs`` here)."""
    from PIL import EpsImagePlugin

    def never(*args, **kwargs):
        raise AssertionError(f"a program was run: {args}")

    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs")
    monkeypatch.setattr("subprocess.check_call", never)
    monkeypatch.setattr("subprocess.run", never)
    monkeypatch.setattr("subprocess.Popen", never)


@pytest.mark.parametrize("name", ["photo.png", "x.eps", "scan.jpg", "noext"])
@pytest.mark.parametrize("data", [EPS, DOS_EPS], ids=["eps", "dos-eps"])
def test_postscript_is_refused_whatever_its_name_without_running_ghostscript(
    tmp_path, monkeypatch, name, data
):
    _no_ghostscript(monkeypatch)
    path = tmp_path / name
    path.write_bytes(data)
    message = (
        f"{path} is PostScript (EPS), which Pillow reads by running Ghostscript: convert it "
        "to PNG first"
    )
    for read in (
        lambda: read_image(str(path)),
        lambda: read_image(str(path), data=data),
        lambda: read_image(str(path), formats=["EPS", "PNG"]),  # asked for: refused all the same
        lambda: images.image_size(str(path)),
        lambda: images.read_rgb(str(path)),
    ):
        with pytest.raises(ImageError) as refused:
            read()
        assert str(refused.value) == message


def test_program_formats_are_one_list_left_out_of_every_open():
    assert images.PROGRAM_FORMATS == {"EPS": ("PostScript (EPS)", "Ghostscript")}
    assert "EPS" in Image.OPEN  # Pillow has it: it is this list that keeps it out
    assert "EPS" not in images.readable_formats()
    assert "PNG" in images.readable_formats() and "JPEG" in images.readable_formats()
    assert images.readable_formats(["png", "EPS", "eps", "TIFF"]) == ("png", "TIFF")
    assert images.program_format_problem(b"\x89PNG\r\n\x1a\n", "a.png") is None
    assert images.program_format_problem(EPS, "the body") == (
        "the body is PostScript (EPS), which Pillow reads by running Ghostscript: convert it "
        "to PNG first"
    )


def test_a_file_that_is_no_image_keeps_the_decoder_s_message(tmp_path):
    (tmp_path / "notes.png").write_bytes(b"just text\n")
    with pytest.raises(ImageError, match=r"cannot read .*notes\.png as an image \(Unidentified"):
        read_image(str(tmp_path / "notes.png"))
    with pytest.raises(ImageError, match=r"cannot read .*notes\.png as an image \(Unidentified"):
        images.image_size(str(tmp_path / "notes.png"))


# --- a DPI a format cannot store is left out, never a crash or a wrong value ------------------


def _png_with_phys(ppm_x, ppm_y, unit=1):
    """A 16x16 black PNG whose pHYs says ``ppm_x`` x ``ppm_y`` (per metre for unit 1)."""
    out = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(out, format="PNG")
    data = out.getvalue()
    at = data.index(b"IDAT") - 4
    body = b"pHYs" + struct.pack(">IIB", ppm_x, ppm_y, unit)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    return data[:at] + chunk + data[at:]


DPI_CASES = {  # dpi given -> what each format stores of it (None: written without a DPI)
    (1.09092169e8, 1.09092169e8): {".png": None, ".bmp": None, ".jpg": None, ".tif": 1},
    (1e12, 1e12): {".png": None, ".bmp": None, ".jpg": None, ".tif": None},
    (1e308, 1e308): {".png": None, ".bmp": None, ".jpg": None, ".tif": None},
    (70000, 70000): {".png": 1, ".bmp": 1, ".jpg": None, ".tif": 1},
    (300, 65536): {".png": 1, ".bmp": 1, ".jpg": None, ".tif": 1},  # both, or none
    (0.3, 0.3): {".png": 1, ".bmp": 1, ".jpg": None, ".tif": 1},
    (0.01, 0.01): {".png": None, ".bmp": None, ".jpg": None, ".tif": 1},
    (float("nan"), 300): {".png": None, ".bmp": None, ".jpg": None, ".tif": None},
    (float("inf"), float("inf")): {".png": None, ".bmp": None, ".jpg": None, ".tif": None},
    (0, 0): {".png": None, ".bmp": None, ".jpg": None, ".tif": None},
    (-300, -300): {".png": None, ".bmp": None, ".jpg": None, ".tif": None},
    (0.004, 0.004): {".png": None, ".bmp": None, ".jpg": None, ".tif": None},  # rounds to 0
    (300, 300): {".png": 1, ".bmp": 1, ".jpg": 1, ".tif": 1},
}


@pytest.mark.parametrize("dpi", list(DPI_CASES), ids=str)
@pytest.mark.parametrize("ext", [".png", ".bmp", ".jpg", ".tif", ".webp", ".avif"])
def test_a_dpi_the_format_cannot_store_is_left_out(tmp_path, caplog, dpi, ext):
    array = _ramp()
    with caplog.at_level("WARNING", logger="maffsrn_tf"):
        path = images.write_image(str(tmp_path / f"o{ext}"), array, {"dpi": dpi})
    _, got = read_image(path)
    stored = DPI_CASES[dpi].get(ext)
    sane = images._dpi(dpi)
    if stored:
        assert got["dpi"] is not None
        assert np.allclose(got["dpi"], sane, rtol=1e-3, atol=0.02), got["dpi"]
        assert "DPI" not in caplog.text
    else:
        assert got["dpi"] is None
        if sane and ext in (".png", ".bmp", ".jpg", ".tif"):  # a real DPI, too large or small
            fmt = {".png": "PNG", ".bmp": "BMP", ".jpg": "JPEG", ".tif": "TIFF"}[ext]
            assert f"{path}: a DPI of " in caplog.text  # the file written, named
            assert f"is outside what {fmt} stores (" in caplog.text
            assert "): written without a DPI" in caplog.text


def test_huge_png_dpi_is_read_and_written_without_a_crash(tmp_path, caplog):
    """The fuzz case: pHYs of 4294967295 px/m (109,092,169 DPI) read, then written as BMP
    (OverflowError before), PNG and JPEG without it and TIFF with it."""
    (tmp_path / "hugedpi.png").write_bytes(_png_with_phys(4294967295, 4294967295))
    array, info = read_image(str(tmp_path / "hugedpi.png"))
    assert info["dpi"] == (109092169.29, 109092169.29)
    with caplog.at_level("WARNING", logger="maffsrn_tf"):
        for ext in (".bmp", ".png", ".jpg"):
            out = images.write_image(str(tmp_path / f"h{ext}"), array, info)
            assert read_image(out)[1]["dpi"] is None, ext
    assert caplog.text.count("): written without a DPI") == 3
    assert (
        f"{tmp_path / 'h.bmp'}: a DPI of 1.09092e+08 x 1.09092e+08 is outside what BMP stores "
        "(whole dots per metre, 1 to 2,147,483,647): written without a DPI"
    ) in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="maffsrn_tf"):  # bytes: named by the extension
        assert images.encode_image(array, ".bmp", info)
    assert ".bmp output: a DPI of 1.09092e+08 x 1.09092e+08 is outside" in caplog.text
    tif = read_image(images.write_image(str(tmp_path / "h.tif"), array, info))[1]
    # libtiff (the Deflate-compressed writer) stores a rational of 32-bit parts: 1 part in 1e8
    assert tif["dpi"] == pytest.approx((109092169.29, 109092169.29), rel=1e-7)


def test_bmp_and_tiff_without_a_dpi_read_back_without_one(tmp_path):
    """No DPI given: none is made up (Pillow writes 96 in a BMP unless told, and reads a TIFF
    without resolution tags as 1 DPI)."""
    for ext in (".bmp", ".tif"):
        path = images.write_image(str(tmp_path / f"n{ext}"), _ramp(), {})
        assert read_image(path)[1]["dpi"] is None, ext
    Image.fromarray(_ramp()).save(tmp_path / "pillow.tif")  # no resolution tags
    assert read_image(str(tmp_path / "pillow.tif"))[1]["dpi"] is None


# --- PNG's gAMA, cHRM and sRGB: what the pixel values mean, kept in PNG outputs ---------------

CHRM = (0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06)


def _png_with(chunks, array=None):
    """A PNG (Pillow's) with the given ``(kind, payload)`` chunks before its image data."""
    out = io.BytesIO()
    Image.fromarray(_ramp() if array is None else array).save(out, format="PNG")
    data = out.getvalue()
    at = data.index(b"IDAT") - 4
    extra = b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )
    return data[:at] + extra + data[at:]


GAMA_1 = (b"gAMA", struct.pack(">I", 100_000))
CHRM_CHUNK = (b"cHRM", struct.pack(">8I", *(round(v * 100_000) for v in CHRM)))


def _chunk_kinds(data):
    kinds, i = [], 8
    while i < len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        kinds.append(data[i + 4 : i + 8])
        i += n + 12
    return kinds


def test_gamma_and_chromaticity_are_read_and_kept_in_png(tmp_path):
    (tmp_path / "linear.png").write_bytes(_png_with([GAMA_1, CHRM_CHUNK]))
    array, info = read_image(str(tmp_path / "linear.png"))
    assert info["gamma"] == 1.0 and info["chromaticity"] == CHRM and info["srgb"] is None
    for name, keep in (("o.png", info), ("s.png", images.without_metadata(info))):
        out = images.write_image(str(tmp_path / name), array, keep)
        with Image.open(out) as im:
            assert im.info["gamma"] == 1.0 and im.info["chromaticity"] == CHRM
            assert "srgb" not in im.info
        kinds = _chunk_kinds(open(out, "rb").read())
        assert kinds.index(b"gAMA") < kinds.index(b"IDAT") and b"cHRM" in kinds
        _, back = read_image(out)
        assert (back["gamma"], back["chromaticity"]) == (1.0, CHRM)
    sixteen = images.write_image(str(tmp_path / "16.png"), array.astype(np.uint16) * 257, info)
    with Image.open(sixteen) as im:  # 16-bit colour PNGs carry them too
        assert im.info["gamma"] == 1.0 and im.info["chromaticity"] == CHRM


def test_gamma_beside_an_icc_profile_and_srgb_without_one(tmp_path):
    """gAMA and cHRM are written beside iCCP (which a reader takes over them); sRGB only
    without a profile (the PNG specification: not both)."""
    srgb_chunk = (b"sRGB", b"\x00")
    gama = (b"gAMA", struct.pack(">I", 45455))
    data = _png_with([gama, CHRM_CHUNK, srgb_chunk])
    array, info = read_image("in.png", data=data)
    assert (info["gamma"], info["chromaticity"], info["srgb"]) == (0.45455, CHRM, 0)
    out = images.encode_image(array, ".png", info)
    assert _chunk_kinds(out)[1:4] == [b"gAMA", b"cHRM", b"sRGB"]
    with Image.open(io.BytesIO(out)) as im:
        assert (im.info["gamma"], im.info["chromaticity"], im.info["srgb"]) == (0.45455, CHRM, 0)
    out = images.encode_image(array, ".png", {**info, "icc_profile": _srgb()})
    assert _chunk_kinds(out)[1:4] == [b"gAMA", b"cHRM", b"iCCP"]
    with Image.open(io.BytesIO(out)) as im:
        assert im.info["icc_profile"] == _srgb() and "srgb" not in im.info
        assert im.info["gamma"] == 0.45455 and im.info["chromaticity"] == CHRM


@pytest.mark.parametrize("ext", [".jpg", ".webp", ".avif", ".tif", ".bmp"])
def test_gamma_and_chromaticity_are_png_only(tmp_path, ext):
    """The other formats have no place for them: written without (as the docs say)."""
    array, info = read_image("in.png", data=_png_with([GAMA_1, CHRM_CHUNK]))
    _, back = read_image(images.write_image(str(tmp_path / f"o{ext}"), array, info))
    assert {k: back[k] for k in COLOUR_KEYS} == dict.fromkeys(COLOUR_KEYS)


@pytest.mark.parametrize(
    "meta",
    [
        {"gamma": 0.0},  # gAMA 0 is invalid
        {"gamma": float("nan")},
        {"gamma": 1e9},  # over PNG's 2**31 - 1 once scaled by 100,000
        {"chromaticity": (0.3,) * 7},  # not 8 values
        {"chromaticity": (float("inf"),) * 8},
        {"srgb": 7},
        {"srgb": True},
    ],
    ids=str,
)
def test_colour_values_a_png_cannot_hold_are_left_out(meta):
    data = images.encode_image(_ramp(), ".png", meta)
    assert _chunk_kinds(data) == [b"IHDR", b"tEXt", b"IDAT", b"IDAT", b"IDAT", b"IEND"]
    _, info = read_image("x.png", data=data)
    assert {k: info[k] for k in COLOUR_KEYS} == dict.fromkeys(COLOUR_KEYS)


@pytest.mark.parametrize("name", ["z\u200bw.png", "bad\udcff.png", "tab\there.png", "back\\1.png"])
def test_a_non_image_of_any_name_is_one_image_error(tmp_path, name):
    """Names whose repr holds escapes (\\u200b, \\xff, \\t, \\1) must not break the message
    (a regex replacement once read them as escapes and the whole run stopped)."""
    path = tmp_path / name
    path.write_bytes(b"x")
    with pytest.raises(images.ImageError, match="as an image .*UnidentifiedImageError"):
        images.read_image(str(path))


def test_outputs_say_maffsrn_tf_wrote_them_where_the_format_can(tmp_path):
    """PNG (8- and 16-bit) and JPEG outputs carry the writer's mark, read back by
    ``written_here`` (True), beside the input's EXIF (its Software tag kept); the same pixels
    saved by Pillow alone are False; formats with no place for it (TIFF's Software tag would
    read back as EXIF), and what is no image, are None (their name and size are all)."""
    rgb = np.full((6, 8, 3), 90, np.uint8)
    exif = Image.Exif()
    exif[0x0131] = "Camera firmware 1.0"
    for name, array in (("a.png", rgb), ("b.png", rgb.astype(np.uint16) * 257), ("c.jpg", rgb)):
        path = str(tmp_path / name)
        images.write_image(path, array, {"exif": exif.tobytes()})
        assert read_image(path)[1]["exif"] == exif.tobytes()
        assert images.written_here(path) is True, name
        with Image.open(path) as im:  # the pixels alone (Pillow keeps a JPEG's comment)
            other = str(tmp_path / ("pil_" + name))
            Image.fromarray(np.asarray(im)).save(other)
        assert images.written_here(other) is False, name
    for name in ("d.tiff", "e.webp", "f.bmp"):
        images.write_image(str(tmp_path / name), rgb)
        assert images.written_here(str(tmp_path / name)) is None, name
    (tmp_path / "g.png").write_bytes(b"not an image")
    assert images.written_here(str(tmp_path / "g.png")) is None


def test_damaged_exif_is_left_out_with_a_warning_naming_the_file(tmp_path, caplog):
    """EXIF that is not TIFF-structured (a PNG or WebP with it had been refused: "not a
    TIFF file") or whose directory runs past its end (Pillow's bare "Corrupt EXIF data",
    naming no file, once a run) is left out, with one warning naming each file; the
    picture is read as stored. Whole EXIF, with its EXIF and GPS directories, is kept."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825)[2] = (1.0, 2.0, 3.0)  # GPS latitude
    whole = exif.tobytes()
    assert images.exif_problem(whole) == ""
    cases = {"garbage": b"garbage!!!!", "cut": whole[:18], "cut_value": whole[:-6]}
    assert images.exif_problem(cases["garbage"]) == "it is not TIFF-structured"
    assert images.exif_problem(cases["cut"]) == "a directory of it runs past its end"
    assert images.exif_problem(cases["cut_value"]) != ""
    picture = np.zeros((4, 6, 3), np.uint8)
    picture[0, 0] = 255
    for name, raw in cases.items():
        for ext in (".png", ".webp", ".jpg"):
            path = str(tmp_path / (name + ext))
            Image.fromarray(picture).save(path, exif=raw, **({"lossless": True} if ext ==
                                                            ".webp" else {}))  # fmt: skip
            caplog.clear()
            with caplog.at_level(logging.WARNING, "maffsrn_tf"):
                array, info = read_image(path)
            assert array.shape == (4, 6, 3) and info["exif"] is None, path
            if raw.startswith(b"garbage") and ext == ".jpg":
                continue  # Pillow's JPEG reader keeps no APP1 that is not EXIF
            assert [r.getMessage() for r in caplog.records] == [
                f"{path}: its EXIF is damaged ({images.exif_problem(raw)}); it is left out"
            ]
    path = str(tmp_path / "whole.png")
    Image.fromarray(picture).save(path, exif=whole)
    array, info = read_image(path)
    assert array.shape == (6, 4, 3)  # turned upright by its orientation
    assert images.exif_problem(info["exif"]) == ""


def test_a_format_refused_for_16_bits_suggests_only_formats_that_hold_the_image():
    """16-bit grey+alpha into BMP (which the upscaler flattens): the message names what BMP
    would get, and suggests only PNG, which keeps it whole (TIFF, once suggested, holds
    16-bit grey but not with alpha, and refused it in turn)."""
    la16 = np.zeros((4, 4, 2), np.uint16)
    assert images._output_problem(".bmp", la16, flattens=True) == (
        ".bmp cannot hold a 16-bit grayscale image (flattened: its alpha left out); use .png"
    )
    assert images._output_problem(".tiff", la16, flattens=True) == (
        ".tiff cannot hold a 16-bit grayscale+alpha image; use .png"
    )
    assert images._output_problem(".bmp", la16[..., 0]) == (
        ".bmp cannot hold a 16-bit grayscale image; use .png or .tif/.tiff"
    )


def test_png_text_and_the_jpeg_comment_are_kept_beside_the_mark(tmp_path):
    """A PNG's text chunks (tEXt, zTXt, iTXt beyond Latin-1) and a JPEG's comment are kept
    where the output holds them (a PNG's Comment is a JPEG's comment and back; WebP has no
    place), its Software is the writer's, and the mark is a comment segment of its own
    (the user's comment stays the one readers show); ``without_metadata`` drops them."""
    from PIL import PngImagePlugin

    picture = np.full((6, 8, 3), 40, np.uint8)
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("Title", "Holiday")
    chunks.add_text("Comment", "note")
    chunks.add_text("Author", "Zoë", zip=True)
    chunks.add_itxt("Description", "日本語")
    chunks.add_text("Software", "GIMP")
    Image.fromarray(picture).save(tmp_path / "p.png", pnginfo=chunks)
    Image.fromarray(picture).save(tmp_path / "c.jpg", comment=b"my caption")
    text = {"Title": "Holiday", "Comment": "note", "Author": "Zoë", "Description": "日本語"}
    _, info = read_image(str(tmp_path / "p.png"))
    assert info["text"] == text
    _, jpeg_info = read_image(str(tmp_path / "c.jpg"))
    assert jpeg_info["text"] == {"Comment": "my caption"}
    for source, ext, kept in ((info, ".png", text), (info, ".jpg", {"Comment": "note"}),
                              (jpeg_info, ".png", {"Comment": "my caption"}),
                              (jpeg_info, ".jpg", {"Comment": "my caption"}),
                              (info, ".webp", None)):  # fmt: skip
        out = str(tmp_path / f"out{len(os.listdir(tmp_path))}{ext}")
        images.write_image(out, picture, source)
        assert read_image(out)[1]["text"] == kept, (out, kept)
        with Image.open(out) as im:
            if ext == ".png":
                assert im.text["Software"] == "maffsrn_tf"
            if ext == ".jpg":
                assert im.info["comment"] == kept["Comment"].encode()
                assert ("COM", b"maffsrn_tf") in im.applist
    out = str(tmp_path / "stripped.png")
    images.write_image(out, picture, images.without_metadata(info))
    assert read_image(out)[1]["text"] is None


def test_itxt_language_is_kept_and_what_png_text_cannot_hold_is_said(tmp_path, caplog):
    """An iTXt chunk's language and translated keyword go to the output with its text (also
    compressed); a keyword given twice (Pillow keeps the last) and a keyword PNG does not
    allow (left out of the output) are each a warning naming the file, never silent."""
    from PIL import PngImagePlugin

    chunks = PngImagePlugin.PngInfo()
    chunks.add_itxt("Title", "Bonjour", lang="fr", tkey="Titre")
    chunks.add_itxt("Description", "été " * 400, lang="fr-CA", tkey="Légende", zip=True)
    chunks.add_text("Comment", "first")
    chunks.add_text("Comment", "second")
    Image.new("RGB", (8, 8), "red").save(tmp_path / "in.png", pnginfo=chunks)
    assert png.text_keywords(str(tmp_path / "in.png")) == [
        "Title", "Description", "Comment", "Comment"
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        array, info = read_image(str(tmp_path / "in.png"))
    assert caplog.messages == [f"{tmp_path / 'in.png'}: text 'Comment' is given 2 times: only "
                               "its last value is kept"]  # fmt: skip
    info["text"]["bad  key"] = "x"  # as a library caller may give it
    caplog.clear()
    out = str(tmp_path / "out.png")
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        images.write_image(out, array, info)
    assert caplog.messages == [f"{out}: text 'bad  key' is left out: PNG does not allow its "
                               "keyword (it has a leading, trailing or double space)"]  # fmt: skip
    with Image.open(out) as im:
        im.load()
        title, description = im.text["Title"], im.text["Description"]
        assert (title, title.lang, title.tkey) == ("Bonjour", "fr", "Titre")
        assert (description, description.lang, description.tkey) == ("été " * 400, "fr-CA",
                                                                     "Légende")  # fmt: skip
        assert im.text["Comment"] == "second" and "bad  key" not in im.text
    assert os.path.getsize(out) < 1000  # the long iTXt stayed compressed
    assert png.text_keyword_problem("k" * 80) == "it is 80 characters long, not 1-79"
    assert png.text_keyword_problem("Zoë") is None
    assert png.text_keyword_problem("日本") == "it is not Latin-1 text"
    assert png.text_keyword_problem("k\x7fb") == "it holds a control character"
    assert png.text_keyword_problem("k\xa0b") == "it holds a no-break space"


def test_text_chunks_pillow_cannot_read_are_each_a_warning(tmp_path, caplog):
    """An iTXt that is not UTF-8, a compressed iTXt whose stream is damaged and a tEXt with
    no keyword: Pillow leaves each out without a word; each is a warning naming the file
    and the keyword, and the readable text is kept."""

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    data = buffer.getvalue()
    at = data.index(b"IDAT") - 4
    extra = (chunk(b"iTXt", b"Title\0\0\0\0\0\xff\xfe") + chunk(b"iTXt", b"Desc\0\1\0\0\0not zlib")
             + chunk(b"tEXt", b"\0no keyword") + chunk(b"tEXt", b"Good\0yes"))  # fmt: skip
    path = tmp_path / "damaged_text.png"
    path.write_bytes(data[:at] + extra + data[at:])
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        _, info = read_image(str(path))
    assert info["text"] == {"Good": "yes"}
    said = "cannot be read (damaged, not UTF-8, or no keyword): left out"
    assert caplog.messages == [f"{path}: text chunk {k!r} {said}" for k in ("", "Desc", "Title")]


def test_a_png_whose_chunk_is_damaged_is_named_and_empty_text_is_said(tmp_path, caplog):
    """A text chunk whose CRC does not match, or a zTXt of a compression method PNG does
    not define, had been "cannot identify image file" (and 415 "not an image" from the
    server): the line names the chunk. A tEXt with no NUL and an iTXt with an undefined
    flag had become empty text without a word: each is a warning, and left out."""

    def chunk(kind, data, crc=None):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF if crc is None else crc
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    data = buffer.getvalue()
    at = data.index(b"IDAT") - 4

    def png(name, *chunks):
        (tmp_path / name).write_bytes(data[:at] + b"".join(chunks) + data[at:])
        return str(tmp_path / name)

    bad_crc = png("crc.png", chunk(b"tEXt", b"Title\0x", crc=1))
    with pytest.raises(ImageError) as info:
        read_image(bad_crc)
    assert str(info.value) == (
        f"{bad_crc} is a damaged PNG: its tEXt chunk (chunk 2) does not match its checksum "
        "(CRC); save it again from where it came"
    )
    method = png("method.png", chunk(b"zTXt", b"Comment\0\5xx"))
    with pytest.raises(
        ImageError,
        match=r"method\.png: its text chunk 'Comment' has a "
        r"compression method 05 \(PNG has 0 only\), which the reader refuses",
    ):
        read_image(method)  # fmt: skip
    empty = png("empty.png", chunk(b"tEXt", b"nonull"), chunk(b"iTXt", b"Comment\0\2\0\0\0x"),
                chunk(b"tEXt", b"Good\0yes"))  # fmt: skip
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        _, info = read_image(empty)
    assert info["text"] == {"Good": "yes"}
    assert caplog.messages == [
        f"{empty}: text chunk 'nonull' cannot be read (no NUL ends its keyword): left out",
        f"{empty}: text chunk 'Comment' cannot be read (a compression flag or method PNG does "
        "not define): left out",
    ]


def test_text_is_bounded_and_long_text_stays_compressed(tmp_path, caplog):
    """A 63 KB PNG of compressed text had made a 63 MB output (each zTXt written back as
    tEXt): long text is written compressed, text over MAX_TEXT_BYTES in all is left out with
    a warning, a value holding a NUL too, and a text bomb beyond what Pillow is let decode
    (8 MB in all, 1 MB a chunk) is one line naming the fix."""
    from PIL import PngImagePlugin

    def png(name, **texts):
        chunks = PngImagePlugin.PngInfo()
        for key, value in texts.items():
            chunks.add_text(key, value, zip=True)
        Image.new("RGB", (16, 16), (90, 90, 90)).save(tmp_path / name, pnginfo=chunks)
        return str(tmp_path / name)

    array, info = read_image(png("long.png", Description="x" * 5000, Title="t"))
    out = str(tmp_path / "long_out.png")
    images.write_image(out, array, info)
    assert os.path.getsize(out) < 1000 and read_image(out)[1]["text"] == info["text"]
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        _, info = read_image(png("mid.png", a="x" * 200_000, b="y" * 200_000))
    assert info["text"] is None
    assert caplog.records[-1].getMessage().endswith("its text chunks hold 400002 bytes, over "
                                                     "262144: left out of the output")  # fmt: skip
    with pytest.raises(ImageError, match=r"bomb\.png: its PNG text chunks decompress to more "
                       r"than this reads \(over 1 MB in one, or 8 MB in all\): save it again "
                       r"without its text$"):  # fmt: skip
        read_image(png("bomb.png", **{f"k{n}": "x" * 900_000 for n in range(10)}))


def test_mpo_comments_heif_photos_and_tiff_compression(tmp_path):
    """A camera's MPO (a JPEG with more frames) had lost its comment without a word (its
    format is "MPO", not "JPEG"); a HEIC photo had been "cannot identify image file"; TIFF
    outputs had been raw pixels: kept, named, Deflate-compressed (and read back exactly)."""
    picture = np.full((16, 16, 3), 90, np.uint8)
    frames = [Image.fromarray(picture), Image.fromarray(picture[::-1])]
    frames[0].save(tmp_path / "cam.mpo", "MPO", save_all=True, append_images=frames[1:],
                   comment=b"Fujifilm")  # fmt: skip
    with Image.open(tmp_path / "cam.mpo") as im:
        assert im.format == "MPO"
    array, info = read_image(str(tmp_path / "cam.mpo"))
    assert info["text"] == {"Comment": "Fujifilm"}
    images.write_image(str(tmp_path / "out.jpg"), array, info)
    assert read_image(str(tmp_path / "out.jpg"))[1]["text"] == {"Comment": "Fujifilm"}
    (tmp_path / "IMG_1.HEIC").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64)
    with pytest.raises(ImageError) as err:
        read_image(str(tmp_path / "IMG_1.HEIC"))
    assert str(err.value) == (
        f"{tmp_path / 'IMG_1.HEIC'} is a HEIC/HEIF photo: this reads no HEIC/HEIF; convert it "
        "to JPEG or PNG first (e.g. on the phone)"
    )
    Image.new("P", (8, 8), 1).save(tmp_path / "c.gif", comment=b"gif comment")  # kept too
    assert read_image(str(tmp_path / "c.gif"))[1]["text"] == {"Comment": "gif comment"}
    flat = np.zeros((64, 64, 3), np.uint8)
    data = images.encode_image(flat, ".tif")
    assert len(data) < flat.nbytes // 10
    assert np.array_equal(read_image("x.tif", data=data)[0], flat)


def test_list_images_leaves_out_a_macs_resource_forks(tmp_path):
    """evaluate, train and pack had failed on ._NAME.png (AppleDouble) files a Mac leaves."""
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07" + b"\0" * 40)
    assert images.list_images(str(tmp_path)) == [str(tmp_path / "a.png")]
