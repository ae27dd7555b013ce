"""Quantization-aware fine-tuning for int8: does training with int8 rounding close the drop?

    python benchmarks/int8_qat.py --scale 2 --steps 1500 --out runs/qat_x2   # fine-tune
    python benchmarks/int8_qat.py --scale 2 --out runs/qat_x2 --evaluate     # measure
    python benchmarks/int8_qat.py --scale 2 --simulate [--points conv]       # the simulation
    python benchmarks/int8_qat.py --scale 2 --steps 3000 --distill --equalize --out runs/kd_x2
    python benchmarks/int8_qat.py --scale 2 --out runs/kd_x2 --evaluate --equalize \
        --checkpoints step_1000 step_1500 --tile 128                          # select
    python benchmarks/int8_qat.py --scale 2 --out runs/kd_x2 --evaluate --equalize \
        --average step_1000 step_1500 step_2000                               # averaged

Starts from the shipped float weights and fine-tunes them on the SR291 training split (the
10-image holdout left out, as in the weights campaign) with int8 rounding simulated where
TFLite's int8 model rounds: every convolution's kernel per output channel (symmetric, 127
levels, straight-through gradient) and every convolution's output per tensor (asymmetric,
256 levels; ranges fixed from the float model on the export's calibration patches, by the
export's percentile rule); every activation, sigmoid (on TFLite's fixed 1/256 grid), product
and sum of the attention blocks and the fusion; the tail's output (one convolution in the
export) and the skip's, and their sum on the 8-bit output's grid. L1 loss, Adam, weights saved every
100 steps (a rerun resumes; a copy every 500). ``--distill``: the L1 target is the float
model's output instead of the HR patch (the fine-tuning closes the gap to the float model
that ships, instead of moving it); ``--equalize``: it starts from the export's
channel-equalized weights, so it rounds the tensors the export rounds. ``--evaluate``
exports checkpoints to int8 with ``maffsrn_tf.export.convert`` (the shipped procedure;
not equalized again after ``--equalize``) and prints the drops on the SR291 holdout (which
selects), Set5 and Set14 against the shipped float model, as rows for
tflite/QUANTIZATION.md.
"""

import argparse
import os
import time

import keras
import numpy as np
import tensorflow as tf

from maffsrn_tf import data as data_lib
from maffsrn_tf import patches as patches_lib
from maffsrn_tf.export import convert, representative_patches
from maffsrn_tf.export.equalize import copy_model, equalized
from maffsrn_tf.keras_compat import sublayers
from maffsrn_tf.presets import DEFAULT_CALIBRATION_PERCENTILE
from maffsrn_tf.pretrained import load_model_for
from maffsrn_tf.utils import shared_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


def _conv_layers(model):
    return [
        layer
        for layer in sublayers(model)
        if isinstance(layer, CONVS) or type(layer).__name__ == "WeightNormConv2D"
    ]


def _kernel(layer):
    return layer.effective_kernel() if hasattr(layer, "effective_kernel") else layer.kernel


def _fake_quant_kernel(kernel, depthwise):
    """Per-output-channel symmetric int8 rounding with a straight-through gradient."""
    axes = (0, 1, 3) if depthwise else (0, 1, 2)
    step = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=axes, keepdims=True), 1e-12) / 127.0
    rounded = tf.clip_by_value(tf.round(kernel / step), -127.0, 127.0) * step
    return kernel + tf.stop_gradient(rounded - kernel)


def _conv(layer, x, kernel):
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        y = keras.ops.depthwise_conv(
            x, kernel, layer.strides, layer.padding, dilation_rate=layer.dilation_rate
        )
    elif isinstance(layer, keras.layers.Conv2D):
        y = keras.ops.conv(
            x, kernel, layer.strides, layer.padding, dilation_rate=layer.dilation_rate
        )
    else:  # WeightNormConv2D: stride 1, "same"
        y = keras.ops.conv(x, kernel, 1, "same")
    return y + layer.bias


class Points:
    """The places the int8 model rounds, numbered in the order a forward pass meets them.

    ``mode`` ``record``: collect each point's min/max per call; ``qat``: fake-quantize each
    to 256 levels over its range (sigmoid outputs over TFLite's fixed [0, 255/256])."""

    def __init__(self):
        self.mode, self.count, self.record, self.ranges = "off", 0, {}, {}

    def __call__(self, t, fixed=None):
        key = self.count
        self.count += 1
        if self.mode == "record":
            lo, hi = float(tf.reduce_min(t)), float(tf.reduce_max(t))
            self.record.setdefault(key, []).append((lo, hi))
        elif self.mode == "qat":
            low, high = fixed or self.ranges[key]
            return tf.quantization.fake_quant_with_min_max_args(t, low, high, num_bits=8)
        return t

    def sigmoid(self, t):
        return self(keras.ops.sigmoid(t), fixed=(0.0, 255.0 / 256.0))


