"""Training with ``model.fit``: strategy, optimizer and schedule, callbacks, resumable runs.

Defaults follow the paper: L1 loss, AdamP (lr 2e-4, betas 0.9/0.999), batch 16, 48x48 LR
patches with flips and 90-degree rotations, 1000 epochs of 1000 iterations, learning rate
halved every 200 epochs.

Under Keras' TensorFlow backend a run has a ``tf.distribute`` strategy, the tf.data patch
stream and TensorBoard logs. Under JAX or PyTorch (``KERAS_BACKEND``) it trains on one
device from a ``maffsrn-pack`` file (``data_source="packed"``, a NumPy stream), with the same
schedule, validation, best-checkpoint, CSV log and resumable backups, and never imports
TensorFlow.
"""

import contextlib
import json
import math
import os
import time

import keras
import numpy as np

from maffsrn_tf import data as data_lib
from maffsrn_tf import metrics
from maffsrn_tf.keras_compat import AtomicBackupAndRestore, current_learning_rate
from maffsrn_tf.model import build_model
from maffsrn_tf.optimizers import Adam, AdamP
from maffsrn_tf.utils import atomic_output


@keras.saving.register_keras_serializable(package="maffsrn_tf")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial * factor ** floor(step / decay_steps)`` (the paper: x0.5 every 200 epochs).

    ``max_decays`` limits the number of halvings (the official script's default halves once).
    """

    def __init__(self, initial_learning_rate, decay_steps, factor=0.5, max_decays=None):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.factor = factor
        self.max_decays = max_decays

    def __call__(self, step):
        ops = keras.ops
        n = ops.floor(ops.cast(step, "float32") / float(self.decay_steps))
        if self.max_decays is not None:
            n = ops.minimum(n, float(self.max_decays))
        return self.initial_learning_rate * ops.power(float(self.factor), n)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "factor": self.factor,
            "max_decays": self.max_decays,
        }


def make_optimizer(name, schedule, beta_1=0.9, beta_2=0.999, ema_momentum=0.0):
    """AdamP or Adam; ``ema_momentum`` > 0 also keeps an exponential moving average of the
    weights in the optimizer (saved with it in backups, warmed up as in
    ``optimizers.WarmupAverage``), which validation, the best checkpoint and the final
    weights use (``averaged_weights``)."""
    kwargs = dict(learning_rate=schedule, beta_1=beta_1, beta_2=beta_2)
    if ema_momentum:
        if not 0.0 < ema_momentum < 1.0:
            raise ValueError(f"ema_momentum must lie in (0, 1), got {ema_momentum}")
        # never copied into the model during training: the model keeps training the raw weights
        kwargs.update(use_ema=True, ema_momentum=ema_momentum, ema_overwrite_frequency=None)
    if name == "adamp":
        return AdamP(**kwargs)
    if name == "adam":
        return Adam(**kwargs)
    raise ValueError(f"unknown optimizer {name!r}: adamp or adam")


LOSSES = {"l1": keras.losses.MeanAbsoluteError, "l2": keras.losses.MeanSquaredError}


def _ema_optimizer(model):
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # mixed precision's wrapper
    if optimizer is None or not getattr(optimizer, "use_ema", False):
        return None
    return optimizer


@contextlib.contextmanager
def averaged_weights(model):
    """Within the block the model holds the optimizer's moving average of its weights (when it
    keeps one), afterwards the raw weights again; without an average it changes nothing."""
    optimizer = _ema_optimizer(model)
    if optimizer is None or not optimizer.built:
        yield model
        return
    variables = optimizer._trainable_variables
    raw = [keras.ops.convert_to_numpy(v) for v in variables]
    for v, average in zip(variables, optimizer._model_variables_moving_average):
        v.assign(average)
    try:
        yield model
    finally:
        for v, value in zip(variables, raw):
            v.assign(value)


def load_initial_weights(model, path, skip_tail=None):
    """Initialize from a ``.weights.h5``/``.npz``/``.keras`` of another run (x3 from a trained x2).

    The file's scale and depth are read from its contents: it is loaded into a MAFFSRN of the
    model's depth at each scale until one fits. ``skip_tail`` (default: when the file's scale
    differs) leaves the scale-specific tail freshly initialized. A file of another
    architecture (e.g. MAFFSRN-L weights for MAFFSRN) is a ``ValueError`` naming the layers.
    """
    from maffsrn_tf.presets import SCALES, preset_for_scale
    from maffsrn_tf.pretrained import load_weights_file

    if path.endswith(".keras"):
        source = keras.saving.load_model(path)
    else:
        source, errors = None, []
        for scale in (model.scale, *(s for s in SCALES if s != model.scale)):
            probe = build_model(preset_for_scale(scale), n_ffgs=model.n_ffgs)
            try:
                load_weights_file(probe, path)
            except ValueError as err:
                errors.append(str(err))
                continue
            source = probe
            break
        if source is None:
            raise ValueError(
                f"--init_weights {path} fits no MAFFSRN with {model.n_ffgs} FFGs at x2/x3/x4 "
                f"(another architecture?): {errors[0]}"
            )
    if source.n_ffgs != model.n_ffgs:
        raise ValueError(
            f"--init_weights {path} has {source.n_ffgs} FFGs (body.0-body.{source.n_ffgs - 1}), "
            f"the model {model.n_ffgs} (body.0-body.{model.n_ffgs - 1})"
        )
    if skip_tail is None:
        skip_tail = source.scale != model.scale
    copied = 0
    for layer, src in zip(
        [model.head, *model.body, model.tail], [source.head, *source.body, source.tail]
    ):
        if layer is model.tail and skip_tail:
            continue
        for dst_w, src_w in zip(layer.weights, src.weights):
            dst_w.assign(src_w)
            copied += 1
    return copied


class Validation(keras.callbacks.Callback):
    """Whole-image PSNR/SSIM (MATLAB protocol, uint8 outputs) at the end of each epoch, of the
    weights' moving average when the optimizer keeps one (the raw weights' then go to
    ``val_psnr_raw``/``val_ssim_raw``).

    Adds ``val_psnr`` and ``val_ssim`` to the epoch logs (for checkpointing, CSV, TensorBoard).
    """

    def __init__(self, images, scale):
        super().__init__()
        self.images = images
        self.scale = scale

    def evaluate(self):
        with averaged_weights(self.model):
            return self._evaluate()

    def _evaluate(self):
        psnrs, ssims = [], []
        for _, hr, lr in self.images:
            lr_rgb = np.repeat(lr[..., None], 3, -1) if lr.ndim == 2 else lr
            sr = self.model(lr_rgb[None].astype(np.float32) / 255.0, training=False)
            sr = keras.ops.convert_to_numpy(sr)[0]
            sr = np.clip(np.round(sr * 255.0), 0, 255).astype(np.uint8)
            psnrs.append(metrics.psnr(hr, sr, self.scale))
            ssims.append(metrics.ssim(hr, sr, self.scale))
        return float(np.mean(psnrs)), float(np.mean(ssims))

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["val_psnr"], logs["val_ssim"] = self.evaluate()
        line = f"val_psnr {logs['val_psnr']:.3f} dB, val_ssim {logs['val_ssim']:.4f}"
        if _ema_optimizer(self.model) is not None:  # what the average adds, measured each epoch
            logs["val_psnr_raw"], logs["val_ssim_raw"] = self._evaluate()
            line += f" (raw weights: {logs['val_psnr_raw']:.3f} dB)"
        print(f"\nepoch {epoch + 1}: {line}", flush=True)


class SaveBest(keras.callbacks.Callback):
    """Save weights and ``.keras`` (atomically) whenever ``val_psnr`` improves (the moving
    average when the optimizer keeps one: the weights that were validated)."""

    def __init__(self, directory):
        super().__init__()
        self.directory = directory
        self.best_path = os.path.join(directory, "best.json")
        self.best = -math.inf
        if os.path.exists(self.best_path):
            with open(self.best_path) as f:
                self.best = json.load(f)["val_psnr"]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_psnr")
        if value is None or value <= self.best:
            return
        self.best = value
        with averaged_weights(self.model):
            with atomic_output(os.path.join(self.directory, "best.weights.h5")) as tmp:
                self.model.save_weights(tmp)
            with atomic_output(os.path.join(self.directory, "best.keras")) as tmp:
                self.model.save(tmp, include_optimizer=False)
        with atomic_output(self.best_path) as tmp, open(tmp, "w") as f:
            json.dump(
                {
                    "epoch": epoch + 1,
                    "val_psnr": value,
                    "val_ssim": logs.get("val_ssim"),
                    "iterations": _iterations(self.model),
                },
                f,
            )


class StepTimer(keras.callbacks.Callback):
    """Adds ``sec_per_step`` and the learning rate to the epoch logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._steps:
            logs["sec_per_step"] = (time.time() - self._start) / self._steps
            logs["learning_rate"] = current_learning_rate(self.model.optimizer)


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
    fine-tune at the end), the step-decay schedule, optionally a moving average of the weights."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: {' or '.join(LOSSES)}")
    schedule = StepDecay(learning_rate, decay_steps, decay_factor, max_decays)
    model.compile(
        optimizer=make_optimizer(optimizer, schedule, ema_momentum=ema_momentum),
        loss=LOSSES[loss](),
        jit_compile=jit_compile,
    )
    return model


