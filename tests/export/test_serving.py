"""Serving artifacts of ``maffsrn-export --formats saved_model,onnx``: the SavedModel run by
TensorFlow alone (this package blocked from import) against ``maffsrn-upscale --backend
keras`` on whole images, and the ONNX model in onnxruntime against the Keras model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import SHARED
from PIL import Image

SET5 = os.path.join(SHARED, "data", "benchmark", "Set5")
pytestmark = pytest.mark.slow

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
         "--scales", "2", "--datasets", SET5, "--output_dir", str(out), "--report", ""],
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
