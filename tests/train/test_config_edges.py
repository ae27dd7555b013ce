"""``TrainConfig``'s checks of where a run reads and writes (fuzz findings): a ``cache_dir``
inside the training or validation folder, or one that cannot be written; a ``val_dir`` that
is the training folder; a rerun whose path options name other folders, shown by their real
paths. The library speaks Python (``cache_dir=...``), ``maffsrn-train`` its flags; every
refusal comes before any work and writes nothing (no cache, no ``model_dir``)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import tree
from PIL import Image

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.train.config import RunConflict, TrainConfig, check_inputs, check_run

HOLDOUT_FIX = (
    "validating on the training images would pick best.weights.h5 by images it trains on; "
    "pass {flag}val_dir{eq}DIR of other images{more}"
)


def _images(folder, names=("a.png", "b.png")):
    os.makedirs(folder, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (48, 48), (10 * i, 100, 200)).save(os.path.join(folder, name))
    return str(folder)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """tr/ (two PNGs), trlink -> tr, val/ (one PNG), keep.txt; the working folder."""
    _images(tmp_path / "tr")
    _images(tmp_path / "val", ["v.png"])
    os.symlink("tr", tmp_path / "trlink")
    (tmp_path / "keep.txt").write_text("keep")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _refused(config, message, error=MaffsrnError):
    before = tree(".")
    with pytest.raises(error) as caught:
        check_run(config)
    assert str(caught.value) == message
    assert "--" not in str(caught.value)  # Python words: the command line translates them
    assert tree(".") == before  # nothing written, no folder made


# --- the library: TrainConfig's checks --------------------------------------------------


def test_a_model_dir_holding_files_a_run_writes_but_no_run_is_refused(work):
    """Files named as a run's outputs, with no ``flags.json``: someone else's; a new run
    replaced them (and appended to their ``log.csv``). Other files do not stop a run."""
    os.makedirs("mine")
    for name in ("final.weights.h5", "log.csv", "notes.txt"):
        (work / "mine" / name).write_text("precious")
    _refused(
        TrainConfig(data_dir="tr", model_dir="mine"),
        "model_dir='mine' holds final.weights.h5, log.csv but no flags.json: files no run "
        "recorded, which a new run would replace or append to; pass model_dir=DIR elsewhere "
        "(a new or empty folder), or move them",
    )
    os.makedirs("notes")
    (work / "notes" / "notes.txt").write_text("mine")
    assert check_run(TrainConfig(data_dir="tr", model_dir="notes")) is None


def test_multi_worker_without_a_cluster_is_refused_before_anything(work, monkeypatch):
    """No TF_CONFIG: it failed at the first step's summary (a ValueError), the run folder
    made; now one line, nothing written."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    _refused(
        TrainConfig(data_dir="tr", model_dir="mw", strategy="multi_worker"),
        "strategy='multi_worker' runs one process per worker of a cluster that the TF_CONFIG "
        "environment variable describes, and it is not set: set it in each worker, or use "
        "strategy='mirrored' (the devices of this machine)",
    )


