"""The shipped weights and TFLite files: they load, beat bicubic clearly, match their model
card and their report. (Tiling them: tests/upscaler/test_tiling.py.)"""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, shared_path

from maffsrn_tf import load_pretrained
from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.evaluation.protocol import evaluate
from maffsrn_tf.model import build_model
from maffsrn_tf.model.shipped import available, model_card
from maffsrn_tf.pretrained.loading import load_initial_weights
from maffsrn_tf.upscaler.engines import KerasEngine

# A broken or mismatched file lands near or below bicubic; trained weights are far above.
MIN_GAIN_OVER_BICUBIC = {2: 3.0, 3: 2.5, 4: 2.0}


def test_all_three_scales_are_shipped_and_l_is_not():
    assert {"maffsrn_x2", "maffsrn_x3", "maffsrn_x4"} <= set(available())
    with pytest.raises(ValueError, match="no pretrained weights are shipped for 'maffsrn_l_x2'"):
        load_pretrained("maffsrn_l_x2")
    with pytest.raises(ValueError, match="unknown preset"):
        load_pretrained("maffsrn_x5")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_weights_beat_bicubic_and_match_their_card(scale):
    set5 = shared_path("data", "benchmark", "Set5")
    name = f"maffsrn_x{scale}"
    model = load_pretrained(name)
    assert model.scale == scale
    result = evaluate([set5], scale, KerasEngine(model), progress=False)["Set5"]
    gain = result["model"]["psnr"] - result["bicubic"]["psnr"]
    assert gain > MIN_GAIN_OVER_BICUBIC[scale], result
    card = model_card(name)["evaluation"]["Set5"]
    assert card["ours"][0] == pytest.approx(result["model"]["psnr"], abs=0.006)
    assert card["ours"][1] == pytest.approx(result["model"]["ssim"], abs=6e-5)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_tflite_models_keep_their_contract(scale):
    from maffsrn_tf.export import io_contract, op_names
    from maffsrn_tf.model.shipped import tflite_path
    from maffsrn_tf.upscaler.engines import TFLiteEngine

    for variant in ("float16", "int8"):
        path = tflite_path(scale, variant)
        with open(path, "rb") as f:
            data = f.read()
        assert not [op for op in op_names(data) if op.startswith("Flex") or op == "CUSTOM"]
        io = io_contract(data)
        assert io["signatures"]["serving_default"] == {"inputs": ["lr"], "outputs": ["sr"]}
        for key in ("input", "output"):
            assert io[key]["dtype"] == "float32"
            assert io[key]["shape_signature"] == [1, -1, -1, 3]
        backend = TFLiteEngine(path)
        assert backend.scale == scale and backend.fixed_size is None
        y = backend(np.full((1, 13, 17, 3), 0.5, np.float32))
        assert y.shape == (1, 13 * scale, 17 * scale, 3)
        assert 0.0 <= y.min() and y.max() <= 1.0


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_fixed_tile_models_are_static_and_delegate_ready(scale):
    """The 128x128 models: builtin ops, no dynamic tensor, GPU-delegate compatible by LiteRT's
    analyzer (float16, float-I/O int8), and (REPORT.json) within their dynamic twin's drop
    + ``TWIN_MARGIN_DB`` on Set5 and Set14."""
    import json

    from maffsrn_tf.export import dynamic_tensors, gpu_delegate_verdict, io_contract, op_names
    from maffsrn_tf.export.recipe import TWIN_MARGIN_DB
    from maffsrn_tf.model.shipped import tflite_path

    with open(os.path.join(ROOT, "tflite", "REPORT.json")) as f:
        report = {e["file"]: e for e in json.load(f)}
    for variant, dtype in (("float16", "float32"), ("int8", "float32"), ("int8", "uint8")):
        name = f"{variant}_128px" + ("_uint8io" if dtype == "uint8" else "")
        path = tflite_path(scale, name)
        with open(path, "rb") as f:
            data = f.read()
        assert not [op for op in op_names(data) if op.startswith("Flex") or op == "CUSTOM"]
        assert dynamic_tensors(data) == [], name
        io = io_contract(data)
        assert io["input"]["shape_signature"] == [1, 128, 128, 3]
        assert io["output"]["shape_signature"] == [1, 128 * scale, 128 * scale, 3]
        assert io["input"]["dtype"] == io["output"]["dtype"] == dtype
        compatible, detail = gpu_delegate_verdict(data)
        entry = report[os.path.basename(path)]
        assert entry["gpu_delegate"]["compatible"] == compatible  # the report says the truth
        if dtype == "float32":
            assert compatible, (name, detail)
        twin = report[f"maffsrn_x{scale}_{variant}.tflite"]
        for dataset in ("Set5", "Set14"):
            drop = entry["accuracy"][dataset]["drop"]
            assert drop <= twin["accuracy"][dataset]["drop"] + TWIN_MARGIN_DB + 1e-9, (
                name,
                dataset,
            )


