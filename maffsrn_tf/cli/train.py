"""Train MAFFSRN with ``model.fit`` (defaults: the paper's recipe on DIV2K).

Usage::

    # the paper: DIV2K, x2, 1000 epochs of 1000 iterations, lr 2e-4 halved every 200 epochs
    maffsrn-train --data_source div2k --data_dir /data/DIV2K --scale 2 \\
        --val_dir /data/benchmark/Set5 --model_dir runs/x2

    # a short CPU run on any folder of HR images (LR made by MATLAB-exact imresize, cached);
    # no validation: the run ends with final.weights.h5
    maffsrn-train --data_dir photos/ --scale 2 --epochs 2 --steps_per_epoch 150 \\
        --model_dir runs/quick
    # validated on images of the folder named in a list (best.weights.h5), from a clone
    maffsrn-train --data_dir ../shared/data/train/SR291 --holdout splits/sr291_val.txt \\
        --scale 2 --epochs 2 --steps_per_epoch 150 --learning_rate 1e-3 --model_dir runs/short

    # fine-tune the shipped weights (a preset name) or a run's, on your images
    maffsrn-train --data_dir photos/ --scale 2 --init_weights maffsrn_x2 \\
        --learning_rate 6.25e-5 --epochs 2 --model_dir runs/tuned
    # x4 from a trained x2 (all layers but the scale-specific tail)
    maffsrn-train ... --scale 4 --init_weights runs/x2/best.weights.h5

    # a moving average of the weights; a short L2 fine-tune at the end
    maffsrn-train ... --ema_momentum 0.999
    maffsrn-train ... --loss l2 --learning_rate 6.25e-5 --init_weights runs/x3/best.weights.h5

    # JAX (or PyTorch) without TensorFlow: from a pack made by maffsrn-pack
    KERAS_BACKEND=jax maffsrn-train --data_source packed --data_dir sr291.npz \\
        --val_dir ../shared/data/benchmark/Set5 --scale 2 --model_dir runs/x2_jax

Rerunning the same command resumes a killed run from ``MODEL_DIR/backup``; a finished run
says so and trains nothing. A rerun may change only --epochs (raised, it trains on),
--verbose, --backup_every_steps, --strategy, --tpu, --jit_compile and --cache_dir: any other
flag that differs from the run's MODEL_DIR/flags.json is refused, naming it (the record of
how the checkpoint was trained stays true); start another --model_dir to train otherwise.
A rerun on other data than the run began with (MODEL_DIR/data.json) is refused too: images
added, removed or of other bytes in --data_dir or --val_dir, an edited --holdout list. A refused
or failed run leaves no empty folder in --cache_dir.
"""

import dataclasses
import importlib.util
import os

from absl import flags

from maffsrn_tf.cli.common import (
    define_model_flags,
    define_option_flags,
    fail,
    fail_with,
    flag_words,
    option_values,
    preset_of_flags,
    require_path,
    require_tensorflow,
    run,
)
from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.model import shipped
from maffsrn_tf.model.presets import PRESETS, preset_config, preset_for_scale
from maffsrn_tf.train.config import RESUME_MAY_CHANGE, RunConflict, TrainConfig, check_run

FLAGS = flags.FLAGS
define_model_flags()
# preset and scale are the flags every command shares (cli.common); --large picks MAFFSRN-L
COMMON = ("preset", "scale")
flags.DEFINE_bool("large", False, "Train MAFFSRN-L (8 FFGs).")


OPTIONS = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in COMMON]
define_option_flags(TrainConfig, OPTIONS)


def chosen_preset():
    """--preset, or the preset of --scale and --large; one line when --preset and a --scale
    or --large given with it disagree (--preset alone picks its scale)."""
    preset = preset_of_flags(large=FLAGS.large)
    if not FLAGS.preset:
        return preset
    scale = PRESETS[preset]["scale"]
    large = FLAGS.preset == preset_for_scale(scale, large=True)
    if FLAGS["large"].present and FLAGS.large != large:
        what = "is MAFFSRN-L" if large else "is not MAFFSRN-L"
        given = "--large" if FLAGS.large else "--nolarge"
        fail(f"--preset {FLAGS.preset} {what}, but {given}: pass one of them")
    return FLAGS.preset


def resolved_config():
    """The flags as the ``TrainConfig`` that ``training.train`` takes (MODEL_DIR/flags.json)."""
    preset = chosen_preset()
    values = option_values(TrainConfig, OPTIONS)
    return TrainConfig(preset=preset, scale=preset_config(preset)["scale"], **values)


