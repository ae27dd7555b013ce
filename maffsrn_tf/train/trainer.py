"""Training with ``model.fit``: compile, the input stream, and resumable runs.

Defaults follow the paper (``TrainConfig``): L1 loss, AdamP (lr 2e-4, betas 0.9/0.999),
batch 16, 48x48 LR patches with flips and 90-degree rotations, 1000 epochs of 1000
iterations, learning rate halved every 200 epochs.

Under Keras' TensorFlow backend a run has a ``tf.distribute`` strategy, the tf.data patch
stream and TensorBoard logs. Under JAX or PyTorch (``KERAS_BACKEND``) it trains on one
device from a ``maffsrn-pack`` file (``data_source="packed"``, a NumPy stream), with the same
schedule, validation, best-checkpoint, CSV log and resumable backups, and never imports
TensorFlow. The optimizers and schedule are ``maffsrn_tf.train.optimizers``, the callbacks
``maffsrn_tf.train.callbacks``, initial weights
``maffsrn_tf.pretrained.loading.load_initial_weights``.
"""

import contextlib
import csv
import json
import os
import sys

import keras

from maffsrn_tf.data import sources as data_lib
from maffsrn_tf.errors import MaffsrnError, first_line
from maffsrn_tf.io.atomic import atomic_output, folder_problem, remove_stale_temporaries
from maffsrn_tf.io.paths import made_folders
from maffsrn_tf.model.maffsrn import build_model
from maffsrn_tf.model.weight_files import bad_values
from maffsrn_tf.pretrained.loading import check_initial_weights, load_initial_weights
from maffsrn_tf.train.callbacks import SaveBest, StepTimer, Validation, iterations
from maffsrn_tf.train.config import (
    DATA_RECORD,
    WORKDIR_RECORD,
    TrainConfig,
    check_run,
    record_data,
    run_holding,
)
from maffsrn_tf.train.keras_compat import AtomicBackupAndRestore, is_multi_worker, multi_worker_fit
from maffsrn_tf.train.optimizers import StepDecay, channel_axes, make_optimizer

LOSSES = {"l1": keras.losses.MeanAbsoluteError, "l2": keras.losses.MeanSquaredError}


def compile_model(
    model,
    optimizer="adamp",
    learning_rate=2e-4,
    decay_steps=200_000,
    decay_factor=0.5,
    max_decays=None,
    jit_compile=False,
    loss="l1",
    ema_momentum=0.0,
):
    """Compile for training: the paper's L1 loss (``"l2"``: mean squared error, for a short
    fine-tune at the end), the step-decay schedule, optionally a moving average of the weights.
    A model compiled under a MultiWorkerMirroredStrategy also gets ``multi_worker_fit``."""
    if loss not in LOSSES:
        raise MaffsrnError(f"loss={loss!r} is not one of {', '.join(LOSSES)}")
    schedule = StepDecay(learning_rate, decay_steps, decay_factor, max_decays)
    model.compile(
        optimizer=make_optimizer(
            optimizer, schedule, ema_momentum=ema_momentum, axes=channel_axes(model)
        ),
        loss=LOSSES[loss](),
        jit_compile=jit_compile,
    )
    if is_multi_worker(model):
        multi_worker_fit(model)
    return model


def _worker_suffix():
    if keras.backend.backend() != "tensorflow":
        return ""
    from maffsrn_tf.train.distribute import worker_suffix

    return worker_suffix()


def training_input(c, start_step, exclude=()):
    """The batches ``fit`` trains on (``c``: a ``TrainConfig``): the tf.data stream of the
    decoded store (TensorFlow), or the NumPy stream of a pack (any backend)."""
    if c.data_source == "packed":
        from maffsrn_tf.data.packed import PatchBatches, load_pairs

        if exclude:
            raise data_lib.DataError(
                "a pack has no holdout list: leave the images out when packing "
                "(maffsrn_tf.data.packed.pack(exclude=...)) and validate with val_dir"
            )
        pairs = load_pairs(c.data_dir, c.scale, c.patch_size, progress=print)
        return PatchBatches(
            pairs, c.scale, c.patch_size, c.batch_size, seed=c.seed, start_step=start_step
        )
    if keras.backend.backend() != "tensorflow":
        raise data_lib.DataError(
            f"data_source={c.data_source!r} streams through tf.data (TensorFlow backend); "
            f"under {keras.backend.backend()} train from a pack (maffsrn_tf.data.packed) with "
            "data_source='packed'"
        )
    from maffsrn_tf.data import patches

    store = data_lib.training_store(
        c.data_source, c.data_dir, c.scale, c.patch_size, c.cache_dir or None, exclude=exclude
    )
    return patches.patch_dataset(
        store, c.scale, c.patch_size, c.batch_size, c.seed, start_step=start_step
    )


