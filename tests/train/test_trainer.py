"""Training: schedule, fine-tuning init, tf.distribute (mirrored, multi-worker), kill/resume."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from maffsrn_tf.model.maffsrn import build_model
from maffsrn_tf.train.trainer import compile_model

WORKER = os.path.join(ROOT, "tests", "workers", "distributed.py")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


def test_mirrored_two_cpus_matches_one_device(tmp_path):
    out = tmp_path / "m.npz"
    proc = subprocess.run(
        [sys.executable, WORKER, "mirrored", str(out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = np.load(out)
    assert r["one_iterations"] == r["mirrored_iterations"] == 1
    assert r["mirrored_loss"] == pytest.approx(float(r["one_loss"]), rel=1e-5)
    keys = [k[4:] for k in r.files if k.startswith("one_w")]
    for k in keys:
        np.testing.assert_allclose(r[f"mirrored_{k}"], r[f"one_{k}"], atol=2e-5, err_msg=k)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_two_processes_end_identical(tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = dict(
            ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, WORKER, "multi_worker", str(tmp_path / f"w{i}.npz")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = [p.communicate(timeout=600)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    a, b = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert a["iterations"] == b["iterations"] == 6
    assert a["changed"] > 0  # the weights did train
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.slow
def test_multi_worker_resume_agrees_on_the_earliest_backup(tmp_path):
    """Killed between the two workers' saves (10 steps per epoch): worker 0 backed up the end
    of epoch 1, worker 1 only step 5 of it. Both must resume at epoch 1 step 5, worker 0 from
    the backup before its latest."""
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    for i, (latest, previous) in enumerate([((2, 0), (1, 5)), ((1, 5), (1, 0))]):
        backup = tmp_path / f"backup{i}"
        backup.mkdir()
        for prefix, (epoch, done) in (("", latest), ("previous-", previous)):
            (backup / f"{prefix}training_metadata.json").write_text(
                json.dumps({"epoch": epoch, "batch": 0, "steps_done": done})
            )
            (backup / f"{prefix}latest.weights.h5").write_bytes(
                f"weights of {epoch}.{done}".encode()
            )
    procs = []
    for i in range(2):
        env = dict(
            ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        )
        cmd = [
            sys.executable,
            WORKER,
            "agree",
            str(tmp_path / f"a{i}.json"),
            str(tmp_path / f"backup{i}"),
            "10",
        ]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    logs = [p.communicate(timeout=300)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    for i in range(2):
        result = json.loads((tmp_path / f"a{i}.json").read_text())
        assert result == {"agreed": [1, 5], "latest_now": [1, 5]}, (i, result)
    assert (tmp_path / "backup0" / "latest.weights.h5").read_bytes() == b"weights of 1.5"


def make_folder(path, sizes, seed):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((w, h), Image.BICUBIC).save(path / f"{i}.png")
    return str(path)


def train_command(tmp_path, epochs):
    return [
        sys.executable,
        "-m",
        "maffsrn_tf.cli.train",
        "--data_dir",
        str(tmp_path / "train"),
        "--val_dir",
        str(tmp_path / "val"),
        "--cache_dir",
        str(tmp_path / "cache"),
        "--scale",
        "2",
        "--patch_size",
        "16",
        "--batch_size",
        "4",
        "--epochs",
        str(epochs),
        "--steps_per_epoch",
        "12",
        "--learning_rate",
        "1e-3",
        "--optimizer",  # a kill and a resume do not depend on it; AdamP's graph traces slower
        "adam",
        "--model_dir",
        str(tmp_path / "run"),
        "--verbose",
        "2",
    ]


@pytest.mark.slow
def test_killed_run_resumes_from_backup(tmp_path):
    # the last image (LR 12x12) is smaller than a patch: skipped, and the user is told
    make_folder(tmp_path / "train", [(64, 64), (80, 48), (48, 96), (24, 24)], 0)
    make_folder(tmp_path / "val", [(40, 40), (32, 48)], 1)
    run = tmp_path / "run"
    meta = run / "backup" / "training_metadata.json"
    proc = subprocess.Popen(
        train_command(tmp_path, 4), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 400
    while time.time() < deadline and not (
        meta.exists() and json.loads(meta.read_text())["epoch"] >= 2
    ):
        time.sleep(0.2)
    time.sleep(1.0)  # now mid-way through epoch 3
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads(meta.read_text())["epoch"] >= 2, "no backup before the kill"
    assert not (run / "final.json").exists()
    # a backup the kill cut mid-write (its writer gone): the resumed run removes it (fuzz
    # pass 22 found one left behind, 4 MB)
    from maffsrn_tf.io.atomic import own_prefix

    cut = (
        run
        / "backup"
        / (
            own_prefix().replace(f"-p{os.getpid()}-", f"-p{proc.pid}-")
            + "abcdefgh-latest.weights.h5"
        )
    )
    cut.write_bytes(b"\x89HDF half")
    resumed = subprocess.run(
        train_command(tmp_path, 4), env=ENV, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    skipped = [line for line in resumed.stderr.splitlines() if "skipping" in line]
    assert skipped == [
        f"warning: skipping {tmp_path / 'train' / '3.png'}: LR 12x12 is smaller than the "
        "16-pixel patch"
    ], resumed.stderr[-3000:]
    final = json.loads((run / "final.json").read_text())
    assert final["iterations"] == 4 * 12  # optimizer iterations continued, not restarted
    with open(run / "log.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs[-1] == 3 and sorted(set(epochs)) == [0, 1, 2, 3]
    assert "Epoch 1/4" not in resumed.stdout  # resumed at a later epoch
    assert not [p for p in run.rglob(".tmp-*")]  # nothing half-written left
    model = build_model("maffsrn_x2")
    model.load_weights(run / "backup" / "latest.weights.h5")  # backup is loadable
    model.load_weights(run / "best.weights.h5")
    assert json.loads((run / "best.json").read_text())["val_psnr"] > 0
    assert json.loads((run / "flags.json").read_text())["steps_per_epoch"] == 12


def test_jit_compiled_train_step_matches_plain():
    """XLA has no ResizeNearestNeighborGrad: the layers' gather upsampling makes jit work.

    Compared under SGD, whose update is linear in the gradient: Adam's first step divides
    each gradient by its own magnitude, which turns float32 rounding on near-zero gradients
    into sign flips whatever graph computed them (measured: gradients agree to 2.5e-6)."""
    rng = np.random.default_rng(0)
    x = rng.random((2, 20, 22, 3), np.float32)
    y = rng.random((2, 40, 44, 3), np.float32)
    results = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = build_model("maffsrn_x2", n_ffgs=1)
        model.compile(keras.optimizers.SGD(0.1), keras.losses.MeanAbsoluteError(), jit_compile=jit)
        loss = model.train_on_batch(x, y)
        results.append((loss, [w.numpy() for w in model.weights]))
    (loss_a, weights_a), (loss_b, weights_b) = results
    assert loss_b == pytest.approx(loss_a, rel=1e-5)
    worst = max(
        float(np.max(np.abs(b - a)) / max(np.max(np.abs(a)), 1e-12))
        for a, b in zip(weights_a, weights_b)
    )
    assert worst <= 1e-5, f"jit and plain steps differ by {worst:.2e} (relative)"
    # and the real training setup (AdamP) compiles and steps under XLA
    keras.utils.set_random_seed(0)
    model = compile_model(build_model("maffsrn_x2", n_ffgs=1), "adamp", 1e-3, jit_compile=True)
    assert np.isfinite(model.train_on_batch(x, y))


def test_l2_loss_is_the_mean_squared_error():
    x = np.full((1, 16, 16, 3), 0.5, np.float32)
    model = compile_model(build_model("maffsrn_x2", n_ffgs=1), loss="l2")
    y = np.zeros((1, 32, 32, 3), np.float32)
    out = model.predict(x, verbose=0)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(float(np.mean(out**2)), rel=1e-5)
    with pytest.raises(ValueError, match="loss='l3' is not one of l1, l2"):
        compile_model(build_model("maffsrn_x2", n_ffgs=1), loss="l3")


class _Killed(Exception):
    """Stands for a kill right after a backup was written."""


def _train_config(tmp_path, run, epochs=3):
    return {
        "preset": "maffsrn_x2", "scale": 2, "data_source": "folder",
        "data_dir": str(tmp_path / "train"), "cache_dir": str(tmp_path / "cache"),
        "val_dir": str(tmp_path / "val"), "holdout": "", "patch_size": 16, "batch_size": 4,
        "epochs": epochs, "steps_per_epoch": 6, "optimizer": "adamp", "loss": "l1",
        "ema_momentum": 0.0, "learning_rate": 1e-3, "decay_epochs": 200, "decay_factor": 0.5,
        "max_decays": None, "model_dir": str(tmp_path / run), "strategy": "auto", "tpu": "",
        "init_weights": "", "init_skip_tail": False, "seed": 0, "mixed_precision": False,
        "jit_compile": False, "backup_every_steps": 2, "verbose": 0,
    }  # fmt: skip


@pytest.mark.slow
def test_resume_after_a_step_backup_trains_each_step_once(tmp_path, monkeypatch, capsys):
    """Backups every 2 of 6 steps per epoch. Killed right after the backup of epoch 1's step 4,
    a rerun finishes exactly where the run stopped: epoch 1 gets its 2 missing steps (not 6
    more, on the patches it had not seen), then epoch 2, and the weights are those of a run
    never killed. (When backups happen, an epoch's end included:
    tests/train/test_keras_compat.py.)"""
    from maffsrn_tf.train import keras_compat
    from maffsrn_tf.train import trainer as training
    from maffsrn_tf.train.trainer import train

    # one FFG: what is resumed does not depend on the depth, and three runs trace in a third
    # of the time
    monkeypatch.setattr(training, "build_model", lambda name: build_model(name, n_ffgs=1))
    make_folder(tmp_path / "train", [(64, 64), (80, 48), (48, 96)], 0)
    make_folder(tmp_path / "val", [(40, 40)], 1)
    train(_train_config(tmp_path, "whole", epochs=2))
    original = keras_compat.AtomicBackupAndRestore._save_model

    def killing(self):
        original(self)
        if (self._current_epoch, self._steps_done) == (0, 4):
            raise _Killed

    monkeypatch.setattr(keras_compat.AtomicBackupAndRestore, "_save_model", killing)
    with pytest.raises(_Killed):
        train(_train_config(tmp_path, "killed", epochs=2))
    monkeypatch.setattr(keras_compat.AtomicBackupAndRestore, "_save_model", original)
    capsys.readouterr()
    train(_train_config(tmp_path, "killed", epochs=2))
    assert "resuming epoch 1 of 2 after its step 4 of 6" in capsys.readouterr().out
    assert json.loads((tmp_path / "killed" / "final.json").read_text())["iterations"] == 2 * 6
    with open(tmp_path / "killed" / "log.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1]
    whole, resumed = (build_model("maffsrn_x2", n_ffgs=1) for _ in range(2))
    whole.load_weights(tmp_path / "whole" / "final.weights.h5")
    resumed.load_weights(tmp_path / "killed" / "final.weights.h5")
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6)


def test_a_progress_bar_is_one_plain_line_an_epoch_off_a_terminal(monkeypatch):
    """Keras' bar (verbose 1) writes colour codes and redraws: in a log or a pipe they had
    shown as "[1m1/1[0m [32m━━━": there it is Keras' one line an epoch (verbose 2)."""
    import io
    import types

    from maffsrn_tf.train import trainer

    seen = []
    model = types.SimpleNamespace(fit=lambda *a, **k: seen.append(k["verbose"]), weights=[])

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, verbose in ((io.StringIO(), 1), (Terminal(), 1), (io.StringIO(), 0)):
        monkeypatch.setattr(sys, "stdout", stream)
        trainer._fit(model, types.SimpleNamespace(verbose=verbose), None, 1, 1, [], 0)
    assert seen == [2, 1, 0]
