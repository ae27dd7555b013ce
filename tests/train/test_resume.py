"""What a rerun of a run may change (``train.config.check_run``, plain Python): how long and
how it runs, never what it trains; a finished run says so; a run's folder is never among its
images. (A real kill and resume: test_trainer.py; the command line: tests/contracts/
test_hostile_commands.py.)"""

import json
import os

import pytest

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.train.config import RESUME_MAY_CHANGE, RunConflict, TrainConfig, check_run


def _config(tmp_path, **changed):
    values = {"data_dir": str(tmp_path / "col"), "model_dir": str(tmp_path / "run"), "epochs": 3}
    return TrainConfig(**{**values, **changed})


def _record(config, finished=None):
    os.makedirs(config.model_dir, exist_ok=True)
    with open(os.path.join(config.model_dir, "flags.json"), "w") as f:
        json.dump(config.asdict(), f)
    if finished:
        with open(os.path.join(config.model_dir, "final.json"), "w") as f:
            json.dump({"epochs": finished, "iterations": finished * 1000}, f)


@pytest.fixture
def run(tmp_path):
    (tmp_path / "col").mkdir()
    config = _config(tmp_path)
    _record(config)
    return config


def test_a_new_run_and_the_same_run_again_train(tmp_path, run):
    assert check_run(_config(tmp_path, model_dir=str(tmp_path / "new"))) is None
    assert check_run(run) is None  # killed before it finished: resumes


def test_only_how_long_and_how_a_run_runs_may_change(tmp_path, run):
    same = _config(tmp_path, epochs=10, verbose=2, backup_every_steps=5, strategy="mirrored",
                   jit_compile=True, cache_dir=str(tmp_path / "c"), tpu="grpc://x",
                   data_dir=str(tmp_path / "col") + "/./",  # the same folder, spelled otherwise
                   model_dir=str(tmp_path / "x" / ".." / "run"))  # fmt: skip
    assert check_run(same) is None
    assert set(RESUME_MAY_CHANGE) == {"epochs", "verbose", "backup_every_steps", "strategy",
                                      "tpu", "jit_compile", "cache_dir", "model_dir"}  # fmt: skip


def test_every_other_difference_is_named_and_nothing_is_written(tmp_path, run):
    before = (tmp_path / "run" / "flags.json").read_bytes()
    other = _config(tmp_path, learning_rate=1e-3, mixed_precision=True, max_decays=1,
                    preset="maffsrn_x3", scale=3)  # fmt: skip
    with pytest.raises(RunConflict) as caught:
        check_run(other)
    assert caught.value.differences == [
        ("preset", "maffsrn_x3", "maffsrn_x2"),
        ("scale", 3, 2),
        ("learning_rate", 1e-3, 2e-4),
        ("max_decays", 1, None),
        ("mixed_precision", True, False),
    ]
    message = str(caught.value)
    assert "preset='maffsrn_x3' (recorded: maffsrn_x2)" in message
    assert "max_decays=1 (recorded: unset)" in message and "--" not in message  # Python words
    assert isinstance(caught.value, MaffsrnError)
    assert (tmp_path / "run" / "flags.json").read_bytes() == before
    assert sorted(os.listdir(tmp_path / "run")) == ["flags.json"]


def test_a_finished_run_says_so_until_epochs_is_raised(tmp_path, run):
    _record(run, finished=3)
    said = check_run(_config(tmp_path, verbose=0))
    assert said.startswith(f"model_dir={run.model_dir!r} already finished its run of 3 epochs")
    assert "epochs=N with N above 3" in said
    assert check_run(_config(tmp_path, epochs=2)) is not None  # fewer: nothing to train either
    assert check_run(_config(tmp_path, epochs=4)) is None  # trains on


def test_model_dir_among_the_images_is_refused(tmp_path):
    (tmp_path / "col").mkdir()
    (tmp_path / "val").mkdir()
    os.symlink(tmp_path / "val", tmp_path / "link")
    for model_dir, where in ((tmp_path / "col", "data_dir"), (tmp_path / "col" / "r", "data_dir"),
                             (tmp_path / "link" / "r", "val_dir")):  # fmt: skip
        config = _config(tmp_path, model_dir=str(model_dir), val_dir=str(tmp_path / "val"))
        with pytest.raises(MaffsrnError, match=f"is \\(or lies inside\\) {where}="):
            check_run(config)
    # beside them, or holding them, is fine
    assert check_run(_config(tmp_path, model_dir=str(tmp_path / "colour"))) is None
    assert check_run(_config(tmp_path, model_dir=str(tmp_path))) is None
    assert not (tmp_path / "colour").exists()


