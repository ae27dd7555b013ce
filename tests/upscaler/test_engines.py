"""Keras 3 backends: the model, AdamP and training run under JAX and PyTorch too.

Each backend runs in a fresh interpreter (Keras fixes its backend at import); the parent
(TensorFlow, the reference) checks what the child printed or wrote. Checked per backend:
the golden parity with the official PyTorch model (<= 1e-4), the shipped weights giving
TensorFlow's output, AdamP's reference trajectories and a ``model.fit`` on a tf.data
pipeline, and ``.keras`` files moving between backends.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import PROBE, ROOT, shared_path

BACKENDS = ["jax", "torch"]

CHILD = r"""
import json, sys
import numpy as np
import keras
from maffsrn_tf.model.maffsrn import build_model
task, out = sys.argv[1], sys.argv[2]
result = {"backend": keras.backend.backend()}
if task == "golden":
    from maffsrn_tf.pretrained.porting import load_pytorch_weights
    for tag in ("x2", "x3"):
        golden = np.load(sys.argv[3].format(tag))
        model = build_model(f"maffsrn_{tag}")
        load_pytorch_weights(model, sys.argv[3].format(tag))
        for i in (0, 1):
            sr = keras.ops.convert_to_numpy(model(golden[f"lr_{i}"]))
            result[f"{tag}_{i}"] = float(np.abs(sr - golden[f"sr64_{i}"]).max())
    result["tensorflow_imported"] = "tensorflow" in sys.modules
elif task == "shipped":
    from maffsrn_tf.pretrained.loading import load_pretrained
    x = np.load(sys.argv[3])
    np.save(out, keras.ops.convert_to_numpy(load_pretrained("maffsrn_x4")(x)))
elif task == "fit":
    import tensorflow as tf
    from maffsrn_tf.train.trainer import compile_model
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    lr = rng.random((4, 24, 24, 3), np.float32)
    hr = np.repeat(np.repeat(lr, 2, 1), 2, 2)
    data = tf.data.Dataset.from_tensor_slices((lr, hr)).batch(4).repeat()
    model = compile_model(build_model("maffsrn_x2", n_ffgs=1), learning_rate=1e-3)
    history = model.fit(data, epochs=4, steps_per_epoch=5, verbose=0)
    result["loss"] = [float(v) for v in history.history["loss"]]
    result["optimizer"] = type(model.optimizer).__name__
elif task == "fit_packed":  # no TensorFlow: a pack, the NumPy stream, AdamP, fit
    from maffsrn_tf.train.optimizers import AdamP
    from maffsrn_tf.data.packed import PatchBatches, load_pairs
    # (no keras.utils.set_random_seed: it imports TensorFlow to seed it when installed)
    batches = PatchBatches(load_pairs(sys.argv[3], 2, patch=16), 2, patch=16, batch_size=4)
    from maffsrn_tf.train.optimizers import averaged_weights
    from maffsrn_tf.train.trainer import compile_model
    model = compile_model(build_model("maffsrn_x2", n_ffgs=1), learning_rate=1e-3,
                          ema_momentum=0.9)
    assert isinstance(model.optimizer, AdamP)
    numpy = lambda vs: [keras.ops.convert_to_numpy(v) for v in vs]
    gaps = lambda a, b: max(float(np.abs(x - y).max()) for x, y in zip(a, b))
    class Probe(keras.callbacks.Callback):  # what Validation and SaveBest see each epoch
        def on_epoch_end(self, epoch, logs=None):
            raw = numpy(self.model.trainable_variables)
            with averaged_weights(self.model):
                avg = numpy(self.model.trainable_variables)
            averages = numpy(self.model.optimizer._model_variables_moving_average)
            result.setdefault("swapped_in", []).append(gaps(avg, averages))
            result.setdefault("restored", []).append(
                gaps(raw, numpy(self.model.trainable_variables)))
            result.setdefault("average_vs_raw", []).append(gaps(avg, raw))
    history = model.fit(batches, epochs=4, steps_per_epoch=5, verbose=0, callbacks=[Probe()])
    result["final_vs_average"] = gaps(
        numpy(model.trainable_variables),
        numpy(model.optimizer._model_variables_moving_average))
    result["loss"] = [float(v) for v in history.history["loss"]]
    result["tensorflow_imported"] = "tensorflow" in sys.modules
elif task == "save":
    keras.utils.set_random_seed(1)
    model = build_model("maffsrn_x2", n_ffgs=1)
    x = np.random.default_rng(1).random((1, 20, 24, 3)).astype(np.float32)
    model.save(out)
    np.save(out + ".npy", keras.ops.convert_to_numpy(model(x)))
elif task == "load":
    model = keras.saving.load_model(sys.argv[3])
    x = np.random.default_rng(1).random((1, 20, 24, 3)).astype(np.float32)
    np.save(out, keras.ops.convert_to_numpy(model(x)))
