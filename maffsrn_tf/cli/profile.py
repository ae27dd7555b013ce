"""Print parameters and multiply-accumulates of a MAFFSRN preset.

Usage::

    maffsrn-profile --preset maffsrn_x2 --input 360x640     # height x width of the LR input
"""

import re

from absl import flags

from maffsrn_tf.cli.common import (
    define_model_flags,
    fail_with,
    preset_of_flags,
    require_tensorflow,
    run,
)
from maffsrn_tf.model.presets import MIN_INPUT_SIZE, PRESETS

FLAGS = flags.FLAGS
define_model_flags()
flags.DEFINE_string("input", "360x640", "LR input size, HEIGHTxWIDTH.")
flags.DEFINE_bool("per_layer", False, "Also print MACs per layer.")


MAX_SIDE = 65536  # beyond it TensorFlow's shapes overflow (99999999999x99999999999)


def parse_size(text):
    """Parse ``HxW`` (e.g. ``360x640``) into ``(height, width)``."""
    match = re.fullmatch(r"([0-9]+)x([0-9]+)", text.strip().lower())
    if not match:  # ASCII digits only: int() would read "١٢٨" (Arabic-Indic) or " 1_0"
        raise ValueError(f"--input must be HEIGHTxWIDTH, e.g. 360x640; got {text!r}")
    if max(len(match.group(1)), len(match.group(2))) > 9:  # int() refuses 4300+ digits
        raise ValueError(
            f"--input {text[:40]}... is too large to profile: at most {MAX_SIDE} pixels a side"
        )
    h, w = int(match.group(1)), int(match.group(2))
    if min(h, w) < MIN_INPUT_SIZE:  # (check_input_size's fix is for an image)
        raise ValueError(
            f"--input {text} is below MAFFSRN's minimum of {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} "
            f"(its attention branch downsamples by 2 and max-pools 7x7): pass --input of at "
            f"least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}"
        )
    if max(h, w) > MAX_SIDE:
        raise ValueError(
            f"--input {text} is too large to profile: at most {MAX_SIDE} pixels a side "
            "(MACs grow with the area: scale a smaller size's figures)"
        )
    return h, w


def main(argv):
    del argv
    preset = preset_of_flags()
    try:
        h, w = parse_size(FLAGS.input)
    except ValueError as err:
        fail_with(err)
    require_tensorflow("maffsrn-profile", any_backend=False)
    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.model.profiling import profile

    result = profile(build_model(preset), h, w)
    scale = PRESETS[preset]["scale"]
    print(f"preset      {preset}")
    print(f"input       {h}x{w} -> output {h * scale}x{w * scale}")
    print(f"parameters  {result['params']:,}")
    print(f"MACs        {result['macs'] / 1e9:.2f} G (learned convolutions)")
    print(f"bicubic     {result['macs_skip'] / 1e9:.3f} G (fixed skip convolution, extra)")
    if FLAGS.per_layer:
        for name, n in result["per_layer"].items():
            print(f"  {name:60s} {n / 1e6:10.2f} M")


def cli():
    run(main, empty=())


if __name__ == "__main__":
    cli()
