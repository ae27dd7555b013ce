"""``upscale()`` on PIL images of every mode Pillow has, and the same pixels from files: each
is upscaled as its plain equivalent (same values, transparency kept) or refused with one
``MaffsrnError``; an animated image gives its first frame, with one warning."""

import logging
import os
import pathlib
import re

import numpy as np
import pytest
from PIL import Image

from maffsrn_tf import MaffsrnError
from maffsrn_tf.io import images
from maffsrn_tf.upscaler import UpscaleError, UpscaleOptions, arrays, upscale, upscale_with
from maffsrn_tf.upscaler.files import upscale_file

OPTIONS = UpscaleOptions(scale=2, tile=0)


class Nearest:
    """A stand-in model with a known answer: nearest-neighbour x2."""

    scale, fixed_size = 2, None

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return np.repeat(np.repeat(x, 2, 1), 2, 2)


class NoModel:
    """An engine that must not run (a refusal comes first)."""

    scale, fixed_size = 2, None

    def __call__(self, x):
        raise AssertionError("the model ran")


def source(h=20, w=24, seed=0):
    """A random RGBA image: alpha 0 in a corner, 255 in another, values between elsewhere."""
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    rgba[:4, :4, 3], rgba[-4:, -4:, 3] = 0, 255
    return rgba


def sixteen(h=20, w=24):
    return (np.arange(h * w).reshape(h, w) * 131 % 65536).astype(np.uint16)


def with_transparency(im, value):
    im.info["transparency"] = value
    return im


def paletted(transparent):
    im = Image.fromarray(source()[..., :3]).convert("P", palette=Image.ADAPTIVE, colors=16)
    return with_transparency(im, 3) if transparent else im


# mode -> (the PIL image, its plain equivalent as an array, or None: refused)
def cases():
    rgba = Image.fromarray(source())
    rgb, gray, la = rgba.convert("RGB"), rgba.convert("L"), rgba.convert("LA")
    g16 = sixteen()
    table = {
        "1": (gray.convert("1"), np.asarray(gray.convert("1"), np.uint8) * 255),
        "L": (gray, np.asarray(gray)),
        "LA": (la, np.asarray(la)),
        "RGB": (rgb, np.asarray(rgb)),
        "RGBA": (rgba, np.asarray(rgba)),
        "RGBX": (rgb.convert("RGBX"), np.asarray(rgb)),
        # premultiplied: un-premultiplied (Pillow's exact inverse, rounded)
        "RGBa": (rgba.convert("RGBa"), np.asarray(rgba.convert("RGBa").convert("RGBA"))),
        "La": (la.convert("La"), np.asarray(la.convert("La").convert("LA"))),
        "P": (paletted(False), np.asarray(paletted(False).convert("RGB"))),
        "P-transparency": (paletted(True), np.asarray(paletted(True).convert("RGBA"))),
        "PA": (rgba.convert("PA"), np.asarray(rgba.convert("PA").convert("RGBA"))),
        "YCbCr": (rgb.convert("YCbCr"), np.asarray(rgb.convert("YCbCr").convert("RGB"))),
        "HSV": (rgb.convert("HSV"), np.asarray(rgb.convert("HSV").convert("RGB"))),
        "CMYK": (rgb.convert("CMYK"), np.asarray(rgb.convert("CMYK").convert("RGB"))),
        "LAB": (rgb.convert("LAB"), None),
        "F": (Image.fromarray((g16 / 65535.0).astype(np.float32)), g16),
        "F-out-of-range": (Image.fromarray((g16 / 100.0).astype(np.float32)), None),
        "I": (Image.fromarray(g16.astype(np.int32)), g16),
        "I-out-of-range": (Image.fromarray(g16.astype(np.int32) - 1), None),
        "L-tRNS": (
            with_transparency(gray.copy(), 100),
            np.dstack([gray, np.where(np.asarray(gray) == 100, 0, 255)]).astype(np.uint8),
        ),
        "RGB-tRNS": (
            with_transparency(rgb.copy(), tuple(int(v) for v in np.asarray(rgb)[5, 5])),
            np.dstack(
                [rgb, np.where((np.asarray(rgb) == np.asarray(rgb)[5, 5]).all(-1), 0, 255)]
            ).astype(np.uint8),
        ),
        "I;16-tRNS": (
            with_transparency(Image.fromarray(g16), int(g16[3, 3])),
            np.dstack([g16, np.where(g16 == g16[3, 3], 0, 65535)]).astype(np.uint16),
        ),
    }
    for mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        dtype = ">u2" if mode == "I;16B" else "<u2" if mode == "I;16L" else "=u2"
        table[mode] = (Image.frombytes(mode, (24, 20), g16.astype(dtype).tobytes()), g16)
    return table


