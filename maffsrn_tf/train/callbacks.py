"""The callbacks of a training run: validation by the MATLAB protocol, the best checkpoint,
and step timing."""

import json
import math
import os
import time

import keras
import numpy as np

from maffsrn_tf.imaging import metrics
from maffsrn_tf.io.atomic import atomic_output
from maffsrn_tf.train.keras_compat import current_learning_rate
from maffsrn_tf.train.optimizers import averaged_weights, ema_optimizer
from maffsrn_tf.upscaler.engines import KerasEngine
from maffsrn_tf.upscaler.tiling import predict_uint8


def iterations(model):
    """The optimizer's step count: the iterations the model has trained."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


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
        engine = KerasEngine(self.model, trace=False)
        psnrs, ssims = [], []
        for _, hr, lr in self.images:
            sr = predict_uint8(engine, lr)
            psnrs.append(metrics.psnr(hr, sr, self.scale))
            ssims.append(metrics.ssim(hr, sr, self.scale))
        return float(np.mean(psnrs)), float(np.mean(ssims))

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["val_psnr"], logs["val_ssim"] = self.evaluate()
        line = f"val_psnr {logs['val_psnr']:.3f} dB, val_ssim {logs['val_ssim']:.4f}"
        if ema_optimizer(self.model) is not None:  # what the average adds, measured each epoch
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
                    "iterations": iterations(self.model),
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