@pytest.mark.parametrize(
    "values, message",
    [
        ({"patch_size": 12}, "patch_size=12 is below 13"),  # failed inside the model, late
        ({"patch_size": 0}, "patch_size=0 is below 13"),
        ({"decay_factor": 2.0}, "decay_factor=2.0 is above 1.0"),  # the rate had grown
        ({"data_source": "packed", "holdout": "h.txt"}, "holdout lists images of a data "
         "folder (data_source='folder'), not of data_source='packed': leave it out, or pass "
         "val_dir=DIR"),
        ({"data_source": "packed", "cache_dir": "c"}, "cache_dir='c' holds what a folder, "
         "div2k or tfds source is decoded into; a pack (data_source='packed') is read as it "
         "is: leave it out"),  # it was ignored
    ],
)  # fmt: skip
def test_options_that_cannot_train_are_refused_by_the_config(values, message):
    with pytest.raises(MaffsrnError) as caught:
        TrainConfig(data_dir="tr", **values)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "cache_dir, val_dir, inside",
    [
        ("tr", "", "data_dir='tr'"),
        ("tr/cache", "", "data_dir='tr'"),
        ("trlink/c", "", "data_dir='tr'"),  # through a link: the real path is inside
        ("./tr/", "", "data_dir='tr'"),
        ("val/c", "val", "val_dir='val'"),
    ],
)
def test_a_cache_dir_among_the_images_is_refused(work, cache_dir, val_dir, inside):
    config = TrainConfig(data_dir="tr", val_dir=val_dir, cache_dir=cache_dir, model_dir="run")
    _refused(
        config,
        f"cache_dir={cache_dir!r} is (or lies inside) {inside}: the LR and decoded images it "
        "caches (lr/, decoded/) would be written among its images; pass cache_dir=DIR "
        "outside it",
    )


@pytest.mark.parametrize("cache_dir, model_dir", [("c", "c"), ("c", "c/run"), ("run/c", "run")])
def test_a_cache_dir_that_is_or_holds_the_run_is_refused(work, cache_dir, model_dir):
    """The run's files had been written beside lr/ and decoded/ (clearing the cache deleted
    the trained run): the two folders are kept apart, in either direction."""
    config = TrainConfig(data_dir="tr", cache_dir=cache_dir, model_dir=model_dir)
    _refused(
        config,
        f"model_dir={model_dir!r} and cache_dir={cache_dir!r} are one folder, or one lies "
        "inside the other: clearing the cache would delete the run (or the run's files would "
        "mix with the cache); pass them apart",
    )


@pytest.mark.parametrize("model_dir", ["home/.cache", "home/.cache/maffsrn_tf/run"])
def test_the_default_cache_folder_is_kept_apart_from_the_run_too(work, monkeypatch, model_dir):
    """Without cache_dir the cache is ~/.cache/maffsrn_tf: a run folder that holds it or
    lies in it had been taken (the cache written into the run folder)."""
    monkeypatch.setenv("HOME", str(work / "home"))
    root = os.path.join(str(work / "home"), ".cache", "maffsrn_tf")
    _refused(
        TrainConfig(data_dir="tr", model_dir=model_dir),
        f"model_dir={model_dir!r} and the cache folder {root} are one folder, or one lies "
        "inside the other: clearing the cache would delete the run (or the run's files would "
        "mix with the cache); pass them apart",
    )


def test_a_cache_dir_beside_the_images_is_taken_and_nothing_is_made(work):
    config = TrainConfig(data_dir="tr", val_dir="val", cache_dir="cache/x2", model_dir="run")
    before = tree(".")
    assert check_run(config) is None
    assert tree(".") == before


@pytest.mark.parametrize(
    "cache_dir, problem",
    [
        ("keep.txt", "is not a folder this process can write: it is a file, not a folder"),
        (
            "keep.txt/sub",
            "is not a folder this process can write: it cannot be made: {root}/keep.txt is a file",
        ),
        (
            "c",  # its lr/ is a file
            "cannot hold the cache: c/lr is not a folder this process can write: it is a "
            "file, not a folder",
        ),
    ],
)
def test_a_cache_dir_that_cannot_be_written_is_refused(work, cache_dir, problem):
    (work / "c").mkdir()
    (work / "c" / "lr").write_text("not a folder")
    problem = problem.format(root=os.path.realpath(work))
    config = TrainConfig(data_dir="tr", cache_dir=cache_dir, model_dir="run")
    _refused(config, f"cache_dir={cache_dir!r} {problem}; pass cache_dir=DIR elsewhere")


