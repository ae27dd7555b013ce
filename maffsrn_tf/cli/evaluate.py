"""Evaluate MAFFSRN on benchmark folders by the MATLAB protocol (Y channel, shaved border).

Usage::

    maffsrn-evaluate --scale 2 --datasets data/Set5,data/Set14
    maffsrn-evaluate --scale 4 --datasets DIR --weights runs/x4/best.weights.h5 --json x4.json
    maffsrn-evaluate --scale 2 --datasets DIR --quantization int8   # the shipped int8 TFLite
    maffsrn-evaluate --scale 2 --datasets DIR --tflite out/my_x2.tflite   # your TFLite model
    maffsrn-evaluate --scale 3 --datasets DIR --bicubic_only

HR images are mod-cropped to the scale and LR made by MATLAB-exact bicubic ``imresize``
(or read from ``--lr_dirs``). Prints a markdown table: bicubic and model rows per dataset,
each named by its folder (two folders of one name are refused). In ``--json`` an infinite
PSNR (an output identical to its HR image) is ``null``, and ``meta.note`` says so.
Without a model flag it evaluates the shipped Keras weights (TensorFlow); ``--quantization``
and ``--tflite`` run on LiteRT, without TensorFlow. Progress goes to stderr: a bar on a
terminal, one line per image otherwise (a log gets no carriage returns).
"""

import os

from absl import flags

from maffsrn_tf.cli.common import (
    check_output_file,
    define_integer,
    define_model_flags,
    fail,
    fail_with,
    require_path,
    require_tensorflow,
    run,
    training_run_record,
)
from maffsrn_tf.errors import MaffsrnError, one_line
from maffsrn_tf.evaluation.protocol import check_datasets
from maffsrn_tf.model.presets import preset_for_scale
from maffsrn_tf.model.shipped import DEFAULT_VARIANT, SHIPPED_VARIANTS
from maffsrn_tf.upscaler.options import MAX_THREADS


def _default_num_threads():
    """The CPUs this process may use (its affinity where the system has one), at most
    ``MAX_THREADS``. The shared ``maffsrn_tf.upscaler.engines.default_num_threads`` is used
    where it exists (this is its stand-in until then)."""
    from maffsrn_tf.upscaler import engines

    shared = getattr(engines, "default_num_threads", None)
    if shared is not None:
        return shared()
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        count = os.cpu_count() or 1
    return max(1, min(count, MAX_THREADS))


FLAGS = flags.FLAGS
define_model_flags()
flags.DEFINE_list("datasets", [], "Comma-separated folders of HR images.")
flags.DEFINE_list("lr_dirs", [], "Optional LR folders, one per dataset (same file stems).")
flags.DEFINE_string("weights", "", "Keras weights (.weights.h5/.keras); default: shipped.")
flags.DEFINE_string("tflite", "", "Evaluate this .tflite model (on LiteRT) instead of Keras.")
flags.DEFINE_enum(
    "quantization",
    None,
    list(SHIPPED_VARIANTS),
    "Evaluate the shipped TFLite model of --scale in this quantization (on LiteRT, no "
    "TensorFlow): float16 (as accurate as Keras) or int8 (faster; its drop: tflite/REPORT.md).",
    case_sensitive=False,  # INT8 as int8, as every command's choices
)
flags.DEFINE_bool("bicubic_only", False, "Only the bicubic baseline rows.")
flags.DEFINE_bool("self_ensemble", False, "Geometric self-ensemble (x8).")
flags.DEFINE_string("json", "", "Write the results to this JSON file.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --json file.")
flags.DEFINE_bool("per_image", False, "Include per-image numbers (table and JSON).")
define_integer(
    "num_threads",
    _default_num_threads(),
    "LiteRT threads of the TFLite model evaluated (--tflite or --quantization); default: the "
    "CPUs this process may use. Keras weights run on TensorFlow's own threads.",
    lower_bound=1,
    upper_bound=MAX_THREADS,
)


