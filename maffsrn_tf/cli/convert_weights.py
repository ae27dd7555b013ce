"""Convert weights between the official PyTorch MAFFSRN format and Keras, both ways.

Usage::

    # an official checkpoint -> Keras weights (or a .keras model)
    maffsrn-convert-weights --checkpoint model_best.pt --preset maffsrn_x2 \\
        --output maffsrn_x2.weights.h5

    # our weights (default: the shipped ones of --preset) -> the official state dict
    maffsrn-convert-weights --to pytorch --preset maffsrn_x4 --output maffsrn_x4.safetensors
    maffsrn-convert-weights --to pytorch --weights runs/x2/best.weights.h5 --output x2.pt

``.pt``/``.pth`` needs PyTorch (``pip install "maffsrn_tf[torch]"``); ``.safetensors`` and
``.npz`` state dicts do not. A missing, unexpected or mis-shaped tensor is an error naming it.
"""

from absl import flags

from maffsrn_tf.cli.common import (
    check_output_file,
    define_model_flags,
    fail,
    fail_with,
    preset_of_flags,
    require_path,
    require_tensorflow,
    run,
)

FLAGS = flags.FLAGS
define_model_flags()
flags.DEFINE_enum(
    "to",
    "keras",
    ["keras", "pytorch"],
    "keras: import --checkpoint; pytorch: export --weights.",
    case_sensitive=False,
)
flags.DEFINE_string(
    "checkpoint", None, "Official PyTorch state dict (.pt, .pth, .safetensors or .npz)."
)
flags.DEFINE_string(
    "weights", "", "--to pytorch: Keras weights (.weights.h5/.npz/.keras); default: shipped."
)
flags.DEFINE_string("output", None, "Keras .weights.h5/.keras, or (--to pytorch) .pt/.safetensors.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --output file.")


def main(argv):
    del argv
    preset = preset_of_flags()
    # each direction reads one input: a flag of the other is refused, not ignored
    if FLAGS.to == "pytorch" and FLAGS["checkpoint"].present:
        fail(
            "--checkpoint is the input of --to keras; --to pytorch exports --weights (default: "
            "the shipped weights of --preset): leave out --checkpoint"
        )
    if FLAGS.to == "keras" and FLAGS["weights"].present:
        fail(
            "--weights is the input of --to pytorch; --to keras imports --checkpoint: leave "
            "out --weights, or pass --to pytorch to export them"
        )
    if FLAGS.to == "pytorch":
        if not FLAGS.output or not FLAGS.output.endswith((".pt", ".safetensors")):
            fail("--to pytorch needs --output ending in .pt or .safetensors")
        if FLAGS.weights:
            require_path(FLAGS.weights, "--weights", folder=False)
        inputs = [FLAGS.weights] if FLAGS.weights else []
        check_output_file(FLAGS.output, "--output", FLAGS.overwrite, inputs)
        require_tensorflow("maffsrn-convert-weights")
        from maffsrn_tf.model.presets import PRESETS
        from maffsrn_tf.pretrained.loading import load_model_for
        from maffsrn_tf.pretrained.porting import export_pytorch

        try:
            model = load_model_for(PRESETS[preset]["scale"], FLAGS.weights or None, preset)
            print(export_pytorch(model, FLAGS.output, FLAGS.overwrite))
        except (ValueError, FileNotFoundError, FileExistsError, ImportError) as err:
            fail_with(err)
        return
    require_path(FLAGS.checkpoint, "--checkpoint", folder=False)
    if not FLAGS.output:
        fail("--output is required (a .weights.h5 or .keras file)")
    check_output_file(FLAGS.output, "--output", FLAGS.overwrite, [FLAGS.checkpoint])
    require_tensorflow("maffsrn-convert-weights")
    from maffsrn_tf.pretrained.porting import convert_checkpoint

    try:
        print(convert_checkpoint(FLAGS.checkpoint, preset, FLAGS.output, FLAGS.overwrite))
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as err:
        fail_with(err)


def cli():
    run(main, empty=())


if __name__ == "__main__":
    cli()
