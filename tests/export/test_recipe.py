"""The release recipe as a library: the variants a release holds, the one file-name pattern
(the shipped models are found by it), the fixed-tile models' limit, and a release written
from Python."""

import os

import pytest

from maffsrn_tf.export.recipe import (
    TWIN_MARGIN_DB,
    export_tflite_release,
    release_variants,
    serving_path,
)
from maffsrn_tf.model.shipped import SHIPPED_VARIANTS, tflite_name, tflite_path

WEIGHTS = os.path.join(os.path.dirname(tflite_path(2)))


def test_release_variants_put_the_dynamic_models_first():
    assert release_variants(["float16", "int8"], [128, 0], uint8_io=True) == [
        (0, "float16", False),
        (0, "int8", False),
        (128, "float16", False),
        (128, "int8", False),
        (128, "int8", True),
    ]
    assert release_variants(["float16"], [0], uint8_io=True) == [(0, "float16", False)]


def test_the_shipped_models_are_exactly_the_release_of_make_tflite():
    """``make tflite`` exports float16 and int8 at tiles 0 and 128 with uint8 I/O: the
    shipped files are that release's names, and the upscaler finds its two by the same
    pattern."""
    expected = {
        tflite_name(scale, q, tile, pixels)
        for scale in (2, 3, 4)
        for tile, q, pixels in release_variants(["float16", "int8"], [0, 128], True)
    }
    shipped = {f for f in os.listdir(WEIGHTS) if f.endswith(".tflite")}
    assert shipped == expected
    for variant in SHIPPED_VARIANTS:
        assert os.path.basename(tflite_path(3, variant)) == tflite_name(3, variant)
    assert tflite_name(2, "int8", 128, True) == "maffsrn_x2_int8_128px_uint8io.tflite"
    assert TWIN_MARGIN_DB == 0.01


def test_serving_paths():
    assert serving_path("saved_model", "out", 3) == os.path.join("out", "maffsrn_x3_saved_model")
    assert serving_path("onnx", "out", 4) == os.path.join("out", "maffsrn_x4.onnx")
    with pytest.raises(ValueError, match="kind='tflite' is not one of saved_model, onnx"):
        serving_path("tflite", "out", 2)


def test_a_release_is_written_from_python(tmp_path):
    """The function ``maffsrn-export`` calls: every variant written under its name, each
    entry reported (a one-FFG model, not verified, to keep it short)."""
    from maffsrn_tf import build_model

    model = build_model("maffsrn_x2", n_ffgs=1)
    written = []
    entries = export_tflite_release(
        model,
        str(tmp_path),
        ["float16"],
        tiles=(0, 24),
        on_written=lambda path, entry: written.append(os.path.basename(path)),
    )
    names = ["maffsrn_x2_float16.tflite", "maffsrn_x2_float16_24px.tflite"]
    assert written == names and sorted(os.listdir(tmp_path)) == names
    assert [e["file"] for e in entries] == names
    assert [e["input_shape"] for e in entries] == [None, [24, 24]]
    assert all(e["scale"] == 2 and e["accuracy"] == {} for e in entries)


def test_a_release_without_overwrite_leaves_an_existing_file_alone(tmp_path):
    """``overwrite=False`` (``maffsrn-export`` without ``--overwrite``): a file that exists
    when the model is written is not replaced, and no temporary is left."""
    from maffsrn_tf import build_model
    from maffsrn_tf.io.atomic import OutputExists

    existing = tmp_path / "maffsrn_x2_float16.tflite"
    existing.write_bytes(b"mine")
    with pytest.raises(OutputExists, match="maffsrn_x2_float16.tflite"):
        export_tflite_release(build_model("maffsrn_x2", n_ffgs=1), str(tmp_path), ["float16"],
                              overwrite=False)  # fmt: skip
    assert existing.read_bytes() == b"mine" and os.listdir(tmp_path) == [existing.name]
