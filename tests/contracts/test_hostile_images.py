"""Hostile image modes and output names to ``maffsrn-upscale`` (docs/hostile_inputs.md,
"Image modes and output formats"): each mode is upscaled faithfully or refused with one line;
an output format that cannot hold the result is refused before the model loads.

The cases run through ``test_hostile``'s checks (exit code, one ``error:`` line, no
traceback, inputs unchanged, nothing partial left); the module is imported, not its test, so
``test_hostile_input`` is not collected twice.
"""

import os

import numpy as np
import pytest
import test_hostile
from PIL import Image
from test_hostile import UP, Case, _make, animated_gif, garbage, photo

from maffsrn_tf.io.images import read_image

IN = ["--input", "in.png"]
FORMATS = ".png, .jpg/.jpeg, .webp, .avif, .bmp or .tif/.tiff"


def rgba_photo(path):
    photo(path)
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(path)


def rgb16_png(path):
    import png

    rgb = (np.indices((20, 24)).sum(0)[..., None] * [900, 1200, 1500]).astype(np.uint16)
    with open(path, "wb") as f:
        png.Writer(24, 20, greyscale=False, bitdepth=16).write(f, rgb.reshape(20, -1).tolist())


def gray16_png(path):
    Image.fromarray(np.full((20, 24), 40000, np.uint16)).save(path)


def lab_tiff(path):
    Image.new("RGB", (24, 20), (200, 120, 40)).convert("LAB").save(path)


def cmyk_tiff(path):
    Image.new("RGB", (24, 20), (200, 120, 40)).convert("CMYK").save(path)


def i16b_tiff(path):
    data = np.full((20, 24), 30000, ">u2").tobytes()
    Image.frombytes("I;16B", (24, 20), data).save(path)


def keyed_png(path):
    """RGB with tRNS: the left half is the transparent key colour (black), the right grey."""
    rgb = np.zeros((20, 24, 3), np.uint8)
    rgb[:, 12:] = 160
    Image.fromarray(rgb).save(path, transparency=(0, 0, 0))


def keyed_gray16_png(path):
    g16 = np.full((20, 24), 50000, np.uint16)
    g16[:, :12] = 7
    Image.fromarray(g16).save(path, transparency=7)


def _array(folder, name):
    return read_image(os.path.join(folder, name))[0]


def _near(array, value, tolerance):
    return np.abs(array.astype(np.int64) - value).max() <= tolerance


def _keyed_check(d, err):
    out = _array(d, "o.png")
    return (
        out.shape == (40, 48, 4)
        and (out[:, :20, 3] == 0).all()
        and (out[:, 28:, 3] == 255).all()
        and _near(out[:, 36:, :3], 160, 4)  # away from the edge (the model overshoots it)
    )


def _keyed16_check(d, err):
    out = _array(d, "o.png")
    return (
        out.dtype == np.uint16
        and out.shape == (40, 48, 2)
        and (out[:, :20, 1] == 0).all()
        and (out[:, 28:, 1] == 65535).all()
        and _near(out[:, 36:, 0], 50000, 1000)
    )


CASES = [
    # outputs whose format cannot hold the result: refused before the model loads (the
    # garbage --model would be the error if it loaded first)
    Case(
        "upscale-output-ico-before-the-model",
        [UP, *IN, "--output", "o.ico", "--model", "m.tflite"],
        _make((photo, "in.png"), (garbage, "m.tflite")),
        error=f"cannot write o.ico: .ico is not an image format this writes; use {FORMATS}",
    ),
    Case(
        "upscale-output-gif",
        [UP, *IN, "--output", "o.gif"],
        _make((photo, "in.png")),
        error=".gif is not an image format this writes",
    ),
    Case(
        "upscale-output-txt",
        [UP, *IN, "--output", "o.txt"],
        _make((photo, "in.png")),
        error=".txt is not an image format this writes",
    ),
    Case(
        "upscale-output-without-extension",
        [UP, *IN, "--output", "o"],
        _make((photo, "in.png")),
        error="cannot write o: it has no extension",
    ),
    Case(
        "upscale-alpha-into-bmp-is-flattened-with-a-notice",
        [UP, *IN, "--output", "o.bmp"],
        _make((rgba_photo, "in.png")),
        code=0,
        outputs=["o.bmp"],
        check=lambda d, err: (
            "warning: .bmp has no transparency: it is flattened onto --background white" in err
            and Image.open(os.path.join(d, "o.bmp")).mode == "RGB"
        ),
    ),
    Case(
        "upscale-16-bit-rgb-into-tiff",
        [UP, "--input", "c16.png", "--output", "o.tif"],
        _make((rgb16_png, "c16.png")),
        error=".tif cannot hold a 16-bit RGB image; use .png",
    ),
    Case(
        "upscale-16-bit-gray-into-bmp",
        [UP, "--input", "g16.png", "--output", "o.bmp"],
        _make((gray16_png, "g16.png")),
        error=".bmp cannot hold a 16-bit grayscale image; use .png or .tif/.tiff",
    ),
    Case(
        "upscale-webp-over-16383-pixels-a-side",
        [UP, *IN, "--output", "o.webp"],
        _make((photo, "in.png", (8200, 16))),
        error=".webp holds at most 16383 pixels a side, and the result is 16400x32",
    ),
    Case(
        "upscale-animated-gif-into-gif",
        [UP, "--input", "a.gif", "--output", "o.gif"],
        _make((animated_gif, "a.gif")),
        error=".gif is not an image format this writes",
    ),
    # modes: refused with one line, or upscaled as their plain equivalent
    Case(
        "upscale-lab-tiff",
        [UP, "--input", "lab.tif", "--output", "o.png"],
        _make((lab_tiff, "lab.tif")),
        error="lab.tif: mode LAB is not supported: convert it to RGB first",
    ),
    Case(
        "upscale-animated-gif-first-frame",
        [UP, "--input", "a.gif", "--output", "o.png"],
        _make((animated_gif, "a.gif")),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: (
            err.count("warning: a.gif has 3 frames: only the first is read") == 1
            and _near(_array(d, "o.png"), (255, 0, 0), 6)
        ),
    ),
    Case(
        "upscale-cmyk-tiff-as-rgb",
        [UP, "--input", "c.tif", "--output", "o.png"],
        _make((cmyk_tiff, "c.tif")),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: _near(
            _array(d, "o.png"),
            np.asarray(Image.new("RGB", (1, 1), (200, 120, 40)).convert("CMYK").convert("RGB"))[
                0, 0
            ].astype(np.int64),
            6,
        ),
    ),
    Case(
        "upscale-big-endian-16-bit-tiff-keeps-its-values",
        [UP, "--input", "b.tif", "--output", "o.png"],
        _make((i16b_tiff, "b.tif")),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: (
            _array(d, "o.png").dtype == np.uint16 and _near(_array(d, "o.png"), 30000, 600)
        ),
    ),
    Case(
        "upscale-png-with-trns-keeps-transparency",
        [UP, *IN, "--output", "o.png"],
        _make((keyed_png, "in.png")),
        code=0,
        outputs=["o.png"],
        check=_keyed_check,
    ),
    Case(
        "upscale-16-bit-gray-png-with-trns-stays-16-bit",
        [UP, *IN, "--output", "o.png"],
        _make((keyed_gray16_png, "in.png")),
        code=0,
        outputs=["o.png"],
        check=_keyed16_check,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_image(case, tmp_path):
    test_hostile.test_hostile_input(case, tmp_path)
