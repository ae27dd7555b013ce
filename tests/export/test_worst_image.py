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


# the same files on the graphics stress set (seed 0, fonts of this machine's Debian image):
# its worst image and drop, as `python benchmarks/int8_worst.py --per_image` printed them
PINNED_X2_STRESS_WORST = ("06_line_art", 0.8471)


def test_shipped_x2_int8_worst_stress_image_is_pinned(tmp_path):
    """The x2 int8 file re-measured on the whole stress set: which image loses most against
    the float16 file, and how much (the issue's target is 0.10 dB; tflite/QUANTIZATION.md
    says why per-tensor ranges cannot reach it)."""
    pytest.importorskip("ai_edge_litert")
    from maffsrn_tf.data.sources import load_benchmark
    from maffsrn_tf.imaging.metrics import psnr
    from maffsrn_tf.model.shipped import tflite_path
    from maffsrn_tf.upscaler.engines import TFLiteEngine
    from maffsrn_tf.upscaler.tiling import predict_uint8

    _stress_set().write_stress_set(tmp_path, seed=0)
    engines = {v: TFLiteEngine(tflite_path(2, v), num_threads=2) for v in ("float16", "int8")}
    drops = {}
    for name, hr, lr in load_benchmark(str(tmp_path), 2):
        sr = {v: predict_uint8(engine, lr) for v, engine in engines.items()}
        drops[os.path.splitext(name)[0]] = psnr(hr, sr["float16"], 2) - psnr(hr, sr["int8"], 2)
    worst = max(drops, key=drops.get)
    image, pinned = PINNED_X2_STRESS_WORST
    assert worst == image and abs(drops[worst] - pinned) < TOLERANCE_DB, drops


def test_the_help_quotes_the_pinned_worst_drop():
    """``maffsrn-upscale --help`` quotes int8's average and worst-image drops: the worst is
    the one pinned above (update both when the int8 files change)."""
    import dataclasses

    from maffsrn_tf.upscaler.options import UpscaleOptions

    (field,) = [f for f in dataclasses.fields(UpscaleOptions) if f.name == "variant"]
    text = field.metadata["help"]
    assert f"up to {PINNED_X2_STRESS_WORST[1]:.2f} dB" in text, text


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


@pytest.fixture(scope="module")
def small():
    import keras

    from maffsrn_tf.model.maffsrn import build_model

    keras.utils.set_random_seed(1)
    return build_model("maffsrn_x3", n_ffgs=1)


def _patches(n, amplitude, seed):
    rng = np.random.default_rng(seed)
    return [(0.5 + amplitude * (rng.random((32, 32, 3)) - 0.5)).astype(np.float32)
            for _ in range(n)]  # fmt: skip


def _float_model(model):
    import tensorflow as tf

    from maffsrn_tf.export import InferenceGraph

    graph = InferenceGraph(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([graph.concrete_function()], graph)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def _ranges(calibrated):
    from tensorflow.lite.tools import flatbuffer_utils

    graph = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated)).subgraphs[0]
    return {
        i: (t.quantization.min[0], t.quantization.max[0])
        for i, t in enumerate(graph.tensors)
        if t.quantization is not None and t.quantization.min is not None
        and len(t.quantization.min)
    }  # fmt: skip


def test_tensor_groups_find_each_attention_branch(small):
    """The groups are read from the graph's structure: per MAB one ESA (its max-pool, its
    nearest resize) and one CEA (its depthwise conv), the rest (the blocks' own convs, the
    products with the attention maps, the tail) is the body."""
    from maffsrn_tf.export.calibrate import calibration_template, tensor_groups

    _, calibrated, marked = calibration_template(_float_model(small), _patches(1, 0.2, 0)[0])
    labels = tensor_groups(calibrated)
    blocks = sum(len(ffg.blocks) for ffg in small.body)
    count = lambda label: sum(labels[i] == label for i in marked)  # noqa: E731
    assert count("esa/MAX_POOL_2D") == count("esa/RESIZE_NEAREST_NEIGHBOR") == blocks
    assert count("cea/DEPTHWISE_CONV_2D") == blocks and count("esa/CONV_2D") == 5 * blocks
    assert count("body/MUL") >= 2 * blocks and count("body/LOGISTIC") == 2 * blocks
    assert not any(labels[i].startswith(("esa/", "cea/")) and "MUL" in labels[i] for i in marked)


def test_wide_calibration_widens_only_the_chosen_groups(small):
    """Graphics patches widen the ranges of the groups named, and no other tensor's range
    moves: the natural images keep their fine grid where graphics were not chosen."""
    from maffsrn_tf.export.calibrate import (
        calibration_template,
        in_groups,
        percentile_calibrated,
        tensor_groups,
    )

    float_model = _float_model(small)
    natural, graphics = _patches(6, 0.2, 1), _patches(4, 1.0, 2)
    plain = _ranges(percentile_calibrated(float_model, natural, 65))
    assert _ranges(percentile_calibrated(float_model, natural, 65, graphics, 80, ())) == plain
    wide = _ranges(percentile_calibrated(float_model, natural, 65, graphics, 80, ("esa",)))
    labels = tensor_groups(calibration_template(float_model, natural[0])[1])
    assert wide.keys() == plain.keys()
    widened = 0
    for i, (low, high) in wide.items():
        if in_groups(labels[i], ("esa",)):
            assert low <= plain[i][0] and high >= plain[i][1], labels[i]
            widened += (low, high) != plain[i]
        else:
            assert (low, high) == plain[i], labels[i]
    assert widened > 0


