"""Export MAFFSRN to TFLite, verified against the Keras model before anything is written.

Usage::

    # the shipped set (make tflite): dynamic + fixed 128x128 tiles (+ uint8-I/O int8) for
    # GPU/NPU delegates into the package, the report into tflite/REPORT.md
    maffsrn-export --scales 2,3,4 --quantizations float16,int8 --tiles 0,128 --uint8_io \\
        --datasets data/Set5,data/Set14 --calibration_dir data/SR291 \\
        --output_dir maffsrn_tf/weights --report_dir tflite

    # a SavedModel for TF Serving and an ONNX model (pip install "maffsrn_tf[onnx]")
    maffsrn-export --formats saved_model,onnx --scales 2 --datasets data/Set5 --output_dir serving

    # one model from other weights
    maffsrn-export --scales 2 --weights runs/x2/best.weights.h5 --quantizations int8 \\
        --tiles 256 --datasets data/Set5 --calibration_dir data/SR291 --output_dir /tmp/out

``--formats`` picks the artifacts: ``tflite`` (the default; ``--quantizations`` and ``--tiles``
apply to it), ``saved_model`` (``maffsrn_x{s}_saved_model/``: PNG/JPEG bytes in and PNG out,
uint8 pixels in and out, at most ``--serving_max_megapixels`` input pixels per call or file;
docs/serving.md) and ``onnx`` (``maffsrn_x{s}.onnx``, dynamic size).
int8 models are made from a copy of the model with its channels equalized, calibrated on
``--calibration_patches`` patches of ``--calibration_dir`` (each tensor's range: the
``--calibration_percentile`` of its per-patch extremes); tflite/README.md says why.
Every TFLite export is run with ai-edge-litert on the validation datasets and compared with the
Keras float model (PSNR/SSIM by the MATLAB protocol, drop vs Keras), its file size and
latency (1 and 2 threads) measured; the report is written as REPORT.md and REPORT.json. A model
is never written unverified unless ``--noverify`` is given: a SavedModel must match the
Keras model's 8-bit output within one grey level, an ONNX model its float output within 1e-4.
"""

import importlib.util
import math
import os
import sys

from absl import flags

from maffsrn_tf.cli.common import (
    fail,
    flag_words,
    require_path,
    require_tensorflow,
    run,
    scales_list,
)
from maffsrn_tf.export.recipe import (
    ARTIFACTS,
    DEFAULT_CALIBRATION_PERCENTILE,
    DEFAULT_SERVING_MAX_PIXELS,
    MAX_SERVING_PIXELS,
    QUANTIZATIONS,
)
from maffsrn_tf.model.presets import MIN_INPUT_SIZE

FLAGS = flags.FLAGS
ONNX_INSTALL = 'pip install "maffsrn_tf[onnx]"'
flags.DEFINE_list("formats", ["tflite"], "Artifacts to write: tflite, saved_model, onnx.")
flags.DEFINE_list("scales", ["2", "3", "4"], "Scales to export.")
flags.DEFINE_list("quantizations", ["float16", "int8"], "float32, float16, dynamic, int8, int16x8.")
flags.DEFINE_string("weights", "", "Keras weights (default: the shipped weights per scale).")
flags.DEFINE_string("output_dir", "tflite", "Where the .tflite files and the report go.")
flags.DEFINE_list(
    "tiles", ["0"], "LR input sizes: 0 for the dynamic-shape model, N for a fixed NxN tile model."
)
flags.DEFINE_bool(
    "uint8_io",
    False,
    "Also write, per fixed tile, a full-integer int8 model with uint8 pixel I/O (0..255).",
)
flags.DEFINE_list(
    "datasets", [], "Validation folders of HR images, e.g. Set5,Set14 (required unless --noverify)."
)
flags.DEFINE_string(
    "calibration_dir", "", "HR images whose patches calibrate int8/int16x8 (e.g. the training set)."
)
flags.DEFINE_integer("calibration_patches", 128, "Number of calibration patches.")
flags.DEFINE_integer(
    "calibration_size", 64, "Calibration patch size (LR pixels; edge-padded to fixed tiles)."
)
flags.DEFINE_float(
    "calibration_percentile",
    DEFAULT_CALIBRATION_PERCENTILE,
    "int8 activation ranges: this percentile of the per-patch extremes (100: plain min/max).",
)
flags.DEFINE_bool(
    "int8_equalization",
    True,
    "int8: equalize the channels' ranges first (the same float function, a smaller drop).",
)
flags.DEFINE_float(
    "serving_max_megapixels",
    DEFAULT_SERVING_MAX_PIXELS / 1e6,
    "The SavedModel refuses a call (upscale_uint8) or a file (serving_default) over this many "
    "input megapixels, before decoding or running it (the default peaks at 3.4 GB; "
    "docs/serving.md).",
)
flags.register_validator(
    "serving_max_megapixels",
    lambda v: math.isfinite(v) and v > 0,
    message="--serving_max_megapixels must be a positive number",
)
flags.DEFINE_bool("verify", True, "Verify each model on --datasets before writing it.")
flags.DEFINE_float("max_drop", 0.5, "Refuse to write a model losing more dB than this.")
flags.DEFINE_string("report", "REPORT", "Report base name ('' for none).")
flags.DEFINE_string("report_dir", "", "Where the report goes (default: --output_dir).")
flags.DEFINE_bool(
    "merge_report", False, "Keep an existing report's rows for the files not exported now."
)


