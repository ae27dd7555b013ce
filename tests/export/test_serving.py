"""Serving artifacts of ``maffsrn-export --formats saved_model,onnx``: the SavedModel run by
TensorFlow alone (this package blocked from import) against ``maffsrn-upscale --backend
keras`` on whole images, and the ONNX model in onnxruntime against the Keras model; each
model's contract (docs/serving.md): the SavedModel's pixel limit, checked from the file's
header before decoding (also under a memory limit), its clear errors, and the ONNX model's
padding of small images and its handling of non-finite pixels."""

import importlib.util
import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from conftest import SHARED
from PIL import Image

SET5 = os.path.join(SHARED, "data", "benchmark", "Set5")
pytestmark = pytest.mark.slow
# the fixture's export limit (--serving_max_megapixels 0.5): the flag reaches the model
LIMIT_WORDS = "over the limit of this model: 500,000 input pixels"

# run by a Python that has TensorFlow but cannot import maffsrn_tf
SERVE_WITHOUT_PACKAGE = r"""
import json, os, sys
sys.modules["maffsrn_tf"] = None  # any import of the package now fails
import numpy as np
import tensorflow as tf
model_dir, lr_dir, out_dir = sys.argv[1:4]
model = tf.saved_model.load(model_dir)
files, pixels = model.signatures["serving_default"], model.signatures["upscale_uint8"]
names = sorted(os.listdir(lr_dir))
blobs = [open(os.path.join(lr_dir, n), "rb").read() for n in names]
pngs = files(image_bytes=tf.constant(blobs))["png_bytes"].numpy()  # one batch, mixed sizes
for name, png in zip(names, pngs):
    open(os.path.join(out_dir, name), "wb").write(png)
rgb = tf.io.decode_png(blobs[names.index("img_001.png")], channels=3)[None]
np.save(os.path.join(out_dir, "pixels.npy"), pixels(lr=rgb)["sr"].numpy())
report = {"signatures": sorted(model.signatures.keys())}
small = set()  # repeated: the check must win against the network every time
for shape in [[1, 12, 40, 3], [1, 40, 3, 3], [2, 1, 1, 3]] * 5:
    try:
        pixels(lr=tf.zeros(shape, tf.uint8))
        small.add("accepted")
    except tf.errors.InvalidArgumentError as err:
        minimum = "at least 13x13 pixels" in err.message
        small.add("names the minimum" if minimum else err.message)
report["small"] = sorted(small)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("serving")
    run = subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.export", "--formats", "saved_model,onnx",
         "--scales", "2", "--datasets", SET5, "--output_dir", str(out), "--report", "",
         "--serving_max_megapixels", "0.5"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"wrote {out}/maffsrn_x2_saved_model: Set5 max |diff| vs Keras" in run.stdout
    return out


@pytest.fixture(scope="module")
def lr_folder(tmp_path_factory):
    """Set5's x2 LR images (MATLAB bicubic), a grayscale one and a 13-pixel one."""
    from maffsrn_tf.data.sources import load_benchmark

    folder = tmp_path_factory.mktemp("lr")
    items = load_benchmark(SET5, 2)
    for name, _, lr in items:
        Image.fromarray(lr).save(folder / f"{name}.png")
    Image.fromarray(items[0][2]).convert("L").save(folder / "gray.png")
    Image.fromarray(np.ascontiguousarray(items[1][2][:13, :21])).save(folder / "tiny.png")
    return folder


