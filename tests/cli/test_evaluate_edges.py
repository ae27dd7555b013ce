"""``maffsrn-evaluate``'s inputs (fuzz findings): an empty ``--lr_dirs=``, one folder listed
twice through a link, LR images that are not HR / scale. Each is one ``error:`` line naming
the problem and the fix, exit code 1, before any model is loaded (TensorFlow not imported)
and with nothing written; the library (``evaluation.protocol``) says it in Python words."""

import os
import subprocess
import sys

import pytest
from conftest import PROBE, tree
from PIL import Image

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.evaluation.protocol import Progress, check_datasets, dataset_names, evaluate


def _images(folder, size, names=("a.png", "b.png")):
    os.makedirs(folder, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", size, (10 * i, 100, 200)).save(os.path.join(folder, name))
    return str(folder)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """ehr/ (48x48 HR), ehrlink -> ehr, elr/ (24x24: its x2 LR)."""
    _images(tmp_path / "ehr", (48, 48))
    _images(tmp_path / "elr", (24, 24))
    os.symlink("ehr", tmp_path / "ehrlink")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _evaluate(cwd, *words):
    """``maffsrn-evaluate`` run through ``PROBE``: stdout ends with whether TensorFlow was
    imported."""
    return subprocess.run(
        [sys.executable, "-c", PROBE, "maffsrn_tf.cli.evaluate", *words],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


LR_NOT_X2 = (
    "LR image {lr} is 48x48, not 24x24 (HR {hr} 48x48 / 2): the LR folder of a dataset "
    "({flag}) must hold its x2 LR images"
)
CASES = [
    (
        ["--datasets", "ehr", "--lr_dirs="],
        "--lr_dirs is empty: list one LR folder per dataset, comma-separated, or leave the flag "
        "out",
    ),
    (["--datasets="], "--datasets is empty: list the folders of HR images, comma-separated"),
    (
        ["--datasets", "ehr,ehrlink"],
        "dataset ehrlink is listed twice (ehr and ehrlink are one folder, {ehr}); list each "
        "folder once",
    ),
    (
        ["--datasets", "ehr,ehr/"],
        "dataset ehr/ is listed twice (ehr and ehr/); list each folder once",
    ),
    (
        ["--datasets", "ehr", "--lr_dirs", "ehr"],
        LR_NOT_X2.format(lr="ehr/a.png", hr="ehr/a.png", flag="--lr_dirs"),
    ),
    (
        ["--datasets", "ehr,elr", "--lr_dirs", "elr,ehrlink"],  # the second dataset's LR
        "LR image ehrlink/a.png is 48x48, not 12x12 (HR elr/a.png 24x24 / 2): the LR folder "
        "of a dataset (--lr_dirs) must hold its x2 LR images",
    ),
]


@pytest.mark.parametrize("model", [[], ["--bicubic_only"]], ids=["keras", "bicubic"])
@pytest.mark.parametrize("words, line", CASES, ids=[" ".join(w) for w, _ in CASES])
def test_evaluate_refuses_in_one_line_before_any_model(work, words, line, model):
    before = tree(work)
    out = _evaluate(work, *words, *model, "--json", "out.json")
    assert out.returncode == 1, out.stderr
    assert out.stderr == f"error: {line.format(ehr=os.path.realpath(work / 'ehr'))}\n"
    assert out.stdout == "False\n"  # no TensorFlow: refused before the model
    assert tree(work) == before  # no out.json


def test_evaluate_takes_lr_images_of_the_right_size(work):
    out = _evaluate(work, "--datasets", "ehr", "--lr_dirs", "elr", "--bicubic_only")
    assert out.returncode == 0, out.stderr
    assert "| ehr | bicubic |" in out.stdout


# --- the library ----------------------------------------------------------------------


def test_one_folder_through_a_link_is_listed_twice(work):
    real = os.path.realpath(work / "ehr")
    with pytest.raises(MaffsrnError) as caught:
        dataset_names(["ehr", "ehrlink"])
    assert str(caught.value) == (
        f"dataset ehrlink is listed twice (ehr and ehrlink are one folder, {real}); list each "
        "folder once"
    )
    os.makedirs("other")
    os.symlink("../ehr", "other/ehr")  # one name and one folder: the first message still
    with pytest.raises(MaffsrnError, match=r"^dataset other/ehr is listed twice \(ehr and "):
        dataset_names(["ehr", "other/ehr"])
    assert dataset_names(["ehr", "elr"]) == {"ehr": "ehr", "elr": "elr"}


def test_wrong_lr_sizes_are_named_before_any_image_is_evaluated(work, monkeypatch):
    monkeypatch.setattr(Progress, "__init__", lambda *a: pytest.fail("an image was evaluated"))
    with pytest.raises(MaffsrnError) as caught:
        evaluate(["ehr"], 2, lr_dirs={"ehr": "ehr"})
    assert str(caught.value) == LR_NOT_X2.format(lr="ehr/a.png", hr="ehr/a.png", flag="lr_dirs")
    with pytest.raises(MaffsrnError, match=r"^LR image elr/a.png is 24x24, not 16x16 \(HR "):
        check_datasets(["ehr"], 3, {"ehr": "elr"})


def test_lr_sizes_follow_the_mod_crop_and_the_x_scale_names(work):
    """HR 49x50 is mod-cropped to 48x50 at x2: its LR is 24x25; ``ax2.png`` is ``a``'s LR."""
    _images(work / "odd", (49, 50), ["a.png"])
    _images(work / "oddlr", (24, 25), ["ax2.png"])
    check_datasets(["odd"], 2, {"odd": "oddlr"})
    _images(work / "badlr", (25, 25), ["ax2.png"])
    with pytest.raises(MaffsrnError) as caught:
        check_datasets(["odd"], 2, {"odd": "badlr"})
    assert str(caught.value) == (
        "LR image badlr/ax2.png is 25x25, not 24x25 (HR odd/a.png 49x50 / 2): the LR folder of "
        "a dataset (lr_dirs) must hold its x2 LR images"
    )


def test_a_fifo_in_a_dataset_is_refused_not_waited_on(work):
    os.mkfifo(work / "ehr" / "p.png")
    run = _evaluate(work, "--datasets", "ehr", "--bicubic_only")
    assert (run.returncode, run.stdout) == (1, "False\n")  # before TensorFlow is imported
    assert run.stderr == (
        "error: input is not a regular file (a pipe or a device?): ehr/p.png; leave it out of "
        "the dataset\n"
    )


def test_a_name_with_a_newline_stays_one_line_and_choices_take_any_case(work):
    os.rename(work / "ehr" / "a.png", work / "ehr" / "new\nline.png")
    run = _evaluate(work, "--datasets", "ehr", "--quantization", "INT8", "--per_image")
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("ehr/")]
    assert [r.split(":")[0] for r in rows] == ["ehr/b", "ehr/new\\nline"]
    assert "ehr: new\\nline (" in run.stderr and "line (" not in run.stderr.replace(
        "new\\nline (", ""
    )


def test_one_lr_folder_for_two_datasets_is_refused(work):
    _images(work / "ehr2", (48, 48))
    run = _evaluate(work, "--datasets", "ehr,ehr2", "--lr_dirs", "elr,elr", "--bicubic_only")
    assert run.returncode == 1
    assert run.stderr == (
        "error: LR folder elr is listed for two datasets (ehr and ehr2): list each dataset's "
        "own LR folder\n"
    )


def test_a_fixed_size_tflite_model_is_refused_before_any_image(work):
    """A 128 px model (for tiles) had failed at the first image, naming no fix: it is
    refused with the model a whole image takes, before anything is evaluated or written."""
    from maffsrn_tf.model.shipped import tflite_path

    model = tflite_path(2, "int8").replace("_int8.tflite", "_int8_128px.tflite")
    before = tree(work)
    out = _evaluate(work, "--datasets", "ehr", "--tflite", model, "--json", "out.json")
    assert out.returncode == 1, out.stderr
    assert out.stderr == (
        f"error: --tflite {model} takes 128x128 inputs only (a model for tiles; maffsrn-upscale "
        "tiles with it): evaluate a model of any input size, e.g. the shipped one "
        "(--quantization int8)\n"
    )
    assert tree(work) == before