def check_init_weights(value):
    """``--init_weights``: a weights file, or a preset with shipped weights by name (a file
    of that name wins); else one line listing the shipped names."""
    if os.path.exists(value):
        require_path(value, "--init_weights", folder=False)
    elif value not in shipped.available():
        names = ", ".join(shipped.available()) or "none"
        what = f"--init_weights not found: {value}"
        if value in PRESETS:
            what = f"--init_weights {value}: no weights are shipped for this preset"
        fail(f"{what} (it takes a weights file, or a preset with shipped weights: {names})")


def _flag(name, value):
    """An option as the command line gives it: ``--name value``, ``--[no]name``."""
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    if value is None or value == "":
        return f"no --{name}"
    return f"--{name} {value}"


def conflict_line(err):
    """A ``RunConflict`` in flag words: each flag that differs from the run's flags.json; a
    path flag also by the real paths both name (``--data_dir col`` from another folder, or
    through a link that points elsewhere, is other data spelled alike)."""
    record = os.path.join(err.model_dir, "flags.json")

    def differs(name, new, old):
        line = f"{_flag(name, new)} (flags.json: {_flag(name, old)})"
        if name in err.resolved:
            now, was = err.resolved[name]
            line += f" is now {now}, was {was}"
        return line

    listed = "; ".join(differs(*difference) for difference in err.differences)
    may = ", ".join(f"--{n}" for n in RESUME_MAY_CHANGE if n != "model_dir")
    return (
        f"--model_dir {err.model_dir} holds a run trained with other flags: {listed}; rerun it "
        f"with the flags {record} records (only {may} may change: a larger --epochs trains "
        "on), or pass --model_dir DIR elsewhere for a new run"
    )


# path flags whose empty value would silently mean "none" (an unset $W in --init_weights=$W)
NOT_EMPTY = {
    "init_weights": "name weights",
    "val_dir": "name a folder of validation images",
    "holdout": "name a list of images",
}


def refuse_empty_values():
    """One line for a path flag given with an empty value (``--init_weights=``)."""
    for name, fix in NOT_EMPTY.items():
        if FLAGS[name].present and not FLAGS[name].value.strip():
            fail(f"--{name} is empty: {fix}, or leave the flag out")


def main(argv):
    del argv
    refuse_empty_values()
    if FLAGS.data_source == "tfds" and importlib.util.find_spec("tensorflow_datasets") is None:
        from maffsrn_tf.data.sources import TFDS_MISSING

        fail(flag_words(TFDS_MISSING))
    if FLAGS.data_source == "packed":
        require_path(FLAGS.data_dir, "--data_dir", folder=False)
    elif FLAGS.data_source != "tfds":
        require_path(FLAGS.data_dir, "--data_dir", folder=True)
    if FLAGS.val_dir:
        require_path(FLAGS.val_dir, "--val_dir", folder=True)
    if FLAGS.init_weights:
        check_init_weights(FLAGS.init_weights)
    elif FLAGS["init_skip_tail"].present:  # every word is used or refused
        fail("--init_skip_tail says how --init_weights loads: pass --init_weights too")
    if FLAGS["tpu"].present and FLAGS.strategy != "tpu":
        fail("--tpu names the TPU of --strategy tpu: pass --strategy tpu too")
    if FLAGS.holdout:
        require_path(FLAGS.holdout, "--holdout", folder=False)
        if FLAGS.val_dir:
            fail("--holdout and --val_dir both choose the validation images: pass one")
    try:
        config = resolved_config()
        if FLAGS.holdout and FLAGS.data_source == "folder":  # its names, before TensorFlow
            from maffsrn_tf.data.sources import read_holdout

            read_holdout(FLAGS.holdout, FLAGS.data_dir)
        finished = check_run(config)
    except RunConflict as err:
        fail(conflict_line(err))
    except MaffsrnError as err:
        fail_with(err)
    if finished:
        print(flag_words(finished))
        return 0
    require_tensorflow("maffsrn-train", any_backend=FLAGS.data_source == "packed")
    from maffsrn_tf.train.trainer import train

    try:
        train(config)  # checks the run again: the same answer, nothing written before
    except (MaffsrnError, FileNotFoundError) as err:
        fail_with(err)


def cli():
    run(main, empty=tuple(NOT_EMPTY))


if __name__ == "__main__":
    cli()
