"""Hostile and careless command lines of ``maffsrn-train``, ``-evaluate``, ``-convert-weights``,
``-profile``, ``-pack`` and ``-upscale`` (fuzz passes): a flag that would be ignored or
silently lose to another is refused; a rerun of a run with other flags is refused, naming
them, and leaves its ``flags.json`` as it was; two datasets of one name, a binary
``--holdout`` list; a refused run leaves no empty ``--model_dir``. Checked as
``test_hostile`` checks every command: exit code, one ``error:`` line naming the problem,
no traceback, nothing written, inputs unchanged. Most are refused before TensorFlow is
imported.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image
from test_hostile import Case, _make, folder, garbage, photo, write
from test_hostile import test_hostile_input as check_case  # not collected twice: renamed

from maffsrn_tf.train.config import TrainConfig

RUN = {"data_dir": "col", "model_dir": "run", "epochs": "2", "steps_per_epoch": "1",
       "patch_size": "13", "batch_size": "1"}  # fmt: skip


def train(*more, **changed):
    """``maffsrn-train`` with the flags of ``finished_run``'s run, some ``changed``, ``more``
    added (a flag is given once: twice is refused)."""
    flags = {**RUN, **changed}
    return ["train", *[w for k, v in flags.items() for w in (f"--{k}", v)], *more]


def finished_run(path, epochs=2):
    """What ``train()``'s command leaves once finished: flags.json, final.json and
    final.weights.h5 (a stand-in: these commands must not read it)."""
    os.makedirs(path)
    config = TrainConfig(data_dir="col", model_dir="run", epochs=epochs, steps_per_epoch=1,
                         patch_size=13, batch_size=1)  # fmt: skip
    with open(os.path.join(path, "flags.json"), "w") as f:
        json.dump(config.asdict(), f, indent=2, sort_keys=True)
    with open(os.path.join(path, "final.json"), "w") as f:
        json.dump({"epochs": epochs, "iterations": epochs}, f)
    write(os.path.join(path, "final.weights.h5"), b"weights")


def flat_folder(path):
    """Images whose bicubic x2 is exactly themselves (one colour): an infinite PSNR."""
    from PIL import Image

    os.makedirs(path)
    Image.new("RGB", (32, 32), (100, 150, 200)).save(os.path.join(path, "flat.png"))


def _strict_json(path):
    """``path`` parsed as JSON proper: ``Infinity`` and ``NaN`` are errors."""

    def refuse(word):
        raise ValueError(f"{word} is not JSON")

    with open(path) as f:
        return json.load(f, parse_constant=refuse)


def _identical_images_are_null(d, err):
    result = _strict_json(os.path.join(d, "r.json"))
    entry = result["datasets"]["flat"]
    return (
        entry["bicubic"]["psnr"] is None
        and entry["bicubic"]["ssim"] == 1.0
        and entry["per_image"][0]["bicubic_psnr"] is None
        and "infinite" in result["meta"]["note"]
    )


def transparent_logo(path):
    """An RGBA image: a green square on a fully transparent red background."""
    image = Image.new("RGBA", (24, 20), (255, 0, 0, 0))
    image.paste((0, 200, 0, 255), (6, 6, 18, 14))
    image.save(path)


def _pixels(d, name):
    with Image.open(os.path.join(d, name)) as im:
        return im.mode, np.asarray(im)


# maffsrn-train as it runs where tensorflow-datasets is not installed (its import fails)
WITHOUT_TFDS = b"""import runpy, sys
sys.modules["tensorflow_datasets"] = None  # "import tensorflow_datasets" fails, as when absent
runpy.run_module("maffsrn_tf.cli.train", run_name="__main__", alter_sys=True)
"""

COL = (folder, "col", ["a.png"])
EV = ["evaluate", "--datasets", "col"]
CONVERT = ["convert_weights", "--output", "o.weights.h5"]
OTHER_FLAGS = "--model_dir run holds a run trained with other flags"
CASES = [
    # flags that apply only with another one (a fourth fuzz pass)
    Case(
        "train-init-skip-tail-without-init-weights",
        train("--init_skip_tail"),
        _make(COL),
        error="--init_skip_tail says how --init_weights loads",
    ),  # fmt: skip
    Case(
        "train-tpu-without-the-tpu-strategy",
        train("--tpu", "grpc://x"),
        _make(COL),
        error="--tpu names the TPU of --strategy tpu",
    ),  # fmt: skip
    # 1. maffsrn-train: a rerun with other flags, a model_dir among the images
    Case(
        "train-rerun-of-a-finished-run-with-other-flags",
        train("--learning_rate", "1e-3", "--loss", "l2"),
        _make(COL, (finished_run, "run")),
        error=f"{OTHER_FLAGS}: --loss l2 (flags.json: --loss l1); --learning_rate 0.001 "
        "(flags.json: --learning_rate 0.0002); rerun it with the flags run/flags.json records",
    ),
    Case(
        "train-rerun-with-another-data-dir-and-preset",
        train("--preset", "maffsrn_l_x2", data_dir="col2"),
        _make(COL, (folder, "col2", ["b.png"]), (finished_run, "run")),
        error="--preset maffsrn_l_x2 (flags.json: --preset maffsrn_x2)",
    ),
    Case(
        "train-rerun-with-a-validation-folder-added",
        train("--val_dir", "val", epochs="5"),
        _make(COL, (folder, "val", ["v.png"]), (finished_run, "run")),
        error="--val_dir val (flags.json: no --val_dir)",
        absent="--epochs 5",  # may change: a larger --epochs trains on
    ),
    Case(
        "train-rerun-of-a-finished-run-says-so",
        train("--verbose", "2", data_dir="./col/"),  # the same folder, spelled otherwise
        _make(COL, (finished_run, "run")),
        code=0,
    ),
    Case(
        "train-model-dir-inside-data-dir",
        ["train", "--data_dir", "col", "--model_dir", "col/run"],
        _make(COL),
        error="--model_dir col/run is (or lies inside) --data_dir col",
    ),
    Case(
        "train-model-dir-is-data-dir",
        ["train", "--data_dir", "col", "--model_dir", "./col/"],
        _make(COL),
        error="--model_dir ./col/ is (or lies inside) --data_dir col",
    ),
    Case(
        "train-model-dir-inside-val-dir-through-a-link",
        ["train", "--data_dir", "col", "--val_dir", "val", "--model_dir", "link/run"],
        _make(COL, (folder, "val", ["v.png"]), (os.symlink, "@val", "link")),
        error="--model_dir link/run is (or lies inside) --val_dir val",
    ),
    # 3. maffsrn-evaluate: datasets of one name, conflicting flags
    Case(
        "evaluate-two-datasets-of-one-name",
        ["evaluate", "--datasets", "A/Set5,B/Set5", "--bicubic_only"],
        _make((folder, "A/Set5", ["a.png"]), (folder, "B/Set5", ["b.png"])),
        error="two datasets named Set5: A/Set5 and B/Set5",
    ),
    Case(
        "evaluate-one-dataset-listed-twice",
        ["evaluate", "--datasets", "col,./col/", "--bicubic_only"],
        _make(COL),
        error="dataset ./col/ is listed twice (col and ./col/)",
    ),
    Case(
        "evaluate-identical-images-write-valid-json",
        ["evaluate", "--datasets", "flat", "--bicubic_only", "--per_image", "--json", "r.json"],
        _make((flat_folder, "flat")),
        code=0,
        outputs=["r.json"],
        check=_identical_images_are_null,
    ),
    Case(
        "evaluate-bicubic-only-with-tflite",
        [*EV, "--bicubic_only", "--tflite", "m.tflite"],
        _make(COL, (garbage, "m.tflite")),
        error="--bicubic_only evaluates no model; leave out --tflite",
    ),
    Case(
        "evaluate-bicubic-only-with-weights",
        [*EV, "--bicubic_only", "--weights", "w.weights.h5"],
        _make(COL, (garbage, "w.weights.h5")),
        error="--bicubic_only evaluates no model; leave out --weights",
    ),
    Case(
        "evaluate-bicubic-only-with-self-ensemble",
        [*EV, "--bicubic_only", "--self_ensemble"],
        _make(COL),
        error="--bicubic_only evaluates no model; leave out --self_ensemble",
    ),
    Case(
        "evaluate-bicubic-only-with-quantization",
        [*EV, "--bicubic_only", "--quantization", "int8"],
        _make(COL),
        error="--quantization picks a shipped TFLite model; leave it out when you pass "
        "--bicubic_only",
    ),
    Case(
        "evaluate-tflite-with-weights",
        [*EV, "--tflite", "m.tflite", "--weights", "w.weights.h5"],
        _make(COL, (garbage, "m.tflite"), (garbage, "w.weights.h5")),
        error="--tflite names the model to evaluate, and --weights w.weights.h5 would name another",
    ),
    Case(
        "evaluate-tflite-with-preset",
        [*EV, "--tflite", "m.tflite", "--preset", "maffsrn_l_x2"],
        _make(COL, (garbage, "m.tflite")),
        error="--preset maffsrn_l_x2 would name another",
    ),
    # 4. --preset against --scale or --large
    Case(
        "convert-weights-preset-against-scale",
        [*CONVERT, "--checkpoint", "x.pt", "--preset", "maffsrn_x2", "--scale", "3"],
        _make((garbage, "x.pt")),
        error="--preset maffsrn_x2 upscales x2, but --scale 3: pass one of them",
    ),
    Case(
        "profile-preset-against-scale",
        ["profile", "--preset", "maffsrn_x2", "--scale", "3"],
        error="--preset maffsrn_x2 upscales x2, but --scale 3: pass one of them",
    ),
    Case(
        "train-preset-against-scale",
        [
            "train",
            "--data_dir",
            "col",
            "--preset",
            "maffsrn_x2",
            "--scale",
            "3",
            "--model_dir",
            "run",
        ],  # fmt: skip
        _make(COL),
        error="--preset maffsrn_x2 upscales x2, but --scale 3: pass one of them",
    ),
    Case(
        "train-preset-against-large",
        ["train", "--data_dir", "col", "--preset", "maffsrn_x2", "--large", "--model_dir", "run"],
        _make(COL),
        error="--preset maffsrn_x2 is not MAFFSRN-L, but --large: pass one of them",
    ),
    # 5. maffsrn-convert-weights: the other direction's input
    Case(
        "convert-weights-to-pytorch-with-a-checkpoint",
        ["convert_weights", "--to", "pytorch", "--checkpoint", "x.pt", "--output", "o.pt"],
        _make((garbage, "x.pt")),
        error="--checkpoint is the input of --to keras",
    ),
    Case(
        "convert-weights-checkpoint-with-weights",
        [*CONVERT, "--checkpoint", "x.pt", "--weights", "w.weights.h5"],
        _make((garbage, "x.pt"), (garbage, "w.weights.h5")),
        error="--weights is the input of --to pytorch; --to keras imports --checkpoint",
    ),
    # 6. maffsrn-pack --holdout
    Case(
        "pack-holdout-is-an-image",
        ["pack", "--data_dir", "col", "--holdout", "col/a.png", "--output", "p.npz"],
        _make(COL),
        error="--holdout col/a.png is not a text list of names",
        absent="unexpected",
    ),
    Case(
        "pack-holdout-names-missing-images-plainly",
        ["pack", "--data_dir", "col", "--holdout", "h.txt", "--output", "p.npz"],
        _make(COL, (write, "h.txt", b"a.png\nnotexisting.png\n")),
        error="1 of them not in col: notexisting.png; list file names of that folder",
        absent="[",
    ),
    Case(
        "train-holdout-is-an-image",
        ["train", "--data_dir", "col", "--holdout", "col/a.png", "--model_dir", "run"],
        _make(COL),
        error="--holdout col/a.png is not a text list of names",
    ),
    # a fifth fuzz pass (issue #40)
    Case(
        "train-tfds-source-without-tensorflow-datasets",
        ["without_tfds.py", "--data_source", "tfds", "--model_dir", "run"],
        _make((write, "without_tfds.py", WITHOUT_TFDS)),
        error="--data_source tfds reads DIV2K through TensorFlow Datasets, and its package "
        '(tensorflow-datasets) is not installed: pip install "maffsrn_tf[tfds]"',
        check=lambda d, err: not os.path.exists(os.path.join(d, "run")),
    ),
    Case(
        "train-refused-after-its-checks-leaves-no-model-dir",  # no image as large as a patch
        [
            "train",
            "--data_dir",
            "col",
            "--model_dir",
            "runs/x",
            "--epochs",
            "1",
            "--steps_per_epoch",
            "1",
            "--patch_size",
            "13",
            "--batch_size",
            "1",
        ],
        _make((folder, "col", ["a.png"], (6, 6))),
        error="no usable images in col",
        check=lambda d, err: not os.path.exists(os.path.join(d, "runs")),
    ),  # fmt: skip
    Case(
        "evaluate-empty-dataset-entry",
        ["evaluate", "--datasets", "col,", "--bicubic_only"],
        _make(COL),
        error="--datasets col, has an empty entry: list folders separated by single commas, "
        "with no comma at the end",
    ),
    Case(
        "evaluate-empty-lr-dirs-entry",
        ["evaluate", "--datasets", "col", "--lr_dirs", ",col", "--bicubic_only"],
        _make(COL),
        error="--lr_dirs ,col has an empty entry",
    ),
    Case(
        "evaluate-tflite-that-is-not-a-tflite-file",
        [*EV, "--tflite", "m.bin"],
        _make(COL, (garbage, "m.bin")),
        error="--tflite m.bin is not a .tflite file: name a LiteRT model, or pass Keras "
        "weights as --weights",
        absent="backend",
    ),
    Case(
        "upscale-tflite-backend-with-keras-weights",
        ["upscale", "--input", "in.png", "--backend", "tflite", "--model", "w.weights.h5"],
        _make((photo, "in.png"), (garbage, "w.weights.h5")),
        error="--backend tflite runs .tflite files, and --model w.weights.h5 is none: pass a "
        ".tflite file, or --backend keras for Keras weights",
        absent="as model",
    ),
    Case(
        "upscale-empty-background",
        ["upscale", "--input", "in.png", "--output", "o.jpg", "--background="],
        _make((photo, "in.png")),
        error="an empty colour (--background): name one",
        absent="  ",
    ),
    Case(
        "upscale-background-left-out-keeps-png-transparency",
        ["upscale", "--input", "logo.png", "--output", "o.png"],
        _make((transparent_logo, "logo.png")),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: _pixels(d, "o.png")[0] == "RGBA" and "flattened" not in err,
    ),
]

# a sixth fuzz pass (issue #40): every word used or refused, in one line
SHIPPED_X2 = os.path.join(ROOT, "maffsrn_tf", "weights", "maffsrn_x2_float16.tflite")
CASES += [
    Case(
        "upscale-upper-case-tflite-model-runs-on-tflite",
        ["upscale", "in.png", "-o", "o.png", "--model", "M.TFLITE", "--num_threads", "1"],
        _make((photo, "in.png"), (shutil.copy, "@" + SHIPPED_X2, "M.TFLITE")),
        code=0,
        outputs=["o.png"],
    ),
    Case(
        "upscale-several-inputs-into-a-new-folder-named-with-a-slash",
        ["upscale", "a.png", "b.png", "-o", "new.png/"],
        _make((photo, "a.png"), (photo, "b.png")),
        code=0,
        outputs=["new.png/a_x2.png", "new.png/b_x2.png"],
    ),
    Case(
        "upscale-dash-file-name-without-double-dash",
        ["upscale", "-x.png"],
        _make((photo, "-x.png")),
        error="unknown flag '-x.png' (see --help; a file whose name starts with - goes after --)",
    ),
    Case("pack-helpfull-is-the-help", ["pack", "--helpfull"], code=0),
    Case("pack-helpxml-refused", ["pack", "--helpxml"], error="--helpxml is absl's"),
    Case("upscale-nohelp-refused", ["upscale", "--nohelp"], error="--nohelp is absl's"),
    Case("profile-nohelpshort-refused", ["profile", "--nohelpshort"], error="--nohelpshort"),
    Case(
        "export-empty-weights",
        ["export", "--weights=", "--noverify", "--output_dir", "o"],
        error="--weights is empty: give it a value, or leave the flag out",
    ),
    Case(  # the default --quantizations float16,int8 is why (a 17th fuzz pass)
        "export-int8-without-calibration-names-both-ways",
        ["export", "--noverify", "--output_dir", "o"],
        error="--calibration_dir is required: int8 models are calibrated on HR images (e.g. "
        "the training set); pass --calibration_dir DIR, or leave int8 out of --quantizations",
        check=lambda d, err: not os.path.exists(os.path.join(d, "o")),
    ),
    Case(
        "export-empty-report-dir",
        ["export", "--report_dir=", "--noverify", "--output_dir", "o"],
        error="--report_dir is empty",
    ),
    Case(
        "convert-weights-empty-weights",
        ["convert_weights", "--to", "pytorch", "--weights=", "--output", "o.pt"],
        error="--weights is empty",
    ),
    Case(
        "evaluate-empty-json",
        [*EV, "--bicubic_only", "--json="],
        _make(COL),
        error="--json is empty",
    ),  # fmt: skip
    Case(
        "beam-empty-errors",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--errors="],
        _make(COL),
        error="--errors is empty",
    ),
    Case(
        "profile-input-too-large",
        ["profile", "--input", "99999999999x99999999999"],
        error="is too large to profile: at most 65536 pixels a side",
    ),
    Case(
        "evaluate-hr-image-too-small-for-scale-and-shave",
        ["evaluate", "--datasets", "tiny", "--bicubic_only", "--scale", "4"],
        _make((folder, "tiny", ["a.png"], (16, 16))),
        error="tiny/a.png is 16x16: too small to evaluate at x4 (at least 20x20",
        absent="negative",
    ),
    Case(
        "evaluate-3x3-image",
        ["evaluate", "--datasets", "tiny", "--bicubic_only", "--scale", "4"],
        _make((folder, "tiny", ["c.png"], (3, 3))),
        error="tiny/c.png is 3x3: too small",
    ),
    Case(
        "evaluate-weights-that-are-a-tflite-model",
        [*EV, "--weights", "m.tflite"],
        _make(COL, (garbage, "m.tflite")),
        error="--weights m.tflite is a TFLite model: pass it as --tflite m.tflite",
        absent="backend",
    ),
    Case(
        "evaluate-overwrite-without-json",
        [*EV, "--bicubic_only", "--overwrite"],
        _make(COL),
        error="--overwrite replaces an existing --json file",
    ),
    Case(
        "beam-folder-as-input-pattern",
        ["beam", "--input_pattern", "col", "--output_dir", "o2"],
        _make(COL),
        error="--input_pattern col is a folder, not a pattern: name its files, e.g. "
        "--input_pattern 'col/*'",
    ),
    Case(
        "export-report-with-an-md-extension",
        ["export", "--report", "x.md", "--noverify", "--output_dir", "o"],
        error="--report x.md: name it without .md (--report x writes x.md and x.json)",
    ),
    Case(
        "export-blank-report",
        ["export", "--report", " ", "--noverify", "--output_dir", "o"],
        error="--report ' ' is blank",
    ),
]

# --background COLOUR flattens every output, PNG too (it was silently unused there). The
# options say so (UpscaleOptions.flattens_everywhere); upscaler/files.py must act on it
BACKGROUND_FLATTENS_A_PNG = Case(
    "upscale-background-given-flattens-a-png",
    ["upscale", "--input", "logo.png", "--output", "o.png", "--background", "black"],
    _make((transparent_logo, "logo.png")),
    code=0,
    outputs=["o.png"],
    check=lambda d, err: (
        _pixels(d, "o.png")[0] == "RGB"
        and _pixels(d, "o.png")[1][0, 0].max() <= 8  # the transparent corner: black
        and "flattened" not in err  # asked for: no notice
    ),
)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_command_line(case, tmp_path):
    check_case(case, tmp_path)


def test_a_background_given_flattens_a_png(tmp_path):
    check_case(BACKGROUND_FLATTENS_A_PNG, tmp_path)


def test_a_broken_tensorflow_datasets_install_names_its_missing_module():
    """tensorflow-datasets itself missing, or one of its own imports: the line names which,
    and the install that fixes it."""
    from maffsrn_tf.data.sources import TFDS_MISSING, tfds_import_error

    absent = ModuleNotFoundError(
        "No module named 'tensorflow_datasets'", name="tensorflow_datasets"
    )
    assert tfds_import_error(absent) == TFDS_MISSING
    assert 'pip install "maffsrn_tf[tfds]"' in TFDS_MISSING
    broken = ModuleNotFoundError("No module named 'etils'", name="etils")
    assert tfds_import_error(broken) == (
        "data_source='tfds' reads DIV2K through TensorFlow Datasets, which cannot be imported "
        '(its module etils is missing): pip install "maffsrn_tf[tfds]" to install what it needs'
    )
    clash = ImportError("cannot import name 'x' from 'y'")  # no module named: its own words
    assert "(cannot import name 'x' from 'y'): pip install" in tfds_import_error(clash)


def test_a_finished_run_says_so_in_one_line_and_writes_nothing(tmp_path):
    """The same command again (a flag that may change, changed): one line on stdout, exit 0,
    no TensorFlow, the run's files as they were."""
    from conftest import PROBE

    folder(str(tmp_path / "col"), ["a.png"])
    finished_run(str(tmp_path / "run"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    cmd = [sys.executable, "-c", PROBE, "maffsrn_tf.cli.train", *train("--verbose", "0")[1:]]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == [
        "--model_dir run already finished its run of 2 epochs (run/final.weights.h5): nothing "
        "to train; pass --epochs N with N above 2 to train on, or --model_dir DIR elsewhere "
        "for a new run",
        "False",  # TensorFlow was not imported
    ], lines
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def _fifo_run(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, "-m", f"maffsrn_tf.cli.{args[0]}", *args[1:]]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("output", ["f.png", "t1/"])
def test_skip_existing_refuses_a_fifo_output_without_reading_it(tmp_path, output):
    """A FIFO where an output goes, with --skip_existing: refused as without it (reading it
    to see if it is whole blocked forever)."""
    photo(str(tmp_path / "a.png"), (32, 24))
    (tmp_path / "t1").mkdir()
    os.mkfifo(tmp_path / "t1" / ("f.png" if output == "f.png" else "a_x2.png"))
    target = "t1/f.png" if output == "f.png" else "t1/"
    proc = _fifo_run(tmp_path, "upscale", "a.png", "-o", target, "--skip_existing")
    assert proc.returncode == 1, proc.stderr
    assert "exists and is not a regular file" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_pack_refuses_a_fifo_output_before_packing(tmp_path):
    folder(str(tmp_path / "col"), ["a.png"])
    os.mkfifo(tmp_path / "f.npz")
    proc = _fifo_run(tmp_path, "pack", "--data_dir", "col", "--output", "f.npz", "--overwrite")
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and proc.stdout == "", proc.stdout
    assert lines == ["error: --output f.npz exists and is not a regular file: name another file"]


@pytest.mark.parametrize(
    "args, line",
    [
        (["upscale", "l1.png"], "error: input cannot be opened: l1.png is a link loop"),
        (["upscale", "d.png"], "error: input cannot be opened: d.png is a broken link to n.png"),
        (["pack", "--data_dir", "l1.png", "--output", "p.npz"], "error: --data_dir cannot be "
         "opened: l1.png is a link loop"),
    ],
)  # fmt: skip
def test_a_link_that_leads_nowhere_is_said_as_one(tmp_path, args, line):
    """Not "input not found": the name is there, and says where it leads."""
    os.symlink("l2.png", tmp_path / "l1.png")
    os.symlink("l1.png", tmp_path / "l2.png")
    os.symlink("n.png", tmp_path / "d.png")
    proc = _fifo_run(tmp_path, *args)
    assert proc.returncode == 1 and proc.stderr.splitlines() == [line], proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["d.png", "l1.png", "l2.png"]


def test_weights_that_are_no_file_and_an_output_hard_linked_to_an_input_are_named(tmp_path):
    """A FIFO as weights was "not found", /dev/zero as a checkpoint "not found"; an
    evaluation report hard-linked to one of its images was replaced with ``--overwrite``."""
    folder(str(tmp_path / "val"), ["a.png"])
    os.mkfifo(tmp_path / "f.weights.h5")
    proc = _fifo_run(tmp_path, "evaluate", "--datasets", "val", "--weights", "f.weights.h5")
    assert proc.returncode == 1 and proc.stderr.splitlines()[-1:] == [
        "error: model f.weights.h5: not a regular file (a pipe or a device)"
    ], proc.stderr
    proc = _fifo_run(tmp_path, "convert_weights", "--checkpoint", "/dev/zero", "--output",
                     "y.weights.h5")  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.splitlines()[-1:] == [
        "error: checkpoint /dev/zero is not a regular file (a pipe or a device): name a "
        "checkpoint file"
    ], proc.stderr
    os.link(tmp_path / "val" / "a.png", tmp_path / "r.json")
    proc = _fifo_run(tmp_path, "evaluate", "--datasets", "val", "--bicubic_only", "--json",
                     "r.json", "--overwrite")  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.splitlines() == [
        "error: --json r.json is a hard link to the input val/a.png: write it elsewhere"
    ], proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["f.weights.h5", "r.json", "val"]
    assert os.stat(tmp_path / "r.json").st_nlink == 2


def test_pack_never_writes_over_its_holdout_list_and_a_bad_file_fails_alone(tmp_path):
    """``--output`` naming the ``--holdout`` list is refused even with ``--overwrite`` (the
    list was replaced by the pack); a file that cannot be packed is one line, the rest are
    packed, and the command ends with 1 naming it."""
    folder(str(tmp_path / "col"), ["a.png", "b.png"])
    (tmp_path / "h.npz").write_text("a.png\n")
    proc = _fifo_run(tmp_path, "pack", "--data_dir", "col", "--holdout", "h.npz", "--output",
                     "h.npz", "--overwrite")  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.splitlines() == [
        "error: --output h.npz is (or lies inside) the input h.npz: write it elsewhere"
    ], proc.stderr
    assert (tmp_path / "h.npz").read_text() == "a.png\n"
    os.symlink("gone.png", tmp_path / "col" / "c.png")
    proc = _fifo_run(tmp_path, "pack", "--data_dir", "col", "--output", "p.npz")
    assert proc.returncode == 1, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")] == [
        "error: input cannot be opened: col/c.png is a broken link to gone.png",
        "error: 1 of 3 images were not packed: c.png; p.npz holds the other 2",
    ], proc.stderr
    assert "packed 2/3 images" in proc.stdout and (tmp_path / "p.npz").stat().st_size > 0


@pytest.mark.parametrize("command", ["pack", "train"])
def test_a_fifo_holdout_list_is_refused_without_reading_it(tmp_path, command):
    """``--holdout`` naming a FIFO: one line (reading it blocked forever)."""
    folder(str(tmp_path / "col"), ["a.png"])
    os.mkfifo(tmp_path / "h.txt")
    rest = ["--output", "p.npz"] if command == "pack" else ["--model_dir", "run"]
    proc = _fifo_run(tmp_path, command, "--data_dir", "col", "--holdout", "h.txt", *rest)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "error: --holdout h.txt is not a text list of names (one image file name a line, # "
        "comments): it is not a regular file"
    ), proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["col", "h.txt"]