def instrument(model, points, conv_only=False):
    """Route the model's forward pass through ``points``: every conv (kernel rounded per
    output channel in ``qat`` mode, output a point) and every activation, product and sum of
    the attention blocks, the fusion and the output."""
    from maffsrn_tf import layers as L

    ops, q = keras.ops, points
    merged = (model.tail.tail_k3, model.tail.tail_k5)  # one conv in the export: its sum rounds
    for layer in _conv_layers(model):

        def call(x, layer=layer):
            kernel = _kernel(layer)
            if q.mode == "qat":
                depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
                kernel = _fake_quant_kernel(kernel, depthwise)
            y = _conv(layer, x, kernel)
            return y if layer in merged and not conv_only else q(y)

        layer.call = call

    forward = model.call

    def call(x, *args, **kwargs):
        q.count = 0  # every pass (and every trace) numbers the points from 0
        y = forward(x, *args, **kwargs)
        # the export's last sum is quantized on the 8-bit output's grid
        return y if conv_only else q(y, fixed=(0.0, 1.0))

    model.call = call
    if conv_only:
        return
    for part in (model.tail, model.upsample):  # the two operands of that sum

        def rounded(x, part=part):
            return q(type(part).call(part, x))

        part.call = rounded

    def esa(x, reduce_channels, reduce_spatial_size, convs, increase_channels, upsample):
        rc = reduce_channels(x)
        rs = reduce_spatial_size(ops.pad(rc, [[0, 0], [1, 1], [1, 1], [0, 0]]))
        pool = ops.max_pool(rs, 7, 3, padding="valid")
        branches = [q(ops.leaky_relu(conv(pool), L.LEAKY_SLOPE)) for conv in reversed(convs)]
        total = branches[0]
        for b in branches[1:]:
            total = q(total + b)
        up = upsample(total, rc)
        return q.sigmoid(q(ops.relu(increase_channels(q(up + rc)))))

    def cea(x, bottom11, bottom11_dw):
        return q.sigmoid(bottom11_dw(bottom11(x)))

    def mab(x, conv01, conv00, esa, cea):
        x = conv00(q(ops.leaky_relu(conv01(x), L.LEAKY_SLOPE)))
        y = q(esa(x) * x)
        return q(y * cea(x)) if cea is not None else y

    def ffg(x, blocks, reductions, res_scale, x_scale, fusion="m-bff"):
        b0, b1, b2, b3 = blocks
        x0 = b0(x)
        x1 = q(b1(x0) + x0)
        x2 = q(b2(x1) + x1)
        x3 = b3(x2)
        res = x0
        for reduction, other in zip(reductions, (x1, x2, x3)):
            res = reduction(ops.concatenate([res, other], axis=-1))
        return q(q(res_scale(res)) + q(x_scale(x)))

    L.DilatedESA._attend = staticmethod(esa)
    L.CEA._attend = staticmethod(cea)
    L.MAB._combine = staticmethod(mab)
    L.FFG._fuse = staticmethod(ffg)


def activation_ranges(scale, patches, percentile, conv_only=False, model=None):
    """Each point's range: the ``percentile`` of the per-patch extremes (the rule
    ``export.percentile_calibrated`` applies to every tensor), always including 0; of
    ``model`` (a copy is instrumented) or the shipped float model."""
    model = load_model_for(scale) if model is None else copy_model(model)
    points = Points()
    instrument(model, points, conv_only)
    points.mode = "record"
    for p in patches:
        model(np.asarray(p, np.float32)[None], training=False)
    ranges = {}
    for key, values in points.record.items():
        v = np.array(values)
        low = min(0.0, float(np.percentile(v[:, 0], 100 - percentile)))
        ranges[key] = (low, max(0.0, float(np.percentile(v[:, 1], percentile))))
    return ranges


