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
written to a temporary name, then renamed. Outputs that exist already are refused before
any work, as by ``maffsrn-upscale``: ``--overwrite`` replaces them, ``--skip_existing`` leaves
them and upscales the rest (a rerun after adding photos). Files that fail (not an image, over
``--max_megapixels``, an output another run wrote meanwhile, two inputs for one output) are
listed one per line in ``--errors`` (default: beside the output folder,
``OUTPUT_DIR-errors.txt``; inside it, ``upscale-errors.txt``, for ``.``, ``..`` or a root)
and the run ends with exit code 1 after the others are done. The errors file is written at
every run (empty: nothing failed); the next run replaces it, but no other file there without
``--overwrite``. If another run wrote it meanwhile, the errors go to ``NAME-2.txt`` beside it
and the last line says so.

A pattern's folders may hold wildcards too (``'shoots/*/raw/*.png'``); ``**`` matches
across folders.

Flags this command does not define must be Beam's pipeline options (``--runner``,
``--direct_num_workers``, ``--project``, ...): they are passed to Beam; any other word is an
error, before anything runs.
"""

import difflib
import importlib.util
import logging
import os
import sys

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
    run,
)
from maffsrn_tf.errors import one_line
from maffsrn_tf.upscaler.options import BEAM_WORKER_THREADS, UpscaleOptions

FLAGS = flags.FLAGS
define_model_flags(preset=False)
flags.DEFINE_string("input_pattern", None, "Files to upscale: a glob on any Beam file system.")
flags.DEFINE_string("output_dir", None, "Where the upscaled images go (local, gs://, s3://).")
flags.DEFINE_string(
    "errors", "", "The errors file (default: OUTPUT_DIR-errors.txt; for . or .., inside it)."
)
# the upscaling options a Beam run takes (the shipped TFLite models, one per worker)
OPTIONS = [
    "variant",
    "tile",
    "overlap",
    "fmt",
    "quality",
    "overwrite",
    "skip_existing",
    "max_pixels",
    "num_threads",
]
define_option_flags(UpscaleOptions, OPTIONS, defaults={"num_threads": BEAM_WORKER_THREADS})
flags.mark_flags_as_required(["input_pattern", "output_dir"])

BEAM_INSTALL = 'pip install "maffsrn_tf[beam]"'
# BeamConfig's and UpscaleOptions' names whose flags are named otherwise
ALIASES = {
    **option_aliases(UpscaleOptions),
    "errors_path": "errors",
    "max_pixels": "max_megapixels",
}


# what an empty --input_pattern= or --output_dir= should have named
EMPTY = {
    "input_pattern": "name the files to upscale, e.g. --input_pattern 'photos/*.jpg'",
    "output_dir": "name the folder the upscaled images go to",
}


class _ApitoolsNotice(logging.Filter):
    """Beam's BigQuery client module warns on the root logger, at every import of Beam, that
    apitools is not installed: noise for this pipeline, which never reads BigQuery. Only that
    record is dropped; every other warning shows as before."""

    def filter(self, record):
        return not (record.name == "root" and str(record.msg).startswith("apitools not found"))


def main(argv):
    for name, fix in EMPTY.items():
        if FLAGS[name].value == "":
            fail(f"--{name} is empty: {fix}")
    if FLAGS["overlap"].present and FLAGS["tile"].present and FLAGS.tile == 0:
        fail("--overlap applies between tiles, and --tile 0 runs each image whole: leave one out")
    if os.path.isdir(FLAGS.input_pattern):  # a local folder: its files are wanted
        pattern = os.path.join(FLAGS.input_pattern, "*")
        fail(
            f"--input_pattern {FLAGS.input_pattern} is a folder, not a pattern: name its files, "
            f"e.g. --input_pattern '{pattern}'"
        )
    if importlib.util.find_spec("apache_beam") is None:
        fail(f"maffsrn-beam needs Apache Beam: {BEAM_INSTALL}")
    logging.getLogger().addFilter(_ApitoolsNotice())  # before Beam is imported
    from apache_beam.options.pipeline_options import PipelineOptions

    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.upscaler.beam import BeamConfig, run_pipeline, unknown_pipeline_args

    try:
        unknown = unknown_pipeline_args(argv[1:])
    except MaffsrnError as err:
        fail_with(err)
    if unknown:
        word, close = unknown[0]
        # this command's flags that begin so first, then Beam's spelling, then ours
        close = _own_flag_like(word) or close or _own_flag_like(word, spelling=True)
        guess = f" (did you mean {close}?)" if close else ""
        fail(
            f"unknown argument {word!r}{guess}: neither a flag of maffsrn-beam nor one of "
            "Beam's pipeline options (see --help)"
        )

    pipeline_options = PipelineOptions(argv[1:])
    check_pipeline_options(pipeline_options)
    try:
        options = UpscaleOptions(
            scale=FLAGS.scale, runtime="tflite", **option_values(UpscaleOptions, OPTIONS)
        )
        config = BeamConfig(
            input_pattern=FLAGS.input_pattern,
            output_dir=FLAGS.output_dir,
            errors_path=FLAGS.errors,
            options=options,
        )
        counts = run_pipeline(
            config, pipeline_options, translate=lambda line: flag_words(line, ALIASES)
        )
    except MaffsrnError as err:
        # after the work too: one line and exit 1, returned, so that the shared runner ends
        # the command as it ends one that succeeded (a signal at exit, a closed stdout)
        error_line(flag_words(str(err), ALIASES))
        return 1
    return _summary(config, counts)


def _summary(config, counts):
    """The last lines: what was upscaled (stdout) and, if any file failed, one ``error:``
    line naming where they are listed (exit 1)."""
    line = one_line(f"upscaled {counts['upscaled']} images into {config.output_dir}")
    if counts.get("skipped"):
        line += f" (skipped {counts['skipped']} whose output exists)"
    print(line)
    sys.stdout.flush()
    meanwhile = f"{config.errors} was written meanwhile by another run"
    if counts["failed"]:
        where = counts["errors"] or config.errors
        note = f" ({meanwhile})" if counts["errors_taken"] else ""
        failed = f"{counts['failed']} of {counts['matched']} files failed"
        error_line(f"{failed}; listed in {where}{note}")
        return 1
    if counts["errors_taken"]:  # nothing to list: the other run's file stays as it is
        print(f"none failed; {meanwhile}, left as it is", file=sys.stderr, flush=True)
    return 0


def _own_flag_like(word, spelling=False):
    """``--FLAG`` of this command that ``word`` (an unknown ``--input``, ``--out=x``) most
    likely means, or None: one whose name begins with it (``--out``: ``--output_dir``),
    or shares all but its last letter with one (``--inputs``), or a close spelling."""
    if not word.startswith("--"):
        return None
    name = word.split("=", 1)[0][2:]
    name = name[2:] if name.startswith("no") and name[2:] in FLAGS else name
    own = sorted(
        n
        for n, flag in FLAGS._flags().items()
        if n == flag.name and not (FLAGS.find_module_defining_flag(n) or "").startswith("absl.")
    )
    if len(name) >= 3:
        starts = [n for n in own if n.startswith(name)]
        if len(starts) == 1:
            return "--" + starts[0]
        near = [n for n in own if len(name) > 3 and n.startswith(name[:-1])]
        if len(near) == 1:
            return "--" + near[0]
    if not spelling:
        return None
    close = difflib.get_close_matches(name, own, 1)
    return "--" + close[0] if close else None


def check_pipeline_options(options):
    """One line, before anything runs, for a runner Beam does not know or a negative
    number of local workers (Beam would fail deep inside with an IndexError)."""
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
    from apache_beam.runners.runner import create_runner

    runner = options.view_as(StandardOptions).runner
    if runner is not None:
        try:
            create_runner(runner)
        except (ValueError, ImportError) as err:
            fail(f"--runner {runner}: {str(err).splitlines()[0].strip()}")
    workers = options.view_as(DirectOptions).direct_num_workers
    if workers is not None and workers < 0:
        fail(f"--direct_num_workers {workers}: must be 0 (one per CPU) or more")


def cli():
    run(main, pass_through=True, empty=EMPTY)  # ends through cli.common.exit_now


if __name__ == "__main__":
    cli()
