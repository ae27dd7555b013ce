"""TFLite export: folding equivalence, builtin ops only, shapes, errors, verified writing,
and the standalone ``tflite/run_tflite.py`` in an environment without TensorFlow."""

import os
import subprocess
import venv

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from maffsrn_tf.export import (
    QUANTIZATIONS,
    InferenceGraph,
    convert,
    export,
    op_names,
)
from maffsrn_tf.model.maffsrn import build_model
from maffsrn_tf.upscaler.engines import TFLiteEngine


def _randomize_scales(model, seed=0):
    """Non-default λ values, so a fold that ignored one of them would show."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if w.path.endswith("/scale"):
            w.assign(rng.uniform(0.3, 1.7, w.shape).astype(np.float32))


@pytest.fixture(scope="module")
def small():
    import keras

    keras.utils.set_random_seed(1)
    model = build_model("maffsrn_x3", n_ffgs=1)
    _randomize_scales(model)
    return model


def _image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    x = np.kron(small, np.ones((4, 4, 1), np.float32))[:h, :w]
    return np.clip(x + rng.normal(0, 0.03, x.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("preset", ["maffsrn_x2", "maffsrn_l_x4"])
def test_folded_graph_equals_keras_model(preset):
    import keras

    keras.utils.set_random_seed(2)
    model = build_model(preset)
    _randomize_scales(model, 3)
    x = _image(29, 37)[None]
    expected = model(x, training=False).numpy()
    got = InferenceGraph(model, clamp=False)(x).numpy()
    assert np.abs(got - expected).max() <= 1e-5
    clamped = InferenceGraph(model)(x).numpy()
    np.testing.assert_array_equal(clamped, np.clip(got, 0, 1))


def test_every_mode_is_builtin_only_and_dynamic_shape(small):
    patches = [_image(32, 32, s) for s in range(4)]
    x = _image(20, 23)[None]
    expected = np.clip(small(x, training=False).numpy(), 0, 1)
    for q in QUANTIZATIONS:
        data = convert(small, q, representative_data=patches)
        ops = op_names(data)
        assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], (q, ops)
        # the channel shuffle and weight norm are folded: no data movement at run time
        assert not {"TRANSPOSE", "RESHAPE"} & set(ops), (q, ops)
        assert {"CONV_2D", "DEPTH_TO_SPACE", "RESIZE_NEAREST_NEIGHBOR"} <= set(ops), (q, ops)
        path = os.path.join(
            os.environ.get("TMPDIR", "/tmp"), f"maffsrn_test_{os.getpid()}_{q}.tflite"
        )
        with open(path, "wb") as f:
            f.write(data)
        try:
            _assert_shapes_planned_at_allocation(path, x.shape, (1, 60, 69, 3))
            lite = TFLiteEngine(path)
            y = lite(x)
            assert y.shape == (1, 60, 69, 3) and y.dtype == np.float32
            assert 0.0 <= y.min() and y.max() <= 1.0
            tol = {"float32": 1e-5, "float16": 5e-3, "dynamic": 0.05}.get(q, 0.1)
            assert np.abs(y - expected).max() <= tol, q
        finally:
            os.unlink(path)


def _assert_shapes_planned_at_allocation(path, in_shape, out_shape):
    """A resized dynamic model knows every shape when allocated (none left to run time), so
    its tensors share one arena; the only GATHERs read the input's SHAPE, not pixels."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    it.resize_tensor_input(it.get_input_details()[0]["index"], in_shape, strict=False)
    it.allocate_tensors()
    assert tuple(it.get_output_details()[0]["shape"]) == out_shape
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    for op in it._get_ops_details():
        if op["op_name"] == "GATHER":
            assert tensors[op["inputs"][0]]["dtype"] == np.int32, op


def test_uint8_io_variant_takes_pixels(small, tmp_path):
    patches = [_image(32, 32, s) for s in range(4)]
    data = convert(small, "int8", representative_data=patches, uint8_io=True)
    path = tmp_path / "u8.tflite"
    path.write_bytes(data)
    lite = TFLiteEngine(str(path))
    assert lite.input["dtype"] == np.uint8 and lite.output["dtype"] == np.uint8
    scale, zero = lite.input["quantization"]
    assert zero == 0 and scale == pytest.approx(1 / 255, rel=1e-3)
    x = np.round(_image(20, 23)[None] * 255) / 255
    float_io = tmp_path / "f.tflite"
    float_io.write_bytes(convert(small, "int8", representative_data=patches))
    expected = TFLiteEngine(str(float_io))(x)
    assert np.abs(lite(x) - expected).max() <= 2.5 / 255
    with pytest.raises(ValueError, match="uint8_io needs quantization 'int8'"):
        convert(small, "float16", uint8_io=True)


