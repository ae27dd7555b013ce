"""Upscale images with MAFFSRN (the shipped weights by default).

Usage::

    maffsrn-upscale          # a sample photo -> out/sample_x2.png + out/sample_x2_compare.png
    maffsrn-upscale --input photo.jpg --output photo_x4.png --scale 4
    maffsrn-upscale --input photos/ --output photos_x2/ --scale 2 --compare
    maffsrn-upscale --input photo.png --quantization int8       # faster; drop: see --quantization
    maffsrn-upscale --input photo.png --model runs/x2/best.weights.h5   # Keras, your weights

The shipped weights run as float16 TFLite by default (as accurate as Keras, faster, and no
TensorFlow import); Keras weights and ``.keras`` files run on Keras.

Images of any size are processed in overlapping tiles of at most ``--tile`` pixels, spread
evenly so that no more pixels than needed are computed twice, with bounded memory. Outputs
are written to a temporary file and renamed, so a failure never leaves a partial file; an
existing output is only replaced with ``--overwrite``.
"""

import os
import sys

from absl import flags

from maffsrn_tf.cli.common import (
    define_model_flags,
    fail,
    fail_with,
    flag_words,
    require_path,
    require_tensorflow,
    run,
)
from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP, DEFAULT_TILE  # no TensorFlow at import

FLAGS = flags.FLAGS
define_model_flags(preset=False)
flags.DEFINE_string("input", "", "Image file or folder (default: a sample photo).")
flags.DEFINE_string("output", "", "Output file or folder (default: NAME_x{scale}.png in ./out).")
# Set5 PSNR drop of the shipped dynamic int8 models against Keras, from tflite/REPORT.json
# (`make tflite`); tests/cli/test_commands.py checks these against the report.
INT8_SET5_DROP_DB = {2: 0.031, 3: 0.021, 4: 0.001}
flags.DEFINE_enum(
    "backend",
    "auto",
    ["auto", "keras", "tflite"],
    "Inference backend; auto: TFLite for the shipped weights and .tflite files, Keras for "
    "Keras weights.",
)
flags.DEFINE_enum(
    "quantization",
    "float16",
    ["float16", "int8"],
    "Shipped TFLite model: float16 (within 0.001 dB of Keras) or int8 (about 2.8x the speed "
    "of float32 on a desktop CPU, docs/benchmarks.md; Set5 PSNR drop "
    + ", ".join(f"x{s} {d:.3f} dB" for s, d in INT8_SET5_DROP_DB.items())
    + ", tflite/REPORT.md).",
)
flags.DEFINE_string(
    "model", "", "Weights (.weights.h5/.keras) or a .tflite file (default: shipped for the scale)."
)
flags.DEFINE_integer(
    "tile",
    None,
    f"Largest tile in LR pixels (default {DEFAULT_TILE}, or a fixed-shape model's own tile; "
    "0: whole image at once, memory permitting).",
)
flags.DEFINE_integer("overlap", DEFAULT_OVERLAP, "Overlap between tiles in LR pixels.")
flags.DEFINE_bool("self_ensemble", False, "Average the 8 flips/rotations (8x slower, +~0.1 dB).")
flags.DEFINE_bool("compare", False, "Also write NAME_compare.png: bicubic | MAFFSRN.")
flags.DEFINE_bool("overwrite", False, "Replace existing output files.")
flags.DEFINE_enum(
    "format", None, ["png", "jpg", "webp"], "Output format (default: the input's; PNG for 16-bit)."
)
flags.DEFINE_integer("quality", None, "JPEG/WebP quality 1-100 (default: JPEG 95, WebP 80).")
flags.DEFINE_float("max_megapixels", 200.0, "Refuse inputs larger than this (decompression bombs).")
flags.register_validator(
    "max_megapixels", lambda v: v > 0, message="--max_megapixels must be a positive number"
)


# upscale_path's arguments whose flags are named otherwise
ALIASES = {"fmt": "format", "input_path": "input"}


def main(argv):
    del argv
    if FLAGS.input:
        require_path(FLAGS.input, "input")
    if FLAGS.model:
        require_path(FLAGS.model, "--model", folder=False)
    if FLAGS.model and FLAGS["quantization"].present:
        fail("--quantization picks a shipped TFLite model; leave it out when you pass --model")
    if FLAGS.quality is not None and not 1 <= FLAGS.quality <= 100:
        fail(f"--quality must be in 1..100, got {FLAGS.quality}")
    if FLAGS.backend == "keras" or (FLAGS.model and not FLAGS.model.endswith(".tflite")):
        require_tensorflow("maffsrn-upscale on Keras (--backend keras, a weights file)")
    from maffsrn_tf.upscaler import UpscaleError, upscale_path

    try:
        written = upscale_path(
            FLAGS.input,
            FLAGS.output,
            FLAGS.scale,
            backend=FLAGS.backend,
            model=FLAGS.model or None,
            tile=FLAGS.tile,
            overlap=FLAGS.overlap,
            self_ensemble=FLAGS.self_ensemble,
            compare=FLAGS.compare,
            overwrite=FLAGS.overwrite,
            max_pixels=int(FLAGS.max_megapixels * 1e6),
            fmt=FLAGS.format or "",
            quality=FLAGS.quality,
            quantization=FLAGS.quantization,
            on_error=lambda err: print(
                "error: " + flag_words(str(err), ALIASES), file=sys.stderr, flush=True
            ),
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