def test_saved_model_serves_without_the_package_as_maffsrn_upscale(exported, lr_folder, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_PACKAGE, str(exported / "maffsrn_x2_saved_model"),
         str(lr_folder), str(served)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["signatures"] == ["serving_default", "upscale_uint8"]
    assert report["small"] == ["names the minimum"]

    expected = tmp_path / "expected"
    up = subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.upscale", "--backend", "keras", "--tile", "0",
         "--input", str(lr_folder), "--output", str(expected), "--format", "png"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr[-3000:]
    names = sorted(os.listdir(lr_folder))
    for name in names:
        got = Image.open(served / name)
        want = Image.open(expected / name.replace(".png", "_x2.png"))
        assert got.mode == want.mode, name  # grayscale stays grayscale
        diff = np.abs(np.asarray(got, int) - np.asarray(want, int))
        assert diff.max() <= 1, (name, diff.max())
    colour = np.asarray(Image.open(served / "img_001.png"))
    np.testing.assert_array_equal(np.load(served / "pixels.npy")[0], colour)


def test_onnx_matches_keras_at_the_images_own_sizes(exported, lr_folder):
    import onnxruntime

    from maffsrn_tf.pretrained.loading import load_model_for

    session = onnxruntime.InferenceSession(
        str(exported / "maffsrn_x2.onnx"), providers=["CPUExecutionProvider"]
    )
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("lr", "sr") and inp.shape[-1] == 3
    assert all(isinstance(d, str) for d in inp.shape[:3])  # dynamic N, H, W
    model = load_model_for(2)
    sizes = set()
    for name in sorted(os.listdir(lr_folder)):
        rgb = np.asarray(Image.open(lr_folder / name).convert("RGB"))
        x = rgb[None].astype(np.float32) / 255.0
        sr = session.run(["sr"], {"lr": x})[0]
        keras_sr = np.clip(np.asarray(model(x, training=False)), 0, 1)
        assert sr.shape == (1, 2 * rgb.shape[0], 2 * rgb.shape[1], 3)
        assert np.abs(sr - keras_sr).max() <= 1e-4, name
        sizes.add(rgb.shape[:2])
    assert len(sizes) >= 5


# --- the SavedModel's contract: the pixel limit, from the header, before decoding ----------


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def _png_header_only(width, height):
    """A PNG that declares ``width x height`` (one tiny IDAT: decoding it would fail)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = _chunk(b"IDAT", zlib.compress(b"\x00" * 16))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + idat + _chunk(b"IEND", b"")


def _png_bomb(side=8000):
    """A valid 8-bit grayscale PNG of ``side x side`` black pixels (about 62 KB at 8000)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    squeeze, row, idat = zlib.compressobj(9), b"\x00" * (side + 1), []
    for _ in range(side):
        idat.append(squeeze.compress(row))
    idat.append(squeeze.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(idat))
        + _chunk(b"IEND", b"")
    )