CASES = cases()


def test_the_table_covers_every_mode_pillow_has():
    assert set(Image.MODES) <= set(CASES)
    assert {"P-transparency", "L-tRNS", "RGB-tRNS", "I;16-tRNS"} <= set(CASES)
    for name, (im, _) in CASES.items():
        assert im.mode == name.split("-")[0], name


def nearest(array):
    return np.repeat(np.repeat(array, 2, 0), 2, 1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_mode_as_a_pil_image_is_its_plain_equivalent_or_refused(name):
    image, plain = CASES[name]
    if plain is None:
        with pytest.raises(MaffsrnError) as err:
            upscale_with(NoModel(), image, OPTIONS)
        assert "\n" not in str(err.value)
        if name == "LAB":
            assert str(err.value) == "image: mode LAB is not supported: convert it to RGB first"
        return
    out = upscale_with(Nearest(), image, OPTIONS)
    assert isinstance(out, Image.Image)
    want = upscale_with(Nearest(), plain, OPTIONS)
    if want.dtype == np.uint16 and want.ndim == 3:  # PIL has no 16-bit grey+alpha: 8-bit
        want = images.to_uint8(want)
    np.testing.assert_array_equal(np.asarray(out), want)
    # known answer: the colour is the nearest-neighbour upscale of the plain colour, the
    # colour under alpha 0 filled from the visible pixels around it first
    ref = upscale_with(Nearest(), plain, OPTIONS)
    if plain.ndim == 2:
        np.testing.assert_array_equal(ref, nearest(plain))
    else:
        colour = plain.shape[-1] in (3, 4)
        n = 3 if colour else 1
        filled = plain[..., :n]
        if plain.shape[-1] in (2, 4):
            filled = arrays._fill_transparent(filled, plain[..., -1])
            visible = plain[..., -1] > 0
            np.testing.assert_array_equal(filled[visible], plain[..., :n][visible])
        np.testing.assert_array_equal(ref[..., :n], nearest(filled))
        assert ref.shape[-1] == plain.shape[-1]  # alpha kept


def test_16_bit_pil_images_keep_their_values_not_white():
    """The fuzzing find: I;16B and I came out 94 % white, F all black (clipped to 8-bit)."""
    g16 = np.full((20, 24), 1000, np.uint16)
    for im in (
        Image.frombytes("I;16B", (24, 20), g16.astype(">u2").tobytes()),
        Image.fromarray(g16.astype(np.int32)),
        Image.fromarray((g16 / 65535.0).astype(np.float32)),
    ):
        out = upscale_with(Nearest(), im, OPTIONS)
        assert out.mode == "I;16" and out.size == (48, 40), im.mode
        assert (np.asarray(out) == 1000).all(), im.mode  # a constant stays that constant


def test_big_endian_16_bit_arrays_are_16_bit():
    g16 = sixteen()
    out = upscale_with(Nearest(), g16.astype(">u2"), OPTIONS)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, nearest(g16))


def _save(im, path):
    kwargs = {"transparency": im.info["transparency"]} if "transparency" in im.info else {}
    im.save(path, **kwargs)
    with Image.open(path) as back:
        return back.mode == im.mode and back.info.get("transparency") == im.info.get("transparency")


# a format that holds each mode (the first of these that Pillow writes and reads back as it)
EXTENSIONS = (".png", ".tif", ".jpg", ".webp", ".bmp")


