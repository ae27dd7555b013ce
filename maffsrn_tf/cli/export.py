"""Export MAFFSRN to TFLite, verified against the Keras model before anything is written.

Usage::

    # the shipped models (maffsrn_tf/weights/maffsrn_x{2,3,4}_{float16,int8}.tflite) and
    # their report (tflite/REPORT.md)
    maffsrn-export --scales 2,3,4 --quantizations float16,int8 \\
        --output_dir maffsrn_tf/weights --report_dir tflite

    # one model from other weights, fixed 256x256 tiles for GPU/NPU delegates
    maffsrn-export --scales 2 --weights runs/x2/best.weights.h5 --quantizations int8 \\
        --tile 256 --output_dir /tmp/out

Every export is run with ai-edge-litert on the validation datasets and compared with the
Keras float model (PSNR/SSIM by the MATLAB protocol, drop vs Keras), its file size and
latency (2 threads) measured; the report is written as REPORT.md and REPORT.json. A model
is never written unverified unless ``--noverify`` is given.
"""

import os
import sys

from absl import flags

from maffsrn_tf.cli.common import fail, require_path, run, scales_list
from maffsrn_tf.presets import DEFAULT_CALIBRATION_PERCENTILE, QUANTIZATIONS
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
flags.DEFINE_bool("verify", True, "Verify each model on --datasets before writing it.")
flags.DEFINE_float("max_drop", 0.5, "Refuse to write a model losing more dB than this.")
flags.DEFINE_string("report", "REPORT", "Report base name ('' for none).")
flags.DEFINE_string("report_dir", "", "Where the report goes (default: --output_dir).")


def main(argv):
    del argv
    command = "maffsrn-export " + " ".join(sys.argv[1:])
    scales = scales_list(FLAGS.scales)
    bad = [q for q in FLAGS.quantizations if q not in QUANTIZATIONS]
    if bad:
        fail(f"unknown quantization {bad}; use {', '.join(QUANTIZATIONS)}")
    if FLAGS.weights:
        require_path(FLAGS.weights, "--weights", folder=False)
    datasets = FLAGS.datasets if FLAGS.verify else []
    if FLAGS.verify and not datasets:
        fail("--datasets is empty: pass validation folders, or --noverify to skip verification")
    for folder in datasets:
        require_path(folder, "validation folder (--datasets; --noverify skips verification)", True)
    needs_calibration = any(q in ("int8", "int16x8") for q in FLAGS.quantizations)
    if needs_calibration:
        require_path(FLAGS.calibration_dir, "--calibration_dir", folder=True)
    from maffsrn_tf.export import export, representative_patches
    from maffsrn_tf.export.report import report_markdown, write_report
    from maffsrn_tf.pretrained import load_model_for

    os.makedirs(FLAGS.output_dir, exist_ok=True)
    entries = []
    try:
        rep = None
        if needs_calibration:
            rep = representative_patches(
                FLAGS.calibration_dir, FLAGS.calibration_patches, FLAGS.calibration_size
            )
        for scale in scales:
            model = load_model_for(scale, FLAGS.weights or None)
            for q in FLAGS.quantizations:
                suffix = f"_{FLAGS.tile}px" if FLAGS.tile else ""
                uint8_io = FLAGS.uint8_io and q == "int8"
                suffix += "_uint8io" if uint8_io else ""
                path = os.path.join(FLAGS.output_dir, f"maffsrn_x{scale}_{q}{suffix}.tflite")
                shape = (FLAGS.tile, FLAGS.tile) if FLAGS.tile else None
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
                entry["scale"] = scale
                entries.append(entry)
                acc = ", ".join(
                    f"{k} {v['psnr']:.2f} dB (drop {v['drop']:+.4f})"
                    for k, v in entry["accuracy"].items()
                )
                print(f"wrote {path}: {entry['bytes'] / 1024:.0f} KB, {acc}", flush=True)
    except ValueError as err:
        fail(str(err))
    if FLAGS.report:
        base = os.path.join(FLAGS.report_dir or FLAGS.output_dir, FLAGS.report)
        write_report(base, entries, command)
        print(report_markdown(entries))
    return 0


def cli():
    run(main)


if __name__ == "__main__":
    cli()
