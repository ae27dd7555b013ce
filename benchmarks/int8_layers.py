"""Which tensors lose accuracy under int8: per-layer quantization error of a MAFFSRN.

    python benchmarks/int8_layers.py --scale 2 [--top 15] [--csv out/int8_layers.csv] [--ablate]

Runs TensorFlow Lite's QuantizationDebugger on the folded inference graph with the same
calibration patches as ``maffsrn-export`` and prints the tensors with the largest
RMSE / quantization-step ratio (a well-quantized tensor has about 0.29 = 1/sqrt(12): pure
rounding noise; much more means clipped ranges or outliers). With ``--ablate`` it also
keeps each quarter of the network (in tensor order) and the tail in float in turn and prints
the Set5 PSNR drop of each mixed model against the Keras model (plain min/max calibration):
where the int8 loss accumulates.
"""

import argparse
import csv
import os

import numpy as np
import tensorflow as tf

from maffsrn_tf.export import InferenceGraph, representative_patches
from maffsrn_tf.pretrained import load_model_for
from maffsrn_tf.utils import shared_dir


def debugger_for(model, patches, denylisted_nodes=None):
    """A QuantizationDebugger over the folded graph; ``denylisted_nodes`` stay in float."""
    graph = InferenceGraph(model)
    fn = graph.concrete_function()

    def gen():
        for p in patches:
            yield [np.asarray(p, np.float32)[None]]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], graph)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    if denylisted_nodes is None:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=gen)
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylisted_nodes)
    return tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=gen, debug_options=options
    )


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
    p.add_argument("--ablate", action="store_true")
    p.add_argument("--set5", default=os.path.join(shared_dir(), "data", "benchmark", "Set5"))
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
    if a.ablate:
        ablate(model, patches, rows, a.set5)


def ablate(model, patches, rows, set5):
    """Set5 drop with groups of tensors kept in float (QuantizationDebugger denylist)."""
    import tempfile

    from maffsrn_tf.export import verify

    names = [r["tensor_name"] for r in sorted(rows, key=lambda r: int(r["tensor_idx"]))]
    n = len(names)
    groups = {"none (all int8)": []}
    groups.update(
        {f"quarter {i + 1} in float": names[i * n // 4 : (i + 1) * n // 4] for i in range(4)}
    )
    groups["tail (last 6 tensors) in float"] = names[-6:]
    print("| kept in float | tensors | Set5 drop (dB) |")
    print("|---|---|---|")
    for label, nodes in groups.items():
        debugger = debugger_for(model, patches, nodes)
        data = debugger.get_nondebug_quantized_model()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.tflite")
            with open(path, "wb") as f:
                f.write(data)
            drop = verify(model, path, [set5], int(model.scale), max_drop=10)["Set5"]["drop"]
        print(f"| {label} | {len(nodes)} | {drop:+.4f} |", flush=True)


if __name__ == "__main__":
    main()
