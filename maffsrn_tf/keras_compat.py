"""Every override of a private Keras internal, in one place.

Written against Keras 3.15.1 (``KERAS_VERSION``). Each piece names the Keras behaviour it
works around; ``tests/test_keras_compat.py`` exercises each one (not just the version) and
fails naming it when Keras changes underneath:

* ``MultiWorkerFit`` (a ``keras.Model`` mixin): ``fit`` under
  ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585) — the build from one batch and
  the reduction of scalar step outputs; overrides ``_maybe_symbolic_build``.
* ``AtomicBackupAndRestore``: ``BackupAndRestore`` that never leaves a half-written backup
  and keeps the one before it; overrides ``_save_model`` and reads ``_weights_path``,
  ``_training_metadata_path``, ``_current_epoch`` and ``_last_batch_seen``.
* ``current_learning_rate``: the learning rate at the current step; reads the optimizer's
  ``_learning_rate`` (the public ``learning_rate`` does not evaluate a schedule).
"""

import json
import os
import shutil

import keras

from maffsrn_tf.utils import atomic_output

KERAS_VERSION = "3.15.1"


class MultiWorkerFit:
    """Mixin for a ``keras.Model`` whose ``fit`` must work under MultiWorkerMirroredStrategy
    (TensorFlow's trainer only; under other backends every method passes straight through)."""

    def _is_multi_worker(self):
        if keras.backend.backend() != "tensorflow":
            return False
        import tensorflow as tf

        strategy = getattr(self, "_distribute_strategy", None)
        return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def _with_leading_axis(self, logs):
        # Keras reduces step outputs with strategy.reduce("MEAN", v, axis=0) under multi-worker
        # collectives, which fails on scalars: give each a leading axis.
        if self._is_multi_worker():
            return {k: keras.ops.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def train_step(self, *args):  # TF: (data); JAX: (state, data) -> (logs, state)
        return self._with_leading_axis(super().train_step(*args))

    def test_step(self, *args):
        return self._with_leading_axis(super().test_step(*args))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras builds from one batch that it *reduces* across replicas with an eager
        ``strategy.reduce``, which MultiWorkerMirroredStrategy cannot do. Only the shapes
        matter, so take this worker's first local replica batch; other strategies behave
        as before."""
        if iterator is not None and self._is_multi_worker():
            import tensorflow as tf

            strategy = self._distribute_strategy
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: (
                        strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    batch,
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose backups are written to temporary files and renamed.

    A run killed at any moment (even while saving) leaves the previous complete backup.
    The backup is kept after training (``delete_checkpoint=False``) so a finished run is
    not restarted by the same command.
    """

    def __init__(self, backup_dir, save_freq="epoch"):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        # keep the previous backup too: a multi-worker rerun may have to step back to it
        # (``training.agree_on_resume``)
        for src, dst in (
            (self._weights_path, previous_path(self._weights_path)),
            (self._training_metadata_path, previous_path(self._training_metadata_path)),
        ):
            if os.path.exists(src):
                with atomic_output(dst) as tmp:
                    shutil.copyfile(src, tmp)
        with atomic_output(self._weights_path) as tmp:
            self.model.save_weights(tmp)
        with atomic_output(self._training_metadata_path) as tmp, open(tmp, "w") as f:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)


def previous_path(path):
    """Where ``AtomicBackupAndRestore`` keeps the backup before the latest one."""
    head, tail = os.path.split(path)
    return os.path.join(head, "previous-" + tail)


def current_learning_rate(optimizer):
    """The optimizer's learning rate at its current iteration, as a float."""
    lr = optimizer._learning_rate
    value = lr(optimizer.iterations) if callable(lr) else optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(value))