print("RESULT " + json.dumps(result))
"""


def _child(backend, task, out="", *args):
    env = dict(os.environ, KERAS_BACKEND=backend)
    cmd = [sys.executable, "-c", CHILD, task, str(out), *map(str, args)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    assert result["backend"] == backend
    return result


@pytest.mark.parametrize("backend", BACKENDS)
def test_golden_parity_under_backend(backend):
    result = _child(backend, "golden", "", os.path.join(shared_path("golden"), "maffsrn_{}.npz"))
    errors = {k: v for k, v in result.items() if k[:2] in ("x2", "x3")}
    assert len(errors) == 4 and max(errors.values()) <= 1e-4, errors
    assert not result["tensorflow_imported"]  # the model itself needs no TensorFlow


@pytest.mark.parametrize("backend", BACKENDS)
def test_shipped_weights_give_tensorflow_s_output(backend, tmp_path):
    from maffsrn_tf.pretrained.loading import load_pretrained

    x = np.random.default_rng(0).random((1, 30, 41, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    _child(backend, "shipped", tmp_path / "y.npy", tmp_path / "x.npy")
    want = keras.ops.convert_to_numpy(load_pretrained("maffsrn_x4")(x))
    assert np.abs(np.load(tmp_path / "y.npy") - want).max() <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_with_adamp_on_tf_data_under_backend(backend):
    result = _child(backend, "fit")
    losses = result["loss"]
    assert result["optimizer"] == "AdamP"
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_from_a_pack_without_tensorflow(backend, tmp_path):
    """The training input where only JAX or PyTorch is installed: a ``maffsrn-pack`` file
    streamed as NumPy batches into ``fit`` with AdamP and a moving average of the weights;
    TensorFlow is never imported."""
    from PIL import Image

    from maffsrn_tf.data.packed import pack

    rng = np.random.default_rng(0)
    (tmp_path / "hr").mkdir()
    for i in range(3):
        small = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
        big = Image.fromarray(small).resize((70, 60), Image.BICUBIC)
        big.save(tmp_path / "hr" / f"{i}.png")
    pack(str(tmp_path / "hr"), str(tmp_path / "p.npz"))
    result = _child(backend, "fit_packed", "", tmp_path / "p.npz")
    losses = result["loss"]
    assert not result["tensorflow_imported"]
    assert losses[-1] < 0.8 * losses[0], losses
    # the moving average (--ema_momentum): swapped in for validation, the raw weights back
    # after it, the average in the model once fit ends
    assert max(result["swapped_in"]) == 0.0 and max(result["restored"]) == 0.0, result
    assert min(result["average_vs_raw"]) > 1e-4, result
    assert result["final_vs_average"] == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_adamp_reference_under_backend(backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
           "tests/train/test_optimizers.py"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "8 passed" in proc.stdout, proc.stdout[-2000:]  # none skipped under the backend


@pytest.mark.slow
@pytest.mark.parametrize("saver, loader", [("jax", "tensorflow"), ("tensorflow", "torch")])
def test_keras_file_moves_between_backends(saver, loader, tmp_path):
    path = tmp_path / "m.keras"
    _child(saver, "save", path)
    _child(loader, "load", tmp_path / "y.npy", path)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), np.load(str(path) + ".npy"), atol=1e-5)


# A JAX-only machine: TensorFlow made unimportable, then a console command run as __main__
# by test_cli's probe (which prints, last, whether TensorFlow was imported).
NO_TENSORFLOW = (
    """
import sys
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("No module named 'tensorflow'")
sys.meta_path.insert(0, NoTensorFlow())
"""
    + PROBE
)


@pytest.mark.slow
def test_train_command_under_jax_without_tensorflow(tmp_path):
    """``KERAS_BACKEND=jax maffsrn-train --data_source packed`` where TensorFlow cannot be
    imported: trains, validates, keeps the best weights, and a rerun resumes."""
    from PIL import Image

    from maffsrn_tf.data.packed import pack

    rng = np.random.default_rng(0)
    for folder, count in (("hr", 3), ("val", 2)):
        (tmp_path / folder).mkdir()
        for i in range(count):
            small = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
            Image.fromarray(small).resize((56, 48), Image.BICUBIC).save(
                tmp_path / folder / f"{i}.png"
            )
    pack(str(tmp_path / "hr"), str(tmp_path / "p.npz"))
    run_dir = tmp_path / "run"
    args = ["maffsrn_tf.cli.train", "--data_source", "packed", "--data_dir", tmp_path / "p.npz",
            "--val_dir", tmp_path / "val", "--scale", "2", "--patch_size", "16",
            "--batch_size", "4", "--steps_per_epoch", "3", "--model_dir", run_dir,
            "--optimizer", "adam",  # AdamP under JAX: test_fit_with_adamp_on_tf_data_under_backend
            "--verbose", "2"]  # fmt: skip
    env = dict(os.environ, KERAS_BACKEND="jax")
    for epochs in (1, 2):
        cmd = [sys.executable, "-c", NO_TENSORFLOW, *map(str, args), "--epochs", str(epochs)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.split()[-1] == "False"  # TensorFlow never imported
    assert "Epoch 1/2" not in proc.stdout and "Epoch 2/2" in proc.stdout  # resumed
    with open(run_dir / "log.csv") as f:
        assert len(f.read().strip().splitlines()) == 3  # header + 2 epochs
    for name in ("best.weights.h5", "best.json", "final.weights.h5"):
        assert (run_dir / name).exists(), name
    with open(run_dir / "final.json") as f:
        assert json.load(f)["iterations"] == 6