def check_formats(values):
    """The ``--formats`` list, each known and none twice."""
    unknown = [f for f in values if f not in ARTIFACTS]
    if unknown or not values:
        fail(f"--formats takes {', '.join(ARTIFACTS)} (comma-separated), got {','.join(values)}")
    return list(dict.fromkeys(values))


def check_outputs(scales, formats, tiles):
    """Fail before any work unless every file this run writes can be written: the output
    folder a folder (or one that can be made), and no planned model file a folder or a
    SavedModel folder a file."""
    from maffsrn_tf.export.recipe import release_variants, serving_path
    from maffsrn_tf.io.atomic import probe_writable
    from maffsrn_tf.model.shipped import tflite_name

    out = FLAGS.output_dir
    if not out:
        fail("--output_dir is empty: name a folder")
    if FLAGS.report and "tflite" in formats and FLAGS.report_dir:
        if not os.path.isdir(FLAGS.report_dir):
            fail(f"--report_dir {FLAGS.report_dir} is not a folder (it is not created)")
        for ext in (".md", ".json"):
            report = os.path.join(FLAGS.report_dir, FLAGS.report + ext)
            if os.path.isdir(report):
                fail(f"{report} is a folder where the report goes: move it away")
    if os.path.exists(out) and not os.path.isdir(out):
        fail(f"--output_dir {out} is a file, not a folder")
    parent = os.path.abspath(out)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        fail(f"--output_dir {out} cannot be made: {parent} is a file")
    try:
        probe_writable(parent)
    except OSError as err:
        fail(f"--output_dir {out}: {parent} is not writable ({err.strerror})")
    files = []
    for scale in scales:
        files += [serving_path(k, out, scale) for k in ("onnx",) if k in formats]
        if "tflite" in formats:
            variants = release_variants(FLAGS.quantizations, tiles, FLAGS.uint8_io)
            files += [os.path.join(out, tflite_name(scale, q, t, u)) for t, q, u in variants]
        if "saved_model" in formats:
            folder = serving_path("saved_model", out, scale)
            if os.path.exists(folder) and not os.path.isdir(folder):
                fail(f"{folder} is a file where the SavedModel folder goes: move it away")
    for path in files:
        if os.path.isdir(path):
            fail(f"{path} is a folder where the model file goes: move it away")


def print_serving(path, report):
    unit = "max_abs_diff_uint8" if path.endswith("_saved_model") else "max_abs_diff"
    checks = ", ".join(f"{k} max |diff| vs Keras {v[unit]:.3g}" for k, v in report.items())
    print(f"wrote {path}: {checks or 'not verified (--noverify)'}", flush=True)


def print_tflite(path, entry):
    acc = ", ".join(
        f"{k} {v['psnr']:.2f} dB (drop {v['drop']:+.4f})" for k, v in entry["accuracy"].items()
    )
    print(f"wrote {path}: {entry['bytes'] / 1024:.0f} KB, {acc}", flush=True)


