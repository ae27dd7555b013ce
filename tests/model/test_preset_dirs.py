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


def test_save_to_preset_does_not_replace_a_preset_unless_asked(tmp_path):
    from maffsrn_tf import MaffsrnError
    from maffsrn_tf.model.maffsrn import build_model

    model = build_model("maffsrn_x2", n_ffgs=1)
    directory = str(tmp_path / "mine")
    model.save_to_preset(directory, {"note": "first"})
    before = {n: (tmp_path / "mine" / n).read_bytes() for n in os.listdir(directory)}
    with pytest.raises(MaffsrnError, match="already holds a preset .*pass overwrite=True"):
        model.save_to_preset(directory, {"note": "second"})
    assert {n: (tmp_path / "mine" / n).read_bytes() for n in os.listdir(directory)} == before
    # one file of a preset is enough to refuse; nothing is written next to it
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "metadata.json").write_text("{}")
    with pytest.raises(MaffsrnError, match=r"\(metadata.json\)"):
        model.save_to_preset(str(tmp_path / "half"))
    assert os.listdir(tmp_path / "half") == ["metadata.json"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(MaffsrnError, match="is a file, not a folder"):
        model.save_to_preset(str(tmp_path / "file"))
    model.save_to_preset(directory, {"note": "second"}, overwrite=True)
    assert json.loads((tmp_path / "mine" / "metadata.json").read_text())["note"] == "second"
    assert not [n for n in os.listdir(directory) if n.startswith(".tmp-")]
    # metadata that cannot be written: refused before any file is (the weights and config
    # were replaced, the old metadata kept: a preset of one model with another's record)
    before = {n: (tmp_path / "mine" / n).read_bytes() for n in os.listdir(directory)}
    other = build_model("maffsrn_x4", n_ffgs=1)
    for bad, words in (({"a": object()}, "cannot be written as JSON"),
                       ({"psnr": float("nan")}, "cannot be written as JSON"),
                       ("str", "metadata is a dict of what to record, not str")):  # fmt: skip
        with pytest.raises(MaffsrnError, match=words):
            other.save_to_preset(directory, bad, overwrite=True)
        with pytest.raises(MaffsrnError, match=words):
            other.save_to_preset(str(tmp_path / "new"), bad)
    assert {n: (tmp_path / "mine" / n).read_bytes() for n in os.listdir(directory)} == before
    assert not (tmp_path / "new").exists()
