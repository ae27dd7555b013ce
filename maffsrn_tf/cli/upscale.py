"""Upscale images and videos with MAFFSRN (the shipped weights by default).

Usage::

    maffsrn-upscale                          # a sample photo -> out/sample_x2.png (+ a comparison)
    maffsrn-upscale photo.jpg                # -> out/photo_x2.jpg
    maffsrn-upscale photo.jpg -o photo_x4.png -s 4
    maffsrn-upscale photos/*.jpg more/ -o upscaled/ --recursive --skip_existing
    maffsrn-upscale photo.jpg --outscale 3.5           # any size: out/photo_x3.5.jpg
    maffsrn-upscale photo.jpg --width 1920             # fits 1920 px wide, aspect kept
    maffsrn-upscale photo.png --quantization int8      # faster; its drop: tflite/REPORT.md
    maffsrn-upscale photo.png --model runs/x2/best.weights.h5   # Keras, your weights
    maffsrn-upscale clip.mp4 -o clip_x2.mp4 --quantization int8  # a video, frame by frame
    maffsrn-upscale clip.mkv --codec ffv1              # lossless video: out/clip_x2.mkv

Inputs are files and folders, as words or after --input. The shipped weights run as float16
TFLite by default (as accurate as Keras, faster, and no TensorFlow import); Keras weights and
``.keras`` files run on Keras.

Images of any size are processed in overlapping tiles, with bounded memory. Colour, EXIF,
XMP and the colour profile are kept (--strip_metadata drops EXIF and XMP); transparency is
upscaled without dark fringes, and flattened onto --background (default white) for formats
without it, or for every format when --background names a colour.
Outputs are written to a temporary file and renamed, so a failure never leaves a partial
file; an existing output is only replaced with --overwrite.

Videos (.mp4, .mkv, .mov, .webm, .avi, .m4v, or any file PyAV opens as one; needs
pip install "maffsrn_tf[video]") are upscaled frame by frame in bounded memory and
encoded with --codec (default H.264 at --crf 18); their time stamps, frame rate, rotation,
pixel aspect and audio (copied, not re-encoded) are kept. --quantization int8 is
recommended for video: faster, for a change far below the encoder's (docs/video.md).
"""

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
from maffsrn_tf.options import flag_name
from maffsrn_tf.upscaler.options import GROUPS, UpscaleOptions  # no TensorFlow at import
from maffsrn_tf.upscaler.video import VideoOptions  # no PyAV at import

FLAGS = flags.FLAGS
define_model_flags(preset=False, short=True)
flags.DEFINE_multi_string(
    "input",
    [],
    "Image and video files, or folders of them; also as plain words (maffsrn-upscale a.jpg "
    "clip.mp4 photos/). Default: a sample photo.",
    short_name="i",
)
flags.DEFINE_string(
    "output",
    "",
    "Output file (one input) or folder, made as needed (default: NAME_x2.png and so on in ./out).",
    short_name="o",
)
# every upscaling option but the scale (a flag all commands share): UpscaleOptions' fields
OPTIONS = [
    "outscale",
    "width",
    "height",
    "runtime",
    "variant",
    "model",
    "self_ensemble",
    "recursive",
    "skip_existing",
    "overwrite",
    "fmt",
    "quality",
    "background",
    "strip_metadata",
    "compare",
    "tile",
    "overlap",
    "num_threads",
    "max_pixels",
]
define_option_flags(UpscaleOptions, OPTIONS, short={"quality": "q", "fmt": "f"})
# how videos are written: VideoOptions' fields
VIDEO_OPTIONS = ["codec", "crf", "pix_fmt", "container"]
define_option_flags(VideoOptions, VIDEO_OPTIONS)
VIDEO_GROUP = "Video"
# what --model takes: a TFLite model, Keras weights, a Keras model file
MODEL_FILES = (".tflite", ".weights.h5", ".keras", ".npz")
# upscale_path's and UpscaleOptions' names whose flags are named otherwise
ALIASES = {**option_aliases(UpscaleOptions), "input_path": "input", "max_pixels": "max_megapixels"}


def _help_groups():
    """``--help``'s headings: the options' own groups, input and output first."""
    import dataclasses

    groups = {GROUPS[0]: ["input", "output"], GROUPS[1]: ["scale"]}
    for field in dataclasses.fields(UpscaleOptions):
        if field.name in OPTIONS:
            groups.setdefault(field.metadata["group"], []).append(flag_name(field))
    groups[VIDEO_GROUP] = [flag_name(f) for f in dataclasses.fields(VideoOptions)]
    order = (*GROUPS[:4], VIDEO_GROUP, *GROUPS[4:])
    return {g: groups[g] for g in order if g in groups}


def main(argv):
    inputs = [*FLAGS.input, *argv[1:]]
    if any(path == "" for path in inputs):
        fail("--input is empty: name an image file or folder (or leave --input out)")
    if FLAGS["output"].present and not FLAGS.output:
        fail("--output is empty: name a file or folder (or leave --output out)")
    for path in inputs:
        require_path(path, "input")
    if FLAGS.model:
        require_path(FLAGS.model, "--model", folder=False)
    if FLAGS.model and FLAGS["quantization"].present:
        fail("--quantization picks a shipped TFLite model; leave it out when you pass --model")
    if FLAGS.model and not FLAGS.model.lower().endswith(MODEL_FILES):
        fail(f"--model {FLAGS.model} is not a model file: {', '.join(MODEL_FILES)}")
    if FLAGS.backend == "keras" and FLAGS["quantization"].present:
        fail("--quantization picks a shipped TFLite model; it does not apply to --backend keras")
    if FLAGS["overlap"].present and FLAGS["tile"].present and FLAGS.tile == 0:
        fail("--overlap applies between tiles, and --tile 0 runs each image whole: leave one out")
    if not inputs and FLAGS["overwrite"].present and not FLAGS.overwrite:
        fail("--nooverwrite: the sample's output is rewritten at each run (--skip_existing "
             "keeps it); name your images to upscale them")  # fmt: skip
    values = option_values(UpscaleOptions, OPTIONS)
    sized = any(values[n] is not None for n in ("outscale", "width", "height"))
    if not inputs and not FLAGS["compare"].present:  # the sample: shown beside bicubic
        values["compare"] = True
    scale = FLAGS.scale if FLAGS["scale"].present or not sized else None
    try:
        options = UpscaleOptions(scale=scale, **values)
        video = VideoOptions(**option_values(VideoOptions, VIDEO_OPTIONS))
    except ValueError as err:
        fail_with(err, ALIASES)
    keras = options.runtime == "keras" or (
        FLAGS.model and not FLAGS.model.lower().endswith(".tflite")
    )
    if keras and FLAGS["num_threads"].present:
        fail("--num_threads sets the threads of a TFLite model; it does not apply to Keras")
    if keras:
        require_tensorflow("maffsrn-upscale on Keras (--backend keras, a weights file)")
    from maffsrn_tf.upscaler import UpscaleError, upscale_files

    try:
        upscale_files(
            inputs or None,  # none: the sample photo
            FLAGS.output or None,  # none: ./out
            options,
            on_error=lambda err: error_line(flag_words(str(err), ALIASES)),
            progress=True,
            video=video,
            on_written=lambda path: print(path, flush=True),  # as done, spelled as given
        )
    except UpscaleError as err:  # what was finished is listed already
        fail_with(err, ALIASES)
    return 0


def cli():
    run(main, positional="file", groups=_help_groups(), empty=("output", "background"))


if __name__ == "__main__":
    cli()