@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux's /proc")
def test_a_cache_dir_on_a_pseudo_file_system_is_refused(work):
    config = TrainConfig(data_dir="tr", cache_dir="/proc/fzcache", model_dir="run")
    before = tree(".")
    with pytest.raises(MaffsrnError) as caught:
        check_run(config)
    message = str(caught.value)
    assert message.startswith(
        "cache_dir='/proc/fzcache' is not a folder this process can write: /proc is not writable ("
    )
    assert message.endswith("); pass cache_dir=DIR elsewhere")
    assert tree(".") == before and not os.path.exists("/proc/fzcache")


def test_a_finished_run_trains_nothing_so_its_cache_is_not_needed(work):
    config = TrainConfig(data_dir="tr", model_dir="run", epochs=1)
    os.makedirs("run")
    with open("run/flags.json", "w") as f:
        json.dump(config.asdict(), f)
    with open("run/final.json", "w") as f:
        json.dump({"epochs": 1}, f)
    rerun = TrainConfig(data_dir="tr", model_dir="run", epochs=1, cache_dir="keep.txt")
    assert "already finished its run of 1 epoch" in check_run(rerun)
    more = TrainConfig(data_dir="tr", model_dir="run", epochs=2, cache_dir="keep.txt")
    with pytest.raises(MaffsrnError, match="^cache_dir='keep.txt' is not a folder"):
        check_run(more)  # it would train on: the cache is needed


@pytest.mark.parametrize(
    "val_dir, both",
    [("tr", ""), ("./tr/", ""), ("trlink", " (both {real})"), ("trlink/", " (both {real})")],
)
def test_a_val_dir_that_is_the_training_folder_is_refused(work, val_dir, both):
    real = os.path.realpath(work / "tr")
    config = TrainConfig(data_dir="tr", val_dir=val_dir, model_dir="run")
    more = (
        ", or holdout=FILE listing images of the data folder to hold out of training and "
        "validate on"
    )
    fix = HOLDOUT_FIX.format(flag="", eq="=", more=more)
    _refused(config, f"val_dir={val_dir!r} is data_dir='tr'{both.format(real=real)}: {fix}")


def test_a_val_dir_inside_or_around_the_training_folder_is_other_images(work):
    """Folders are read without their subfolders: tr/ and tr/sub/ are other images."""
    _images(work / "tr" / "sub", ["s.png"])
    assert check_run(TrainConfig(data_dir="tr", val_dir="tr/sub", model_dir="run")) is None
    assert check_run(TrainConfig(data_dir="tr/sub", val_dir="tr", model_dir="run")) is None


def test_a_div2k_val_dir_that_is_its_training_folder_is_refused(work):
    _images(work / "DIV2K" / "DIV2K_train_HR", ["0001.png"])
    config = TrainConfig(
        data_source="div2k",
        data_dir="DIV2K",
        val_dir="DIV2K/DIV2K_train_HR",
        model_dir="run",
    )
    with pytest.raises(MaffsrnError) as caught:
        check_inputs(config)
    fix = HOLDOUT_FIX.format(flag="", eq="=", more="")  # no holdout list for DIV2K
    assert str(caught.value) == (
        f"val_dir='DIV2K/DIV2K_train_HR' is the training folder of data_dir='DIV2K': {fix}"
    )
    os.symlink("DIV2K/DIV2K_train_HR", "hr")
    config.val_dir = "hr"
    real = os.path.realpath(work / "DIV2K" / "DIV2K_train_HR")
    with pytest.raises(MaffsrnError) as caught:
        check_inputs(config)
    assert str(caught.value) == (
        f"val_dir='hr' is the training folder of data_dir='DIV2K' (both {real}): {fix}"
    )
    config.val_dir = "val"
    check_inputs(config)


def _run_from(folder, data_dir="trlink"):
    """A run in ``folder``/run started from ``folder``, recorded as flags.json records it."""
    config = TrainConfig(data_dir=data_dir, model_dir="run", epochs=1)
    os.makedirs(os.path.join(folder, "run"))
    with open(os.path.join(folder, "run", "flags.json"), "w") as f:
        json.dump(config.asdict(), f)
    with open(os.path.join(folder, "run", "workdir.json"), "w") as f:
        json.dump({"workdir": str(folder)}, f)
    return config


