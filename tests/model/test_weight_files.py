"""Weight files of a built model (``model.weight_files``): a mismatched ``.npz`` is named
key by key, and one written and read again gives the same weights."""

import numpy as np
import pytest


def test_npz_weights_name_the_mismatch(tmp_path):
    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.model.shipped import weights_path
    from maffsrn_tf.model.weight_files import load_npz, save_npz

    x3 = build_model("maffsrn_x3")
    with pytest.raises(ValueError, match=r"mis-shaped \['tail/tail_k3/v: file"):
        load_npz(x3, weights_path("maffsrn_x2"))
    small = build_model("maffsrn_x2", n_ffgs=1)
    with pytest.raises(ValueError, match=r"unexpected \['body.1/"):
        load_npz(small, weights_path("maffsrn_x2"))
    # round trip
    path = str(tmp_path / "w.npz")
    save_npz(small, path)
    again = build_model("maffsrn_x2", n_ffgs=1)
    load_npz(again, path)
    for a, b in zip(small.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_weight_files_are_recognized_in_any_case(tmp_path):
    """``W.NPZ`` loads like ``w.npz``; an upper-case Keras suffix, which Keras itself
    refuses as "not supported", gets one error saying what to rename it to."""
    import shutil

    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.model.shipped import weights_path
    from maffsrn_tf.pretrained.loading import load_model_for

    upper = tmp_path / "W.NPZ"
    shutil.copy(weights_path("maffsrn_x2"), upper)
    model = load_model_for(2, str(upper))
    shipped = load_model_for(2)
    for a, b in zip(model.weights, shipped.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for name, right in (("M.KERAS", "M.keras"), ("W.Weights.H5", "W.weights.h5")):
        (tmp_path / name).write_bytes(b"x")
        with pytest.raises(MaffsrnError, match=f"rename it to .*{right}$"):
            load_model_for(2, str(tmp_path / name))