def main(argv):
    del argv
    command = "maffsrn-export " + " ".join(sys.argv[1:])
    scales = scales_list(FLAGS.scales)
    formats = check_formats(FLAGS.formats)
    for name in ("quantizations", "tiles"):  # an empty list would export nothing
        if "tflite" in formats and not FLAGS[name].value:
            fail(f"--{name} is empty: name at least one (see --help)")
    bad = [q for q in FLAGS.quantizations if q not in QUANTIZATIONS]
    if bad:
        fail(f"unknown quantization {bad}; use {', '.join(QUANTIZATIONS)}")
    try:
        tiles = sorted({int(t) for t in FLAGS.tiles})
    except ValueError:
        fail(f"--tiles takes integers (0: dynamic), got {','.join(FLAGS.tiles)}")
    if any(0 < t < MIN_INPUT_SIZE for t in tiles) or any(t < 0 for t in tiles):
        fail(f"--tiles must be 0 or at least {MIN_INPUT_SIZE}, got {','.join(FLAGS.tiles)}")
    max_input_pixels = int(round(FLAGS.serving_max_megapixels * 1e6))
    if max_input_pixels < MIN_INPUT_SIZE**2 or max_input_pixels > MAX_SERVING_PIXELS:
        fail(
            f"--serving_max_megapixels must be from {MIN_INPUT_SIZE**2 / 1e6:g} (one "
            f"{MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} image) to {MAX_SERVING_PIXELS / 1e6:g}, "
            f"got {FLAGS.serving_max_megapixels:g}"
        )
    if FLAGS.weights:
        require_path(FLAGS.weights, "--weights", folder=False)
    datasets = FLAGS.datasets if FLAGS.verify else []
    if FLAGS.verify and not datasets:
        fail("--datasets is empty: pass validation folders, or --noverify to skip verification")
    for folder in datasets:
        require_path(folder, "validation folder (--datasets; --noverify skips verification)", True)
    tflite = "tflite" in formats
    needs_calibration = tflite and any(q in ("int8", "int16x8") for q in FLAGS.quantizations)
    if needs_calibration:
        require_path(FLAGS.calibration_dir, "--calibration_dir", folder=True)
    check_outputs(scales, formats, tiles)
    require_tensorflow("maffsrn-export", any_backend=False)
    if "onnx" in formats:
        missing = [m for m in ("tf2onnx", "onnx", "onnxruntime") if not importlib.util.find_spec(m)]
        if missing:
            fail(f"--formats onnx needs {', '.join(missing)}: {ONNX_INSTALL}")
    from maffsrn_tf.export import representative_patches
    from maffsrn_tf.export.recipe import export_serving, export_tflite_release
    from maffsrn_tf.export.report import report_markdown, write_report
    from maffsrn_tf.pretrained.loading import load_model_for

    entries = []
    try:
        patches = None
        if needs_calibration:  # the same patches for every tile (edge-padded to fixed tiles)
            patches = representative_patches(
                FLAGS.calibration_dir, FLAGS.calibration_patches, FLAGS.calibration_size
            )
        for scale in scales:
            model = load_model_for(scale, FLAGS.weights or None)
            os.makedirs(FLAGS.output_dir, exist_ok=True)  # once the weights are known good
            for kind in ("saved_model", "onnx"):
                if kind in formats:
                    path, report = export_serving(
                        kind, model, FLAGS.output_dir, datasets, max_input_pixels
                    )
                    print_serving(path, report)
            if tflite:
                entries += export_tflite_release(
                    model,
                    FLAGS.output_dir,
                    FLAGS.quantizations,
                    tiles,
                    FLAGS.uint8_io,
                    datasets,
                    patches,
                    FLAGS.max_drop,
                    FLAGS.calibration_percentile,
                    FLAGS.int8_equalization,
                    on_written=print_tflite,
                )
    except (ValueError, RuntimeError) as err:  # RuntimeError: TFLite's converter/calibrator
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        fail(flag_words(first, {"equalize": "int8_equalization"}))
    if FLAGS.report and tflite:
        base = os.path.join(FLAGS.report_dir or FLAGS.output_dir, FLAGS.report)
        entries = write_report(base, entries, command, FLAGS.merge_report)
        print(report_markdown(entries))
    return 0


def cli():
    run(main)


if __name__ == "__main__":
    cli()
