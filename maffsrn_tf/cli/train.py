"""Train MAFFSRN with ``model.fit`` (defaults: the paper's recipe on DIV2K).

Usage::

    # the paper: DIV2K, x2, 1000 epochs of 1000 iterations, lr 2e-4 halved every 200 epochs
    maffsrn-train --data_source div2k --data_dir /data/DIV2K --scale 2 \\
        --val_dir /data/benchmark/Set5 --model_dir runs/x2

    # a short CPU run on a folder of HR images (LR made by MATLAB-exact imresize, cached)
    maffsrn-train --data_dir ../shared/data/train/SR291 --holdout splits/sr291_val.txt \\
        --scale 2 --epochs 2 --steps_per_epoch 150 --learning_rate 1e-3 --model_dir runs/short

    # x4 fine-tuned from a trained x2 (all layers but the scale-specific tail)
    maffsrn-train ... --scale 4 --init_weights runs/x2/best.weights.h5

    # a moving average of the weights; a short L2 fine-tune at the end
    maffsrn-train ... --ema_momentum 0.999
    maffsrn-train ... --loss l2 --learning_rate 6.25e-5 --init_weights runs/x3/best.weights.h5

    # JAX (or PyTorch) without TensorFlow: from a pack made by maffsrn-pack
    KERAS_BACKEND=jax maffsrn-train --data_source packed --data_dir sr291.npz \
        --val_dir ../shared/data/benchmark/Set5 --scale 2 --model_dir runs/x2_jax

Rerunning the same command resumes a killed run from ``MODEL_DIR/backup``.
"""

from absl import flags

from maffsrn_tf.cli.common import fail, require_path, run
from maffsrn_tf.presets import preset_config, preset_for_scale

FLAGS = flags.FLAGS
flags.DEFINE_bool("large", False, "Train MAFFSRN-L (8 FFGs).")
flags.DEFINE_enum(
    "data_source",
    "folder",
    ["folder", "div2k", "tfds", "packed"],
    "folder: HR images (LR by imresize, cached); div2k: DIV2K folder layout; "
    "tfds: TensorFlow Datasets div2k/bicubic_x{scale}; packed: a maffsrn-pack file (any "
    "Keras backend, e.g. KERAS_BACKEND=jax without TensorFlow).",
)
flags.DEFINE_string("data_dir", None, "Image folder, DIV2K root, TFDS data_dir, or pack file.")
flags.DEFINE_string(
    "cache_dir",
    "",
    "Cache root: LR images made for a folder source (lr/) and the decoded training images "
    "that patches are read from (decoded/); default ~/.cache/maffsrn_tf. DIV2K x2 needs "
    "about 8.3 GB there.",
)
flags.DEFINE_string("val_dir", "", "Folder of HR validation images.")
flags.DEFINE_string(
    "holdout",
    "",
    "File listing images of --data_dir (folder source) held out of training and used for "
    "validation instead of --val_dir, e.g. splits/sr291_val.txt.",
)
flags.DEFINE_integer("patch_size", 48, "LR patch size.")
flags.DEFINE_integer("batch_size", 16, "Global batch size (split over replicas).")
flags.DEFINE_integer("epochs", 1000, "Epochs.")
flags.DEFINE_integer("steps_per_epoch", 1000, "Iterations per epoch (the official code: 1000).")
flags.DEFINE_enum("optimizer", "adamp", ["adamp", "adam"], "Optimizer.")
flags.DEFINE_enum(
    "loss", "l1", ["l1", "l2"], "Loss: l1 (the paper), l2 (e.g. a short fine-tune at the end)."
)
flags.DEFINE_float(
    "ema_momentum",
    0.0,
    "Keep an exponential moving average of the weights with this momentum (e.g. 0.999; 0: "
    "off); validation, best and final weights are then the average's.",
    lower_bound=0.0,
    upper_bound=0.9999,
)
flags.DEFINE_float("learning_rate", 2e-4, "Initial learning rate.")
flags.DEFINE_integer(
    "decay_epochs", 200, "Multiply the learning rate by --decay_factor every this many epochs."
)
flags.DEFINE_float("decay_factor", 0.5, "Learning-rate decay factor.")
flags.DEFINE_integer(
    "max_decays", None, "Stop decaying after this many decays (official script: 1)."
)
flags.DEFINE_string("model_dir", "runs/maffsrn", "Output directory (checkpoints, logs).")
flags.DEFINE_enum(
    "strategy",
    "auto",
    ["auto", "one_device", "mirrored", "multi_worker", "tpu"],
    "tf.distribute strategy.",
)
flags.DEFINE_string("tpu", "", "TPU address for --strategy tpu (empty on Colab).")
flags.DEFINE_string("init_weights", "", "Initialize from these weights (.weights.h5/.keras).")
flags.DEFINE_bool(
    "init_skip_tail",
    None,
    "Leave the tail freshly initialized (default: when --init_weights, judged by its contents, "
    "is of another scale).",
)
flags.DEFINE_integer("seed", 0, "Random seed (weights, patches, augmentation).")
flags.DEFINE_bool("mixed_precision", False, "mixed_float16 (GPUs).")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_integer("backup_every_steps", 0, "Also back up every N steps (0: each epoch).")
flags.DEFINE_integer("verbose", 1, "Keras progress: 0 silent, 1 progress bar, 2 one line/epoch.")