def test_upscale_with_the_shipped_tflite_backend():
    from maffsrn_tf.upscaler import UpscaleOptions, make_engine, upscale
    from maffsrn_tf.upscaler.engines import TFLiteEngine

    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = upscale(image, scale=4, backend="tflite")
    assert out.shape == (80, 120, 3) and out.dtype == np.uint8
    # the default runs the shipped float16 file; int8 on request
    np.testing.assert_array_equal(upscale(image, scale=4), out)
    int8 = make_engine(UpscaleOptions(scale=4, variant="int8"))
    tensor_types = {t["dtype"] for t in int8.interpreter.get_tensor_details()}
    assert np.int8 in tensor_types and isinstance(int8, TFLiteEngine)
    with pytest.raises(ValueError, match="upscales x4, but scale=2"):
        upscale(image, scale=2, model=shipped_tflite_path(4))


def shipped_tflite_path(scale):
    from maffsrn_tf.model.shipped import tflite_path

    return tflite_path(scale, "int8")


def test_shipped_float16_x2_matches_keras_on_set5():
    from maffsrn_tf.model.shipped import tflite_path
    from maffsrn_tf.upscaler.engines import TFLiteEngine

    set5 = shared_path("data", "benchmark", "Set5")
    lite = evaluate([set5], 2, TFLiteEngine(tflite_path(2, "float16")), progress=False)
    keras_psnr = model_card("maffsrn_x2")["evaluation"]["Set5"]["ours"][0]
    assert abs(lite["Set5"]["model"]["psnr"] - keras_psnr) <= 0.01


# Set5 / Set14 drops of the shipped dynamic int8 models against Keras, as tflite/README.md,
# tflite/QUANTIZATION.md and the CHANGELOG quote them (`make tflite` writes REPORT.json)
INT8_DROPS_DB = {2: (0.031, 0.038), 3: (0.021, 0.023), 4: (0.001, 0.012)}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_int8_models_come_from_the_export_procedure_with_the_quoted_drops(scale):
    import json

    from maffsrn_tf.export.recipe import DEFAULT_CALIBRATION_PERCENTILE

    with open(os.path.join(ROOT, "tflite", "REPORT.json")) as f:
        report = {e["file"]: e for e in json.load(f)}
    for suffix in ("", "_128px", "_128px_uint8io"):
        entry = report[f"maffsrn_x{scale}_int8{suffix}.tflite"]
        assert entry["equalized"], suffix
        assert entry["calibration_percentile"] == DEFAULT_CALIBRATION_PERCENTILE, suffix
    accuracy = report[f"maffsrn_x{scale}_int8.tflite"]["accuracy"]
    drops = tuple(round(accuracy[s]["drop"], 3) for s in ("Set5", "Set14"))
    assert drops == INT8_DROPS_DB[scale]


@pytest.mark.slow
def test_shipped_x2_int8_model_loses_what_its_report_says_on_set5():
    """The file is the one the report measured: its Set5 drop, measured again."""
    import json

    from maffsrn_tf.export import verify
    from maffsrn_tf.model.shipped import tflite_path

    with open(os.path.join(ROOT, "tflite", "REPORT.json")) as f:
        report = {e["file"]: e for e in json.load(f)}
    set5 = shared_path("data", "benchmark", "Set5")
    measured = verify(load_pretrained("maffsrn_x2"), tflite_path(2, "int8"), [set5], 2)
    expected = report["maffsrn_x2_int8.tflite"]["accuracy"]["Set5"]
    assert measured["Set5"]["psnr"] == pytest.approx(expected["psnr"], abs=1e-4)
    assert measured["Set5"]["drop"] == pytest.approx(expected["drop"], abs=1e-4)


@pytest.mark.parametrize("fmt", ["weights.h5", "npz"])
def test_finetune_init_copies_all_but_the_tail(tmp_path, fmt):
    from maffsrn_tf.model.weight_files import save_npz

    x2 = build_model("maffsrn_x2")
    path = str(tmp_path / f"model_x3.{fmt}")
    save_npz(x2, path) if fmt == "npz" else x2.save_weights(path)
    x3 = build_model("maffsrn_x3")
    tail_before = [w.numpy().copy() for w in x3.tail.weights]
    copied = load_initial_weights(x3, path)  # an x2 file, whatever its name says
    assert copied == len(x2.weights) - len(x2.tail.weights)
    np.testing.assert_array_equal(
        x3.body[2].blocks[1].conv01.kernel, x2.body[2].blocks[1].conv01.kernel
    )
    np.testing.assert_array_equal(x3.head.v, x2.head.v)
    for before, w in zip(tail_before, x3.tail.weights):
        np.testing.assert_array_equal(before, w.numpy())
    # the tail asked for (skip_tail=False) had been an unexpected ValueError of assign()
    with pytest.raises(MaffsrnError) as info:
        load_initial_weights(x3, path, skip_tail=False)
    assert str(info.value) == (
        f"init_weights={path!r} holds x2 weights and the model is x3: their tails differ in "
        "shape and cannot be copied; leave out (init_skip_tail), and the tail is trained anew"
    )


