"""The worst image of the shipped int8 models (issue #43): Set14 ``img_013`` (white text on a
saturated orange slide) loses far more at x2 than any other benchmark image. The drop is
pinned here so that a fix of the calibration updates it on purpose (``benchmarks/int8_worst.py``
measures every image, scale and int8 file; the graphics stress set it adds comes from
``tools/stress_set.py``, whose bytes must not change from run to run)."""

import importlib.util
import os

import numpy as np
import pytest
from conftest import ROOT, shared_path

# x2 dynamic int8 against the float16 file shipped beside it, img_013 (Y PSNR, 2 px shaved),
# measured 2026-12 on the files of `make tflite` (2026-12-02): float16 minus int8, dB
PINNED_X2_IMG013_DROP = 0.5805
TOLERANCE_DB = 0.005


def _stress_set():
    spec = importlib.util.spec_from_file_location(
        "stress_set", os.path.join(ROOT, "tools", "stress_set.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_x2_int8_drop_on_img_013_is_pinned():
    pytest.importorskip("ai_edge_litert")
    from maffsrn_tf.data.sources import load_benchmark
    from maffsrn_tf.imaging.metrics import psnr
    from maffsrn_tf.model.shipped import tflite_path
    from maffsrn_tf.upscaler.engines import TFLiteEngine
    from maffsrn_tf.upscaler.tiling import predict_uint8

    folder = shared_path("data", "benchmark", "Set14")
    ((_, hr, lr),) = load_benchmark(folder, 2, only={"img_013.png"})
    sr = {
        v: predict_uint8(TFLiteEngine(tflite_path(2, v), num_threads=2), lr)
        for v in ("float16", "int8")
    }
    drop = psnr(hr, sr["float16"], 2) - psnr(hr, sr["int8"], 2)
    # update the pin (and tflite/REPORT.md's worst-image numbers) when the int8 file changes
    assert abs(drop - PINNED_X2_IMG013_DROP) < TOLERANCE_DB, (
        f"x2 int8 drop on Set14 img_013 is {drop:.4f} dB, pinned at {PINNED_X2_IMG013_DROP}"
    )


def test_stress_set_is_deterministic(tmp_path):
    stress = _stress_set()
    first = stress.write_stress_set(tmp_path / "a", seed=0, scale=0.3)
    second = stress.write_stress_set(tmp_path / "b", seed=0, scale=0.3)
    assert len(first) == len(stress.IMAGES) >= 8
    for a, b in zip(first, second):
        assert os.path.basename(a) == os.path.basename(b)
        assert open(a, "rb").read() == open(b, "rb").read(), a
    # another seed is another set (calibration experiments draw from one, evaluation seed 0)
    other = dict(stress.stress_images(seed=1, scale=0.3))
    same = dict(stress.stress_images(seed=0, scale=0.3))
    assert any(not np.array_equal(other[k], same[k]) for k in same)
    # every side a multiple of 12: the x2, x3 and x4 mod-crops keep the whole image
    for _, image in stress.stress_images(seed=0):
        assert image.shape[0] % 12 == 0 and image.shape[1] % 12 == 0, image.shape
        assert 240 <= min(image.shape[:2]) and max(image.shape[:2]) <= 512
