"""Each override of a Keras internal (``maffsrn_tf.train.keras_compat``) still does its job on the
installed Keras; a failure names the override that Keras broke."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from maffsrn_tf.model.maffsrn import build_model
from maffsrn_tf.train import keras_compat
from maffsrn_tf.train.trainer import compile_model


def _why(override):
    return (
        f"keras_compat.{override} no longer works with Keras {keras.__version__} "
        f"(written against {keras_compat.KERAS_VERSION}): revisit it"
    )


def _batch(scale=2, n=2, size=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, 3), np.float32)
    y = rng.random((n, size * scale, size * scale, 3), np.float32)
    return x, y


@pytest.fixture
def small():
    keras.utils.set_random_seed(0)
    return compile_model(build_model("maffsrn_x2", n_ffgs=1), learning_rate=1e-3)


def test_maybe_symbolic_build_takes_the_local_batch(small, monkeypatch):
    from keras.src.backend.tensorflow.trainer import TFEpochIterator

    keras_compat.multi_worker_fit(small)
    seen = {}

    def spy(self, iterator=None, data_batch=None):
        seen.update(iterator=iterator, data_batch=data_batch)

    monkeypatch.setattr(keras.Model, "_maybe_symbolic_build", spy)
    x, y = _batch()
    dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
    iterator = TFEpochIterator(
        x=dataset, steps_per_epoch=1, distribute_strategy=small.distribute_strategy
    )
    try:
        small._maybe_symbolic_build(iterator=iterator)
    except Exception as err:
        pytest.fail(f"{_why('multi_worker_fit')}: {err!r}")
    assert seen["iterator"] is None, _why("multi_worker_fit")
    got = [np.asarray(t) for t in seen["data_batch"]]
    assert [g.shape for g in got] == [x.shape, y.shape], _why("multi_worker_fit")
    np.testing.assert_array_equal(got[0], x)


def test_step_logs_get_a_leading_axis_under_multi_worker(small, monkeypatch):
    x, y = _batch()
    plain = small.train_step((tf.constant(x), tf.constant(y)))
    assert all(np.ndim(v) == 0 for v in plain.values())
    keras_compat.multi_worker_fit(small)
    assert "train_step" not in type(small).__dict__  # the class is left as it was
    for step in (small.train_step, small.test_step):
        logs = step((tf.constant(x), tf.constant(y)))
        assert "loss" in logs, _why("multi_worker_fit")
        assert all(tuple(v.shape) == (1,) for v in logs.values()), _why("multi_worker_fit")


def test_atomic_backup_is_what_keras_saves_and_restores(small, tmp_path, monkeypatch):
    calls = []
    original = keras_compat.AtomicBackupAndRestore._save_model

    def counting(self):
        calls.append(self._current_epoch)
        original(self)

    monkeypatch.setattr(keras_compat.AtomicBackupAndRestore, "_save_model", counting)
    backup = keras_compat.AtomicBackupAndRestore(str(tmp_path / "backup"))
    x, y = _batch(n=4)
    small.fit(x, y, batch_size=2, epochs=2, callbacks=[backup], verbose=0)
    assert calls == [1, 2], _why("AtomicBackupAndRestore._save_model (Keras stopped calling it)")
    files = sorted(os.listdir(tmp_path / "backup"))
    assert not [f for f in files if f.startswith(".tmp-")], files
    with open(backup._training_metadata_path) as f:
        assert json.load(f)["epoch"] == 2, _why("AtomicBackupAndRestore metadata")
    assert os.path.exists(backup._weights_path), _why("AtomicBackupAndRestore._weights_path")
    # a rerun resumes after the saved epoch: Keras reads what we wrote
    keras.utils.set_random_seed(0)
    fresh = compile_model(build_model("maffsrn_x2", n_ffgs=1), learning_rate=1e-3)
    history = fresh.fit(
        x,
        y,
        batch_size=2,
        epochs=3,
        verbose=0,
        callbacks=[keras_compat.AtomicBackupAndRestore(str(tmp_path / "backup"))],
    )
    assert history.epoch == [2], _why("AtomicBackupAndRestore (restore of our files)")


def test_step_backups_record_their_step_and_every_epoch_end(small, tmp_path, monkeypatch):
    """Saving every step: a backup after each step but an epoch's last, whose backup waits
    for the epoch's end (after validation and the log), each with the steps it holds."""
    saved = []
    original = keras_compat.AtomicBackupAndRestore._save_model

    def recording(self):
        original(self)
        with open(self._training_metadata_path) as f:
            meta = json.load(f)
        saved.append((meta["epoch"], meta["steps_done"]))

    monkeypatch.setattr(keras_compat.AtomicBackupAndRestore, "_save_model", recording)
    x, y = _batch(n=6)
    backup = keras_compat.AtomicBackupAndRestore(str(tmp_path / "backup"), save_freq=1)
    small.fit(x, y, batch_size=2, epochs=2, callbacks=[backup], verbose=0)
    assert saved == [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)], _why(
        "AtomicBackupAndRestore.on_train_batch_end/on_epoch_end"
    )
    saved.clear()  # the remainder of an epoch resumed after its step 2 of 3
    backup = keras_compat.AtomicBackupAndRestore(str(tmp_path / "again"), save_freq=1)
    backup.steps_before = 2
    small.fit(x[:2], y[:2], batch_size=2, epochs=1, callbacks=[backup], verbose=0)
    assert saved == [(1, 0)], _why("AtomicBackupAndRestore.steps_before")


def test_current_learning_rate_follows_the_schedule():
    model = compile_model(
        build_model("maffsrn_x2", n_ffgs=1), learning_rate=1e-3, decay_steps=10, decay_factor=0.5
    )
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(25)
    assert keras_compat.current_learning_rate(model.optimizer) == pytest.approx(2.5e-4), _why(
        "current_learning_rate"
    )
    plain = keras.optimizers.Adam(learning_rate=3e-4)
    assert keras_compat.current_learning_rate(plain) == pytest.approx(3e-4)