def _stored(image, folder):
    """The path of ``image`` saved in the first format that reads back in its mode, or None
    (HSV, I;16L, I;16N, La, RGBX, RGBa: no format Pillow writes holds them)."""
    for ext in EXTENSIONS:
        path = os.path.join(str(folder), f"in{ext}")
        try:
            if _save(image, path):
                return path
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return None


def _storable_cases():
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return [name for name in sorted(CASES) if _stored(CASES[name][0], folder)]


# the file half covers the modes a file can hold (the API half above covers every mode)
FILE_CASES = _storable_cases()


def test_the_file_cases_cover_most_modes():
    assert len(FILE_CASES) >= len(CASES) - 8, sorted(set(CASES) - set(FILE_CASES))


@pytest.mark.parametrize("name", FILE_CASES)
def test_every_mode_from_a_file_is_what_the_pil_image_gives(name, tmp_path):
    image, plain = CASES[name]
    path = _stored(image, tmp_path)
    out_path = str(tmp_path / "out.png")
    if plain is None:
        with pytest.raises(UpscaleError) as err:
            upscale_file(path, out_path, NoModel(), OPTIONS)
        assert "\n" not in str(err.value) and path in str(err.value)
        assert not (tmp_path / "out.png").exists()
        return
    (written,) = upscale_file(path, out_path, Nearest(), OPTIONS)
    got, _ = images.read_image(written)
    with Image.open(path) as reopened:  # a lossy format's own pixels, read as the API does
        want = upscale_with(Nearest(), images.image_array(reopened)[0], OPTIONS)
        api = upscale_with(Nearest(), reopened, OPTIONS)
    np.testing.assert_array_equal(got, want)
    if not (want.dtype == np.uint16 and want.ndim == 3):
        np.testing.assert_array_equal(np.asarray(api), want)  # the API: the same values
    if not path.endswith((".jpg", ".webp")):  # lossless: the plain equivalent itself
        np.testing.assert_array_equal(got, upscale_with(Nearest(), plain, OPTIONS))


def animated(path):
    frames = [Image.new("RGB", (24, 20), c) for c in ("red", "green", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)


def test_an_animated_image_gives_its_first_frame_with_one_warning(tmp_path, caplog):
    """The first frame, with a warning; an image moved to another frame is refused (read
    as its first, each frame of an ``ImageSequence`` loop came out as the first), and that
    frame's ``copy()`` is upscaled as itself."""
    from PIL import ImageSequence

    path = str(tmp_path / "a.gif")
    animated(path)
    with Image.open(path) as im:
        with caplog.at_level(logging.WARNING, logger="maffsrn_tf"):
            out = upscale_with(Nearest(), im, OPTIONS)
        im.seek(2)  # the caller is on the last frame
        with pytest.raises(MaffsrnError, match=r"^image is on frame 3 of 3: an animated image "
                           r"is read from its first frame; pass the frame you want as an "
                           r"image of its own \(its copy\(\)\)$"):  # fmt: skip
            upscale_with(Nearest(), im, OPTIONS)
        assert im.tell() == 2  # left where it was
        colours = [np.asarray(upscale_with(Nearest(), f.copy(), OPTIONS))[0, 0].tolist()
                   for f in ImageSequence.Iterator(im)]  # fmt: skip
    assert colours == [[255, 0, 0], [0, 128, 0], [0, 0, 255]]
    assert [r.getMessage() for r in caplog.records] == [
        "image has 3 frames: only the first is read"
    ]
    assert out.size == (48, 40) and (np.asarray(out) == (255, 0, 0)).all()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="maffsrn_tf"):
        (written,) = upscale_file(path, str(tmp_path / "o.png"), Nearest(), OPTIONS)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} has 3 frames: only the first is read"
    ]
    np.testing.assert_array_equal(images.read_image(written)[0], np.asarray(out))


def test_the_public_upscale_reads_16_bit_pil_images_as_16_bit():
    """``maffsrn_tf.upscale`` with the shipped model: an I;16B image is its uint16 array."""
    g16 = (np.add.outer(np.arange(20), np.arange(24)) * 1500).astype(np.uint16)
    im = Image.frombytes("I;16B", (24, 20), g16.astype(">u2").tobytes())
    out = upscale(im)
    assert out.mode == "I;16"
    np.testing.assert_array_equal(np.asarray(out), upscale(g16))


