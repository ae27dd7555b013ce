"""Export MAFFSRN to TFLite, verified against the Keras model before anything is written.

Usage::

    # the shipped models: tflite/maffsrn_x{2,3,4}_{float16,int8}.tflite + tflite/REPORT.md
    maffsrn-export --scales 2,3,4 --quantizations float16,int8 --output_dir tflite

    # one model from other weights, fixed 256x256 tiles for GPU/NPU delegates
    maffsrn-export --scales 2 --weights runs/x2/best.weights.h5 --quantizations int8 \\
        --tile 256 --output_dir /tmp/out

Every export is run with ai-edge-litert on the validation datasets and compared with the
Keras float model (PSNR/SSIM by the MATLAB protocol, drop vs Keras), its file size and
latency (2 threads) measured; the report is written as REPORT.md and report.json.
"""

import json
import os
import sys

from absl import app, flags

from maffsrn_tf.export import DEFAULT_CALIBRATION_PERCENTILE
from maffsrn_tf.utils import shared_dir

_BENCH = os.path.join(shared_dir(), "data", "benchmark")
FLAGS = flags.FLAGS
flags.DEFINE_list("scales", ["2", "3", "4"], "Scales to export.")
flags.DEFINE_list("quantizations", ["float16", "int8"], "float32, float16, dynamic, int8, int16x8.")
flags.DEFINE_string("weights", "", "Keras weights (default: the shipped weights per scale).")
flags.DEFINE_string("output_dir", "tflite", "Where the .tflite files and the report go.")
flags.DEFINE_integer("tile", 0, "Fixed LR tile size (0: dynamic-shape model).")
flags.DEFINE_bool("uint8_io", False, "int8 models with uint8 pixel input/output (0..255).")
flags.DEFINE_list(
    "datasets",
    [os.path.join(_BENCH, "Set5"), os.path.join(_BENCH, "Set14")],
    "Validation folders of HR images.",
)
flags.DEFINE_string(
    "calibration_dir",
    os.path.join(shared_dir(), "data", "train", "SR291"),
    "HR images whose patches calibrate int8/int16x8.",
)
flags.DEFINE_integer("calibration_patches", 128, "Number of calibration patches.")
flags.DEFINE_integer("calibration_size", 64, "Calibration patch size (LR pixels).")
flags.DEFINE_float(
    "calibration_percentile",
    DEFAULT_CALIBRATION_PERCENTILE,
    "int8 activation ranges: this percentile of the per-patch extremes (100: plain min/max).",
)
flags.DEFINE_float("max_drop", 0.5, "Refuse to write a model losing more dB than this.")
flags.DEFINE_string("report", "REPORT", "Report base name ('' for none).")
flags.DEFINE_string("report_dir", "", "Where the report goes (default: --output_dir).")


def report_markdown(entries):
    lines = [
        "| model | quantization | size (KB) | Set5 PSNR / SSIM | drop vs Keras (dB) | "
        "Set14 PSNR / SSIM | drop vs Keras (dB) | latency (ms, 2 threads) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        cells = []
        for name in ("Set5", "Set14"):
            a = e["accuracy"].get(name)
            cells += (
                [f"{a['psnr']:.2f} / {a['ssim']:.4f}", f"{a['drop']:+.4f}"] if a else ["-", "-"]
            )
        h, w = e["latency_input"]
        lines.append(
            f"| {e['file']} | {e['quantization']} | {e['bytes'] / 1024:.0f} | "
            f"{cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | "
            f"{e['latency_s'] * 1000:.0f} ({h}x{w} LR) |"
        )
    return "\n".join(lines)


def io_markdown(entries):
    """The input/output contract of each exported file."""
    lines = [
        "| model | input (signature `lr`) | output (signature `sr`) | integer core I/O |",
        "|---|---|---|---|",
    ]
    for e in entries:
        io = e["io"]

        def cell(t):
            dims = [
                ("?", "H", "W", "?")[i] if v == -1 else str(v)
                for i, v in enumerate(t["shape_signature"])
            ]
            shape = "[" + ", ".join(dims) + "]"
            q = t.get("quantization")
            extra = f", scale {q['scale']:.9g}, zero point {q['zero_point']}" if q else ""
            return f"`{t['name']}` {t['dtype']} {shape}{extra}"

        core = "; ".join(cell(io[k]) for k in ("core_input", "core_output") if k in io) or "-"
        lines.append(f"| {e['file']} | {cell(io['input'])} | {cell(io['output'])} | {core} |")
    return "\n".join(lines)


def main(argv):
    del argv
    command = "maffsrn-export " + " ".join(sys.argv[1:])
    from maffsrn_tf.export import QUANTIZATIONS, export, representative_patches
    from maffsrn_tf.pretrained import load_model_for
    from maffsrn_tf.utils import atomic_output

    bad = [q for q in FLAGS.quantizations if q not in QUANTIZATIONS]
    if bad:
        print(f"error: unknown quantization {bad}; use {', '.join(QUANTIZATIONS)}", file=sys.stderr)
        return 1
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    entries = []
    rep = None
    if any(q in ("int8", "int16x8") for q in FLAGS.quantizations):
        rep = representative_patches(
            FLAGS.calibration_dir, FLAGS.calibration_patches, FLAGS.calibration_size
        )
    datasets = [d for d in FLAGS.datasets if os.path.isdir(d)]
    for scale in (int(s) for s in FLAGS.scales):
        model = load_model_for(scale, FLAGS.weights or None)
        for q in FLAGS.quantizations:
            suffix = f"_{FLAGS.tile}px" if FLAGS.tile else ""
            uint8_io = FLAGS.uint8_io and q == "int8"
            suffix += "_uint8io" if uint8_io else ""
            path = os.path.join(FLAGS.output_dir, f"maffsrn_x{scale}_{q}{suffix}.tflite")
            shape = (FLAGS.tile, FLAGS.tile) if FLAGS.tile else None
            try:
                entry = export(
                    model,
                    path,
                    q,
                    datasets,
                    shape,
                    rep,
                    FLAGS.max_drop,
                    uint8_io,
                    FLAGS.calibration_percentile,
                )
            except ValueError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
            entry["scale"] = scale
            entries.append(entry)
            acc = ", ".join(
                f"{k} {v['psnr']:.2f} dB (drop {v['drop']:+.4f})"
                for k, v in entry["accuracy"].items()
            )
            print(f"wrote {path}: {entry['bytes'] / 1024:.0f} KB, {acc}", flush=True)
    if FLAGS.report:
        base = os.path.join(FLAGS.report_dir or FLAGS.output_dir, FLAGS.report)
        import platform
        import time

        from maffsrn_tf.utils import cpu_name

        header = (
            f"# TFLite export report\n\nMade by `{command.strip()}` on "
            f"{time.strftime('%Y-%m-%d')} ({cpu_name()}, Python {platform.python_version()}). "
            "PSNR/SSIM by the MATLAB protocol; *drop* is Keras float PSNR minus TFLite PSNR "
            "on the same images (positive = the TFLite model is worse). Latency: median of 5 "
            "runs, ai-edge-litert, 2 threads.\n\n"
        )
        with atomic_output(base + ".md") as tmp, open(tmp, "w") as f:
            f.write(header + report_markdown(entries) + "\n\n## I/O contract\n\n")
            f.write(io_markdown(entries) + "\n")
        with atomic_output(base + ".json") as tmp, open(tmp, "w") as f:
            json.dump(entries, f, indent=2)
        print(report_markdown(entries))
    return 0


def cli():
    app.run(main)


if __name__ == "__main__":
    cli()
