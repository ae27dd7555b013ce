"""Convert an official PyTorch MAFFSRN checkpoint to Keras weights.

Usage::

    maffsrn-convert-weights --checkpoint model_best.pt --preset maffsrn_x2 \\
        --output maffsrn_x2.weights.h5

``.pt``/``.pth`` needs PyTorch (``pip install "maffsrn_tf[torch]"``); ``.npz`` state dicts do not.
"""

from absl import flags

from maffsrn_tf.cli.common import fail, require_path, run
from maffsrn_tf.presets import preset_for_scale

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Official PyTorch state dict (.pt, .pth or .npz).")
flags.DEFINE_string("output", None, "Output Keras weights file (.weights.h5) or model (.keras).")


def main(argv):
    del argv
    require_path(FLAGS.checkpoint, "--checkpoint", folder=False)
    if not FLAGS.output:
        fail("--output is required (a .weights.h5 or .keras file)")
    preset = FLAGS.preset or preset_for_scale(FLAGS.scale)
    from maffsrn_tf.porting import convert_checkpoint

    try:
        print(convert_checkpoint(FLAGS.checkpoint, preset, FLAGS.output))
    except (ValueError, FileNotFoundError, ImportError) as err:
        fail(str(err))


def cli():
    run(main)


if __name__ == "__main__":
    cli()
