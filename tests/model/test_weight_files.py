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