def test_a_rerun_names_the_real_paths_that_differ(work):
    """``trlink`` in a/ and in b/ are spelled alike and are other folders: the refusal says
    which real folders they are."""
    os.makedirs(work / "a")
    os.symlink("../tr", work / "a" / "trlink")
    _images(work / "b" / "other")
    os.symlink("other", work / "b" / "trlink")
    _run_from(work / "a")
    os.chdir(work / "b")
    before = tree(work)
    with pytest.raises(RunConflict) as caught:
        check_run(TrainConfig(data_dir="trlink", model_dir="../a/run", epochs=1))
    now, was = os.path.realpath(work / "b" / "other"), os.path.realpath(work / "tr")
    assert caught.value.differences == [("data_dir", "trlink", "trlink")]
    assert caught.value.resolved == {"data_dir": (now, was)}
    assert f"data_dir='trlink' (recorded: trlink) is now {now}, was {was}. Rerun " in str(
        caught.value
    )
    assert tree(work) == before


# --- maffsrn-train: one line, in flag words, before any work ------------------------------


def _train(cwd, *words):
    return subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.train", *words],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,  # a training start under a loaded machine took over 120 s
    )


SHORT = ["--scale", "2", "--epochs", "1", "--steps_per_epoch", "2", "--batch_size", "2",
         "--patch_size", "16", "--verbose", "0"]  # fmt: skip
CACHE_AMONG = (
    "the LR and decoded images it caches (lr/, decoded/) would be written among its images; "
    "pass --cache_dir DIR outside it"
)
CLI_HOLDOUT_FIX = HOLDOUT_FIX.format(
    flag="--",
    eq=" ",
    more=", or --holdout FILE listing images of the data folder to hold out of training and "
    "validate on",
)
CLI_CASES = [
    (["--cache_dir", "tr"], f"--cache_dir tr is (or lies inside) --data_dir tr: {CACHE_AMONG}"),
    (
        ["--cache_dir", "trlink/c"],
        f"--cache_dir trlink/c is (or lies inside) --data_dir tr: {CACHE_AMONG}",
    ),
    (
        ["--val_dir", "val", "--cache_dir", "val/c"],
        f"--cache_dir val/c is (or lies inside) --val_dir val: {CACHE_AMONG}",
    ),
    (
        ["--cache_dir", "keep.txt"],
        "--cache_dir keep.txt is not a folder this process can write: it is a file, not a "
        "folder; pass --cache_dir DIR elsewhere",
    ),
    (["--val_dir", "tr"], f"--val_dir tr is --data_dir tr: {CLI_HOLDOUT_FIX}"),
    (
        ["--val_dir", "trlink"],
        f"--val_dir trlink is --data_dir tr (both {{tr}}): {CLI_HOLDOUT_FIX}",
    ),
]


@pytest.mark.parametrize("words, line", CLI_CASES, ids=[" ".join(w) for w, _ in CLI_CASES])
def test_train_refuses_in_one_line_and_writes_nothing(work, words, line):
    before = tree(work)
    out = _train(work, "--data_dir", "tr", "--model_dir", "run2", *SHORT, *words)
    assert out.returncode == 1, out.stderr
    assert out.stderr == f"error: {line.format(tr=os.path.realpath(work / 'tr'))}\n"
    assert out.stdout == ""
    assert tree(work) == before  # no cache in tr/, no run2/


@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux's /proc")
def test_train_refuses_a_cache_dir_in_proc(work):
    before = tree(work)
    out = _train(work, "--data_dir", "tr", "--model_dir", "run2", *SHORT,
                 "--cache_dir", "/proc/fzcache")  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith(
        "error: --cache_dir /proc/fzcache is not a folder this process can write: /proc is "
        "not writable ("
    )
    assert out.stderr.endswith("); pass --cache_dir DIR elsewhere\n")
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert tree(work) == before