def _fit(model, c, dataset, epochs, steps, callbacks, initial_epoch):
    verbose = c.verbose
    if verbose == 1 and not _is_terminal(sys.stdout):  # Keras' bar writes colour codes and
        verbose = 2  # redraws: a log or a pipe gets one plain line an epoch
    try:
        history = model.fit(
            dataset,
            epochs=epochs,
            steps_per_epoch=steps,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # both streams are already random and must keep their order
        )
    except ValueError as err:  # the backup Keras restores at the start does not fit the model
        if "could not be loaded" not in str(err):
            raise
        backup = os.path.join(c.model_dir, "backup", "latest.weights.h5")
        raise MaffsrnError(
            f"{backup} is damaged (it does not fit the model: {first_line(err, 120)}): the run "
            "cannot resume from it; restore it, or pass model_dir=DIR for a new run"
        ) from None
    bad = bad_values((w.path, w.numpy()) for w in model.weights)
    if bad:  # TerminateOnNaN stopped it: never final weights, nor exit 0
        raise MaffsrnError(
            f"training diverged: {bad[0]} {bad[1]} (loss NaN); no final weights are written. "
            "Lower learning_rate, or resume from a run's earlier backup"
        )
    return history


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _check_writable(model_dir):
    """``MaffsrnError`` unless ``model_dir`` is (or can be made) a folder this process can
    write: checked before any work, so a bad path costs nothing. Nothing is created: a run
    refused later (its data, its strategy) leaves no empty folder behind (``_make_folder``
    makes it once the inputs are valid)."""
    problem = folder_problem(model_dir)
    if problem:
        raise MaffsrnError(
            f"model_dir={model_dir!r} is not a folder this process can write ({problem})"
        )


def _make_folder(model_dir):
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as err:
        raise MaffsrnError(
            f"model_dir={model_dir!r} is not a folder this process can write "
            f"({err.strerror or type(err).__name__})"
        ) from None