@pytest.mark.parametrize(
    "output, kind, message",
    [
        ("o.ico", source()[..., :3], ".ico is not an image format this writes; use .png"),
        ("o.gif", source()[..., :3], ".gif is not an image format this writes"),
        ("o.txt", source()[..., :3], ".txt is not an image format this writes"),
        ("o", source()[..., :3], "it has no extension"),
        ("o.bmp", sixteen(), ".bmp cannot hold a 16-bit grayscale image; use .png or .tif"),
        ("o.tif", np.dstack([sixteen()] * 3), "16-bit RGB image; use .png"),
    ],
)
def test_an_output_that_cannot_hold_the_result_is_refused_before_the_model(
    tmp_path, output, kind, message
):
    path = str(tmp_path / "in.png")
    images.write_image(path, kind)
    with pytest.raises(UpscaleError, match=r"^cannot write .*" + re.escape(message)):
        upscale_file(path, str(tmp_path / output), NoModel(), OPTIONS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_a_pil_image_is_upscaled_upright_as_its_file_is(tmp_path):
    """EXIF orientation 6 (rotated): ``upscale(Image.open(f))`` is the upright result the
    command writes for the file, not the stored pixels' sideways one."""
    from maffsrn_tf.io.images import image_array, read_image

    rgb = np.random.default_rng(3).integers(0, 256, (20, 32, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "r.png", exif=exif.tobytes())
    with Image.open(tmp_path / "r.png") as im:
        array, _ = image_array(im)
    from_file, _ = read_image(str(tmp_path / "r.png"))
    assert array.shape == (32, 20, 3)
    np.testing.assert_array_equal(array, from_file)


# transparency: the colour under alpha 0 is filled before the model; composite()


def white_shape(dtype=np.uint8, gray=False, h=48, w=48):
    """An opaque white shape on transparent black: an anti-aliased disc and a hard bar."""
    top = np.iinfo(dtype).max
    yy, xx = np.mgrid[:h, :w]
    a = np.clip(14.5 - np.hypot(yy - h / 2 + 0.5, xx - w / 2 + 0.5), 0, 1)
    a[8:40, 30:34] = 1
    colour = np.where(a > 0, top, 0).astype(dtype)
    channels = [colour] if gray else [colour] * 3
    return np.dstack(channels + [np.round(a * top).astype(dtype)])


@pytest.mark.parametrize("gray", [False, True], ids=["rgba", "grey+alpha"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_white_shape_on_transparent_black_keeps_white_edges(dtype, gray, monkeypatch):
    """The shipped model: the black under the transparent pixels once bled into the edge (8-bit
    RGBA: down to 130 where the upscaled alpha is over 0.5, 0 where it is 0.1); now every
    pixel with any alpha is white, to within half a level of 8-bit."""
    image, top = white_shape(dtype, gray), np.iinfo(dtype).max
    out = upscale(image)
    assert out.dtype == dtype and out.shape == (96, 96, image.shape[-1])
    alpha, colour = out[..., -1], out[..., :-1].astype(np.float64) * (255 / top)
    assert (alpha > 0).sum() > 2000
    assert colour[alpha > 0].min() >= 254.5
    # the fringe this fixes: the same image without the fill (the colour passed as it is)
    monkeypatch.setattr(arrays, "_fill_transparent", lambda colour, alpha: colour)
    old = upscale(image)
    np.testing.assert_array_equal(old[..., -1], alpha)  # alpha is bicubic, as it was
    assert old[..., :-1][alpha > top // 2].min() * (255 / top) < 140


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_opaque_alpha_gives_exactly_the_colour_of_the_image_without_it(dtype):
    """Alpha at the maximum (or anywhere above 0: only alpha-0 pixels are filled): the colour
    is bit for bit the result for the colour alone; grey+alpha likewise."""
    top = np.iinfo(dtype).max
    rgb = source(24, 28)[..., :3].astype(dtype) * (top // 255)
    want = upscale(rgb)
    for alpha in (np.full((24, 28), top, dtype), source(24, 28)[..., 3].astype(dtype) | 1):
        out = upscale(np.dstack([rgb, alpha]))
        np.testing.assert_array_equal(out[..., :3], want)
        gray = upscale(np.dstack([rgb[..., 0], alpha]))
        np.testing.assert_array_equal(gray[..., 0], upscale(rgb[..., 0]))
    np.testing.assert_array_equal(out[..., 3], arrays._resize_channel(alpha, 2))


def test_the_fill_is_the_alpha_weighted_colour_nearby():
    """Known answers: a 2x2 block of red (alpha 255), blue (alpha 85) and two transparent
    pixels fills them with (255 * 255, 0, 255 * 85) / (255 + 85) = (191.25, 0, 63.75)."""
    colour = np.array([[[255, 0, 0], [0, 0, 255]], [[0, 0, 0], [9, 9, 9]]], np.uint8)
    alpha = np.array([[255, 85], [0, 0]], np.uint8)
    filled = arrays._fill_transparent(colour, alpha)
    np.testing.assert_array_equal(filled, [[[255, 0, 0], [0, 0, 255]], [[191, 0, 64]] * 2])
    # one visible pixel colours everything; 16-bit and grey alike
    colour = np.zeros((5, 7), np.uint16)
    colour[4, 6], alpha = 40000, np.zeros((5, 7), np.uint16)
    alpha[4, 6] = 1
    assert (arrays._fill_transparent(colour, alpha) == 40000).all()
    # the nearest visible pixels decide: the left half red, the right blue, a gap between
    colour = np.zeros((8, 16, 3), np.uint8)
    colour[:, :6], colour[:, 10:] = (255, 0, 0), (0, 0, 255)
    alpha = np.zeros((8, 16), np.uint8)
    alpha[:, :6] = alpha[:, 10:] = 255
    filled = arrays._fill_transparent(colour, alpha)
    assert (filled[:, 6:8] == (255, 0, 0)).all() and (filled[:, 8:10] == (0, 0, 255)).all()
    # nothing to fill, or nothing to fill from: returned as it is
    assert arrays._fill_transparent(colour, np.full((8, 16), 1, np.uint8)) is colour
    assert arrays._fill_transparent(colour, np.zeros((8, 16), np.uint8)) is colour


@pytest.mark.parametrize("shape", [(37, 23), (9, 1), (1, 9), (3, 3)])
def test_the_fill_a_strip_of_rows_at_a_time_is_the_whole_image_at_once(shape, monkeypatch):
    rng = np.random.default_rng(4)
    colour = rng.integers(0, 65536, (*shape, 3), dtype=np.uint16)
    alpha = np.where(rng.random(shape) < 0.9, 0, rng.integers(1, 65536, shape)).astype(np.uint16)
    alpha[0, 0] = 7
    whole = arrays._fill_transparent(colour, alpha)
    monkeypatch.setattr(arrays, "_ROWS", 4)
    np.testing.assert_array_equal(arrays._fill_transparent(colour, alpha), whole)
    ref = arrays._push_pull(colour.astype(np.float32), alpha.astype(np.float32))
    np.testing.assert_array_equal(whole, np.round(ref).astype(np.uint16))


def test_composite_known_answers():
    """Red (200, 0, 0) at alpha 128 over white: (200 * 128 + 255 * 127) / 255 = 227.39 and
    255 * 127 / 255 = 127; alpha 0 is the background, alpha 255 the colour."""
    rgba = np.array([[[200, 0, 0, 128], [1, 2, 3, 0], [4, 5, 6, 255]]], np.uint8)
    out = arrays.composite(rgba, (255, 255, 255))
    assert out.dtype == np.uint8 and out.shape == (1, 3, 3)
    np.testing.assert_array_equal(out, [[[227, 127, 127], [255, 255, 255], [4, 5, 6]]])
    np.testing.assert_array_equal(arrays.composite(rgba, (0, 0, 0))[0, 0], [100, 0, 0])
    # 16-bit: the background times 257; (40000 * 32768 + 65535 * 32767) / 65535 = 52767.31,
    # blue over 10 * 257: (65535 * 32768 + 2570 * 32767) / 65535 = 34052.98
    rgba16 = np.array([[[40000, 0, 65535, 32768]]], np.uint16)
    out16 = arrays.composite(rgba16, (255, 255, 255))
    assert out16.dtype == np.uint16
    np.testing.assert_array_equal(out16, [[[52767, 32767, 65535]]])
    np.testing.assert_array_equal(arrays.composite(rgba16, (0, 0, 10)), [[[20000, 0, 34053]]])
    # grey+alpha over the background's luma: red (255, 0, 0) is 76.245 -> 76; grey 200 at
    # alpha 128: (200 * 128 + 76 * 127) / 255 = 138.24
    la = np.array([[[200, 128], [0, 0], [50, 255]]], np.uint8)
    out = arrays.composite(la, (255, 0, 0))
    assert out.shape == (1, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[138, 76, 50]])
    la16 = la.astype(np.uint16) * 257
    np.testing.assert_array_equal(arrays.composite(la16, (255, 0, 0))[0, 1], 19595)  # 76.245*257
    np.testing.assert_array_equal(arrays.composite(la, (255, 255, 255))[0, 1], 255)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_composite_rounds_to_the_nearest_level(dtype):
    top = np.iinfo(dtype).max
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, top + 1, (300, 7, 4), dtype=dtype)  # more rows than one strip
    bg = (12, 200, 255)
    a = rgba[..., 3:].astype(np.float64) / top
    want = rgba[..., :3] * a + np.array(bg) * (top // 255) * (1 - a)
    np.testing.assert_array_equal(arrays.composite(rgba, bg), np.round(want).astype(dtype))


def test_composite_of_an_image_without_alpha_and_refusals():
    rgb = source()[..., :3]
    gray = rgb[..., 0]
    assert arrays.composite(rgb, (255, 255, 255)) is rgb
    assert arrays.composite(gray, (0, 0, 0)) is gray
    for bad in ((255, 255), (0, 0, 256), (-1, 0, 0), (0.5, 0, 0), "white", None):
        with pytest.raises(MaffsrnError, match=r"^composite: background=.* is not an \(r, g, b\)"):
            arrays.composite(source(), bad)
    with pytest.raises(MaffsrnError, match="expected a uint8 or uint16 image, got float32"):
        arrays.composite(source().astype(np.float32), (0, 0, 0))
    with pytest.raises(MaffsrnError, match=r"expected HxWx2 or HxWx4, got shape \(20, 24, 5\)"):
        arrays.composite(np.zeros((20, 24, 5), np.uint8), (0, 0, 0))


def test_an_image_with_alpha_written_without_alpha_is_composited_on_white(tmp_path):
    """.bmp and .jpg hold no alpha: the upscaled image is flattened onto the default white."""
    images.write_image(str(tmp_path / "in.png"), source())
    want = arrays.composite(upscale_with(Nearest(), source(), OPTIONS), (255, 255, 255))
    (written,) = upscale_file(str(tmp_path / "in.png"), str(tmp_path / "o.bmp"), Nearest(), OPTIONS)
    np.testing.assert_array_equal(images.read_image(written)[0], want)


@pytest.mark.parametrize(
    "given, words",
    [
        ("a.png", r"not a path \('a\.png'\); upscale_path\(\) reads and writes files$"),
        (pathlib.Path("a.png"), r"not a path \(PosixPath\('a\.png'\)\); upscale_path\(\) "),
        (
            b"\x89PNG" + bytes(20000),
            r"not bytes \(an encoded image: PIL\.Image\.open\(io\."
            r"BytesIO\(data\)\); a path: upscale_path\(\)\)$",
        ),
        (None, r"not NoneType$"),
        ([[1, 2], [3, 4]], r"not list$"),
    ],
)
def test_upscale_of_what_is_no_image_says_what_it_takes(given, words):
    """A file name (its pixels were expected), None or a list: one sentence naming what
    ``upscale()`` takes (it said "expected a uint8 or uint16 image, got <U14")."""
    from maffsrn_tf.upscaler import upscale

    with pytest.raises(MaffsrnError, match=r"^image: upscale\(\) takes a numpy array or a PIL "
                       r"image, " + words):  # fmt: skip
        upscale(given, quantization="int8")
