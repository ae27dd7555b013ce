"""Hostile and careless data and flags of ``maffsrn-train`` (a fuzz pass, issue #40): an
empty path flag (an unset ``$W`` in ``--init_weights=$W``), a seed the generators cannot
take, initial weights that the run itself would overwrite. Checked as ``test_hostile``
checks every command: exit code, one ``error:`` line naming the problem and the fix, no
traceback, nothing written, inputs unchanged; all are refused before TensorFlow loads.
(Same-stem images, replaced files and relative paths of a rerun: tests/data/
test_sources.py and tests/train/test_resume.py.)
"""

import os

import pytest
from test_hostile import Case, _make, folder, write
from test_hostile import test_hostile_input as check_case  # not collected twice: renamed

COL = (folder, "col", ["a.png"])
TRAIN = ["train", "--data_dir", "col", "--model_dir", "run", "--epochs", "1",
         "--steps_per_epoch", "2", "--patch_size", "13", "--batch_size", "1"]  # fmt: skip


def weights_in(path, name):
    os.makedirs(path, exist_ok=True)
    write(os.path.join(path, name), b"the only copy of these weights")


CASES = [
    Case(
        "train-empty-init-weights",
        [*TRAIN, "--init_weights="],
        _make(COL),
        error="--init_weights is empty: name weights, or leave the flag out",
    ),
    Case(
        "train-empty-val-dir",
        [*TRAIN, "--val_dir="],
        _make(COL),
        error="--val_dir is empty: name a folder of validation images, or leave the flag out",
    ),
    Case(
        "train-blank-holdout",
        [*TRAIN, "--holdout= "],
        _make(COL),
        error="--holdout is empty: name a list of images, or leave the flag out",
    ),
    Case("train-negative-seed", [*TRAIN, "--seed", "-1"], _make(COL), error="--seed=-1"),
    Case(
        "train-seed-over-32-bits",
        [*TRAIN, "--seed", "4294967296"],
        _make(COL),
        error="not an integer in the range [0, 4294967295]",
    ),
    Case(
        "train-init-weights-are-the-run-s-final-weights",
        [*TRAIN, "--init_weights", "run/final.weights.h5"],
        _make(COL, (weights_in, "run", "@final.weights.h5")),
        error="--init_weights run/final.weights.h5 is a file this run writes in --model_dir run",
    ),
    Case(
        "train-init-weights-are-the-run-s-best-weights-through-a-link",
        [*TRAIN, "--val_dir", "col", "--init_weights", "link/best.weights.h5"],
        _make(COL, (weights_in, "run", "@best.weights.h5"), (os.symlink, "run", "link")),
        error="training would replace it; copy it elsewhere",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_training_input(case, tmp_path):
    check_case(case, tmp_path)
