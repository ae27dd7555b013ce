"""Input pipeline vs training speed (batch 16, 48x48 LR patches, x2) on this machine.

    python benchmarks/pipeline.py [--data_dir ../shared/data/train/SR291] [--steps 100]

Prints, in one process: batches/second of the tf.data pipeline alone; training steps/second
of ``model.fit`` on one in-memory batch (the model's own speed); training steps/second of
``model.fit`` fed by the real pipeline; the fixed-batch rate again with the train step
XLA-compiled (``--jit_compile``), and with bfloat16 compute (Keras' ``mixed_bfloat16`` policy,
float32 weights), each as a ratio to the plain step. The pipeline is not the
bottleneck when it produces batches several times faster than the model consumes them and
feeding it costs the training loop at most a few percent.
"""

import argparse
import os
import time

import keras
import tensorflow as tf
from shared_data import shared_dir

from maffsrn_tf.data import patches
from maffsrn_tf.data import sources as data_lib
from maffsrn_tf.model.maffsrn import build_model
from maffsrn_tf.train.trainer import compile_model


def pipeline_rate(dataset, batches, warmup=10):
    it = iter(dataset)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches / (time.perf_counter() - start)


class _BatchClock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def fit_rate(model, dataset, steps, warmup=5):
    """Steps/s of one ``fit`` call, timed from the end of its ``warmup``-th step, so that
    tracing and the start-up of the dataset's iterator are left out."""
    clock = _BatchClock()
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[clock])
    return steps / (clock.ends[-1] - clock.ends[warmup - 1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data_dir", default=os.path.join(shared_dir(), "data", "train", "SR291"))
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--patch", type=int, default=48)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--pipeline_batches", type=int, default=300)
    p.add_argument("--jit_steps", type=int, default=20, help="XLA steps to time (0: skip)")
    p.add_argument("--bf16_steps", type=int, default=20, help="bfloat16 steps to time (0: skip)")
    a = p.parse_args()
    print(
        f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}, x{a.scale}, batch {a.batch_size}, "
        f"{a.patch}x{a.patch} LR patches"
    )

    store = data_lib.training_store("folder", a.data_dir, a.scale, a.patch)
    dataset = patches.patch_dataset(store, a.scale, a.patch, a.batch_size, seed=0)
    pipe = pipeline_rate(dataset, a.pipeline_batches)
    print(f"pipeline alone:          {pipe:8.2f} batches/s")

    model = build_model(f"maffsrn_x{a.scale}")
    compile_model(model)
    batch = next(iter(dataset))
    fixed = tf.data.Dataset.from_tensors(batch).repeat()
    model_rate = fit_rate(model, fixed, a.steps)
    print(f"training, fixed batch:   {model_rate:8.3f} steps/s  ({1 / model_rate:.3f} s/step)")
    real_rate = fit_rate(model, dataset, a.steps)
    print(f"training, real pipeline: {real_rate:8.3f} steps/s  ({1 / real_rate:.3f} s/step)")
    print(f"pipeline / model speed:  {pipe / model_rate:8.1f}x")
    if a.jit_steps:
        xla = compile_model(build_model(f"maffsrn_x{a.scale}"), jit_compile=True)
        xla_rate = fit_rate(xla, fixed, a.jit_steps)
        print(
            f"training, XLA (jit_compile), fixed batch: {xla_rate:8.3f} steps/s "
            f"({model_rate / xla_rate:.2f}x the plain step's time)"
        )
    if a.bf16_steps:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            bf16 = compile_model(build_model(f"maffsrn_x{a.scale}"))
        finally:
            keras.mixed_precision.set_global_policy("float32")
        bf16_rate = fit_rate(bf16, fixed, a.bf16_steps)
        print(
            f"training, bfloat16 compute, fixed batch: {bf16_rate:8.3f} steps/s "
            f"({model_rate / bf16_rate:.2f}x the plain step's time)"
        )
    print(
        f"pipeline cost in training: {100 * (1 - real_rate / model_rate):+.1f} % "
        f"(noise level: a few %)"
    )


if __name__ == "__main__":
    main()