class Checkpoint(keras.callbacks.Callback):
    """Weights every ``every`` steps to ``path`` (a rerun resumes), and a copy every
    ``keep`` steps beside it (``step_N.weights.h5``: checkpoints to select from)."""

    def __init__(self, path, every, keep=500):
        super().__init__()
        self.path, self.every, self.keep, self.step = path, every, keep, 0
        self.start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            tmp = self.path + ".tmp.weights.h5"
            self.model.save_weights(tmp)
            os.replace(tmp, self.path)
            done = self.done + self.step
            if done % self.keep == 0:
                self.model.save_weights(
                    os.path.join(os.path.dirname(self.path), f"step_{done}.weights.h5")
                )
            with open(self.path + ".step", "w") as f:
                f.write(str(done))
            rate = self.step / (time.time() - self.start)
            print(
                f"step {self.done + self.step}: loss {logs['loss']:.5f}, {rate:.2f} steps/s",
                flush=True,
            )


def holdout_names(a):
    """The SR291 images held out of training (``splits/sr291_val.txt``), as in the campaign."""
    return data_lib.read_holdout(os.path.join(ROOT, "splits", "sr291_val.txt"), a.calibration_dir)


def starting_model(a, calibration):
    """The shipped float model, channel-equalized as the export does it with ``--equalize``
    (the same float function; the fine-tuning then rounds the tensors the export rounds)."""
    model = load_model_for(a.scale)
    if a.equalize:
        model = equalized(model, calibration)
    return model


def finetune(a):
    os.makedirs(a.out, exist_ok=True)
    last = os.path.join(a.out, "last.weights.h5")
    done = int(open(last + ".step").read()) if os.path.exists(last + ".step") else 0
    calibration = representative_patches(a.calibration_dir, 128, 64)
    start = starting_model(a, calibration)
    points = Points()
    points.ranges = activation_ranges(
        a.scale, calibration, DEFAULT_CALIBRATION_PERCENTILE, model=start
    )
    model = copy_model(start)
    if done:
        model.load_weights(last)
    instrument(model, points)
    store = data_lib.training_store(
        "folder", a.calibration_dir, a.scale, 48, None, exclude=holdout_names(a)
    )
    dataset = patches_lib.patch_dataset(store, a.scale, 48, 16, seed=a.seed, start_step=done)
    if a.distill:
        # the target is the float model's output, not the HR patch: the fine-tuning then
        # closes the int8 model's gap to the float model that ships beside it. The map is
        # traced here, with the rounding points off (they are class-wide).
        teacher = copy_model(start)
        dataset = dataset.map(lambda lr, hr: (lr, teacher(lr, training=False)))
    points.mode = "qat"
    model.compile(
        optimizer=keras.optimizers.Adam(a.lr), loss="mean_absolute_error", jit_compile=False
    )
    callback = Checkpoint(last, 100)
    callback.done = done
    remaining = a.steps - done
    if remaining > 0:
        target = "the float model's output" if a.distill else "HR"
        print(f"fine-tuning x{a.scale} from step {done} to {a.steps} (L1 to {target})", flush=True)
        model.fit(dataset, epochs=1, steps_per_epoch=remaining, callbacks=[callback], verbose=0)


def simulate(a):
    """Set5 PSNR drop of the fake-quantized Keras model against the float one: how much of
    the int8 model's loss the simulated rounding points reproduce."""
    from maffsrn_tf import metrics
    from maffsrn_tf.backends import KerasBackend
    from maffsrn_tf.inference import predict_uint8

    items = data_lib.load_benchmark(
        os.path.join(shared_dir(), "data", "benchmark", "Set5"), a.scale
    )
    float_model = load_model_for(a.scale)
    base = [
        metrics.psnr(hr, predict_uint8(KerasBackend(float_model), lr), a.scale)
        for _, hr, lr in items
    ]
    conv_only = a.points == "conv"
    points = Points()
    calibration = representative_patches(a.calibration_dir, 128, 64)
    points.ranges = activation_ranges(
        a.scale, calibration, DEFAULT_CALIBRATION_PERCENTILE, conv_only
    )
    model = load_model_for(a.scale)
    instrument(model, points, conv_only)
    points.mode = "qat"
    drops = [
        b - metrics.psnr(hr, predict_uint8(KerasBackend(model, trace=False), lr), a.scale)
        for b, (_, hr, lr) in zip(base, items)
    ]
    each = ", ".join(f"{d:+.4f}" for d in drops)
    print(f"x{a.scale}, {len(points.ranges)} rounding points ({a.points}): simulated Set5 drop "
          f"{np.mean(drops):+.4f} dB (per image {each})")  # fmt: skip


