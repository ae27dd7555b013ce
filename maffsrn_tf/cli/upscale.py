"""Upscale images with MAFFSRN (the shipped weights by default).

Usage::

    maffsrn-upscale          # a sample photo -> out/sample_x2.png + out/sample_x2_compare.png
    maffsrn-upscale --input photo.jpg --output photo_x4.png --scale 4
    maffsrn-upscale --input photos/ --output photos_x2/ --scale 2 --compare
    maffsrn-upscale --input photo.png --quantization int8       # faster; drop: tflite/REPORT.md
    maffsrn-upscale --input photo.png --model runs/x2/best.weights.h5   # Keras, your weights

The shipped weights run as float16 TFLite by default (as accurate as Keras, faster, and no
TensorFlow import); Keras weights and ``.keras`` files run on Keras.

Images of any size are processed in overlapping tiles of at most ``--tile`` pixels, spread
evenly so that no more pixels than needed are computed twice, with bounded memory. Outputs
are written to a temporary file and renamed, so a failure never leaves a partial file; an
existing output is only replaced with ``--overwrite``.
"""

import os

from absl import flags

from maffsrn_tf.cli.common import (
    define_model_flags,
    define_option_flags,
    error_line,
    fail,
    fail_with,
    flag_words,
    option_aliases,
    option_values,
    require_path,
    require_tensorflow,
    run,
)
from maffsrn_tf.upscaler.options import UpscaleOptions  # no TensorFlow at import

FLAGS = flags.FLAGS
define_model_flags(preset=False)
flags.DEFINE_string("input", "", "Image file or folder (default: a sample photo).")
flags.DEFINE_string("output", "", "Output file or folder (default: NAME_x{scale}.png in ./out).")
# every upscaling option but the scale (a flag all commands share): UpscaleOptions' fields
OPTIONS = [
    "runtime",
    "variant",
    "model",
    "tile",
    "overlap",
    "self_ensemble",
    "compare",
    "overwrite",
    "fmt",
    "quality",
    "max_pixels",
]
define_option_flags(UpscaleOptions, OPTIONS)
# upscale_path's and UpscaleOptions' names whose flags are named otherwise
ALIASES = {**option_aliases(UpscaleOptions), "input_path": "input"}


def main(argv):
    del argv
    if FLAGS.input:
        require_path(FLAGS.input, "input")
    if FLAGS.model:
        require_path(FLAGS.model, "--model", folder=False)
    if FLAGS.model and FLAGS["quantization"].present:
        fail("--quantization picks a shipped TFLite model; leave it out when you pass --model")
    try:
        options = UpscaleOptions(scale=FLAGS.scale, **option_values(UpscaleOptions, OPTIONS))
    except ValueError as err:
        fail_with(err, ALIASES)
    if options.runtime == "keras" or (FLAGS.model and not FLAGS.model.endswith(".tflite")):
        require_tensorflow("maffsrn-upscale on Keras (--backend keras, a weights file)")
    from maffsrn_tf.upscaler import UpscaleError, upscale_files

    try:
        written = upscale_files(
            FLAGS.input,
            FLAGS.output,
            options,
            on_error=lambda err: error_line(flag_words(str(err), ALIASES)),
        )
    except UpscaleError as err:
        fail_with(err, ALIASES)
    for path in written:
        print(os.path.relpath(path))
    return 0


def cli():
    run(main)


if __name__ == "__main__":
    cli()
