"""Which TFLite op types carry the int8 loss: each kept in float in turn, the rest int8.

    python benchmarks/int8_ops.py --scale 2 [--ops MUL,LOGISTIC] [--json out/int8_ops_x2.json]

The shipped export procedure (``maffsrn-export``'s calibration: 128 patches of 64 pixels
from SR291, percentile ranges), then ``mlir_quantize`` with one op type (or a group) on its
denylist, so it and only it runs in float between dequantize/quantize pairs. Each row is the
Set5 and Set14 PSNR drop against the Keras float model (``maffsrn_tf.export.verify``, whole
images) and the 128x128 latency (2 threads, median of 9) of the mixed model: how much of the
int8 loss an op type carries, and what keeping it in float would cost. A mixed model is not
full-integer; the study says where the error is, not what to ship.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from maffsrn_tf.export import convert, percentile_calibrated, representative_patches
from maffsrn_tf.export.graph import InferenceGraph
from maffsrn_tf.export.verify import op_names, verify
from maffsrn_tf.presets import DEFAULT_CALIBRATION_PERCENTILE
from maffsrn_tf.pretrained import load_model_for
from maffsrn_tf.utils import shared_dir

# op groups worth keeping in float together: the attention's arithmetic
GROUPS = {
    "attention (MUL, LOGISTIC)": ["MUL", "LOGISTIC"],
    "elementwise (MUL, ADD, SUB, LOGISTIC)": ["MUL", "ADD", "SUB", "LOGISTIC"],
}
NOT_QUANTIZED = {"QUANTIZE", "DEQUANTIZE", "SHAPE", "STRIDED_SLICE", "PACK", "CAST"}


def latency(path, runs=9):
    from maffsrn_tf.backends import TFLiteBackend

    backend = TFLiteBackend(path, num_threads=2)
    x = np.random.default_rng(0).random((1, 128, 128, 3)).astype(np.float32)
    backend(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--weights", default="", help="Keras weights (default: the shipped ones)")
    p.add_argument("--ops", default="", help="op types to try (default: every quantized one)")
    p.add_argument("--json", default="", help="also write the rows here")
    data = os.path.join(shared_dir(), "data")
    p.add_argument("--calibration_dir", default=os.path.join(data, "train", "SR291"))
    p.add_argument("--datasets", default=",".join(
        os.path.join(data, "benchmark", s) for s in ("Set5", "Set14")))  # fmt: skip
    a = p.parse_args()
    import tensorflow as tf
    from tensorflow.lite.python.convert import mlir_quantize

    model = load_model_for(a.scale, a.weights or None)
    datasets = a.datasets.split(",")
    patches = representative_patches(a.calibration_dir, 128, 64)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [InferenceGraph(model).concrete_function()], InferenceGraph(model)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    float_model = converter.convert()
    print(f"calibrating on {len(patches)} patches...", file=sys.stderr, flush=True)
    calibrated = percentile_calibrated(float_model, patches, DEFAULT_CALIBRATION_PERCENTILE)
    shipped = convert(model, "int8", representative_data=patches)
    ops = sorted(set(op_names(shipped)) - NOT_QUANTIZED)
    trials = {"none (the shipped int8 procedure)": None}
    chosen = a.ops.split(",") if a.ops else ops
    trials.update({op: [op] for op in chosen})
    if not a.ops:
        trials.update(GROUPS)
    print(f"int8 op types: {', '.join(ops)}", flush=True)
    print("| kept in float | Set5 drop (dB) | Set14 drop (dB) | 128×128 ms (2 thr) |")
    print("|---|---|---|---|", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, denied in trials.items():
            if denied is None:
                data_bytes = shipped
            else:
                data_bytes = mlir_quantize(calibrated, denylisted_ops=denied)
            path = os.path.join(tmp, "m.tflite")
            with open(path, "wb") as f:
                f.write(data_bytes)
            result = verify(model, path, datasets, a.scale, max_drop=10)
            drops = [result[os.path.basename(os.path.normpath(d))]["drop"] for d in datasets]
            ms = 1000 * latency(path)
            rows.append({"kept_in_float": label, "drops": drops, "ms_128": ms})
            shown = " | ".join(f"{d:+.4f}" for d in drops)
            print(f"| {label} | {shown} | {ms:.0f} |", flush=True)
    if a.json:
        os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
        with open(a.json, "w") as f:
            json.dump({"scale": a.scale, "datasets": datasets, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