def test_an_unreadable_record_is_named(tmp_path, run):
    (tmp_path / "run" / "flags.json").write_text("[1, 2")
    with pytest.raises(MaffsrnError, match="flags.json is not a readable record of a run"):
        check_run(run)
    (tmp_path / "run" / "flags.json").write_text('{"colour": 1}')
    with pytest.raises(MaffsrnError, match="unknown training options: colour"):
        check_run(run)


def test_train_itself_refuses_other_options_and_skips_a_finished_run(tmp_path, run, capsys):
    """``train()`` (a notebook, a script) checks as the command does, before writing."""
    from maffsrn_tf.train.trainer import train

    before = sorted(os.listdir(tmp_path / "run"))
    with pytest.raises(RunConflict, match="learning_rate=0.001"):
        train(_config(tmp_path, learning_rate=1e-3))
    _record(run, finished=3)
    assert train(run.asdict()) is None
    assert "already finished its run of 3 epochs" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "run")) == sorted([*before, "final.json"])


@pytest.mark.parametrize(
    "inside", ["final.weights.h5", "best.weights.h5", "best.keras", "backup/ckpt.weights.h5"]
)
def test_init_weights_that_the_run_writes_are_refused(tmp_path, inside):
    (tmp_path / "run" / "backup").mkdir(parents=True)
    (tmp_path / "run" / inside).write_bytes(b"weights")
    os.symlink(tmp_path / "run", tmp_path / "link")  # the same folder through a link
    for given in (tmp_path / "run" / inside, tmp_path / "link" / inside):
        with pytest.raises(MaffsrnError, match="is a file this run writes in model_dir="):
            check_run(_config(tmp_path, init_weights=str(given)))
    assert (tmp_path / "run" / inside).read_bytes() == b"weights"


def test_init_weights_linked_to_an_output_are_refused_another_run_s_are_not(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "final.weights.h5").write_bytes(b"w")
    os.link(tmp_path / "run" / "final.weights.h5", tmp_path / "hard.weights.h5")
    os.symlink(tmp_path / "run" / "final.weights.h5", tmp_path / "soft.weights.h5")
    for name in ("hard.weights.h5", "soft.weights.h5"):
        with pytest.raises(MaffsrnError, match="copy it elsewhere"):
            check_run(_config(tmp_path, init_weights=str(tmp_path / name)))
    # fine-tuning from another run's folder, or a file of its own name in model_dir: fine
    new = str(tmp_path / "tuned")
    init = str(tmp_path / "run" / "final.weights.h5")
    assert check_run(_config(tmp_path, model_dir=new, init_weights=init)) is None
    (tmp_path / "run" / "start.weights.h5").write_bytes(b"w")
    start = str(tmp_path / "run" / "start.weights.h5")
    with pytest.raises(MaffsrnError, match="holds final.weights.h5 but no flags.json"):
        check_run(_config(tmp_path, init_weights=start))  # run/ is no run: its files are not
    (tmp_path / "run" / "flags.json").write_text(json.dumps(_config(tmp_path).asdict()))
    assert check_run(_config(tmp_path)) is None  # a run of its own: resumed
    assert check_run(_config(tmp_path, model_dir=new, init_weights=start)) is None
    assert check_run(_config(tmp_path, model_dir=new, init_weights="maffsrn_x2")) is None


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_outside_what_the_generators_take_is_refused(tmp_path, seed):
    with pytest.raises(MaffsrnError, match="seed="):
        _config(tmp_path, seed=seed)
    assert _config(tmp_path, seed=2**32 - 1).seed == 2**32 - 1


def _relative_run(tmp_path, where, workdir_record=True, model_dir="run"):
    """A run started in ``where`` with relative paths (as train() records it)."""
    (where / "col").mkdir(parents=True, exist_ok=True)
    config = TrainConfig(data_dir="col", model_dir=model_dir, epochs=3)
    os.makedirs(where / "run", exist_ok=True)
    (where / "run" / "flags.json").write_text(json.dumps(config.asdict()))
    if workdir_record:
        (where / "run" / "workdir.json").write_text(json.dumps({"workdir": str(where)}))
    return config