def main(argv):
    del argv
    empty = {  # --lr_dirs= (an unset $LR) would run as if the flag were absent
        "datasets": "list the folders of HR images, comma-separated",
        "lr_dirs": "list one LR folder per dataset, comma-separated, or leave the flag out",
    }
    for name, fix in empty.items():
        if FLAGS[name].present and not FLAGS[name].value:
            fail(f"--{name} is empty: {fix}")
    if not FLAGS.datasets:
        fail("--datasets DIR[,DIR...] is required")
    for name in ("datasets", "lr_dirs"):  # "Set5," or "Set5,,Set14": a folder left out
        if any(not entry for entry in FLAGS[name].value):
            fail(
                f"--{name} {','.join(FLAGS[name].value)} has an empty entry: list folders "
                "separated by single commas, with no comma at the end"
            )
    for folder in FLAGS.datasets:
        require_path(folder, "dataset folder", folder=True)
    if FLAGS.lr_dirs and len(FLAGS.lr_dirs) != len(FLAGS.datasets):
        fail("--lr_dirs needs one folder per dataset")
    for folder in FLAGS.lr_dirs:
        require_path(folder, "LR folder", folder=True)
    for path, what in ((FLAGS.weights, "--weights"), (FLAGS.tflite, "--tflite")):
        if path:
            require_path(path, what, folder=False)
    shipped = FLAGS.quantization
    if shipped:
        other = [f"--{n}" for n in ("tflite", "weights", "bicubic_only") if FLAGS[n].value]
        if other:
            fail(
                f"--quantization picks a shipped TFLite model; leave it out when you pass "
                f"{other[0]}"
            )
        if FLAGS.preset and FLAGS.preset != preset_for_scale(FLAGS.scale):
            fail(
                f"--quantization evaluates the shipped {preset_for_scale(FLAGS.scale)} TFLite "
                f"model of --scale {FLAGS.scale}; leave out --preset {FLAGS.preset}"
            )
    if FLAGS.bicubic_only:  # no model: a flag that picks or runs one would be ignored
        model_flags = [
            f"--{n}" for n in ("tflite", "weights", "self_ensemble", "preset") if FLAGS[n].value
        ]
        if model_flags:
            fail(
                f"--bicubic_only evaluates no model; leave out {model_flags[0]}, or "
                "--bicubic_only to evaluate the model"
            )
    if FLAGS.tflite:
        for other in ("weights", "preset"):
            if FLAGS[other].value:
                fail(
                    f"--tflite names the model to evaluate, and --{other} "
                    f"{FLAGS[other].value} would name another: pass one of them"
                )
    if FLAGS.weights.lower().endswith(".tflite"):
        fail(f"--weights {FLAGS.weights} is a TFLite model: pass it as --tflite {FLAGS.weights}")
    if FLAGS.overwrite and not FLAGS.json:
        fail("--overwrite replaces an existing --json file: pass --json FILE, or leave it out")
    if FLAGS.tflite and not FLAGS.tflite.lower().endswith(".tflite"):
        fail(
            f"--tflite {FLAGS.tflite} is not a .tflite file: name a LiteRT model, or pass "
            "Keras weights as --weights"
        )
    tflite = bool(FLAGS.tflite or shipped)
    if FLAGS["num_threads"].present and not tflite:
        fail(
            "--num_threads sets the LiteRT threads of a --tflite or --quantization model; "
            "leave it out otherwise"
        )
    try:  # each dataset is one row, under its folder's name; LR sizes; before any model
        check_datasets(FLAGS.datasets, FLAGS.scale, dict(zip(FLAGS.datasets, FLAGS.lr_dirs)))
    except MaffsrnError as err:
        fail_with(err)
    if FLAGS.json:
        inputs = [*FLAGS.datasets, *FLAGS.lr_dirs, FLAGS.weights, FLAGS.tflite]
        check_output_file(FLAGS.json, "--json", FLAGS.overwrite, [p for p in inputs if p])
        if not FLAGS.json.lower().endswith(".json"):  # --json best.weights.h5 replaced it
            fail(f"--json {FLAGS.json} does not end in .json: name a .json file for the results")
        run = training_run_record(FLAGS.json)
        if run:
            fail(
                f"--json {FLAGS.json} is a record of the training run in {run}: it "
                "is never replaced, even with --overwrite; name another file"
            )
    if not tflite and not FLAGS.bicubic_only:
        require_tensorflow(
            "maffsrn-evaluate on Keras weights (--quantization and --tflite run without it)"
        )
    from maffsrn_tf import evaluation

    engine, label = None, "bicubic only"
    try:
        if tflite or not FLAGS.bicubic_only:
            from maffsrn_tf.upscaler import UpscaleOptions, make_engine

            options = UpscaleOptions(
                scale=FLAGS.scale,
                model=FLAGS.tflite or FLAGS.weights or None,
                runtime="tflite" if tflite else "keras",
                variant=shipped or DEFAULT_VARIANT,
                num_threads=FLAGS.num_threads,
            )
            engine = make_engine(options, preset=None if tflite else FLAGS.preset)
            if getattr(engine, "fixed_size", None):  # whole images: found at the first one
                h, w = engine.fixed_size
                kind = "int8" if "int8" in os.path.basename(FLAGS.tflite) else DEFAULT_VARIANT
                fail(
                    f"--tflite {FLAGS.tflite} takes {h}x{w} inputs only (a model for tiles; "
                    "maffsrn-upscale tiles with it): evaluate a model of any input size, e.g. "
                    f"the shipped one (--quantization {kind})"
                )
            if shipped:
                from maffsrn_tf.model.shipped import tflite_name

                label = f"{tflite_name(FLAGS.scale, shipped)} (shipped)"
            else:  # a file's name says which weights (a model's own name is its preset's)
                label = FLAGS.tflite or (
                    f"{engine.model.name} ({FLAGS.weights})" if FLAGS.weights else engine.model.name
                )
        results = evaluation.evaluate(
            FLAGS.datasets,
            FLAGS.scale,
            engine,
            FLAGS.self_ensemble,
            dict(zip(FLAGS.datasets, FLAGS.lr_dirs)),
        )
    except (MaffsrnError, FileNotFoundError) as err:
        fail_with(err, {"model": "weights"})
    name = label + (" +self-ensemble" if FLAGS.self_ensemble else "")
    print(evaluation.markdown_table(results, FLAGS.scale, name))
    if FLAGS.per_image:
        for dataset, entry in results.items():
            for row in entry["per_image"]:
                model_part = f"  model {row['psnr']:.2f}/{row['ssim']:.4f}" if "psnr" in row else ""
                scores = f"{row['bicubic_psnr']:.2f}/{row['bicubic_ssim']:.4f}{model_part}"
                print(one_line(f"{dataset}/{row['image']}") + ": bicubic " + scores)
    if FLAGS.json:
        meta = {
            "scale": FLAGS.scale,
            "model": name,
            "self_ensemble": FLAGS.self_ensemble,
            "datasets": FLAGS.datasets,
            "weights": FLAGS.weights or None,  # None: the shipped ones (or --tflite's)
            "lr_dirs": FLAGS.lr_dirs or None,  # None: LR made by MATLAB bicubic
        }
        evaluation.write_json(FLAGS.json, results, meta, FLAGS.per_image)
    return 0


def cli():
    run(main, empty=())


if __name__ == "__main__":
    cli()
