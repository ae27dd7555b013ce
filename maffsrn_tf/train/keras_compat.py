"""Every override of a private Keras internal, in one place.

Written against Keras 3.15.1 (``KERAS_VERSION``). Each piece names the Keras behaviour it
works around; ``tests/train/test_keras_compat.py`` exercises each one (not just the version) and
fails naming it when Keras changes underneath:

* ``multi_worker_fit(model)``: ``fit`` under ``MultiWorkerMirroredStrategy``
  (keras-team/keras#20585) — the build from one batch and the reduction of scalar step
  outputs; overrides ``_maybe_symbolic_build``, ``train_step`` and ``test_step`` of that one
  model (``training.compile_model`` applies it to models compiled under that strategy only).
* ``sublayers``: every layer nested in a layer; reads ``_flatten_layers``.
* ``AtomicBackupAndRestore``: ``BackupAndRestore`` that never leaves a half-written backup,
  keeps the one before it, and records how far into its epoch a backup was made (Keras
  restarts that epoch); overrides ``_save_model``, ``on_train_batch_end`` and ``on_epoch_end``,
  and reads ``_weights_path``, ``_training_metadata_path``, ``_current_epoch``,
  ``_last_batch_seen``, ``_should_save_on_batch`` and ``_batches_seen_since_last_saving``.
* ``current_learning_rate``: the learning rate at the current step; reads the optimizer's
  ``_learning_rate`` (the public ``learning_rate`` does not evaluate a schedule).
"""

import json
import os
import shutil

import keras

from maffsrn_tf.io.atomic import atomic_output

KERAS_VERSION = "3.15.1"


def is_multi_worker(model):
    """Whether ``model`` was compiled under a ``tf.distribute.MultiWorkerMirroredStrategy``."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    strategy = getattr(model, "_distribute_strategy", None)
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def multi_worker_fit(model):
    """Make ``model.fit`` work under MultiWorkerMirroredStrategy (TensorFlow's trainer).

    Instance attributes shadow the class's ``train_step``, ``test_step`` and
    ``_maybe_symbolic_build`` of this one model, so no model class becomes a multi-worker
    class and a model of any other strategy is left as Keras made it. Returns ``model``.
    """
    import tensorflow as tf

    cls = type(model)

    def with_leading_axis(logs):
        # Keras reduces step outputs with strategy.reduce("MEAN", v, axis=0) under multi-worker
        # collectives, which fails on scalars: give each a leading axis.
        return {k: keras.ops.reshape(v, [1]) for k, v in logs.items()}

    def train_step(*args):  # TF: (data)
        return with_leading_axis(cls.train_step(model, *args))

    def test_step(*args):
        return with_leading_axis(cls.test_step(model, *args))

    def maybe_symbolic_build(iterator=None, data_batch=None):
        """Keras builds from one batch that it *reduces* across replicas with an eager
        ``strategy.reduce``, which MultiWorkerMirroredStrategy cannot do. Only the shapes
        matter, so take this worker's first local replica batch."""
        if iterator is not None:
            strategy = model._distribute_strategy
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
        return cls._maybe_symbolic_build(model, iterator=iterator, data_batch=data_batch)

    # object.__setattr__: plain attributes, not tracked by Keras as layer state
    object.__setattr__(model, "train_step", train_step)
    object.__setattr__(model, "test_step", test_step)
    object.__setattr__(model, "_maybe_symbolic_build", maybe_symbolic_build)
    return model


def sublayers(layer):
    """Every layer nested in ``layer``, at any depth (not ``layer`` itself)."""
    return list(layer._flatten_layers(include_self=False, recursive=True))


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose backups are written to temporary files and renamed.

    A run killed at any moment (even while saving) leaves the previous complete backup.
    The backup is kept after training (``delete_checkpoint=False``) so a finished run is
    not restarted by the same command.

    With ``save_freq`` in steps, Keras backs up mid-epoch but not at the end of an epoch, and
    a rerun restarts the epoch of the backup: a run killed after a validated epoch would train
    that epoch again. Here every epoch is also backed up at its end (this callback comes after
    validation and the log, so an epoch counts as done once both are written), the epoch's
    last step is left to that backup, and each backup records ``steps_done``, the steps of
    its epoch already trained, so that ``maffsrn_tf.train.trainer.train`` finishes a mid-epoch
    backup's epoch with the steps it had left. ``steps_before``: the steps of the current
    epoch trained before this ``fit`` (set by the caller for such a remainder).
    """

    def __init__(self, backup_dir, save_freq="epoch"):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False)
        self.steps_before = 0
        self._steps_done = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps_done = self.steps_before + batch + 1  # batch: last index of the execution
        steps = (self.params or {}).get("steps")
        if self._should_save_on_batch(batch) and not (steps and batch + 1 >= steps):
            self._save_model()

    def on_epoch_end(self, epoch, logs=None):
        self._steps_done = self.steps_before = 0
        super().on_epoch_end(epoch, logs)  # the next epoch; saves when save_freq == "epoch"
        if self.save_freq != "epoch":
            self._batches_seen_since_last_saving = 0
            self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        # keep the previous backup too: a multi-worker rerun may have to step back to it
        # (``distribute.agree_on_resume``)
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
            json.dump(
                {
                    "epoch": self._current_epoch,
                    "batch": self._last_batch_seen,
                    "steps_done": self._steps_done,
                },
                f,
            )


def previous_path(path):
    """Where ``AtomicBackupAndRestore`` keeps the backup before the latest one."""
    head, tail = os.path.split(path)
    return os.path.join(head, "previous-" + tail)


def current_learning_rate(optimizer):
    """The optimizer's learning rate at its current iteration, as a float."""
    lr = optimizer._learning_rate
    value = lr(optimizer.iterations) if callable(lr) else optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(value))