@pytest.mark.parametrize("fmt", ["weights.h5", "npz"])
def test_init_weights_by_contents_and_mismatched_depth(tmp_path, fmt):
    from maffsrn_tf.model.weight_files import save_npz

    x3 = build_model("maffsrn_x3")
    path = str(tmp_path / f"x2_named_wrongly.{fmt}")
    save_npz(x3, path) if fmt == "npz" else x3.save_weights(path)
    target = build_model("maffsrn_x3")
    assert load_initial_weights(target, path) == len(x3.weights)  # same scale: tail too
    np.testing.assert_array_equal(target.tail.tail_k3.v, x3.tail.tail_k3.v)
    large = build_model("maffsrn_l_x2")
    with pytest.raises(ValueError, match="fits no MAFFSRN with 8 FFGs"):
        load_initial_weights(large, path)
    # MAFFSRN-L weights into MAFFSRN: named, never silently truncated
    large_path = str(tmp_path / f"large.{fmt}")
    save_npz(large, large_path) if fmt == "npz" else large.save_weights(large_path)
    with pytest.raises(ValueError, match=r"fits no MAFFSRN with 4 FFGs.*(body\.4|ffg_7)"):
        load_initial_weights(build_model("maffsrn_x3"), large_path)


def test_a_run_s_best_keras_loads_for_inference(tmp_path):
    """``best.keras`` of a run compiled with AdamP (saved without the optimizer, its compile
    config still naming AdamP) loaded nowhere: "Could not locate class 'AdamP'"."""
    import numpy as np

    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.pretrained.loading import load_keras_file
    from maffsrn_tf.train.trainer import compile_model

    model = build_model("maffsrn_x2", n_ffgs=1)
    compile_model(model, "adamp")
    model.save(tmp_path / "best.keras", include_optimizer=False)
    loaded = load_keras_file(str(tmp_path / "best.keras"))
    x = np.random.default_rng(0).random((1, 16, 16, 3), np.float32)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    # in a process that never imported the training wing (AdamP not registered): a command
    code = ("import sys; from maffsrn_tf.pretrained.loading import load_keras_file; "
            "print(load_keras_file(sys.argv[1]).scale)")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "best.keras")],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip() == "2", run.stderr[-2000:]


@pytest.mark.parametrize("fmt", ["npz", "weights.h5", "keras"])
def test_weights_holding_nan_are_refused_naming_the_variable(tmp_path, fmt):
    """Weights of a diverged run (NaN) loaded without a word and evaluated to a PSNR of
    6 dB as if measured (fuzz pass 21): every kind of weights file now names the file and
    the variable."""
    from maffsrn_tf.model.weight_files import save_npz
    from maffsrn_tf.pretrained.loading import load_model_for

    model = build_model("maffsrn_x2")
    variable = model.body[1].blocks[2].conv01.kernel
    value = variable.numpy()
    value[0, 0, 0, 0] = np.inf
    variable.assign(value)
    path = str(tmp_path / f"diverged.{fmt}")
    {"npz": save_npz, "keras": lambda m, p: m.save(p)}.get(fmt, lambda m, p: m.save_weights(p))(
        model, path
    )
    with pytest.raises(MaffsrnError) as err:
        load_model_for(2, path)
    assert str(err.value) == (
        f"{path}: {variable.path if fmt != 'npz' else 'body.1/b2/conv01/kernel'} holds NaN or "
        "infinite values (a diverged run or a damaged file); use other weights"
    )


def test_a_pack_of_training_images_given_as_weights_is_named(tmp_path):
    """A ``maffsrn-pack`` file is an ``.npz`` too: it was "missing [...] unexpected
    ['hr/a.png', 'meta']", and only after the training data was prepared (fuzz pass 21)."""
    from PIL import Image

    from maffsrn_tf.data.packed import pack
    from maffsrn_tf.pretrained.loading import check_initial_weights, load_model_for

    (tmp_path / "tr").mkdir()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "tr" / "a.png")
    path = str(tmp_path / "p.npz")
    assert pack(str(tmp_path / "tr"), path) == 1
    message = (
        f"{path} is a pack of training images (maffsrn-pack), not weights: train on it "
        f"(data_dir={path!r}), and name a weights file here"
    )
    for call in (
        lambda: load_model_for(2, path),
        lambda: check_initial_weights(path, "maffsrn_x2"),
    ):
        with pytest.raises(MaffsrnError) as err:
            call()
        assert str(err.value) == message