def test_train_rerun_shows_the_real_folders_that_differ(work):
    os.makedirs(work / "a")
    os.symlink("../tr", work / "a" / "trlink")
    _images(work / "b" / "other")
    os.symlink("other", work / "b" / "trlink")
    _run_from(work / "a")
    record = (work / "a" / "run" / "flags.json").read_bytes()
    before = tree(work)
    out = _train(work / "b", "--data_dir", "trlink", "--model_dir", "../a/run", "--epochs", "1")
    now, was = os.path.realpath(work / "b" / "other"), os.path.realpath(work / "tr")
    assert out.returncode == 1, out.stderr
    assert out.stderr == (
        "error: --model_dir ../a/run holds a run trained with other flags: --data_dir trlink "
        f"(flags.json: --data_dir trlink) is now {now}, was {was}; rerun it with the flags "
        "../a/run/flags.json records (only --epochs, --verbose, --backup_every_steps, "
        "--strategy, --tpu, --jit_compile, --cache_dir may change: a larger --epochs trains "
        "on), or pass --model_dir DIR elsewhere for a new run\n"
    )
    assert (work / "a" / "run" / "flags.json").read_bytes() == record
    assert tree(work) == before


# --- a rerun on other data; a refused run's cache folders -----------------------------------

DATA_FIX = "start a new run with --model_dir DIR elsewhere, or put the data back"


def _epochs(n):
    """``SHORT`` with ``--epochs n`` (a flag is given once: twice is refused)."""
    i = SHORT.index("--epochs")
    return [*SHORT[: i + 1], str(n), *SHORT[i + 2 :]]


def _began(folder, **options):
    """A run in ``folder``/run started from ``folder`` on tr/ and val/, recorded as train()
    records it (flags.json, workdir.json, data.json)."""
    from maffsrn_tf.train.config import record_data

    config = TrainConfig(data_dir="tr", model_dir="run", epochs=1, steps_per_epoch=2,
                         batch_size=2, patch_size=16, verbose=0, **options)  # fmt: skip
    os.makedirs(os.path.join(folder, "run"))
    with open(os.path.join(folder, "run", "flags.json"), "w") as f:
        json.dump(config.asdict(), f, indent=2, sort_keys=True)
    with open(os.path.join(folder, "run", "workdir.json"), "w") as f:
        json.dump({"workdir": str(folder)}, f)
    record_data(config, os.path.join(folder, "run"))
    return config


def _contents(root):
    """Every file under ``root`` with its bytes, and every folder."""
    found = {}
    for path, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(path, name), root)] = None
        for name in files:
            with open(os.path.join(path, name), "rb") as f:
                found[os.path.relpath(os.path.join(path, name), root)] = f.read()
    return found


def test_train_refuses_a_rerun_on_other_data_in_one_line(work):
    _began(work, val_dir="val")
    os.remove(work / "tr" / "a.png")
    _images(work / "tr", ["noise0.png"])
    Image.new("RGB", (48, 48), (1, 2, 3)).save(work / "tr" / "b.png")  # other pixels
    Image.new("RGB", (48, 48), (4, 5, 6)).save(work / "val" / "v.png")
    before = _contents(work)
    out = _train(work, "--data_dir", "tr", "--val_dir", "val", "--model_dir", "run",
                 *_epochs(2), "--cache_dir", "cache")  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert out.stderr == (
        "error: 3 of 3 training images changed (tr/noise0.png added, tr/a.png removed, "
        "tr/b.png changed); 1 of 1 validation images changed (val/v.png changed) since the "
        f"run in --model_dir run began: {DATA_FIX}\n"
    )
    assert out.stdout == ""
    assert _contents(work) == before  # flags.json, data.json as they were; no cache