@pytest.mark.parametrize("workdir_record", [True, False])  # False: a run of older versions
def test_the_same_relative_data_dir_from_another_folder_is_other_data(
    tmp_path, monkeypatch, workdir_record
):
    a, b = tmp_path / "a", tmp_path / "b"
    _relative_run(tmp_path, a, workdir_record)
    (b / "col").mkdir(parents=True)
    monkeypatch.chdir(a)
    assert check_run(TrainConfig(data_dir="col", model_dir="run", epochs=3)) is None
    assert check_run(TrainConfig(data_dir=str(a / "col"), model_dir="run", epochs=3)) is None
    monkeypatch.chdir(b)  # the run named by its absolute path, "col" is b's own
    with pytest.raises(RunConflict, match="data_dir='col' \\(recorded: col\\)"):
        check_run(TrainConfig(data_dir="col", model_dir=str(a / "run"), epochs=3))
    same = TrainConfig(data_dir="../a/col", model_dir=str(a / "run"), epochs=3)
    assert check_run(same) is None


def test_an_old_record_with_an_absolute_model_dir_still_resumes(tmp_path, monkeypatch):
    run = str(tmp_path / "a" / "run")
    _relative_run(tmp_path, tmp_path / "a", workdir_record=False, model_dir=run)
    monkeypatch.chdir(tmp_path / "a")
    assert check_run(TrainConfig(data_dir="col", model_dir=run, epochs=3)) is None


# --- the data a run began with (data.json): another is refused, naming what changed --------

FIX = "start a new run with model_dir=DIR elsewhere, or put the data back"


def _png(path, value, size=24):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (size, size), (value, 100, 200)).save(path)


@pytest.fixture
def began(tmp_path, monkeypatch):
    """A run in run/ that began on tr/ (a, b, c.png) validated on val/ (v, w.png): its
    flags.json and data.json as train() writes them; the working folder is tmp_path."""
    from maffsrn_tf.train.config import record_data

    monkeypatch.chdir(tmp_path)
    for i, name in enumerate(("a.png", "b.png", "c.png")):
        _png(f"tr/{name}", i)
    for i, name in enumerate(("v.png", "w.png")):
        _png(f"val/{name}", 50 + i)
    config = TrainConfig(data_dir="tr", val_dir="val", model_dir="run", epochs=3)
    _record(config)
    record_data(config)
    return config


def _tree_bytes(root):
    return {
        os.path.join(path, name): open(os.path.join(path, name), "rb").read()
        for path, _, files in os.walk(root)
        for name in files
    }


def _data_refused(config, message):
    before = _tree_bytes("run")
    with pytest.raises(MaffsrnError) as caught:
        check_run(config)
    assert str(caught.value) == message
    assert "--" not in message  # Python words: the command line translates them
    assert _tree_bytes("run") == before  # flags.json, data.json as they were


def test_a_run_records_its_data_and_resumes_on_the_same(began):
    record = json.load(open("run/data.json"))
    assert record["epoch"] == 0 and record["holdout"] is None
    assert sorted(record["training"]) == ["a.png", "b.png", "c.png"]
    assert sorted(record["validation"]) == ["v.png", "w.png"]
    assert set(record["training"]["a.png"]) == {"size", "mtime_ns", "ctime_ns", "inode",
                                                "blake2b"}  # fmt: skip
    assert check_run(began) is None
    assert check_run(_config_like(began, epochs=5, verbose=0)) is None


def _config_like(config, **changed):
    return TrainConfig(**{**config.asdict(), **changed})


def test_other_training_and_validation_images_are_refused(began):
    os.remove("tr/a.png")
    _png("tr/new.png", 9)
    _png("tr/c.png", 99)  # other pixels, same name
    _png("val/v.png", 77)
    _data_refused(
        began,
        "3 of 4 training images changed (tr/new.png added, tr/a.png removed, tr/c.png "
        "changed); 1 of 2 validation images changed (val/v.png changed) since the run in "
        f"model_dir='run' began: {FIX}",
    )


def test_many_changes_are_counted_and_a_few_named(began):
    for i in range(5):
        _png(f"tr/n{i}.png", i)
    _data_refused(
        began,
        "5 of 8 training images changed (tr/n0.png added, tr/n1.png added, tr/n2.png added, "
        f"and 2 more) since the run in model_dir='run' began: {FIX}",
    )


def test_the_same_bytes_with_new_times_or_a_new_inode_are_the_same_data(began):
    import shutil

    os.utime("tr/a.png", ns=(1, 1))  # touched
    shutil.copy("tr/b.png", "b.tmp")  # copied back: another inode and time, the same bytes
    os.replace("b.tmp", "tr/b.png")
    os.chmod("val/v.png", 0o600)  # another ctime
    assert check_run(began) is None