def _iterations(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def _worker_suffix():
    if keras.backend.backend() != "tensorflow":
        return ""
    from maffsrn_tf.distribute import worker_suffix

    return worker_suffix()


def training_input(c, start_step, exclude=()):
    """The batches ``fit`` trains on: the tf.data stream of the decoded store (TensorFlow),
    or the NumPy stream of a pack (any backend)."""
    if c["data_source"] == "packed":
        from maffsrn_tf.packed import PatchBatches, load_pairs

        if exclude:
            raise data_lib.DataError(
                "a pack has no holdout list: leave the images out with maffsrn-pack --holdout "
                "and validate with --val_dir"
            )
        pairs = load_pairs(c["data_dir"], c["scale"], c["patch_size"], progress=print)
        return PatchBatches(
            pairs, c["scale"], c["patch_size"], c["batch_size"], seed=c["seed"],
            start_step=start_step,
        )  # fmt: skip
    if keras.backend.backend() != "tensorflow":
        raise data_lib.DataError(
            f"the {c['data_source']} source streams through tf.data (TensorFlow backend); under "
            f"{keras.backend.backend()} train from a pack: maffsrn-pack, then "
            "--data_source packed --data_dir PACK.npz"
        )
    from maffsrn_tf import patches

    store = data_lib.training_store(
        c["data_source"], c["data_dir"], c["scale"], c["patch_size"],
        c.get("cache_dir") or None, exclude=exclude,
    )  # fmt: skip
    return patches.patch_dataset(
        store, c["scale"], c["patch_size"], c["batch_size"], c["seed"], start_step=start_step
    )


def _fit(model, c, dataset, epochs, steps, callbacks, initial_epoch):
    return model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        verbose=c.get("verbose", 1),
        shuffle=False,  # both streams are already random and must keep their order to resume
    )