def test_graphics_patches_are_cut_from_the_images_and_their_halves():
    from maffsrn_tf.evaluation.stress import CALIBRATION_SEEDS, EVALUATION_SEED, stress_images
    from maffsrn_tf.export.calibrate import image_patches

    assert EVALUATION_SEED not in CALIBRATION_SEEDS
    images = [image for _, image in stress_images(seed=1, scale=0.3)]
    first = image_patches(images, 12, 32, seed=5)
    assert len(first) == 12 and all(p.shape == (32, 32, 3) and p.dtype == np.float32 for p in first)
    assert all(0 <= p.min() and p.max() <= 1 for p in first)
    again = image_patches(images, 12, 32, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    with pytest.raises(ValueError, match="at least 400x400"):
        image_patches(images, 1, 400)


def test_verify_names_the_worst_image_and_holds_a_per_image_limit(small, tmp_path):
    pytest.importorskip("ai_edge_litert")
    from PIL import Image

    from maffsrn_tf.export import export

    folder = tmp_path / "tiny"
    folder.mkdir()
    for name, amplitude in (("flat", 0.1), ("busy", 1.0)):
        noise = np.random.default_rng(3).random((48, 48, 3)) - 0.5  # LR 16 px at x3
        pixels = np.clip((0.5 + amplitude * noise) * 255, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")
    entry = export(small, str(tmp_path / "m.tflite"), "float16", [str(folder)])
    tiny = entry["accuracy"]["tiny"]
    assert tiny["worst_image"] in ("flat", "busy") and tiny["worst_drop"] >= tiny["drop"] - 1e-9
    bad = tmp_path / "bad.tflite"
    with pytest.raises(ValueError, match=r"tiny (flat|busy) \(per-image limit -1.000\)"):
        export(small, str(bad), "float16", [str(folder)], max_image_drop=-1.0)
    assert not bad.exists()


def test_max_widening_caps_a_widened_range_and_leaves_the_others():
    """``widened``: a chosen tensor covers the wide range, or at most ``max_widening`` times
    its own width with both ends moved by the same share; a tensor not chosen, or without a
    wide measurement (NaN), keeps its range."""
    from maffsrn_tf.export.calibrate import widened

    low, high = np.array([0.0, -1.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0, 1.0])
    wide_low, wide_high = np.array([-1.0, -3.0, -5.0, np.nan]), np.array([3.0, 1.0, 9.0, 9.0])
    labels = {0: "body/ADD", 1: "esa/CONV_2D", 2: "body/CONV_2D", 3: "body/MUL"}
    full = widened(low, high, wide_low, wide_high, labels, ("body",))
    assert full[0].tolist() == [-1.0, -1.0, -5.0, 0.0] and full[1].tolist() == [3, 1, 9, 1]
    capped = widened(low, high, wide_low, wide_high, labels, ("body/ADD", "body/CONV_2D"), 2.0)
    # tensor 0 would move out by 1 + 2 for width 1: one more width, shared 1 : 2
    assert capped[0][0] == pytest.approx(-1 / 3) and capped[1][0] == pytest.approx(1 + 2 / 3)
    assert capped[1][2] - capped[0][2] == pytest.approx(2.0)  # 1 wide, at most 2 times that
    assert (capped[0][1], capped[1][1]) == (-1.0, 1.0)  # esa: not chosen


REPORT_JSON = os.path.join(ROOT, "tflite", "REPORT.json")


def test_the_shipped_report_s_worst_images_match_the_pin():
    """The report ``make tflite`` writes names each dataset's worst image (vs the Keras
    model); the x2 int8 file's Set14 worst is img_013, with the drop pinned above (the float16
    file is within 0.001 dB of Keras on it, so the two references agree to 0.01 dB)."""
    from maffsrn_tf.export.report import read_rows, worst_images

    worst = worst_images(read_rows(REPORT_JSON))
    assert any(worst.values()), "tflite/REPORT.json predates the worst-image columns"
    rows = [f for f in worst if f.endswith(("_int8.tflite", "_float16.tflite"))]
    assert rows and all(worst[f] for f in rows), "every float16 and int8 row names its worst"
    image, drop = worst["maffsrn_x2_int8.tflite"]["Set14"]
    assert image == "img_013" and abs(drop - PINNED_X2_IMG013_DROP) < 0.01, (image, drop)


def test_equalization_can_cover_the_graphics_too(small):
    """``wide_patches``: the channel scales come from both sets' ranges (other scales than
    from the natural patches alone), and the float function is kept."""
    from maffsrn_tf.export.equalize import copy_model, equalize, equalized

    natural, graphics = _patches(4, 0.2, 1), _patches(4, 1.0, 2)
    alone = equalize(copy_model(small), natural)
    both = equalize(copy_model(small), natural, wide_patches=graphics)
    assert alone.keys() == both.keys()
    assert any(not np.allclose(a, b) for k in alone for a, b in zip(alone[k], both[k]))
    x = graphics[0][None]
    clone = equalized(small, natural, wide_patches=graphics)
    assert np.abs(np.asarray(clone(x)) - np.asarray(small(x))).max() < 1e-4
