"""keras-hub-style presets: shipped presets by name, directories both ways, and a directory
written by version 0.1.0 (a committed fixture) that later versions must keep loading."""

import json
import os

import numpy as np
import pytest
from conftest import ROOT

from maffsrn_tf import MAFFSRN
from maffsrn_tf.model.shipped import model_card

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "preset_v0.1.0")


def test_a_directory_from_version_0_1_0_still_loads_and_computes_the_same():
    model = MAFFSRN.from_preset(FIXTURE)
    assert (model.scale, model.n_ffgs) == (3, 1)
    x = np.load(os.path.join(FIXTURE, "input.npy"))
    np.testing.assert_allclose(model(x).numpy(), np.load(os.path.join(FIXTURE, "output.npy")),
                               atol=1e-5)  # fmt: skip
    assert model.metadata["maffsrn_tf_version"] == "0.1.0"


def test_shipped_preset_by_name_and_save_load_round_trip(tmp_path):
    model = MAFFSRN.from_preset("maffsrn_x2")
    card = model_card("maffsrn_x2")
    assert model.metadata["psnr"]["Set5"] == card["evaluation"]["Set5"]["ours"][0]
    assert model.metadata["scale"] == 2 and model.metadata["iterations"] > 0
    directory = model.save_to_preset(str(tmp_path / "x2"), {"note": "mine"})
    assert sorted(os.listdir(directory)) == ["config.json", "metadata.json", "model.weights.h5"]
    meta = json.loads((tmp_path / "x2" / "metadata.json").read_text())
    for key in ("scale", "training_data", "iterations", "psnr", "maffsrn_tf_version"):
        assert key in meta, key
    assert meta["note"] == "mine" and meta["parameter_count"] == 402394
    back = MAFFSRN.from_preset(directory)
    for a, b in zip(model.weights, back.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert back.metadata["psnr"] == model.metadata["psnr"]


def test_preset_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="neither a preset"):
        MAFFSRN.from_preset("maffsrn_x9")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="missing .*model.weights.h5"):
        MAFFSRN.from_preset(str(tmp_path / "half"))