def train(config):
    """Train from a config dict (the resolved flags of ``maffsrn-train``); returns the History.

    Writes into ``config["model_dir"]``: ``flags.json``, ``backup/`` (resume state),
    ``best.weights.h5`` + ``best.keras`` + ``best.json``, ``final.weights.h5`` (with
    ``ema_momentum``, best and final hold the moving average), ``log.csv``,
    ``tensorboard/``. Rerunning the same command resumes from ``backup/``.
    """
    c = dict(config)
    model_dir = c["model_dir"]
    tensorflow = keras.backend.backend() == "tensorflow"
    worker = _worker_suffix()
    if worker:  # non-chief workers of a multi-worker run keep their files apart from the chief's
        model_dir = os.path.join(model_dir, "workers", worker)
    os.makedirs(model_dir, exist_ok=True)
    with atomic_output(os.path.join(model_dir, "flags.json")) as tmp, open(tmp, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
    keras.utils.set_random_seed(c["seed"])
    if c.get("mixed_precision"):
        keras.mixed_precision.set_global_policy("mixed_float16")
    scale = c["scale"]
    holdout = data_lib.read_holdout(c["holdout"], c["data_dir"]) if c.get("holdout") else ()
    backup_dir = os.path.join(model_dir, "backup")
    steps = c["steps_per_epoch"]
    if tensorflow:
        from maffsrn_tf.distribute import agree_on_resume, make_strategy

        strategy = make_strategy(c["strategy"], c.get("tpu", ""))
        scope, (epoch, done) = strategy.scope(), agree_on_resume(strategy, backup_dir, steps)
    else:  # one device; Keras' own distribution API is for JAX multi-device runs
        from maffsrn_tf.distribute import resume_point

        scope, (epoch, done) = contextlib.nullcontext(), resume_point(backup_dir)
    if done >= steps:  # a backup of another --steps_per_epoch: restart its epoch
        done = 0
    dataset = training_input(c, epoch * steps + done, exclude=holdout)
    with scope:
        model = build_model(c["preset"])
        if c.get("init_weights"):
            load_initial_weights(model, c["init_weights"], skip_tail=c.get("init_skip_tail"))
        compile_model(
            model,
            c["optimizer"],
            c["learning_rate"],
            c["decay_epochs"] * c["steps_per_epoch"],
            c["decay_factor"],
            c.get("max_decays"),
            c.get("jit_compile", False),
            c.get("loss", "l1"),
            c.get("ema_momentum", 0.0),
        )
    callbacks = [StepTimer(), keras.callbacks.TerminateOnNaN()]
    if holdout or c.get("val_dir"):
        if holdout:
            val = data_lib.load_benchmark(c["data_dir"], scale, only=holdout)
        else:
            val = data_lib.load_benchmark(c["val_dir"], scale)
        callbacks += [Validation(val, scale), SaveBest(model_dir)]
    callbacks.append(keras.callbacks.CSVLogger(os.path.join(model_dir, "log.csv"), append=True))
    if tensorflow:  # TensorBoard writes its logs with tf.summary
        log_dir = os.path.join(model_dir, "tensorboard")
        callbacks.append(keras.callbacks.TensorBoard(log_dir, update_freq="epoch"))
    backup = AtomicBackupAndRestore(backup_dir, save_freq=c.get("backup_every_steps") or "epoch")
    callbacks.append(backup)  # last: an epoch counts as done once validated and logged
    if done:  # a mid-epoch backup: first the steps its epoch had left, then the next epochs
        print(f"resuming epoch {epoch + 1} of {c['epochs']} after its step {done} of {steps}")
        backup.steps_before = done
        history = _fit(model, c, dataset, epoch + 1, steps - done, callbacks, epoch)
        epoch += 1
        if epoch < c["epochs"]:  # a new fit reads its input from the start: start it further on
            if isinstance(dataset, keras.utils.PyDataset):
                dataset.start_step = epoch * steps
            else:
                dataset = training_input(c, epoch * steps, exclude=holdout)
    if not done or epoch < c["epochs"]:
        history = _fit(model, c, dataset, c["epochs"], steps, callbacks, epoch)
    with atomic_output(os.path.join(model_dir, "final.weights.h5")) as tmp:
        model.save_weights(tmp)
    with atomic_output(os.path.join(model_dir, "final.json")) as tmp, open(tmp, "w") as f:
        json.dump({"epochs": c["epochs"], "iterations": _iterations(model)}, f)
    return history