def test_other_bytes_of_the_same_size_and_time_are_other_data(began):
    """``cp -p`` of another picture of the same size over an image: only its bytes tell."""
    st = os.stat("tr/b.png")
    data = bytearray(open("tr/b.png", "rb").read())
    data[-20] ^= 0xFF
    open("tr/b.png", "wb").write(bytes(data))
    os.utime("tr/b.png", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.path.getsize("tr/b.png") == st.st_size
    _data_refused(
        began, f"1 of 3 training images changed (tr/b.png changed) since the run in "
        f"model_dir='run' began: {FIX}",
    )  # fmt: skip


def test_an_emptied_validation_folder_is_refused(began):
    os.remove("val/v.png")
    os.remove("val/w.png")
    _data_refused(
        began,
        "2 of 2 validation images changed (val/v.png removed, val/w.png removed) since the "
        f"run in model_dir='run' began: {FIX}",
    )


def test_a_file_that_is_not_an_image_is_not_data(began):
    open("tr/notes.txt", "w").write("not an image")  # training reads images alone
    assert check_run(began) is None


def test_an_edited_holdout_list_is_refused(tmp_path, monkeypatch):
    from maffsrn_tf.train.config import record_data

    monkeypatch.chdir(tmp_path)
    for i, name in enumerate(("a.png", "b.png", "c.png", "d.png")):
        _png(f"tr/{name}", i)
    (tmp_path / "h.txt").write_text("a.png\n")
    config = TrainConfig(data_dir="tr", holdout="h.txt", model_dir="run", epochs=3)
    _record(config)
    record_data(config)
    record = json.load(open("run/data.json"))
    assert record["holdout"] == ["a.png"] and sorted(record["validation"]) == ["a.png"]
    assert sorted(record["training"]) == ["b.png", "c.png", "d.png"]
    (tmp_path / "h.txt").write_text("# the same names\na.png  # one\n")
    assert check_run(config) is None
    (tmp_path / "h.txt").write_text("b.png\nc.png\n")
    _data_refused(
        config,
        "holdout='h.txt' now lists other images (b.png added, c.png added, a.png removed) "
        f"since the run in model_dir='run' began: {FIX}",
    )
    (tmp_path / "h.txt").write_text("a.png\n")
    _png("tr/a.png", 99)  # a held-out image: validation
    _data_refused(
        config,
        "1 of 1 validation images changed (tr/a.png changed) since the run in "
        f"model_dir='run' began: {FIX}",
    )


def test_div2k_and_a_pack_are_recorded_tfds_is_not(tmp_path, monkeypatch):
    from maffsrn_tf.train.config import data_record, record_data

    monkeypatch.chdir(tmp_path)
    _png("D/DIV2K_train_HR/0001.png", 1, 48)
    _png("D/DIV2K_train_LR_bicubic/X2/0001x2.png", 1)
    _png("D/DIV2K_train_LR_bicubic/X3/0001x3.png", 1, 16)  # another scale: not this run's
    config = TrainConfig(data_source="div2k", data_dir="D", model_dir="run", epochs=3)
    _record(config)
    record_data(config)
    assert sorted(json.load(open("run/data.json"))["training"]) == [
        os.path.join("DIV2K_train_HR", "0001.png"),
        os.path.join("DIV2K_train_LR_bicubic", "X2", "0001x2.png"),
    ]
    _png("D/DIV2K_train_LR_bicubic/X3/0001x3.png", 9, 16)
    assert check_run(config) is None
    _png("D/DIV2K_train_LR_bicubic/X2/0001x2.png", 9)
    _data_refused(
        config,
        "1 of 2 training images changed (D/DIV2K_train_LR_bicubic/X2/0001x2.png changed) "
        f"since the run in model_dir='run' began: {FIX}",
    )
    (tmp_path / "p.npz").write_bytes(b"a pack")
    packed = TrainConfig(data_source="packed", data_dir="p.npz", model_dir="run", epochs=3)
    assert list(data_record(packed)["training"]) == ["p.npz"]
    tfds = TrainConfig(data_source="tfds", data_dir="", model_dir="run", epochs=3)
    assert data_record(tfds) == {"epoch": 0, "holdout": None, "training": None,
                                 "validation": None}  # fmt: skip


def test_a_run_from_before_the_record_resumes_and_one_recorded_on_resume_says_so(began):
    from maffsrn_tf.train.config import record_data

    os.remove("run/data.json")  # a run of an older version
    _png("tr/c.png", 99)
    assert check_run(began) is None  # nothing recorded: nothing to compare
    record_data(began, epoch=2)  # what train() records when it resumes such a run
    _png("tr/c.png", 98)
    _data_refused(
        began,
        "1 of 3 training images changed (tr/c.png changed) since the run in model_dir='run' "
        f"recorded them (resumed after epoch 2): {FIX}",
    )


def test_a_finished_run_trains_nothing_whatever_its_data(began):
    _record(began, finished=3)
    _png("tr/c.png", 99)
    assert "already finished its run of 3 epochs" in check_run(began)
    with pytest.raises(MaffsrnError, match="tr/c.png changed"):
        check_run(_config_like(began, epochs=4))  # it would train on


def test_an_unreadable_data_record_is_named(began):
    unreadable = (
        r"^run/data.json is not a readable record of a run's data \(.*\); start a new run "
        r"with model_dir=DIR elsewhere$"
    )
    for text in ("[1", '{"training": [1]}', '{"holdout": [1]}'):
        open("run/data.json", "w").write(text)
        with pytest.raises(MaffsrnError, match=unreadable):
            check_run(began)


def test_a_damaged_backup_is_named_before_the_run(tmp_path):
    """A backup cut short (a full disk, a partial copy) failed 15 s into the resume as
    "unexpected OSError" with h5py's words (fuzz pass 23)."""
    import h5py
    import numpy as np

    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.train.distribute import check_backup_weights

    backup = tmp_path / "backup"
    backup.mkdir()
    check_backup_weights(str(backup))  # none: nothing to check
    path = backup / "latest.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("w", data=np.zeros((256, 256), np.float32))
    check_backup_weights(str(backup))  # whole
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(MaffsrnError) as err:
        check_backup_weights(str(backup))
    assert str(err.value).startswith(f"{path} is damaged (")
    assert str(err.value).endswith(
        "): the run cannot resume from it; restore it, or pass model_dir=DIR for a new run"
    )
    # NaN in it (a diverged run, an edited file): it had trained on, exit 0 (fuzz pass 24)
    with h5py.File(path, "w") as f:
        f.create_dataset("w", data=np.full((4, 4), np.nan, np.float32))
        f.create_dataset("iterations", data=np.int64(3))
    with pytest.raises(MaffsrnError) as err:
        check_backup_weights(str(backup))
    assert str(err.value) == (
        f"{path} holds NaN or infinite values (in w): the run cannot resume from it; restore "
        "it, or pass model_dir=DIR for a new run"
    )
    # the record of where it stopped, and no weights: it had gone on from fresh weights
    path.unlink()
    (backup / "training_metadata.json").write_text('{"epoch": 1}')
    with pytest.raises(MaffsrnError) as err:
        check_backup_weights(str(backup))
    assert str(err.value) == (
        f"{backup} is incomplete: its record says where the run stopped, and latest.weights.h5 "
        "is missing; the run cannot resume from it; restore it, or pass model_dir=DIR for a new "
        "run"
    )
    os.symlink("gone.h5", path)
    with pytest.raises(MaffsrnError, match="latest.weights.h5 is a broken link; "):
        check_backup_weights(str(backup))


def test_a_run_that_diverges_writes_no_final_weights_and_fails(tmp_path):
    """TerminateOnNaN stopped a diverged run, and it ended with exit 0 and NaN final weights
    (fuzz pass 24): the fit now ends in a MaffsrnError saying so."""
    import types

    import keras
    import numpy as np
    import tensorflow as tf

    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.train.trainer import _fit

    model = build_model("maffsrn_x2", n_ffgs=1)
    model.compile(keras.optimizers.SGD(0.1), "mae")
    kernel = model.head.weights[0]
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    x = np.zeros((1, 16, 16, 3), np.float32)
    data = tf.data.Dataset.from_tensors((x, np.zeros((1, 32, 32, 3), np.float32))).repeat()
    config = types.SimpleNamespace(verbose=0, model_dir=str(tmp_path))
    with pytest.raises(MaffsrnError, match=r"^training diverged: .* holds NaN or infinite "
                       r"values \(loss NaN\); no final weights are written\. Lower "):  # fmt: skip
        _fit(model, config, data, 1, 1, [keras.callbacks.TerminateOnNaN()], 0)
