"""Upscale every image a file pattern matches on Apache Beam (pip install "maffsrn_tf[beam]").

Usage::

    # locally, two worker processes
    maffsrn-beam --input_pattern 'photos/*.jpg' --output_dir photos_x2 --scale 2 \\
        --runner DirectRunner --direct_num_workers 2 --direct_running_mode multi_processing

    # on Google Cloud Dataflow (docs/serving.md)
    maffsrn-beam --input_pattern 'gs://BUCKET/photos/*' --output_dir gs://BUCKET/photos_x2 \\
        --runner DataflowRunner --project PROJECT --region us-central1 \\
        --temp_location gs://BUCKET/tmp --requirements_file requirements.txt

Each output gets the name ``maffsrn-upscale`` would give it (``NAME_x{scale}.EXT``) and is
written to a temporary name, then renamed. Files that fail (not an image, over
``--max_megapixels``, an existing output without ``--overwrite``, two inputs for one output)
are listed one per line in ``--errors`` (default: beside the output folder,
``OUTPUT_DIR-errors.txt``) and the run ends with exit code 1 after the others are done.

Flags this command does not know are Beam's pipeline options (``--runner``,
``--direct_num_workers``, ``--project``, ...), passed through unchanged.
"""

import importlib.util

from absl import flags

from maffsrn_tf.cli.common import define_model_flags, fail, fail_with, run
from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

FLAGS = flags.FLAGS
define_model_flags(preset=False)
flags.DEFINE_string("input_pattern", None, "Files to upscale: a glob on any Beam file system.")
flags.DEFINE_string("output_dir", None, "Where the upscaled images go (local, gs://, s3://).")
flags.DEFINE_string("errors", "", "The errors file (default: OUTPUT_DIR-errors.txt).")
flags.DEFINE_enum("quantization", "float16", ["float16", "int8"], "Shipped TFLite model.")
flags.DEFINE_integer(
    "tile", None, f"Largest tile in LR pixels (default {DEFAULT_TILE}; 0: whole image)."
)
flags.DEFINE_integer("overlap", DEFAULT_OVERLAP, "Overlap between tiles in LR pixels.")
flags.DEFINE_enum(
    "format", None, ["png", "jpg", "webp"], "Output format (default: the input's; PNG for 16-bit)."
)
flags.DEFINE_integer("quality", None, "JPEG/WebP quality 1-100 (default: JPEG 95, WebP 80).")
flags.DEFINE_bool("overwrite", False, "Replace existing outputs (else they are errors).")
flags.DEFINE_float("max_megapixels", 200.0, "Refuse inputs larger than this (decompression bombs).")
flags.DEFINE_integer("num_threads", 1, "LiteRT threads per worker process.")
for _name, _what in (("max_megapixels", "number"), ("num_threads", "number of threads")):
    flags.register_validator(
        _name, lambda v: v > 0, message=f"--{_name} must be a positive {_what}"
    )
flags.mark_flags_as_required(["input_pattern", "output_dir"])

BEAM_INSTALL = 'pip install "maffsrn_tf[beam]"'
# BeamConfig's arguments whose flags are named otherwise
ALIASES = {"fmt": "format", "errors_path": "errors", "max_pixels": "max_megapixels"}


def main(argv):
    if importlib.util.find_spec("apache_beam") is None:
        fail(f"maffsrn-beam needs Apache Beam: {BEAM_INSTALL}")
    from apache_beam.options.pipeline_options import PipelineOptions

    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.upscaler.beam import BeamConfig
    from maffsrn_tf.upscaler.beam import run as run_pipeline

    try:
        config = BeamConfig(
            input_pattern=FLAGS.input_pattern,
            output_dir=FLAGS.output_dir,
            errors_path=FLAGS.errors,
            scale=FLAGS.scale,
            quantization=FLAGS.quantization,
            tile=FLAGS.tile,
            overlap=FLAGS.overlap,
            fmt=FLAGS.format or "",
            quality=FLAGS.quality,
            overwrite=FLAGS.overwrite,
            max_pixels=int(FLAGS.max_megapixels * 1e6),
            num_threads=FLAGS.num_threads,
        )
        options = PipelineOptions(argv[1:])
        counts = run_pipeline(config, options)
    except MaffsrnError as err:
        fail_with(err, ALIASES)
    print(f"upscaled {counts['upscaled']} images into {config.output_dir}")
    if counts["failed"]:
        fail(f"{counts['failed']} of {counts['matched']} files failed; listed in {config.errors}")
    return 0


def cli():
    run(main, pass_through=True)


if __name__ == "__main__":
    cli()
