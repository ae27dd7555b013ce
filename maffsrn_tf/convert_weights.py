"""Convert an official PyTorch MAFFSRN checkpoint to Keras weights.

Usage::

    maffsrn-convert-weights --checkpoint model_best.pt --preset maffsrn_x2 \\
        --output maffsrn_x2.weights.h5

``.pt``/``.pth`` needs PyTorch (``pip install "maffsrn_tf[torch]"``); ``.npz`` state dicts do not.
"""

from absl import app, flags

from maffsrn_tf.model import PRESETS
from maffsrn_tf.porting import convert_checkpoint

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Official PyTorch state dict (.pt, .pth or .npz).")
flags.DEFINE_enum(
    "preset", "maffsrn_x2", list(PRESETS), "Model preset the checkpoint was trained as."
)
flags.DEFINE_string("output", None, "Output Keras weights file (.weights.h5) or model (.keras).")


def main(argv):
    del argv
    if not FLAGS.checkpoint or not FLAGS.output:
        raise app.UsageError("--checkpoint and --output are required")
    try:
        print(convert_checkpoint(FLAGS.checkpoint, FLAGS.preset, FLAGS.output))
    except (ValueError, FileNotFoundError, ImportError) as err:
        raise SystemExit(f"error: {err}") from None


def cli():
    app.run(main)


if __name__ == "__main__":
    cli()
