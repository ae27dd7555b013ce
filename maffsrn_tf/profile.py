"""Print parameters and multiply-accumulates of a MAFFSRN preset.

Usage::

    maffsrn-profile --preset maffsrn_x2 --input 360x640     # height x width of the LR input
"""

from absl import app, flags

from maffsrn_tf.model import PRESETS, build_model
from maffsrn_tf.profiling import parse_size, profile

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "maffsrn_x2", list(PRESETS), "Model preset.")
flags.DEFINE_string("input", "360x640", "LR input size, HEIGHTxWIDTH.")
flags.DEFINE_bool("per_layer", False, "Also print MACs per layer.")


def main(argv):
    del argv
    try:
        h, w = parse_size(FLAGS.input)
        result = profile(build_model(FLAGS.preset), h, w)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    scale = PRESETS[FLAGS.preset]["scale"]
    print(f"preset      {FLAGS.preset}")
    print(f"input       {h}x{w} -> output {h * scale}x{w * scale}")
    print(f"parameters  {result['params']:,}")
    print(f"MACs        {result['macs'] / 1e9:.2f} G (learned convolutions)")
    print(f"bicubic     {result['macs_skip'] / 1e9:.3f} G (fixed skip convolution, extra)")
    if FLAGS.per_layer:
        for name, n in result["per_layer"].items():
            print(f"  {name:60s} {n / 1e6:10.2f} M")


def cli():
    app.run(main)


if __name__ == "__main__":
    cli()