def test_fixed_tile_model_keeps_dilated_convs_whole(small):
    data = convert(small, "float32", input_shape=(48, 48))
    ops = op_names(data)
    assert "SPACE_TO_BATCH_ND" not in ops and "BATCH_TO_SPACE_ND" not in ops, ops
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    shape = interp.get_input_details()[0]["shape_signature"]
    assert list(shape) == [1, 48, 48, 3]


def test_bad_requests_raise_value_error(small):
    with pytest.raises(ValueError, match="unknown quantization 'int4'"):
        convert(small, "int4")
    with pytest.raises(ValueError, match="representative_data"):
        convert(small, "int8")
    with pytest.raises(ValueError, match="minimum of 13"):
        convert(small, "float32", input_shape=(8, 8))
    with pytest.raises(ValueError, match="calibration_percentile"):
        convert(small, "int8", representative_data=[_image(32, 32)], calibration_percentile=0)


def test_percentile_calibration_ignores_an_outlier_patch(small, tmp_path):
    """One outlier patch sets TFLite's min/max ranges and coarsens every tensor's grid; the
    percentile ranges ignore it, so typical images come out closer to the float model."""
    from maffsrn_tf.export import io_contract

    typical = [_image(32, 32, s) * 0.5 for s in range(8)]
    patches = typical + [np.ones((32, 32, 3), np.float32) * s for s in (0, 1)]
    x = _image(24, 24, 99)[None] * 0.5
    expected = small(x, training=False).numpy()
    errors = {}
    for pct in (100, 65):
        data = convert(small, "int8", representative_data=patches, calibration_percentile=pct)
        # the input keeps its full [0, 1] range either way: highlights are never clipped
        assert io_contract(data)["core_input"]["quantization"]["scale"] == pytest.approx(
            1 / 255, rel=0.02
        )
        path = tmp_path / f"p{pct}.tflite"
        path.write_bytes(data)
        errors[pct] = np.abs(TFLiteEngine(str(path))(x) - expected).mean()
    assert errors[65] < 0.8 * errors[100], errors


def _producers(model):
    graph = model.subgraphs[0]
    return graph, {int(o): op for op in graph.operators for o in op.outputs}


def test_calibrated_ranges_are_each_tensor_s_own_and_the_last_sum_is_on_the_output_grid(small):
    """TFLite's calibrator logs an op's inputs after the op ran, so a tensor that a sum
    overwrote in place got the sum's range (the tail conv's range became the image's). Each
    range must be the tensor's own: the tail conv's output against the Keras layers; and the
    last sum, which the clamp follows, is quantized on the 8-bit output's grid."""
    import tensorflow as tf
    from tensorflow.lite.python import convert as tflite_convert
    from tensorflow.lite.tools import flatbuffer_utils

    from maffsrn_tf.export.calibrate import op_name, percentile_calibrated
    from maffsrn_tf.export.folding import fold_tail

    patches = [_image(32, 32, s) for s in range(4)]
    graph = InferenceGraph(small)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([graph.concrete_function()], graph)
    calibrated = percentile_calibrated(converter.convert(), patches, 100)
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    g, producer = _producers(model)
    chain = [int(g.outputs[0])]  # back from the output through RELU, MINIMUM, DEPTH_TO_SPACE
    while op_name(model, producer[chain[-1]]) != "ADD":
        chain.append(int(producer[chain[-1]].inputs[0]))
    last_sum = producer[chain[-1]]
    small_sum = producer[int(last_sum.inputs[0])]  # the tail conv's output + the skip's rest
    tail = g.tensors[int(small_sum.inputs[0])]
    assert op_name(model, producer[int(small_sum.inputs[0])]) == "CONV_2D"
    outputs = []
    for p in patches:
        features = small.head(p[None])
        for ffg in small.body:
            features = ffg(features)
        outputs.append(np.asarray(fold_tail(small.tail)(features)))
    low, high = min(o.min() for o in outputs), max(o.max() for o in outputs)
    assert tail.quantization.min[0] == pytest.approx(low, abs=1e-4)
    assert tail.quantization.max[0] == pytest.approx(high, abs=1e-4)
    for t in chain:
        assert (g.tensors[t].quantization.min[0], g.tensors[t].quantization.max[0]) == (0, 1)
    quantized = flatbuffer_utils.convert_bytearray_to_object(
        bytearray(tflite_convert.mlir_quantize(calibrated))
    )
    g, producer = _producers(quantized)
    sums = [op for op in g.operators if op_name(quantized, op) == "ADD"]
    q = g.tensors[int(sums[-1].outputs[0])].quantization
    assert (q.scale[0], q.zeroPoint[0]) == (pytest.approx(1 / 255), -128)


