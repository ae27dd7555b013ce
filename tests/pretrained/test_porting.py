"""Our weights in the official PyTorch format: keys, shapes and layouts of the official state
dict, bit-identical round trips, and files PyTorch itself loads."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import shared_path

import maffsrn_tf
from maffsrn_tf.model.maffsrn import build_model
from maffsrn_tf.pretrained.porting import (
    export_pytorch,
    pytorch_state_dict,
    read_safetensors,
    read_state_dict,
)


@pytest.mark.parametrize("tag", ["x2", "x3", "x4", "l_x2"])
def test_exported_keys_and_shapes_are_the_official_ones(tag):
    golden = read_state_dict(shared_path("golden", f"maffsrn_{tag}.npz"))
    model = maffsrn_tf.load_pytorch_weights(build_model(f"maffsrn_{tag}"), golden)
    exported = pytorch_state_dict(model)
    assert set(exported) == set(golden)
    for key, value in golden.items():
        assert exported[key].shape == value.shape, key
        # import then export reproduces the official tensors themselves
        np.testing.assert_array_equal(exported[key], value.astype(np.float32), err_msg=key)


@pytest.mark.parametrize("ext", [".safetensors", ".pt"])
def test_round_trip_is_bit_identical(tmp_path, ext):
    if ext == ".pt":
        pytest.importorskip("torch", reason="torch not installed (pip install 'maffsrn_tf[torch]')")
    model = maffsrn_tf.load_pretrained("maffsrn_x3")
    path = export_pytorch(model, str(tmp_path / f"x3{ext}"))
    back = maffsrn_tf.load_pytorch_weights(build_model("maffsrn_x3"), path)
    for a, b in zip(model.weights, back.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_pt_loads_with_weights_only_and_safetensors_is_standard(tmp_path):
    torch = pytest.importorskip("torch", reason="torch not installed")
    model = maffsrn_tf.load_pretrained("maffsrn_x2")
    pt = export_pytorch(model, str(tmp_path / "x2.pt"))
    state = torch.load(pt, weights_only=True)
    golden = torch.load(shared_path("golden", "maffsrn_x2.pt"), weights_only=True)
    assert list(state) == list(golden)
    assert all(state[k].dtype == torch.float32 and state[k].shape == golden[k].shape for k in state)
    st = export_pytorch(model, str(tmp_path / "x2.safetensors"))
    from_st = read_safetensors(st)
    assert all(np.array_equal(from_st[k], state[k].numpy()) for k in state)
    from safetensors.numpy import load_file  # the reference reader (dev extra)

    reference = load_file(st)
    assert set(reference) == set(state)
    assert all(np.array_equal(reference[k], from_st[k]) for k in state)


def test_cli_to_pytorch(tmp_path):
    out = tmp_path / "x4.safetensors"
    cmd = [sys.executable, "-m", "maffsrn_tf.cli.convert_weights", "--to", "pytorch",
           "--preset", "maffsrn_x4", "--output", str(out)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert os.path.exists(out) and "tail.tail_k5.weight_g" in read_safetensors(str(out))
    bad = subprocess.run([*cmd[:-1], str(tmp_path / "x.h5")], capture_output=True, text=True)
    assert bad.returncode == 1 and "ending in .pt or .safetensors" in bad.stderr


def test_a_safetensors_file_under_another_name_is_read_by_its_bytes(tmp_path):
    """A .safetensors file renamed .pt had been "not a weights-only PyTorch checkpoint
    (UnpicklingError)": its header says what it is, and it is read as one."""
    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.pretrained.porting import read_state_dict

    model = build_model("maffsrn_x2", n_ffgs=1)
    path = export_pytorch(model, str(tmp_path / "w.safetensors"))
    os.rename(path, tmp_path / "w.pt")
    state = read_state_dict(str(tmp_path / "w.pt"))
    assert state.keys() == read_safetensors(str(tmp_path / "w.pt")).keys() and len(state) > 10


def test_a_pytorch_file_named_safetensors_is_read_as_pytorch(tmp_path):
    """A .pt renamed .safetensors had been "not a readable .safetensors file (header of
    578,712,552,184,433,488 bytes ...)": its bytes say it is PyTorch's, and it is read."""
    pytest.importorskip("torch")
    from maffsrn_tf.pretrained.porting import read_state_dict

    model = build_model("maffsrn_x2", n_ffgs=1)
    path = export_pytorch(model, str(tmp_path / "w.pt"))
    os.rename(path, tmp_path / "w.safetensors")
    state = read_state_dict(str(tmp_path / "w.safetensors"))
    assert state.keys() == read_state_dict(export_pytorch(model, str(tmp_path / "v.pt"))).keys()


def test_exports_replace_an_existing_file_only_when_asked(tmp_path):
    """``export_pytorch`` and ``convert_checkpoint`` replaced an existing file without a
    word where every other writer needs ``overwrite=True`` (fuzz pass 21)."""
    from maffsrn_tf.io.atomic import OutputExists
    from maffsrn_tf.pretrained.porting import convert_checkpoint

    model = build_model("maffsrn_x2")
    for name in ("w.safetensors", "k.weights.h5"):
        (tmp_path / name).write_bytes(b"mine")
    target = str(tmp_path / "w.safetensors")
    with pytest.raises(OutputExists, match=r"^output='.*w\.safetensors' exists: pass "
                       r"overwrite=True to replace it$"):  # fmt: skip
        export_pytorch(model, target)
    with pytest.raises(OutputExists, match="overwrite=True"):
        convert_checkpoint(target, "maffsrn_x2", str(tmp_path / "k.weights.h5"))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {
        "w.safetensors": b"mine",
        "k.weights.h5": b"mine",
    }
    export_pytorch(model, target, overwrite=True)
    out = convert_checkpoint(target, "maffsrn_x2", str(tmp_path / "k.weights.h5"), overwrite=True)
    back = build_model("maffsrn_x2")
    back.load_weights(out)
    for a, b in zip(model.weights, back.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_a_bfloat16_checkpoint_is_read_widened(tmp_path):
    """A bfloat16 tensor (common in checkpoints) was "unexpected TypeError: Got unsupported
    ScalarType BFloat16" (fuzz pass 24): widened to float32, which holds it exactly."""
    torch = pytest.importorskip("torch", reason="torch not installed")
    state = pytorch_state_dict(build_model("maffsrn_x2"))
    key = "tail.scale_k5.scale"
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    tensors[key] = tensors[key].bfloat16()
    torch.save(tensors, tmp_path / "bf.pt")
    read = read_state_dict(str(tmp_path / "bf.pt"))
    assert read[key].dtype == np.float32
    np.testing.assert_array_equal(read[key], tensors[key].float().numpy())
    maffsrn_tf.load_pytorch_weights(build_model("maffsrn_x2"), read)