def _jpeg_declaring(width, height):
    """A small JPEG whose frame header (SOF0) is rewritten to declare ``width x height``."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 200)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _encoded(mode, size=(20, 16), fmt="PNG"):
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def served(exported):
    import tensorflow as tf

    model = tf.saved_model.load(str(exported / "maffsrn_x2_saved_model"))
    return model.signatures["serving_default"], model.signatures["upscale_uint8"]


def _refusal(call, **inputs):
    """The ``InvalidArgumentError`` message of ``call(**inputs)`` and the seconds it took."""
    import tensorflow as tf

    start = time.perf_counter()
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        call(**{k: tf.constant(v) for k, v in inputs.items()})
    return err.value.message, time.perf_counter() - start


def test_an_image_over_the_limit_is_refused_from_its_header_in_seconds(served):
    files, pixels = served
    # header only: decoding would fail otherwise, so the size was checked before decoding
    message, seconds = _refusal(files, image_bytes=[_png_header_only(8000, 8000)])
    assert f"image is 8000x8000 = 64,000,000 pixels, {LIMIT_WORDS}" in message, message
    assert seconds < 5
    message, _ = _refusal(files, image_bytes=[_png_header_only(2**32 - 1, 2**32 - 1)])
    assert "image is 4294967295x4294967295 = " in message and LIMIT_WORDS in message, message
    message, seconds = _refusal(files, image_bytes=[_jpeg_declaring(60000, 50000)])
    assert f"image is 60000x50000 = 3,000,000,000 pixels, {LIMIT_WORDS}" in message, message
    assert seconds < 5
    for data in (_encoded("RGB", fmt="GIF"), _encoded("RGB", fmt="BMP"), b"", b"\x89PNG"):
        message, _ = _refusal(files, image_bytes=[data])
        assert "not a PNG or JPEG file" in message, message
    # pixels: the whole call counts (one batch runs at once)
    message, _ = _refusal(pixels, lr=np.zeros((1, 1000, 501, 3), np.uint8))
    assert f"image is 501x1000 = 501,000 pixels, {LIMIT_WORDS}" in message, message
    message, _ = _refusal(pixels, lr=np.zeros((3, 400, 500, 3), np.uint8))
    assert f"a batch of 3 images of 500x400 = 600,000 pixels, {LIMIT_WORDS} per call" in message
    assert pixels(lr=np.zeros((2, 400, 600, 3), np.uint8))["sr"].shape == (2, 800, 1200, 3)


def test_saved_model_errors_are_clear_and_every_png_kind_is_served(served):
    import tensorflow as tf

    files, pixels = served
    message, _ = _refusal(pixels, lr=np.zeros((1, 20, 20, 4), np.uint8))
    assert "expected RGB pixels [N, H, W, 3], got 4 channels" in message, message
    message, _ = _refusal(pixels, lr=np.zeros((0, 20, 20, 3), np.uint8))
    assert "a batch of 0 images: send at least one" in message, message
    message, _ = _refusal(pixels, lr=np.zeros((1, 5, 10**6, 3), np.uint8))
    assert "at least 13x13 pixels" in message, message  # the first check that applies
    # grey (+ alpha) comes back grey, colour (+ alpha, palette) RGB; alpha dropped
    kinds = {"L": "L", "LA": "L", "I;16": "L", "RGB": "RGB", "RGBA": "RGB", "P": "RGB"}
    blobs = [_encoded(mode) for mode in kinds] + [_encoded("L", fmt="JPEG")]
    pngs = files(image_bytes=tf.constant(blobs))["png_bytes"].numpy()
    for (mode, want), png in zip([*kinds.items(), ("JPEG L", "L")], pngs):
        got = Image.open(io.BytesIO(png))
        assert (got.mode, got.size) == (want, (40, 32)), mode
    assert files(image_bytes=tf.constant([], tf.string))["png_bytes"].shape == (0,)


def test_a_limit_that_admits_no_image_is_refused_before_anything_is_written(tmp_path):
    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.export.serving import export_saved_model
    from maffsrn_tf.pretrained.loading import load_model_for

    model, path = load_model_for(2), tmp_path / "m"
    for bad, words in ((168, "the smallest the model takes is 13x13 = 169"), (2.5, "integer"),
                       (True, "integer"), (10**12 + 1, "is over 1,000,000,000,000")):  # fmt: skip
        with pytest.raises(MaffsrnError, match=f"max_input_pixels={bad!r}.*{words}"):
            export_saved_model(model, str(path), [], max_input_pixels=bad)
    assert os.listdir(tmp_path) == []


def test_without_overwrite_an_existing_model_is_left_alone(tmp_path):
    """``overwrite=False`` (``maffsrn-export`` without ``--overwrite``): a SavedModel folder or
    an ONNX file that exists when the new one is done stays as it was; no temporary is left."""
    from maffsrn_tf import build_model
    from maffsrn_tf.export.serving import export_onnx, export_saved_model
    from maffsrn_tf.io.atomic import OutputExists

    model = build_model("maffsrn_x2", n_ffgs=1)
    folder = tmp_path / "m_saved_model"
    folder.mkdir()
    (folder / "mine.txt").write_text("mine")
    with pytest.raises(OutputExists, match="m_saved_model"):
        export_saved_model(model, str(folder), [], overwrite=False)
    assert os.listdir(folder) == ["mine.txt"] and os.listdir(tmp_path) == [folder.name]
    if importlib.util.find_spec("tf2onnx"):
        onnx = tmp_path / "m.onnx"
        onnx.write_bytes(b"mine")
        with pytest.raises(OutputExists, match="m.onnx"):
            export_onnx(model, str(onnx), [], overwrite=False)
        assert onnx.read_bytes() == b"mine"
        assert sorted(os.listdir(tmp_path)) == ["m.onnx", folder.name]


# run under an address-space limit by a Python that cannot import maffsrn_tf, as a server
SERVE_UNDER_A_MEMORY_LIMIT = r"""
import json, resource, sys, time
limit = int(sys.argv[3]) * 2**30
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.modules["maffsrn_tf"] = None
import numpy as np
import tensorflow as tf
files = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
bomb, photo = open(sys.argv[2], "rb").read(), tf.io.encode_png(np.full((30, 40, 3), 90, np.uint8))
report = {}
start = time.perf_counter()
try:
    files(image_bytes=tf.constant([photo.numpy(), bomb]))
    report["bomb"] = "accepted"
