"""Where a run executes and where it resumes: the ``tf.distribute`` strategy, the chief of a
multi-worker cluster, and the point (epoch, step) every worker resumes at. TensorFlow is
imported by the functions that need it: ``resume_point`` and ``worker_suffix`` serve every
backend."""

import json
import os
import shutil

from maffsrn_tf.errors import MaffsrnError, first_line
from maffsrn_tf.io.atomic import atomic_output
from maffsrn_tf.train.keras_compat import previous_path


def worker_suffix():
    """'' for a single process or the chief of a ``TF_CONFIG`` cluster; else ``type-index``.

    The chief is the ``chief`` task, or worker 0 when the cluster has no chief task.
    """
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if not kind or kind == "chief":
        return ""
    if kind == "worker" and index == 0 and "chief" not in config.get("cluster", {}):
        return ""
    return f"{kind}-{index}"


def make_strategy(name="auto", tpu_address=""):
    """A ``tf.distribute`` strategy: auto, one_device, mirrored, multi_worker or tpu."""
    import tensorflow as tf

    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as err:  # no TPU here
            why = " ".join(str(err).split())[:200]
            raise MaffsrnError(
                f"strategy='tpu' found no TPU to connect to ({why}): pass tpu=ADDRESS (a TPU "
                "name or grpc://HOST:PORT), or another strategy"
            ) from None
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}: auto, one_device, mirrored, multi_worker, tpu")


def resume_point(backup_dir, previous=False):
    """``(epoch, steps_done)`` a rerun resumes at: the epoch of the backup and the steps of it
    already trained (0 for a backup made at an epoch's end, or by a Keras that does not
    record them); ``previous``: that of the backup before the latest, None when there is
    none."""
    path = os.path.join(backup_dir, "training_metadata.json")
    path = previous_path(path) if previous else path
    if not os.path.exists(path):
        return None if previous else (0, 0)
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
        return int(metadata["epoch"]), int(metadata.get("steps_done", 0))
    except (OSError, ValueError, KeyError, TypeError) as err:  # replaced, cut, edited
        raise MaffsrnError(
            f"{path} is not the backup record a run writes ({type(err).__name__}: {err}): "
            "the run cannot resume from it; restore it, or pass model_dir=DIR for a new run"
        ) from None


def check_backup_weights(backup_dir):
    """``MaffsrnError`` when the backup a rerun resumes from holds weights that cannot be
    read (cut short by a full disk, a partial copy, edited), holds NaN or infinite values, or
    is missing beside the record of where the run stopped: said before any training, with
    what to do (Keras failed mid-start with h5py's words, trained on NaN, or restarted from
    fresh weights at the recorded epoch)."""
    path = os.path.join(backup_dir, "latest.weights.h5")
    fix = "the run cannot resume from it; restore it, or pass model_dir=DIR for a new run"
    if not os.path.exists(path):  # a record of where it stopped, and no weights: Keras had
        if os.path.exists(os.path.join(backup_dir, "training_metadata.json")):  # gone on
            raise MaffsrnError(  # from fresh weights at the recorded epoch, without a word
                f"{backup_dir} is incomplete: its record says where the run stopped, and "
                f"latest.weights.h5 is {'a broken link' if os.path.islink(path) else 'missing'}; "
                + fix
            )
        return
    import h5py
    import numpy as np

    found = []

    def check(name, item):
        if isinstance(item, h5py.Dataset) and item.dtype.kind == "f" and not found:
            if not np.isfinite(item[()]).all():
                found.append(name)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(check)  # every dataset read: a few MB
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise MaffsrnError(f"{path} is damaged ({first_line(err, 160)}): {fix}") from None
    if found:  # a run that diverged, or an edited file: training on would spread NaN
        raise MaffsrnError(f"{path} holds NaN or infinite values (in {found[0]}): {fix}")


def _minimum_over_workers(strategy, value):
    """The smallest ``value`` over the workers of a MultiWorkerMirroredStrategy."""
    import tensorflow as tf

    @tf.function
    def gather():
        context = tf.distribute.get_replica_context()
        return context.all_gather(tf.constant([value], tf.int64), axis=0)

    gathered = strategy.experimental_local_results(strategy.run(gather))[0]
    return int(tf.reduce_min(gathered).numpy())


def agree_on_resume(strategy, backup_dir, steps_per_epoch):
    """The point ``(epoch, steps_done)`` every worker resumes at, agreed before ``fit``.

    A run killed between two workers' backups leaves one worker a backup ahead; resuming
    there would hang the collectives. The workers agree on the earliest point, and a worker
    ahead of it steps back to its previous backup (kept by ``AtomicBackupAndRestore``).
    """
    import tensorflow as tf

    point = resume_point(backup_dir)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return point
    step = point[0] * steps_per_epoch + point[1]
    agreed = divmod(_minimum_over_workers(strategy, step), steps_per_epoch)
    if agreed != point:
        if resume_point(backup_dir, previous=True) != agreed:
            raise ValueError(
                f"{backup_dir} is at epoch {point[0]} step {point[1]} and keeps no backup of "
                f"epoch {agreed[0]} step {agreed[1]}, where the other workers are; delete the "
                "backups to start over"
            )
        for name in ("latest.weights.h5", "training_metadata.json"):
            path = os.path.join(backup_dir, name)
            with atomic_output(path) as tmp:
                shutil.copyfile(previous_path(path), tmp)
    return agreed
