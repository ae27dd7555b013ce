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
import sys

from int8_study import (
    add_flags,
    drops,
    float_tflite,
    print_header,
    print_row,
    tflite_file,
    write_rows,
)

from maffsrn_tf.export import convert, percentile_calibrated, representative_patches
from maffsrn_tf.export.verify import measure_latency, op_names
from maffsrn_tf.presets import DEFAULT_CALIBRATION_PERCENTILE
from maffsrn_tf.pretrained import load_model_for

# op groups worth keeping in float together: the attention's arithmetic
GROUPS = {
    "attention (MUL, LOGISTIC)": ["MUL", "LOGISTIC"],
    "elementwise (MUL, ADD, SUB, LOGISTIC)": ["MUL", "ADD", "SUB", "LOGISTIC"],
}
NOT_QUANTIZED = {"QUANTIZE", "DEQUANTIZE", "SHAPE", "STRIDED_SLICE", "PACK", "CAST"}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_flags(p)
    p.add_argument("--ops", default="", help="op types to try (default: every quantized one)")
    a = p.parse_args()
    from tensorflow.lite.python.convert import mlir_quantize

    model = load_model_for(a.scale, a.weights or None)
    datasets = a.datasets.split(",")
    patches = representative_patches(a.calibration_dir, 128, 64)
    print(f"calibrating on {len(patches)} patches...", file=sys.stderr, flush=True)
    calibrated = percentile_calibrated(float_tflite(model), patches, DEFAULT_CALIBRATION_PERCENTILE)
    shipped = convert(model, "int8", representative_data=patches)
    ops = sorted(set(op_names(shipped)) - NOT_QUANTIZED)
    trials = {"none (the shipped int8 procedure)": None}
    chosen = a.ops.split(",") if a.ops else ops
    trials.update({op: [op] for op in chosen})
    if not a.ops:
        trials.update(GROUPS)
    print(f"int8 op types: {', '.join(ops)}", flush=True)
    print_header("kept in float", datasets, "128×128 ms (2 thr)")
    rows = []
    for label, denied in trials.items():
        data = shipped if denied is None else mlir_quantize(calibrated, denylisted_ops=denied)
        with tflite_file(data) as path:
            row_drops = drops(model, path, datasets, a.scale)
            ms = 1000 * measure_latency(path, runs=9)[0]
        rows.append({"kept_in_float": label, "drops": row_drops, "ms_128": ms})
        print_row(label, row_drops, f"{ms:.0f}")
    write_rows(a.json, a.scale, datasets, rows)


if __name__ == "__main__":
    main()
