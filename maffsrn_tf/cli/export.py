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
``--calibration_percentile`` of its per-patch extremes); tflite/README.md says why. The
tensors of ``--calibration_wide_groups`` also cover the ``--calibration_wide_percentile`` of
``--calibration_graphics_patches`` graphics patches (the stress set at seeds 1 and 2), so
text and flat saturated colours are not clipped (issue #43; tflite/QUANTIZATION.md).
Every TFLite export is run with ai-edge-litert on the validation datasets and compared with the
Keras float model (PSNR/SSIM by the MATLAB protocol, drop vs Keras), its file size and
latency (1 and 2 threads) measured; the report is written as REPORT.md and REPORT.json, with
each dataset's worst image beside its mean. ``--stress_set`` adds the generated graphics
stress set (seed 0) to the validation datasets; ``--max_image_drop`` refuses a model that
loses more than that on any one image (``--max_drop``: on a dataset's mean). A model
is never written unverified unless ``--noverify`` is given: a SavedModel must match the
Keras model's 8-bit output within one grey level, an ONNX model its float output within 1e-4.

Before any work every planned output is checked: one that exists is refused unless
``--overwrite`` (``--merge_report`` updates an existing report in place), and none may lie
inside an input folder (``--datasets``, ``--calibration_dir``). A flag that does not apply to
this run (``--uint8_io`` without an int8 fixed-tile model, ``--calibration_dir`` without int8
or int16x8, ``--max_drop`` with ``--noverify``, a TFLite flag without ``--formats tflite``, ...)
and a value listed twice are refused.
"""

import importlib.util
import math
import os
import sys
import tempfile

from absl import flags

from maffsrn_tf.cli.common import (
    define_float,
    define_integer,
    fail,
    flag_words,
    require_path,
    require_tensorflow,
    run,
    scales_list,
    training_run_record,
)
from maffsrn_tf.errors import listed
from maffsrn_tf.export import recipe
from maffsrn_tf.export.recipe import (
    ARTIFACTS,
    DEFAULT_CALIBRATION_PERCENTILE,
    DEFAULT_EQUALIZE_WIDE,
    DEFAULT_MAX_IMAGE_DROP,
    DEFAULT_MAX_WIDENING,
    DEFAULT_SERVING_MAX_PIXELS,
    DEFAULT_WIDE_GROUPS,
    DEFAULT_WIDE_PATCHES,
    DEFAULT_WIDE_PERCENTILE,
    MAX_SERVING_PIXELS,
    QUANTIZATIONS,
)
from maffsrn_tf.io.atomic import NAME_MAX, OutputExists
from maffsrn_tf.io.paths import made_folders
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
define_integer("calibration_patches", 128, "Number of calibration patches.")
define_integer(
    "calibration_size", 64, "Calibration patch size (LR pixels; edge-padded to fixed tiles)."
)
define_float(
    "calibration_percentile",
    DEFAULT_CALIBRATION_PERCENTILE,
    "int8 activation ranges: this percentile of the per-patch extremes (100: plain min/max).",
)
define_integer(
    "calibration_graphics_patches",
    DEFAULT_WIDE_PATCHES,
    "int8: graphics patches (the stress set at seeds 1 and 2, half of them halved) whose "
    "ranges the --calibration_wide_groups tensors also cover (issue #43); 0: none.",
)
flags.DEFINE_list(
    "calibration_wide_groups",
    list(DEFAULT_WIDE_GROUPS),
    "int8: tensor groups widened for graphics: regions esa, cea, body, or region/OP "
    "(e.g. body/CONV_2D), or all; empty: none.",
)
define_float(
    "calibration_wide_percentile",
    DEFAULT_WIDE_PERCENTILE,
    "int8: the widened groups cover this percentile of the graphics patches' extremes.",
)
define_float(
    "calibration_max_widening",
    DEFAULT_MAX_WIDENING or 0.0,
    "int8: a widened range is at most this many times its natural width (1 or more; 0: it "
    "covers the graphics patches' range whole).",
)
flags.DEFINE_bool(
    "int8_equalization",
    True,
    "int8: equalize the channels' ranges first (the same float function, a smaller drop).",
)
flags.DEFINE_bool(
    "int8_equalization_graphics",
    DEFAULT_EQUALIZE_WIDE,
    "int8: the equalization's channel ranges also cover the graphics patches' "
    "(--calibration_graphics_patches), so no channel is scaled up past what graphics reach.",
)
define_float(
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
define_float(
    "max_drop", 0.5, "Refuse to write a model losing more dB than this on a dataset's mean."
)
define_float(
    "max_image_drop",
    DEFAULT_MAX_IMAGE_DROP,
    "Refuse to write a model losing more dB than this on any one validation image.",
)
flags.DEFINE_bool(
    "stress_set",
    False,
    "Also verify on the generated graphics stress set (seed 0; the report's 'stress' "
    "columns): text on saturated and dark backgrounds, flat shapes, line art, a chart, a UI.",
)
flags.DEFINE_string(
    "report",
    "REPORT",
    "Report file name without extension (NAME.md, NAME.json; no folder: that is --report_dir; "
    "'' for none).",
)
flags.DEFINE_string("report_dir", "", "Where the report goes (default: --output_dir).")
flags.DEFINE_bool(
    "merge_report",
    False,
    "Keep an existing report's rows for the files not exported now (the report is updated in "
    "place: it needs no --overwrite).",
)
flags.DEFINE_bool(
    "overwrite",
    False,
    "Replace outputs that exist (models, SavedModel folders, the report); without it an "
    "existing one is refused before any work.",
)

REPORT_FLAGS = ("report_dir", "merge_report")
CALIBRATION_FLAGS = ("calibration_dir", "calibration_patches", "calibration_size")
INT8_FLAGS = (
    "calibration_percentile",
    "int8_equalization",
    "int8_equalization_graphics",
    "calibration_graphics_patches",
    "calibration_wide_groups",
    "calibration_wide_percentile",
    "calibration_max_widening",
)
# flags that only a TFLite export reads; a given one is refused when no TFLite model is made
# the largest fixed tile: 4096^2 pixels x 32 channels x 4 bytes is 2 GiB, a feature map
MAX_TILE = 4096
TFLITE_FLAGS = ("quantizations", "tiles", "uint8_io", *CALIBRATION_FLAGS, *INT8_FLAGS,
                "max_drop", "max_image_drop", "stress_set", *REPORT_FLAGS)  # fmt: skip


def given(name):
    """Whether ``--name`` is on the command line (not its default)."""
    return bool(FLAGS[name].present)


def check_once(name, values, key=None):
    """Fail if ``--name`` lists a value twice (``key``: what makes two values the same)."""
    seen = {}
    for value in values:
        k = key(value) if key else value
        if k in seen:
            same = "" if seen[k] == value else f" ({seen[k]} and {value})"
            fail(f"--{name} lists {value} twice{same}: name each once")
        seen[k] = value


def check_formats(values):
    """The ``--formats`` list, each known and none twice."""
    unknown = [f for f in values if f not in ARTIFACTS]
    if unknown or not values:
        fail(f"--formats takes {', '.join(ARTIFACTS)} (comma-separated), got {','.join(values)}")
    check_once("formats", values)
    return list(values)


def check_report_name(name):
    """``--report``: a plain file name (its folder is ``--report_dir``)."""
    separators = {"/", os.sep, os.altsep} - {None}
    if name and not name.strip():
        fail(f"--report {name!r} is blank: name the report, or pass --report '' for none")
    stem, ext = os.path.splitext(name)
    if ext.lower() in (".md", ".json") and stem:
        fail(
            f"--report {name}: name it without {ext} (--report {stem} writes {stem}.md and "
            f"{stem}.json)"
        )
    if name in (".", "..") or any(sep in name for sep in separators):
        fail(
            f"--report {name} must be a plain file name (no folder, no '..'): name the "
            "report's folder with --report_dir"
        )
    if len(os.fsencode(name + ".json")) > NAME_MAX:
        fail(f"--report is too long for a file name ({NAME_MAX} bytes with .json): shorten it")


def check_datasets(datasets):
    """No validation folder twice, and no two with the same name (the report's column)."""
    from maffsrn_tf.export.recipe import dataset_name

    check_once("datasets", datasets, os.path.realpath)
    named = {}
    for folder in datasets:
        other = named.setdefault(dataset_name(folder), folder)
        if other != folder:
            fail(
                f"--datasets {other} and {folder} have the same name {dataset_name(folder)} "
                "(the report's column): rename or copy one"
            )


def check_applies(formats, tiles):
    """Refuse a flag given on the command line that this run would not read."""
    shown, quantizations = ",".join(formats), ",".join(FLAGS.quantizations)
    reasons = {}  # flag: (why it does not apply, what else to do), for each flag not read
    if "tflite" not in formats:
        why = (f"it is for TFLite models, and --formats {shown} makes none", "add tflite")
        reasons.update({name: why for name in TFLITE_FLAGS})
        if FLAGS.report:  # --report '' (no report) is always taken
            reasons["report"] = why
    else:
        if not any(q in ("int8", "int16x8") for q in FLAGS.quantizations):
            why = (
                f"only int8 and int16x8 models are calibrated, and --quantizations "
                f"{quantizations} has neither",
                "add int8 or int16x8 to --quantizations",
            )
            reasons.update({name: why for name in CALIBRATION_FLAGS})
        if not FLAGS.int8_equalization:
            reasons["int8_equalization_graphics"] = ("--noint8_equalization equalizes nothing", "")
        if not FLAGS.calibration_graphics_patches:
            why = ("--calibration_graphics_patches 0 makes no graphics patches", "")
            for name in ("int8_equalization_graphics", "calibration_wide_groups",
                         "calibration_wide_percentile", "calibration_max_widening"):  # fmt: skip
                reasons[name] = why
        if "int8" not in FLAGS.quantizations:
            why = (
                f"it is for int8 models, and --quantizations {quantizations} has none",
                "add int8 to --quantizations",
            )
            reasons.update({name: why for name in INT8_FLAGS + ("uint8_io",)})
        elif not any(tiles):
            reasons["uint8_io"] = (
                "it adds fixed-tile models, and --tiles 0 is the dynamic one only",
                "add a tile, e.g. --tiles 0,128",
            )
        if not FLAGS.verify:
            for name in ("max_drop", "max_image_drop", "stress_set"):
                reasons[name] = ("--noverify verifies no model", "")
        if not FLAGS.report:
            reasons.update({name: ("--report '' writes no report", "") for name in REPORT_FLAGS})
    if "saved_model" not in formats:
        reasons["serving_max_megapixels"] = (
            f"it is the SavedModel's limit, and --formats {shown} makes none",
            "add saved_model",
        )
    if not FLAGS.verify:
        reasons["datasets"] = ("--noverify verifies nothing on them", "")
    for name, (why, instead) in reasons.items():
        if given(name):
            fail(
                f"--{name} does not apply: {why}; leave it out"
                + (f" (or {instead})" if instead else "")
            )


def check_numbers():
    """The calibration's and the verification's numbers, before any model is written."""
    if not math.isfinite(FLAGS.max_drop) or FLAGS.max_drop < 0:
        fail(f"--max_drop must be a finite number of dB, 0 or more; got {FLAGS.max_drop:g}")
    if FLAGS.calibration_patches < 1:
        fail(f"--calibration_patches must be 1 or more, got {FLAGS.calibration_patches}")
    if FLAGS.calibration_size < MIN_INPUT_SIZE:
        fail(
            f"--calibration_size must be at least {MIN_INPUT_SIZE} (the model's smallest "
            f"input), got {FLAGS.calibration_size}"
        )
    if not math.isfinite(FLAGS.max_image_drop) or FLAGS.max_image_drop < 0:
        fail(
            f"--max_image_drop must be a finite number of dB, 0 or more; got "
            f"{FLAGS.max_image_drop:g}"
        )
    if not 0 < FLAGS.calibration_percentile <= 100:
        fail(f"--calibration_percentile must be in (0, 100], got {FLAGS.calibration_percentile:g}")
    if not 0 < FLAGS.calibration_wide_percentile <= 100:
        fail(
            "--calibration_wide_percentile must be in (0, 100], got "
            f"{FLAGS.calibration_wide_percentile:g}"
        )
    if FLAGS.calibration_graphics_patches < 0:
        fail(
            "--calibration_graphics_patches must be 0 or more, got "
            f"{FLAGS.calibration_graphics_patches}"
        )
    widening = FLAGS.calibration_max_widening
    if not math.isfinite(widening) or (widening != 0 and widening < 1):
        fail(f"--calibration_max_widening must be 0 (no cap) or 1 or more, got {widening:g}")
    check_wide_groups(FLAGS.calibration_wide_groups)


def check_wide_groups(groups):
    """``--calibration_wide_groups``: each a region (``esa``, ``cea``, ``body``), a region and
    an op (``body/CONV_2D``), or ``all``; none twice."""
    from maffsrn_tf.export.recipe import WIDE_REGIONS

    for group in groups:
        region, _, op = group.partition("/")
        if not (group == "all" or region in WIDE_REGIONS and (not op or op.isupper())):
            fail(
                f"--calibration_wide_groups takes all, {', '.join(WIDE_REGIONS)} or REGION/OP "
                f"(e.g. body/CONV_2D), got {group}"
            )
    check_once("calibration_wide_groups", groups)


def _inside(path, folder):
    real, other = os.path.realpath(path), os.path.realpath(folder)
    return real == other or real.startswith(other.rstrip(os.sep) + os.sep)


def planned_outputs(scales, formats, tiles):
    """``[(path, is_folder)]``: every file and folder this run writes, the report last."""
    from maffsrn_tf.export.recipe import release_variants, serving_path
    from maffsrn_tf.model.shipped import tflite_name

    out, planned = FLAGS.output_dir, []
    for scale in scales:
        if "saved_model" in formats:
            planned.append((serving_path("saved_model", out, scale), True))
        if "onnx" in formats:
            planned.append((serving_path("onnx", out, scale), False))
        if "tflite" in formats:
            variants = release_variants(FLAGS.quantizations, tiles, FLAGS.uint8_io)
            names = [tflite_name(scale, q, t, u) for t, q, u in variants]
            planned += [(os.path.join(out, name), False) for name in names]
    if FLAGS.report and "tflite" in formats:
        base = os.path.join(FLAGS.report_dir or out, FLAGS.report)
        planned += [(base + ".md", False), (base + ".json", False)]
    return planned


def _a_report(path):
    """Whether the Markdown file at ``path`` starts as ``write_report`` writes one."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(64).startswith("# TFLite export report")
    except (OSError, UnicodeDecodeError):
        return False


def check_outputs(scales, formats, tiles, inputs=()):
    """Fail before any work unless every output this run writes can be written: the output
    folder a folder (or one that can be made) inside none of the ``inputs`` (``[(flag,
    folder)]``), no planned model file a folder or a SavedModel folder a file, and none
    that exists unless ``--overwrite`` (the report: or ``--merge_report``)."""
    from maffsrn_tf.io.atomic import probe_writable

    out = FLAGS.output_dir
    if not out:
        fail("--output_dir is empty: name a folder")
    reporting = bool(FLAGS.report and "tflite" in formats)
    same = FLAGS.report_dir and os.path.abspath(FLAGS.report_dir) == os.path.abspath(out)
    if reporting and FLAGS.report_dir and not same and not os.path.isdir(FLAGS.report_dir):
        fail(  # the output folder is made; another report folder is not
            f"--report_dir {FLAGS.report_dir} is not a folder (it is not created unless it "
            "is --output_dir)"
        )
    folders = [("--output_dir", out)]
    if reporting and FLAGS.report_dir:
        folders.append(("--report_dir", FLAGS.report_dir))
    for flag, folder in folders:
        for what, given_folder in inputs:
            if _inside(folder, given_folder):
                fail(
                    f"{flag} {folder} is (or lies inside) the input {what} {given_folder}: "
                    "write it elsewhere"
                )
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
    planned = planned_outputs(scales, formats, tiles)
    reports = {p for p, _ in planned[-2:]} if reporting else set()
    for path, _ in planned:  # an output replaced whole: never one holding an input
        for what, given in inputs:
            if given and (_inside(given, path) or _inside(path, given)):
                fail(
                    f"{path} would be replaced, and the input {what} {given} is (or lies in) "
                    "it: write the outputs elsewhere, even with --overwrite"
                )
    for path, _ in planned:  # a training run's records (its report named flags, best)
        run = training_run_record(path)
        if run:
            fail(
                f"{path} is a record of the training run in {run}: it is never "
                "replaced, even with --overwrite; name another --report or --output_dir"
            )
    for path, is_folder in planned:
        if is_folder and os.path.exists(path) and not os.path.isdir(path):
            fail(f"{path} is a file where the SavedModel folder goes: move it away")
        if is_folder and os.path.isdir(path) and os.listdir(path):
            if not os.path.isfile(os.path.join(path, "saved_model.pb")):  # someone's folder
                fail(
                    f"{path} is a folder that is not a SavedModel (no saved_model.pb): it is "
                    "never replaced, even with --overwrite; move it away, or write elsewhere"
                )
        if not is_folder and os.path.isdir(path):
            what = "the report" if path in reports else "the model file"
            fail(f"{path} is a folder where {what} goes: move it away")
    if reporting and FLAGS.merge_report:  # merged into: an earlier report, both files
        js, md = sorted(reports)  # NAME.json, NAME.md
        if os.path.lexists(md) and not os.path.lexists(js) and not FLAGS.overwrite:
            fail(
                f"--merge_report: {md} exists without {os.path.basename(js)} beside it, so it "
                "is no earlier report: pass --overwrite to replace it, or write elsewhere"
            )
        if os.path.isfile(md) and not FLAGS.overwrite and not _a_report(md):
            fail(
                f"--merge_report: {md} is not an export report (it does not start as one): "
                "pass --overwrite to replace it, or write elsewhere"
            )
    kept = reports if FLAGS.merge_report else set()
    existing = [p for p, _ in planned if p not in kept and os.path.lexists(p)]
    if existing and not FLAGS.overwrite:
        more = f" (and {len(existing) - 1} more of this run's outputs)" if existing[1:] else ""
        them = "them" if more else "it"
        fail(f"{existing[0]} exists{more}: pass --overwrite to replace {them}, or write elsewhere")
    if reporting and FLAGS.merge_report:
        from maffsrn_tf.export.report import read_rows

        json_path = os.path.join(FLAGS.report_dir or out, FLAGS.report + ".json")
        try:
            read_rows(json_path)
        except ValueError as err:
            fail(f"--merge_report: {err}: move it away, or leave out --merge_report")


def print_serving(path, report):
    unit = "max_abs_diff_uint8" if path.endswith("_saved_model") else "max_abs_diff"
    checks = ", ".join(f"{k} max |diff| vs Keras {v[unit]:.3g}" for k, v in report.items())
    print(f"wrote {path}: {checks or 'not verified (--noverify)'}", flush=True)


def print_tflite(path, entry):
    acc = ", ".join(
        f"{k} {v['psnr']:.2f} dB (drop {v['drop']:+.4f})" for k, v in entry["accuracy"].items()
    )
    acc = acc or "not verified (--noverify)"
    print(f"wrote {path}: {entry['bytes'] / 1024:.0f} KB, {acc}", flush=True)


def main(argv):
    del argv
    command = "maffsrn-export " + " ".join(sys.argv[1:])
    scales = scales_list(FLAGS.scales)
    check_once("scales", FLAGS.scales, int)
    formats = check_formats(FLAGS.formats)
    for name in ("quantizations", "tiles"):  # an empty list would export nothing
        if "tflite" in formats and not FLAGS[name].value:
            fail(f"--{name} is empty: name at least one (see --help)")
    if "" in FLAGS.quantizations:  # ",float32", "float16,,int8": a comma too many
        fail(f"--quantizations has an empty item in {','.join(FLAGS.quantizations)!r}: "
             "leave out the extra comma")  # fmt: skip
    bad = [q for q in FLAGS.quantizations if q not in QUANTIZATIONS]
    if bad:
        fail(f"unknown quantization {listed(map(repr, bad))}; use {', '.join(QUANTIZATIONS)}")
    check_once("quantizations", FLAGS.quantizations)
    try:
        tiles = sorted({int(t) for t in FLAGS.tiles})
    except ValueError:
        fail(f"--tiles takes integers (0: dynamic), got {','.join(FLAGS.tiles)}")
    if any(0 < t < MIN_INPUT_SIZE for t in tiles) or any(t < 0 for t in tiles):
        fail(f"--tiles must be 0 or at least {MIN_INPUT_SIZE}, got {','.join(FLAGS.tiles)}")
    if any(t > MAX_TILE for t in tiles):  # failed in XNNPACK after the conversion's work
        fail(
            f"--tiles {max(tiles)} is above {MAX_TILE}: a fixed tile's float32 feature maps "
            f"({MAX_TILE}x{MAX_TILE}x32) already fill 2 GiB each; the dynamic model (0) takes "
            "any size"
        )
    check_once("tiles", FLAGS.tiles, int)
    check_applies(formats, tiles)
    if FLAGS.report and "tflite" in formats:
        check_report_name(FLAGS.report)
    check_numbers()
    max_input_pixels = int(round(FLAGS.serving_max_megapixels * 1e6))
    if max_input_pixels < MIN_INPUT_SIZE**2 or max_input_pixels > MAX_SERVING_PIXELS:
        fail(
            f"--serving_max_megapixels must be from {MIN_INPUT_SIZE**2 / 1e6:g} (one "
            f"{MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} image) to {MAX_SERVING_PIXELS / 1e6:g}, "
            f"got {FLAGS.serving_max_megapixels:g}"
        )
    if FLAGS.weights:
        require_path(FLAGS.weights, "--weights", folder=False)
        if len(scales) > 1:
            fail(
                f"--weights {FLAGS.weights} is one model's, and --scales "
                f"{','.join(FLAGS.scales)} names several: pass its scale alone (e.g. --scales 2)"
            )
    datasets = FLAGS.datasets if FLAGS.verify else []
    if FLAGS.verify and not datasets:
        fail("--datasets is empty: pass validation folders, or --noverify to skip verification")
    for folder in datasets:
        require_path(folder, "validation folder (--datasets; --noverify skips verification)", True)
    check_datasets(datasets)
    if FLAGS.stress_set and recipe.STRESS_SET in {recipe.dataset_name(d) for d in datasets}:
        fail("--datasets has a folder named stress, the name of --stress_set's columns: rename it")
    inputs = [("--datasets", folder) for folder in datasets]
    if FLAGS.weights:
        inputs.append(("--weights", FLAGS.weights))
    tflite = "tflite" in formats
    needs_calibration = tflite and any(q in ("int8", "int16x8") for q in FLAGS.quantizations)
    if needs_calibration:
        if not FLAGS.calibration_dir:
            quantized = [q for q in FLAGS.quantizations if q in ("int8", "int16x8")]
            fail(
                f"--calibration_dir is required: {' and '.join(quantized)} models are "
                "calibrated on HR images (e.g. the training set); pass --calibration_dir DIR, "
                f"or leave {' and '.join(quantized)} out of --quantizations"
            )
        require_path(FLAGS.calibration_dir, "--calibration_dir", folder=True)
        inputs.append(("--calibration_dir", FLAGS.calibration_dir))
    check_outputs(scales, formats, tiles, inputs)
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
    stress_dir = None
    with made_folders(FLAGS.output_dir):  # a run that wrote nothing leaves no folder
        try:
            patches = wide = None
            if needs_calibration:  # the same patches for every tile (edge-padded to fixed tiles)
                patches = representative_patches(
                    FLAGS.calibration_dir, FLAGS.calibration_patches, FLAGS.calibration_size
                )
                if "int8" in FLAGS.quantizations:
                    count = FLAGS.calibration_graphics_patches
                    wide = graphics_patches(count, FLAGS.calibration_size)
            if FLAGS.stress_set and datasets:
                stress_dir = tempfile.TemporaryDirectory(prefix="maffsrn_export_")
                datasets = [*datasets, stress_folder(stress_dir.name)]
            for scale in scales:
                model = load_model_for(scale, FLAGS.weights or None)
                os.makedirs(FLAGS.output_dir, exist_ok=True)  # once the weights are known good
                for kind in ("saved_model", "onnx"):
                    if kind in formats:
                        out, limit = FLAGS.output_dir, max_input_pixels
                        path, report = export_serving(
                            kind, model, out, datasets, limit, FLAGS.overwrite
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
                        overwrite=FLAGS.overwrite,
                        wide_data=wide,
                        wide_groups=tuple(FLAGS.calibration_wide_groups),
                        wide_percentile=FLAGS.calibration_wide_percentile,
                        max_image_drop=FLAGS.max_image_drop,
                        max_widening=FLAGS.calibration_max_widening or None,
                        equalize_wide=FLAGS.int8_equalization_graphics,
                    )
            if FLAGS.report and tflite:
                base = os.path.join(FLAGS.report_dir or FLAGS.output_dir, FLAGS.report)
                overwrite = FLAGS.overwrite or FLAGS.merge_report
                entries = write_report(
                    base, entries, command, FLAGS.merge_report, overwrite, FLAGS.output_dir
                )
                print(report_markdown(entries))
        except OutputExists as err:  # made by someone else since the check before any work
            fail(f"{err}, made while this run worked: not replaced (pass --overwrite to "
                 "replace it)")  # fmt: skip
        except (ValueError, RuntimeError) as err:  # RuntimeError: TFLite's converter/calibrator
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            fail(flag_words(first, {"equalize": "int8_equalization", "scale": "scales"}))
        finally:
            if stress_dir is not None:
                stress_dir.cleanup()
    return 0


def graphics_patches(count, size):
    """``count`` graphics calibration patches of ``size`` pixels (``[]`` for 0): the stress
    set at its calibration seeds (never the evaluation seed), half of them halved."""
    if not count:
        return []
    from maffsrn_tf.evaluation.stress import CALIBRATION_SEEDS, stress_images
    from maffsrn_tf.export.calibrate import image_patches

    images = [image for seed in CALIBRATION_SEEDS for _, image in stress_images(seed=seed)]
    return image_patches(images, count, size)


def stress_folder(parent):
    """The stress set (seed 0) written into ``parent``/stress: a validation folder whose
    report columns are named ``stress``."""
    from maffsrn_tf.evaluation.stress import EVALUATION_SEED, write_stress_set

    folder = os.path.join(parent, recipe.STRESS_SET)
    write_stress_set(folder, seed=EVALUATION_SEED)
    return folder


def cli():
    run(main, empty=("report", "output_dir"))  # --report '': no report


if __name__ == "__main__":
    cli()
