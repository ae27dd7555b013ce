"""Which tensors lose accuracy under int8: per-layer quantization error of a MAFFSRN.

    python benchmarks/int8_layers.py --scale 2 [--top 15] [--csv out/int8_layers.csv]

Runs TensorFlow Lite's QuantizationDebugger on the folded inference graph with the same
calibration patches as ``maffsrn-export`` and prints the tensors with the largest
RMSE / quantization-step ratio (a well-quantized tensor has about 0.29 = 1/sqrt(12): pure
rounding noise; much more means clipped ranges or outliers), and the value ranges seen.
"""

import argparse
import csv
import os

import numpy as np
import tensorflow as tf

from maffsrn_tf.export import InferenceGraph, representative_patches
from maffsrn_tf.pretrained import load_model_for
from maffsrn_tf.utils import shared_dir


def debugger_for(model, patches):
    graph = InferenceGraph(model)
    fn = graph.concrete_function()

    def gen():
        for p in patches:
            yield [np.asarray(p, np.float32)[None]]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], graph)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=gen)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--weights", default="")
    p.add_argument(
        "--calibration_dir", default=os.path.join(shared_dir(), "data", "train", "SR291")
    )
    p.add_argument("--patches", type=int, default=32)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--csv", default="")
    a = p.parse_args()
    model = load_model_for(a.scale, a.weights or None)
    patches = representative_patches(a.calibration_dir, a.patches, a.size)
    debugger = debugger_for(model, patches)
    debugger.run()
    path = a.csv or os.path.join("out", f"int8_layers_x{a.scale}.csv")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        debugger.layer_statistics_dump(f)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["ratio"] = np.sqrt(float(r["mean_squared_error"])) / float(r["scale"])
    rows.sort(key=lambda r: -r["ratio"])
    print(f"{len(rows)} quantized tensors; worst {a.top} by RMSE / step (0.29 = rounding only):")
    print("| tensor | op | RMSE/step | step | max abs error |")
    print("|---|---|---|---|---|")
    for r in rows[: a.top]:
        print(
            f"| {r['tensor_name'][-60:]} | {r['op_name']} | {r['ratio']:.2f} | "
            f"{float(r['scale']):.4g} | {float(r['max_abs_error']):.4g} |"
        )
    print(f"full statistics: {path}")


if __name__ == "__main__":
    main()
