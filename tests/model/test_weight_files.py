"""Weight files of a built model (``model.weight_files``): a mismatched ``.npz`` is named
key by key, and one written and read again gives the same weights."""

import numpy as np
import pytest


def test_npz_weights_name_the_mismatch(tmp_path):
    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.model.shipped import weights_path
    from maffsrn_tf.model.weight_files import load_npz, save_npz

    x3 = build_model("maffsrn_x3")
    with pytest.raises(ValueError, match=r"maffsrn_x2\.npz holds x2 weights, and maffsrn_x3 "
                       r"is x3: load them into an x2 model \(scale=2\)$"):  # fmt: skip
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


def test_weights_are_judged_by_their_bytes_before_keras_reads_them(tmp_path):
    """A picture named ``w.keras`` had shown Keras' "File not found ... accessible `.keras`
    zip file", and one named ``w.pt`` Keras' list of formats: the error says what the
    file is, or which names weights take (a PyTorch checkpoint converts first)."""
    from PIL import Image

    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.model.weight_files import check_weights_file, load_weights_file
    from maffsrn_tf.pretrained.loading import load_model_for

    Image.new("RGB", (8, 8), "red").save(tmp_path / "picture.png")
    picture = (tmp_path / "picture.png").read_bytes()
    cases = {
        "w.keras": "is named as a .keras model but is a PNG image, not a zip archive",
        "w.weights.h5": "is named as Keras weights but is a PNG image, not an HDF5 file",
        "w.npz": "is named as an .npz file but is a PNG image, not a zip archive",
    }
    for name, says in cases.items():
        (tmp_path / name).write_bytes(picture)
        message = f"{tmp_path / name} {says}: name the weights file itself"
        with pytest.raises(MaffsrnError) as info:
            load_model_for(2, str(tmp_path / name))
        assert str(info.value) == message
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(MaffsrnError, match=r"empty\.npz is named as an \.npz file but is empty"):
        load_weights_file(build_model("maffsrn_x2", n_ffgs=1), str(tmp_path / "empty.npz"))
    (tmp_path / "w.pt").write_bytes(picture)
    with pytest.raises(MaffsrnError) as info:
        load_model_for(2, str(tmp_path / "w.pt"))
    assert str(info.value) == (
        f"{tmp_path / 'w.pt'}: weights are read from .weights.h5, .keras or .npz files, and "
        "this one is named .pt (a PyTorch state dict converts first: the "
        "maffsrn-convert-weights command, or maffsrn_tf.load_pytorch_weights)"
    )
    # an HDF5 signature after a user block is an HDF5 file still
    (tmp_path / "block.h5").write_bytes(b"\0" * 512 + b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    assert check_weights_file(str(tmp_path / "block.h5")) == "h5"


def test_weights_of_another_scale_name_the_scale():
    """x3 weights loaded for x2 had listed "missing [], unexpected [], mis-shaped [...]":
    the tail tells the scale, and the message says to pass it."""
    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.model.shipped import weights_path
    from maffsrn_tf.pretrained.loading import load_model_for

    with pytest.raises(MaffsrnError) as info:
        load_model_for(2, weights_path("maffsrn_x3"))
    assert str(info.value) == (
        f"{weights_path('maffsrn_x3')} holds x3 weights, and maffsrn_x2 is x2: load them "
        "into an x3 model (scale=3)"
    )


def test_keras_weights_of_another_scale_or_depth_name_the_fix(tmp_path):
    """An x3 .weights.h5 for x2 had said "(weights of another scale or width?)"; 4-FFG
    initial weights for an 8-FFG run had named the wrong preset, after the data was
    prepared: both name the fix, the depth before any work."""
    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.model.weight_files import file_depth, load_weights_file
    from maffsrn_tf.pretrained.loading import check_initial_weights

    path = str(tmp_path / "x3.weights.h5")
    build_model("maffsrn_x3", n_ffgs=2).save_weights(path)
    with pytest.raises(MaffsrnError) as info:
        load_weights_file(build_model("maffsrn_x2", n_ffgs=2), path)
    assert (
        str(info.value)
        == f"{path} holds x3 weights, and maffsrn_x2 is x2: load them into an x3 model (scale=3)"
    )
    assert file_depth(path) == 2 and file_depth(_shipped("maffsrn_x2")) == 4
    with pytest.raises(MaffsrnError) as info:
        check_initial_weights("maffsrn_x2", "maffsrn_l_x2")
    assert str(info.value) == (
        f"init_weights={_shipped('maffsrn_x2')!r} holds a model of 4 FFGs, and "
        "preset='maffsrn_l_x2' has 8: pass the weights of a 8-FFG model, or a preset of 4 FFGs"
    )
    check_initial_weights("maffsrn_x3", "maffsrn_x2")  # another scale: its tail is skipped


def _shipped(name):
    from maffsrn_tf.model.shipped import weights_path

    return weights_path(name)