def test_train_refuses_an_edited_holdout_list(work):
    (work / "h.txt").write_text("a.png\n")
    _began(work, holdout="h.txt")
    (work / "h.txt").write_text("b.png\n")
    before = _contents(work)
    out = _train(work, "--data_dir", "tr", "--holdout", "h.txt", "--model_dir", "run", *SHORT)
    assert out.returncode == 1, out.stderr
    assert out.stderr == (
        "error: --holdout h.txt now lists other images (b.png added, a.png removed) since the "
        f"run in --model_dir run began: {DATA_FIX}\n"
    )
    assert _contents(work) == before


def test_a_refused_run_leaves_no_empty_cache_folder(work):
    """An unreadable image: one line, and neither --cache_dir nor --model_dir is made."""
    os.makedirs(work / "badtr")
    (work / "badtr" / "x.png").write_text("hi")
    before = tree(work)
    words = ["--data_dir", "badtr", "--scale", "2", "--epochs", "1", "--steps_per_epoch", "2",
             "--model_dir", "runH", "--cache_dir", "cacheH"]  # fmt: skip
    out = _train(work, *words)
    assert out.returncode == 1, out.stderr
    assert out.stderr == (
        "error: cannot read badtr/x.png as an image (UnidentifiedImageError: cannot identify "
        "image file 'badtr/x.png')\n"
    )
    assert tree(work) == before  # no cacheH/lr/KEY_x2/, no cacheH/, no runH/


def test_train_prunes_the_cache_folders_a_failed_run_made(work, monkeypatch):
    """However the data fails (here: a stand-in for the store that makes its folders and
    fails), the folders it made in cache_dir and left empty go; the cache's own stay."""
    from maffsrn_tf.data import sources
    from maffsrn_tf.train.trainer import train

    os.makedirs(work / "cache" / "lr" / "old_x2")  # an earlier run's (emptied): kept

    def failing_store(source, path, scale, patch, cache_dir=None, exclude=()):
        os.makedirs(os.path.join(cache_dir, "lr", "new_x2"))
        os.makedirs(os.path.join(cache_dir, "decoded", "new_x2"))
        raise sources.DataError("no usable images in tr (all smaller than the patch?)")

    monkeypatch.setattr(sources, "training_store", failing_store)
    config = TrainConfig(data_dir="tr", cache_dir="cache", model_dir="run", epochs=1)
    with pytest.raises(sources.DataError, match="no usable images"):
        train(config)
    assert sorted(tree(work / "cache")) == ["lr", "lr/old_x2"]
    assert not os.path.exists(work / "run")


@pytest.mark.slow
def test_a_trained_run_records_its_data_and_refuses_other_data(work):
    """The fuzz finding end to end: a run trained on tr/ and val/; the images replaced; the
    rerun with more epochs is refused before any training, its files as they were."""
    words = ["--data_dir", "tr", "--val_dir", "val", "--model_dir", "run", "--cache_dir",
             "cache"]  # fmt: skip
    out = _train(work, *words, *_epochs(1))
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((work / "run" / "data.json").read_text())
    assert sorted(record["training"]) == ["a.png", "b.png"]
    assert sorted(record["validation"]) == ["v.png"] and record["epoch"] == 0
    for i, name in enumerate(("a.png", "b.png")):
        Image.new("RGB", (48, 48), (200, 10 * i, 0)).save(work / "tr" / name)
    before = _contents(work / "run")
    out = _train(work, *words, *_epochs(2))
    assert out.returncode == 1, out.stderr[-3000:]
    assert out.stderr == (
        "error: 2 of 2 training images changed (tr/a.png changed, tr/b.png changed) since "
        f"the run in --model_dir run began: {DATA_FIX}\n"
    )
    assert _contents(work / "run") == before