def holdout_folder(a):
    """A folder of links to the SR291 holdout images (the campaign's selection set)."""
    folder = os.path.join(a.out, "holdout")
    os.makedirs(folder, exist_ok=True)
    for name in holdout_names(a):
        link = os.path.join(folder, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(os.path.abspath(a.calibration_dir), name), link)
    return folder


def averaged(a, names):
    """One model whose every weight is the mean over the checkpoints ``names`` (averaging
    the weights of a run's late checkpoints smooths the noise of its last steps)."""
    models = [load_model_for(a.scale, os.path.join(a.out, f"{n}.weights.h5")) for n in names]
    mean = [np.mean(ws, axis=0) for ws in zip(*(m.get_weights() for m in models))]
    models[0].set_weights(mean)
    return models[0]


def evaluate(a):
    """int8 drops (holdout, Set5, Set14) of the fine-tuned checkpoints against the shipped
    float model, next to the shipped procedure's int8 model."""
    from maffsrn_tf.export.verify import verify

    bench = os.path.join(shared_dir(), "data", "benchmark")
    sets = [holdout_folder(a)] + [os.path.join(bench, s) for s in ("Set5", "Set14")]
    names = [os.path.basename(s) for s in sets]
    calibration = representative_patches(a.calibration_dir, 128, 64)
    shipped = load_model_for(a.scale)
    models = []
    if not a.checkpoints:
        models.append(("shipped float weights", shipped, True))
    for name in a.checkpoints or ([] if a.average else ["last"]):
        path = os.path.join(a.out, f"{name}.weights.h5")
        steps = open(path + ".step").read().strip() if name == "last" else name.split("_")[-1]
        # fine-tuned from equalized weights: converting equalizes nothing more (a second
        # rescaling would move the kernels off the grid the fine-tuning adapted them to)
        models.append((f"QAT, {steps} steps", load_model_for(a.scale, path), not a.equalize))
    if a.average:
        models.append(
            (f"QAT, mean of {' '.join(a.average)}", averaged(a, a.average), not a.equalize)
        )
    print(f"| x{a.scale} int8 from | " + " | ".join(names) + " | (drop vs shipped float; "
          "in brackets, with --own: vs its own float) |")  # fmt: skip
    print("|---|" + "---|" * len(names))
    shapes = [None] + ([(a.tile, a.tile)] if a.tile else [])
    for (label, model, equalize), shape in [(m, s) for m in models for s in shapes]:
        tag = label.replace(" ", "_").replace(",", "") + (f"_{a.tile}px" if shape else "")
        path = os.path.join(a.out, f"x{a.scale}_{tag}_int8.tflite")
        with open(path, "wb") as f:
            f.write(convert(model, "int8", shape, calibration, equalize=equalize))
        vs_shipped = verify(shipped, path, sets, a.scale, max_drop=5.0)
        cells = [f"{vs_shipped[n]['drop']:+.4f}" for n in names]
        if a.own:
            own = verify(model, path, sets, a.scale, max_drop=5.0)
            cells = [f"{c} ({own[n]['drop']:+.4f})" for c, n in zip(cells, names)]
        model_label = label + (f", {a.tile}-px model" if shape else "")
        print(f"| {model_label} | " + " | ".join(cells) + " |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "qat_x2"))
    p.add_argument(
        "--calibration_dir", default=os.path.join(shared_dir(), "data", "train", "SR291")
    )
    p.add_argument("--evaluate", action="store_true")
    p.add_argument(
        "--checkpoints", nargs="*", default=[], help="with --evaluate: e.g. step_500 last"
    )
    p.add_argument(
        "--average", nargs="*", default=[], help="with --evaluate: the mean of these checkpoints"
    )
    p.add_argument("--tile", type=int, default=0, help="with --evaluate: also that fixed model")
    p.add_argument("--own", action="store_true", help="with --evaluate: also vs its own float")
    p.add_argument("--distill", action="store_true", help="L1 to the float model's output")
    p.add_argument("--equalize", action="store_true", help="fine-tune the equalized weights")
    p.add_argument("--simulate", action="store_true", help="print the simulated Set5 drop")
    p.add_argument("--points", choices=["all", "conv"], default="all")
    a = p.parse_args()
    if a.points == "conv" and not a.simulate:
        p.error("--points conv is for --simulate (the fine-tuning rounds at every point)")
    simulate(a) if a.simulate else evaluate(a) if a.evaluate else finetune(a)


if __name__ == "__main__":
    main()