def resolved_config():
    """The flags as the dict ``training.train`` takes (written to MODEL_DIR/flags.json)."""
    scale = FLAGS.scale
    preset = FLAGS.preset or preset_for_scale(scale, FLAGS.large)
    scale = preset_config(preset)["scale"]
    return {
        "preset": preset,
        "scale": scale,
        "data_source": FLAGS.data_source,
        "data_dir": FLAGS.data_dir,
        "cache_dir": FLAGS.cache_dir,
        "val_dir": FLAGS.val_dir,
        "holdout": FLAGS.holdout,
        "patch_size": FLAGS.patch_size,
        "batch_size": FLAGS.batch_size,
        "epochs": FLAGS.epochs,
        "steps_per_epoch": FLAGS.steps_per_epoch,
        "optimizer": FLAGS.optimizer,
        "loss": FLAGS.loss,
        "ema_momentum": FLAGS.ema_momentum,
        "learning_rate": FLAGS.learning_rate,
        "decay_epochs": FLAGS.decay_epochs,
        "decay_factor": FLAGS.decay_factor,
        "max_decays": FLAGS.max_decays,
        "model_dir": FLAGS.model_dir,
        "strategy": FLAGS.strategy,
        "tpu": FLAGS.tpu,
        "init_weights": FLAGS.init_weights,
        "init_skip_tail": FLAGS.init_skip_tail,
        "seed": FLAGS.seed,
        "mixed_precision": FLAGS.mixed_precision,
        "jit_compile": FLAGS.jit_compile,
        "backup_every_steps": FLAGS.backup_every_steps,
        "verbose": FLAGS.verbose,
    }


def main(argv):
    del argv
    if FLAGS.data_source == "packed":
        require_path(FLAGS.data_dir, "--data_dir", folder=False)
    elif FLAGS.data_source != "tfds":
        require_path(FLAGS.data_dir, "--data_dir", folder=True)
    if FLAGS.val_dir:
        require_path(FLAGS.val_dir, "--val_dir", folder=True)
    if FLAGS.init_weights:
        require_path(FLAGS.init_weights, "--init_weights", folder=False)
    if FLAGS.holdout:
        require_path(FLAGS.holdout, "--holdout", folder=False)
        if FLAGS.val_dir:
            fail("--holdout and --val_dir both choose the validation images: pass one")
    config = resolved_config()
    from maffsrn_tf.training import train

    try:
        train(config)
    except ValueError as err:  # DataError, ImageError, mismatched --init_weights
        fail(str(err))


def cli():
    run(main)


if __name__ == "__main__":
    cli()
