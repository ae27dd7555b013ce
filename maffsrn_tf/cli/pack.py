"""Pack a folder of HR training images into one small file (lossless WebP), for training
where only JAX or PyTorch is installed and for carrying a training set with a checkout.

Usage::

    maffsrn-pack --data_dir ../shared/data/train/SR291 --holdout splits/sr291_val.txt \\
        --output sr291.npz

The pack holds HR images only; LR images for any scale are made when it is loaded
(``maffsrn_tf.data.packed``). Images named in ``--holdout`` are left out (they validate).
A file that cannot be packed (not an image, a link that leads nowhere, a name that is not
UTF-8) is one ``error:`` line; the others are packed, and the command ends with 1 naming
the files left out.
"""

import os

from absl import flags

from maffsrn_tf.cli.common import (
    check_output_file,
    error_line,
    fail,
    fail_with,
    flag_words,
    require_path,
    require_tensorflow,
    run,
)

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Folder of HR training images.")
flags.DEFINE_string("output", None, "The pack to write (.npz).")
flags.DEFINE_string(
    "holdout",
    "",
    "A text file of image names (one per line, # comments) to leave out: the validation images.",
)
flags.DEFINE_bool("overwrite", False, "Replace an existing --output.")


def main(argv):
    del argv
    require_path(FLAGS.data_dir, "--data_dir", folder=True)
    if not FLAGS.output or not FLAGS.output.endswith(".npz"):
        fail(f"--output must name an .npz file, got {FLAGS.output!r}")
    if os.path.isdir(FLAGS.output):
        fail(f"--output {FLAGS.output} is a folder: name an .npz file")
    inside = os.path.realpath(FLAGS.output).startswith(os.path.realpath(FLAGS.data_dir) + os.sep)
    if inside:
        fail(f"--output {FLAGS.output} lies inside --data_dir: write it elsewhere")
    if os.path.exists(FLAGS.output) and not FLAGS.overwrite:
        fail(f"output exists: {FLAGS.output} (pass --overwrite to replace it)")
    directory = os.path.dirname(os.path.abspath(FLAGS.output))
    if not os.path.isdir(directory):
        fail(f"output directory does not exist: {directory}")
    # a FIFO, /dev/null: refused before any packing, even with --overwrite
    inputs = [FLAGS.data_dir] + ([FLAGS.holdout] if FLAGS.holdout else [])  # never replaced
    check_output_file(FLAGS.output, "--output", overwrite=True, inputs=inputs)
    from maffsrn_tf.data.sources import DataError, read_holdout

    exclude = ()
    if FLAGS.holdout:
        require_path(FLAGS.holdout, "--holdout", folder=False)
        try:  # a list of names of --data_dir, checked before TensorFlow is imported
            exclude = read_holdout(FLAGS.holdout, FLAGS.data_dir)
        except DataError as err:
            fail_with(err)
    require_tensorflow("maffsrn-pack")
    from maffsrn_tf.data.packed import PackError, pack
    from maffsrn_tf.io.images import ImageError

    try:  # a file that cannot be packed is one line as it is found; the rest are packed
        count = pack(FLAGS.data_dir, FLAGS.output, exclude,
                     progress=lambda m: print(m, flush=True),
                     on_error=lambda err: error_line(flag_words(str(err))))  # fmt: skip
    except (DataError, ImageError, PackError) as err:
        fail_with(err)
    size = os.path.getsize(FLAGS.output) / 2**20
    print(f"{FLAGS.output}: {count} images, {size:.1f} MiB")


def cli():
    run(main, empty=())


if __name__ == "__main__":
    cli()