def test_train_refuses_a_validation_image_too_small_to_measure_before_any_work(work):
    """A validation image under SSIM's window after the shave (14x14 at x2: at least 16)
    ended the run at its first epoch's validation, the epoch trained and the run folder
    written (fuzz pass 21); now one line first, nothing written, no cache made. (One whose
    LR is under the model's 13x13 is measured edge-padded, as upscale() does it.)"""
    os.makedirs(work / "small")
    Image.new("RGB", (14, 15), (10, 100, 200)).save(work / "small" / "s.png")
    before = tree(work)
    out = _train(work, "--data_dir", "tr", "--val_dir", "small", "--model_dir", "run",
                 "--cache_dir", "cache", *SHORT)  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert out.stderr == (
        "error: small/s.png is 14x15: too small to measure at x2 (at least 16x16: 2 pixels are "
        "shaved from each border, and SSIM needs 11x11); leave it out of small\n"
    )
    assert tree(work) == before


def test_a_cache_dir_in_another_runs_folder_is_refused(work):
    """``cache_dir`` inside a finished run's folder wrote ``decoded/`` and ``lr/`` among its
    checkpoints (fuzz pass 22). A folder with a ``flags.json`` but no ``workdir.json`` is no
    run (a project of the user's): taken."""
    (work / "r1").mkdir()
    for name in ("flags.json", "workdir.json"):
        (work / "r1" / name).write_text("{}")
    _refused(
        TrainConfig(data_dir="tr", model_dir="r2", cache_dir="r1/cache"),
        "cache_dir='r1/cache' is (or lies inside) the training run in "
        f"{str(work / 'r1')!r} (its flags.json): the cache would mix with that run's files; "
        "pass cache_dir=DIR elsewhere",
    )
    (work / "r1" / "workdir.json").unlink()
    assert check_run(TrainConfig(data_dir="tr", model_dir="r2", cache_dir="r1/cache")) is None


def test_a_held_model_dir_another_runs_folder_or_an_unusable_home_are_refused(work, monkeypatch):
    """Fuzz pass 23: two trainings into one model_dir both ran, mixing log rows, TensorBoard
    events and checkpoints; a model_dir inside another run's backup/ trained; HOME a file
    ended in "unexpected NotADirectoryError". Each is one line now, nothing left behind."""
    from maffsrn_tf.train.trainer import _held, train

    short = dict(data_dir="tr", epochs=1, steps_per_epoch=1, batch_size=1, patch_size=16,
                 verbose=0, cache_dir="cache")  # fmt: skip
    before = tree(".")
    with _held("run"):
        with pytest.raises(MaffsrnError) as err:
            train(TrainConfig(model_dir="run", **short))
        assert str(err.value) == (
            "model_dir='run' is in use by another training run (still going): wait for it to "
            "end, or pass model_dir=DIR elsewhere"
        )
    assert tree(".") == before  # the folder the lock made: gone with the refusal
    (work / "r1" / "backup").mkdir(parents=True)
    for name in ("flags.json", "workdir.json"):
        (work / "r1" / name).write_text("{}")
    with pytest.raises(MaffsrnError) as err:
        train(TrainConfig(model_dir="r1/backup/r2", **short))
    assert str(err.value) == (
        f"model_dir='r1/backup/r2' lies inside the training run in {str(work / 'r1')!r} (its "
        "flags.json): the runs' files would mix; pass model_dir=DIR elsewhere"
    )
    from maffsrn_tf.io.atomic import folder_problem

    with pytest.raises(MaffsrnError) as err:  # a new run around r1: r1 could not resume
        train(TrainConfig(model_dir=".", **short))
    assert str(err.value) == (
        f"model_dir='.' holds the training run in {str(work / 'r1')!r}: the runs' files would "
        "mix, and that run could no longer resume; pass model_dir=DIR elsewhere"
    )
    monkeypatch.setenv("HOME", str(work / "keep.txt"))  # a file
    root = work / "keep.txt" / ".cache" / "maffsrn_tf"
    _refused(
        TrainConfig(data_dir="tr", model_dir="new"),
        f"the cache folder {root} (the default) is not a folder this process can write: "
        f"{folder_problem(str(root))}; pass cache_dir=DIR",
    )