def _trim_log(path, epoch):
    """Drop the rows of ``log.csv`` for epochs from ``epoch`` on (0-based): a run killed
    after logging an epoch but before backing it up trains that epoch again, and would log
    it twice."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    keep = [rows[0]] + [
        r for r in rows[1:] if r and r[0].isascii() and r[0].isdigit() and int(r[0]) < epoch
    ]
    if len(keep) != len(rows):
        with atomic_output(path) as tmp, open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(keep)


def _cache_folders(c):
    """``made_folders(prune=True)`` of the cache root a run of ``c`` writes in (``cache_dir``,
    else ``~/.cache/maffsrn_tf``; a pack caches nothing)."""
    if c.data_source == "packed":
        return contextlib.nullcontext()
    root = c.cache_dir or os.path.dirname(data_lib.default_cache_dir())
    return made_folders(root, prune=True)


def _as_config(config):
    if isinstance(config, TrainConfig):
        config.validate()
        return config
    return TrainConfig.from_dict(config)  # a dict, e.g. an older run's flags.json


def train(config, callbacks=()):
    """Train from a ``TrainConfig`` (or a dict of its fields, such as a run's ``flags.json``);
    returns the History. ``callbacks``: more Keras callbacks (e.g. a notebook's progress bar),
    run before the run's own log and backup.

    Writes into ``config.model_dir``: ``flags.json`` (the config), ``workdir.json`` (the
    folder its relative paths are relative to), ``data.json`` (the files it trains and
    validates on: ``config.record_data``), ``backup/`` (resume state),
    ``best.weights.h5`` + ``best.keras`` + ``best.json``, ``final.weights.h5`` (with
    ``ema_momentum``, best and final hold the moving average), ``log.csv``,
    ``tensorboard/``. Rerunning the same config resumes from ``backup/``; a rerun may change
    only ``RESUME_MAY_CHANGE`` (``epochs``: raised, it trains on) — other options that differ
    from ``flags.json`` are a ``MaffsrnError`` naming them, as is data other than the run
    began with (``config.check_data``), and ``flags.json`` is left as it is
    (``config.check_run``). A run that already finished ``epochs`` says so (one printed
    line) and returns None, writing nothing.
    """
    c = _as_config(config)
    model_dir = c.model_dir
    tensorflow = keras.backend.backend() == "tensorflow"
    worker = _worker_suffix()
    if worker:  # non-chief workers of a multi-worker run keep their files apart from the chief's
        model_dir = os.path.join(model_dir, "workers", worker)
    if not worker:  # inside another run's folder (its backup/, tensorboard/): mixed
        run = run_holding(os.path.dirname(os.path.abspath(model_dir)))
        if run:
            raise MaffsrnError(
                f"model_dir={c.model_dir!r} lies inside the training run in {run!r} (its "
                "flags.json): the runs' files would mix; pass model_dir=DIR elsewhere"
            )
        inner = _run_within(model_dir)
        if inner:  # a new run around an older one: that one could no longer resume
            raise MaffsrnError(
                f"model_dir={c.model_dir!r} holds the training run in {inner!r}: the runs' "
                "files would mix, and that run could no longer resume; pass model_dir=DIR "
                "elsewhere"
            )
    finished = check_run(c, model_dir)  # before anything is written
    if finished:
        print(finished)
        return None
    _check_writable(model_dir)
    with _held(model_dir):  # a second run into it meanwhile would mix their records
        return _train_held(c, model_dir, tensorflow, callbacks)


def _run_within(model_dir, depth=3, most=2000):
    """A training run's folder inside ``model_dir`` (not ``model_dir`` itself, nor its
    ``workers/``), looked for ``depth`` levels down among at most ``most`` folders; None."""
    top = os.path.abspath(model_dir)
    if not os.path.isdir(top) or run_holding(top) == top:
        return None
    seen = 0
    for folder, dirs, _ in os.walk(top):
        seen += 1
        if seen > most:
            return None
        if folder == top:  # a multi-worker run's other workers keep their runs there
            dirs[:] = [d for d in dirs if d != "workers"]
        elif run_holding(folder) == folder:
            return folder
        if folder[len(top) :].count(os.sep) >= depth:
            dirs[:] = []
    return None


@contextlib.contextmanager
def _held(model_dir):
    """The block of a run that holds ``model_dir``: another run into the same folder while
    this one lasts is a ``MaffsrnError`` (both had run, their log rows, TensorBoard events and
    checkpoints mixed). The lock is the folder's own (``flock``, released when the process
    ends however it ends); the folder is made here and removed again when a refused run
    leaves it empty (``made_folders``). No lock where ``fcntl`` is missing (Windows)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with made_folders(model_dir):
        _make_folder(model_dir)
        fd = os.open(model_dir, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise MaffsrnError(
                    f"model_dir={model_dir!r} is in use by another training run (still going): "
                    "wait for it to end, or pass model_dir=DIR elsewhere"
                ) from None
            yield
        finally:
            os.close(fd)


def _train_held(c, model_dir, tensorflow, callbacks):
    """``train``'s work once ``model_dir`` is held (``_held``)."""
    scale, steps = c.scale, c.steps_per_epoch
    if c.init_weights:  # its depth, before the data is prepared (a minute for DIV2K)
        check_initial_weights(c.init_weights, c.preset)
    holdout = data_lib.read_holdout(c.holdout, c.data_dir) if c.holdout else ()
    keras.utils.set_random_seed(c.seed)
    if c.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    backup_dir = os.path.join(model_dir, "backup")
    if tensorflow:
        from maffsrn_tf.train.distribute import agree_on_resume, make_strategy

        strategy = make_strategy(c.strategy, c.tpu)
        scope, (epoch, done) = strategy.scope(), agree_on_resume(strategy, backup_dir, steps)
    else:  # one device; Keras' own distribution API is for JAX multi-device runs
        from maffsrn_tf.train.distribute import resume_point

        scope, (epoch, done) = contextlib.nullcontext(), resume_point(backup_dir)
    if done >= steps:  # a backup of another steps_per_epoch: restart its epoch
        done = 0
    from maffsrn_tf.train.distribute import check_backup_weights

    check_backup_weights(backup_dir)  # a resume's weights readable, before the data is prepared
    val = None
    if c.val_dir and not holdout:  # before the data is prepared (its sizes checked there)
        val = data_lib.load_benchmark(c.val_dir, scale)
    # checks the data; a cache folder it made and left empty (refused, failed) goes again
    with _cache_folders(c):
        dataset = training_input(c, epoch * steps + done, exclude=holdout)
    if holdout:
        val = data_lib.load_benchmark(c.data_dir, scale, only=holdout)
    with scope:
        model = build_model(c.preset)
        if c.init_weights:
            load_initial_weights(model, c.init_weights, skip_tail=c.init_skip_tail)
        compile_model(
            model,
            c.optimizer,
            c.learning_rate,
            c.decay_epochs * c.steps_per_epoch,
            c.decay_factor,
            c.max_decays,
            c.jit_compile,
            c.loss,
            c.ema_momentum,
        )
    # the inputs are valid: record the run, and forget log rows of epochs it trains again
    _make_folder(model_dir)
    for folder in (model_dir, backup_dir):  # what a killed run left half-written (a backup)
        remove_stale_temporaries(folder)
    new_run = not os.path.exists(os.path.join(model_dir, "flags.json"))
    # flags.json first: a folder with files of a run and no flags.json is not a run's
    # (config.check_run refuses it), even when this one is killed right here
    with atomic_output(os.path.join(model_dir, "flags.json")) as tmp, open(tmp, "w") as f:
        json.dump(c.asdict(), f, indent=2, sort_keys=True)
    with atomic_output(os.path.join(model_dir, WORKDIR_RECORD)) as tmp, open(tmp, "w") as f:
        json.dump({"workdir": os.getcwd()}, f)  # what flags.json's relative paths are under
    if new_run or not os.path.exists(os.path.join(model_dir, DATA_RECORD)):
        record_data(c, model_dir, epoch)  # what it trains on (epoch > 0: an older run's resume)
    _trim_log(os.path.join(model_dir, "log.csv"), epoch)
    extra, callbacks = list(callbacks), [StepTimer(), keras.callbacks.TerminateOnNaN()]
    if val is not None:
        callbacks += [Validation(val, scale), SaveBest(model_dir)]
    callbacks += extra
    callbacks.append(keras.callbacks.CSVLogger(os.path.join(model_dir, "log.csv"), append=True))
    if tensorflow:  # TensorBoard writes its logs with tf.summary
        log_dir = os.path.join(model_dir, "tensorboard")
        callbacks.append(keras.callbacks.TensorBoard(log_dir, update_freq="epoch"))
    backup = AtomicBackupAndRestore(backup_dir, save_freq=c.backup_every_steps or "epoch")
    callbacks.append(backup)  # last: an epoch counts as done once validated and logged
    if done:  # a mid-epoch backup: first the steps its epoch had left, then the next epochs
        print(f"resuming epoch {epoch + 1} of {c.epochs} after its step {done} of {steps}")
        backup.steps_before = done
        history = _fit(model, c, dataset, epoch + 1, steps - done, callbacks, epoch)
        epoch += 1
        if epoch < c.epochs:  # a new fit reads its input from the start: start it further on
            if isinstance(dataset, keras.utils.PyDataset):
                dataset.start_step = epoch * steps
            else:
                dataset = training_input(c, epoch * steps, exclude=holdout)
    if not done or epoch < c.epochs:
        history = _fit(model, c, dataset, c.epochs, steps, callbacks, epoch)
    with atomic_output(os.path.join(model_dir, "final.weights.h5")) as tmp:
        model.save_weights(tmp)
    with atomic_output(os.path.join(model_dir, "final.json")) as tmp, open(tmp, "w") as f:
        json.dump({"epochs": c.epochs, "iterations": iterations(model)}, f)
    return history
