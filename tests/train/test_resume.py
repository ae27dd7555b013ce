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
    assert check_run(_config(tmp_path, init_weights=start)) is None
    assert check_run(_config(tmp_path, init_weights="maffsrn_x2")) is None  # a preset name


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