except tf.errors.InvalidArgumentError as err:
    report["bomb"] = err.message
report["seconds"] = time.perf_counter() - start
png = files(image_bytes=tf.constant([photo.numpy()]))["png_bytes"][0]
report["photo"] = tf.io.decode_png(png).shape.as_list()
print(json.dumps(report))
"""


def test_a_decompression_bomb_cannot_crash_the_server_under_a_memory_limit(exported, tmp_path):
    """A valid 62 KB PNG of 8000x8000 pixels killed the serving process (SIGSEGV under a
    6 GB address-space limit); now it is one error, and the next request is served."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_bomb(8000))
    assert bomb.stat().st_size < 100_000
    run = subprocess.run(
        [sys.executable, "-c", SERVE_UNDER_A_MEMORY_LIMIT, str(exported / "maffsrn_x2_saved_model"),
         str(bomb), "6"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, (run.returncode, run.stderr[-3000:])
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert f"image is 8000x8000 = 64,000,000 pixels, {LIMIT_WORDS}" in report["bomb"], report
    assert report["seconds"] < 10, report
    assert report["photo"] == [60, 80, 3]


# --- the ONNX model's contract: small images padded, non-finite pixels replaced ------------


@pytest.fixture(scope="module")
def onnx_session(exported):
    import onnxruntime

    path = str(exported / "maffsrn_x2.onnx")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def test_onnx_pads_images_under_the_minimum_as_the_upscaler_does(onnx_session):
    from maffsrn_tf.pretrained.loading import load_model_for
    from maffsrn_tf.upscaler import upscale

    model, rng = load_model_for(2), np.random.default_rng(3)
    for h, w in [(1, 1), (5, 9), (12, 40), (40, 3)]:
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        sr = onnx_session.run(["sr"], {"lr": rgb[None].astype(np.float32) / 255.0})[0][0]
        assert sr.shape == (2 * h, 2 * w, 3)
        got = np.clip(np.round(sr * 255.0), 0, 255).astype(int)
        want = upscale(rgb, 2, model=model, backend="keras", tile=0).astype(int)
        assert np.abs(got - want).max() <= 1, (h, w)


def test_onnx_replaces_non_finite_pixels_and_clips_its_input(onnx_session):
    def run(x):
        return onnx_session.run(["sr"], {"lr": x.astype(np.float32)})[0]

    image = np.random.default_rng(4).random((1, 160, 160, 3))
    clean = run(image)
    for bad, read_as in ((np.nan, 0.0), (np.inf, 1.0), (-np.inf, 0.0)):
        x, replaced = image.copy(), image.copy()
        x[0, 10, 12, 1], replaced[0, 10, 12, 1] = bad, read_as
        sr = run(x)
        assert np.isfinite(sr).all() and sr.min() >= 0.0 and sr.max() <= 1.0, bad
        np.testing.assert_allclose(sr, run(replaced), atol=1e-6)
        # the network sees about 60 LR pixels around a pixel: far from it, nothing changed
        np.testing.assert_allclose(sr[:, 200:, 200:], clean[:, 200:, 200:], atol=1e-5)
    wide = image * 3.0 - 1.0  # outside [0, 1]: clipped
    np.testing.assert_allclose(run(wide), run(np.clip(wide, 0.0, 1.0)), atol=1e-6)