@pytest.mark.parametrize("made", [False, True])
def test_a_folder_run_that_all_fails_leaves_no_output_folder_it_made(tmp_path, made):
    """Every image failed: the output folders this run made are removed (empty), one that
    was there stays."""
    (tmp_path / "col").mkdir()
    garbage(str(tmp_path / "col" / "x.png"))
    if made:
        (tmp_path / "o2").mkdir()
    proc = _fifo_run(tmp_path, "upscale", "col", "-o", "o2/sub" if not made else "o2")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == "error: 1 of 1 images failed: x.png", proc.stderr
    assert os.path.exists(tmp_path / "o2") == made
    assert sorted(os.listdir(tmp_path)) == (["col", "o2"] if made else ["col"])


@pytest.mark.parametrize("output", ["run/best.weights.h5", "run/backup/latest.weights.h5"])
def test_convert_weights_never_replaces_a_training_runs_file(tmp_path, output):
    """--overwrite had replaced a run's best.weights.h5 (best.json's PSNR then described
    other weights) and its backup (a resume would go on from them): refused before any work."""
    (tmp_path / "run" / "backup").mkdir(parents=True)
    (tmp_path / "run" / "flags.json").write_text("{}")
    (tmp_path / output).write_bytes(b"the run's weights")
    (tmp_path / "x.pt").write_bytes(b"a checkpoint")
    cmd = [sys.executable, "-m", "maffsrn_tf.cli.convert_weights", "--checkpoint", "x.pt",
           "--output", output, "--overwrite"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr == (
        f"error: --output {output} is a record of the training run in {tmp_path / 'run'}: it "
        "is never replaced, even with --overwrite; name another file\n"
    )
    assert (tmp_path / output).read_bytes() == b"the run's weights"