def test_export_verifies_before_writing(small, tmp_path):
    set5 = tmp_path / "tiny_set"
    set5.mkdir()
    Image.fromarray((_image(60, 66) * 255).astype(np.uint8)).save(set5 / "a.png")
    out = tmp_path / "m.tflite"
    entry = export(small, str(out), "float16", [str(set5)])
    assert out.exists() and entry["bytes"] == out.stat().st_size
    assert abs(entry["accuracy"]["tiny_set"]["drop"]) < 0.05
    # a model that fails verification is never written
    bad = tmp_path / "bad.tflite"
    with pytest.raises(ValueError, match="not written"):
        export(small, str(bad), "dynamic", [str(set5)], max_drop=-1.0)
    assert not bad.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite", "tiny_set"]


@pytest.mark.slow
def test_run_tflite_without_tensorflow(small, tmp_path):
    """tflite/run_tflite.py in a fresh venv holding only ai-edge-litert, NumPy and Pillow."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    pip = [py, "-m", "pip", "install", "-q", "ai-edge-litert", "numpy", "pillow"]
    subprocess.run(pip, check=True, timeout=600)
    probe = subprocess.run([py, "-c", "import tensorflow"], capture_output=True)
    assert probe.returncode != 0, "tensorflow must not be importable in this venv"

    model = tmp_path / "m.tflite"
    model.write_bytes(convert(small, "float32"))
    rgba = (_image(70, 90) * 255).astype(np.uint8)
    rgba = np.dstack([rgba, np.full(rgba.shape[:2], 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    script = os.path.join(ROOT, "tflite", "run_tflite.py")
    cmd = [py, script, str(model), str(tmp_path / "in.png"), str(tmp_path / "out.png")]
    run = subprocess.run([*cmd, "--tile", "40", "--overlap", "8"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = Image.open(tmp_path / "out.png")
    assert out.size == (270, 210) and out.mode == "RGBA"
    # same numbers as the TensorFlow-side tiled inference with the same tiles
    from maffsrn_tf.upscaler.tiling import tiled_predict

    ref = tiled_predict(TFLiteEngine(str(model)), rgba[..., :3] / 255.0, 3, 40, 8)
    got = np.asarray(out)[..., :3].astype(int)
    assert np.abs(got - ref.astype(int)).max() <= 1
    # bad input: one-line error, exit code 1, the existing output untouched
    before = (tmp_path / "out.png").read_bytes()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    (tmp_path / "junk.png").write_bytes(b"not an image")
    junk = subprocess.run(
        [py, script, str(model), str(tmp_path / "junk.png"), str(tmp_path / "j.png")],
        capture_output=True,
        text=True,
    )
    assert junk.returncode == 1 and "cannot read" in junk.stderr
    assert not (tmp_path / "j.png").exists() and (tmp_path / "out.png").read_bytes() == before


def test_skip_split_is_exact_on_the_int8_grid():
    from maffsrn_tf.export import split_for_int8

    kernel = build_model("maffsrn_x4", n_ffgs=1).upsample.coefficients
    high, low = split_for_int8(kernel)
    np.testing.assert_allclose(high + low, kernel, atol=1e-7)
    step = np.abs(kernel).max(axis=(0, 1, 2)) / 127
    q = high / step
    np.testing.assert_allclose(q, np.round(q), atol=1e-4)  # integers: quantizes exactly
    assert np.abs(low).max() <= step.max() / 2 + 1e-7


def test_fixed_tile_export_is_static_delegate_ready_and_verified_tiled(small, tmp_path):
    from maffsrn_tf.export import dynamic_tensors

    data_dir = tmp_path / "tiny_set"
    data_dir.mkdir()
    Image.fromarray((_image(60, 66) * 255).astype(np.uint8)).save(data_dir / "a.png")
    Image.fromarray((_image(30, 36, 1) * 255).astype(np.uint8)).save(data_dir / "b.png")
    entries = {}
    for q, uint8_io in (("float16", False), ("int8", False), ("int8", True)):
        out = tmp_path / f"m_{q}_{uint8_io}.tflite"
        rep = [_image(48, 48, s) for s in range(4)]
        entries[(q, uint8_io)] = e = export(
            small, str(out), q, [str(data_dir)], (40, 40), rep, 0.5, uint8_io
        )
        data = out.read_bytes()
        assert dynamic_tensors(data) == []
        assert e["io"]["input"]["shape_signature"] == [1, 40, 40, 3]
        assert e["accuracy"]["tiny_set"]["tile"] == 40  # both models ran with 40px tiles
        assert e["latency_input"] == [40, 40] and e["latency_1thread_s"] > 0
    for key in (("float16", False), ("int8", False)):
        assert entries[key]["gpu_delegate"]["compatible"], entries[key]["gpu_delegate"]
    # a drop limit per dataset (the dynamic twin's + 0.01 dB) is enforced before writing
    with pytest.raises(ValueError, match="not written"):
        export(
            small,
            str(tmp_path / "x.tflite"),
            "float16",
            [str(data_dir)],
            (40, 40),
            max_drop={"tiny_set": -1.0},
        )
    assert not (tmp_path / "x.tflite").exists()


def test_report_merge_keeps_the_other_files_rows(tmp_path):
    import json

    from maffsrn_tf.export.report import write_report

    def entry(name, scale, drop):
        io = {"name": "lr", "dtype": "float32", "shape_signature": [1, -1, -1, 3]}
        return {
            "file": name, "scale": scale, "quantization": "float16", "input_shape": None,
            "bytes": 1024, "latency_s": 0.01, "latency_input": [128, 128],
            "accuracy": {"Set5": {"psnr": 30.0, "ssim": 0.9, "drop": drop}},
            "io": {"input": io, "output": {**io, "name": "sr"}},
        }  # fmt: skip

    base = str(tmp_path / "REPORT")
    write_report(base, [entry("a_x2.tflite", 2, 0.1), entry("a_x3.tflite", 3, 0.2)], "first")
    write_report(base, [entry("a_x2.tflite", 2, 0.05)], "second", merge=True)
    rows = json.loads((tmp_path / "REPORT.json").read_text())
    assert [(r["file"], r["accuracy"]["Set5"]["drop"]) for r in rows] == [
        ("a_x2.tflite", 0.05),
        ("a_x3.tflite", 0.2),
    ]
    text = (tmp_path / "REPORT.md").read_text()
    assert "merged into the previous report" in text and "a_x3.tflite" in text
    write_report(base, [entry("a_x2.tflite", 2, 0.05)], "third")  # no merge: replaced
    assert len(json.loads((tmp_path / "REPORT.json").read_text())) == 1
    # a run into another folder (report_dir left where it was): its file of the same name
    # is another file, a row of its own that says where it lies (tables name it by path)
    write_report(base, [entry("a_x2.tflite", 2, 0.3)], "fourth", merge=True,
                 models_dir=str(tmp_path / "phone"))  # fmt: skip
    rows = json.loads((tmp_path / "REPORT.json").read_text())
    assert [(r["folder"], r["file"], r["accuracy"]["Set5"]["drop"]) for r in rows] == [
        (".", "a_x2.tflite", 0.05),
        ("phone", "a_x2.tflite", 0.3),
    ]
    text = (tmp_path / "REPORT.md").read_text()
    assert text.count("| phone/a_x2.tflite |") == 2 and text.count("| a_x2.tflite |") == 2
    # the same folder through a link is the same file (its row replaced), and a folder's
    # name is shown on one line (a newline in it escaped)
    os.symlink(tmp_path / "phone", tmp_path / "link")
    (tmp_path / "phone").mkdir()
    write_report(base, [entry("a_x2.tflite", 2, 0.4)], "fifth", merge=True,
                 models_dir=str(tmp_path / "link"))  # fmt: skip
    rows = json.loads((tmp_path / "REPORT.json").read_text())
    assert [(r["folder"], r["accuracy"]["Set5"]["drop"]) for r in rows] == [
        (".", 0.05), ("phone", 0.4)]  # fmt: skip
    write_report(base, [entry("a_x2.tflite", 2, 0.5)], "sixth", merge=True,
                 models_dir=str(tmp_path / "new\nline"))  # fmt: skip
    assert "| new\\nline/a_x2.tflite |" in (tmp_path / "REPORT.md").read_text()


def test_report_keeps_the_hand_written_part(tmp_path):
    from maffsrn_tf.export.report import KEPT_MARKER, write_report

    io = {"name": "lr", "dtype": "float32", "shape_signature": [1, -1, -1, 3]}
    entry = {
        "file": "a_x2.tflite", "scale": 2, "quantization": "int8", "input_shape": None,
        "bytes": 1024, "latency_s": 0.01, "latency_input": [128, 128],
        "accuracy": {"Set5": {"psnr": 30.0, "ssim": 0.9, "drop": 0.1}},
        "io": {"input": io, "output": {**io, "name": "sr"}},
    }  # fmt: skip
    base = str(tmp_path / "QUANTIZATION")
    write_report(base, [entry], "first")
    study = f"{KEPT_MARKER}\n\n## The int8 study\n\n| step | drop |\n|---|---|\n| a | 0.1 |\n"
    md = tmp_path / "QUANTIZATION.md"
    md.write_text(md.read_text() + "\n" + study)
    write_report(base, [{**entry, "bytes": 2048}], "second")
    text = md.read_text()
    assert "Made by `second`" in text and "| 2 |" in text  # the table is new (2048 B = 2 KB)
    assert text.endswith(study) and text.count(KEPT_MARKER) == 1
