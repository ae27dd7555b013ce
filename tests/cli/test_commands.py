"""Every console script: bad arguments and missing paths give one ``error:`` line on stderr and
exit code 1 before TensorFlow is imported; console scripts and ``python -m`` both run."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import PROBE

MISSING = "/nonexistent/maffsrn"
THIS = os.path.abspath(__file__)
SHIPPED_NAMES = "a preset with shipped weights: maffsrn_x2, maffsrn_x3, maffsrn_x4"
QUANTIZATION_ALONE = "--quantization picks a shipped TFLite model; leave it out when you pass"
CASES = {
    "train": [
        (["--data_dir", MISSING], "--data_dir not found"),
        (["--data_dir", ".", "--scale", "5"], "--scale must be 2, 3 or 4"),
        (["--data_dir", ".", "--init_weights", MISSING + ".h5"], "--init_weights not found"),
        # neither a file nor a preset with shipped weights: the shipped names, in one line
        (["--data_dir", ".", "--init_weights", "maffsrn_x9"], SHIPPED_NAMES),
        (["--data_dir", ".", "--init_weights", "maffsrn_l_x2"], "no weights are shipped"),
        (["--data_dir", ".", "--preset", "maffsrn_x2", "--scale", "3"], "upscales x2, but"),
        (["--data_dir", ".", "--preset", "maffsrn_l_x4", "--nolarge"], "is MAFFSRN-L, but"),
        (["--data_dir", ".", "--model_dir", "runs"], "--model_dir runs is (or lies inside)"),
    ],
    "evaluate": [
        (["--datasets", MISSING], "dataset folder not found"),
        (["--datasets", ".", "--preset", "maffsrn_x9"], "flag --preset"),
        (["--datasets", ".", "--quantization", "int4"], "flag --quantization"),
        (["--datasets", ".", "--quantization", "int8", "--tflite", THIS], QUANTIZATION_ALONE),
        (["--datasets", ".", "--quantization", "int8", "--weights", THIS], QUANTIZATION_ALONE),
        (["--datasets", ".", "--quantization", "int8", "--bicubic_only"], QUANTIZATION_ALONE),
        (
            ["--datasets", ".", "--quantization", "int8", "--preset", "maffsrn_l_x2"],
            "leave out --preset maffsrn_l_x2",
        ),  # fmt: skip
        (["--datasets", ".", "--num_threads", "2"], "--num_threads sets the LiteRT threads"),
        (["--datasets", ".", "--bicubic_only", "--self_ensemble"], "evaluates no model"),
        (["--datasets", ".", "--tflite", THIS, "--weights", THIS], "--tflite names the model"),
        (["--datasets", ".,./", "--bicubic_only"], "is listed twice"),
    ],
    "upscale": [
        (["--input", MISSING + ".png"], "input not found"),
        (["--input", ".", "--scale", "7"], "--scale must be 2, 3 or 4"),
        (["--model", THIS, "--quantization", "int8"], "--quantization picks"),
    ],
    "export": [
        (["--scales", "2,5"], "--scales takes 2, 3 and/or 4"),
        (["--datasets", MISSING], "validation folder"),
        (["--weights", MISSING + ".h5"], "--weights not found"),
    ],
    "profile": [
        (["--input", "360by640"], "--input must be HEIGHTxWIDTH"),
        (["--input", "12x40"], "--input 12x40 is below MAFFSRN's minimum of 13x13 (its "),
        (
            ["--input", "1" * 5000 + "x13"],
            "--input 1111111111111111111111111111111111111111... is too large to profile",
        ),  # int() refuses 4300+ digits, naming a Python function
        (["--input", "\u0661\u0662\u0668x\u0661\u0662\u0668"], "--input must be HEIGHTxWIDTH"),
        (["--preset", "maffsrn_x2", "--scale", "3"], "--preset maffsrn_x2 upscales x2, but"),
    ],
    "pack": [
        (["--data_dir", MISSING], "--data_dir not found"),
        (["--data_dir", ".", "--output", "x.zip"], "--output must name an .npz file"),
    ],
    "convert_weights": [
        (["--checkpoint", MISSING + ".pt", "--output", "x.weights.h5"], "--checkpoint not found"),
        (["--to", "pytorch", "--checkpoint", THIS, "--output", "x.pt"], "input of --to keras"),
        (["--checkpoint", THIS, "--weights", THIS, "--output", "x.h5"], "input of --to pytorch"),
    ],
    "serve": [
        (["--workers", "0"], "flag --workers=0: 0 is not an integer in the range"),
        (["--max_megapixels", "0"], "--max_megapixels must be a positive number"),
    ],
}


def _run(name, args, cwd):
    cmd = [sys.executable, "-c", PROBE, f"maffsrn_tf.cli.{name}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize(
    "name, args, message",
    [(name, args, message) for name, cases in CASES.items() for args, message in cases],
)
def test_bad_argument_is_one_line_before_tensorflow(tmp_path, name, args, message):
    proc = _run(name, args, tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert proc.stdout.strip() == "False", "TensorFlow was imported before the error"
    assert os.listdir(tmp_path) == []  # nothing written


def test_console_scripts_are_installed_and_show_help():
    bin_dir = os.path.dirname(sys.executable)
    for name in CASES:
        script = shutil.which(f"maffsrn-{name.replace('_', '-')}", path=bin_dir)
        assert script, f"maffsrn-{name} is not installed"
        proc = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "tf_logs" in proc.stdout, proc.stderr
        # --scale/--preset only where a command runs one model (export has --scales)
        one_model = name not in ("export", "pack", "serve")  # serve: --scale per request
        assert bool(re.search(r"^  (-s, )?--scale N$", proc.stdout, re.M)) == one_model, (
            name,
            proc.stdout,
        )
        assert ("  --preset " in proc.stdout) == (one_model and name != "upscale"), name


def test_help_with_a_value_and_help_into_a_closed_pipe_exit_0_without_a_traceback():
    """``--help=1`` is still a request for help, and ``--help | head -1`` (the reader leaves
    early) ends quietly."""
    cmd = [sys.executable, "-m", "maffsrn_tf.cli.upscale"]
    proc = subprocess.run([*cmd, "--help=1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--outscale" in proc.stdout, proc.stderr
    # the pipe's reading end is closed before the command writes: each write fails (EPIPE)
    piped = subprocess.Popen([*cmd, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    piped.stdout.close()
    assert piped.wait(timeout=60) == 0
    assert piped.stderr.read() == b""


def test_profile_runs_quietly_and_tf_logs_shows_tensorflow():
    cmd = [sys.executable, "-m", "maffsrn_tf.cli.profile", "--preset", "maffsrn_x2"]
    quiet = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert "402,394" in quiet.stdout and "86.07 G" in quiet.stdout
    assert quiet.stderr == "", quiet.stderr  # no absl/oneDNN/CUDA start-up lines
    env = {**os.environ, "MAFFSRN_TF_LOGS": "1", "TF_CPP_MIN_LOG_LEVEL": "0"}
    loud = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert loud.returncode == 0 and loud.stderr != ""


def test_default_upscale_runs_the_shipped_tflite_without_tensorflow(tmp_path):
    """The main job's default path: shipped float16 TFLite, TensorFlow never imported."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    args = ["--input", "a.png", "--output", "b.png", "--quantization", "int8"]
    proc = _run("upscale", args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "False", proc.stdout
    assert Image.open(tmp_path / "b.png").size == (80, 48)


def _images(folder, sizes, seed=0):
    """Smooth random RGB images (PNG) of the given (height, width) sizes in a new folder."""
    import numpy as np
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        small = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((w, h), Image.BICUBIC).save(folder / f"img{i}.png")
    return str(folder)


def test_evaluate_quantization_runs_the_shipped_tflite_with_plain_progress_lines(tmp_path):
    """--quantization int8 evaluates the shipped int8 model of --scale (the file inside the
    package, as --tflite PATH would), on LiteRT without TensorFlow; stderr is a pipe here:
    one plain line per image, no carriage return."""
    import json

    from maffsrn_tf.model.shipped import tflite_path

    data = _images(tmp_path / "tiny", [(48, 40), (36, 52), (40, 40)])
    args = ["--datasets", data, "--scale", "2", "--num_threads", "1"]
    proc = _run("evaluate", [*args, "--quantization", "int8", "--json", "r.json"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "False", "TensorFlow was imported"
    assert "| tiny | maffsrn_x2_int8.tflite (shipped) |" in proc.stdout, proc.stdout
    assert "\r" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith("tiny: img") for line in lines), lines
    assert "(3/3 images, " in lines[-1], lines
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["meta"]["model"] == "maffsrn_x2_int8.tflite (shipped)"
    assert result["meta"]["weights"] is None and result["meta"]["lr_dirs"] is None
    by_path = _run("evaluate", [*args, "--tflite", tflite_path(2, "int8")], tmp_path)
    assert by_path.returncode == 0, by_path.stderr[-2000:]
    rows = [line for line in by_path.stdout.splitlines() if line.startswith("| tiny | /")]
    model = result["datasets"]["tiny"]["model"]
    assert rows == [f"| tiny | {tflite_path(2, 'int8')} | {model['psnr']:.2f} | "
                    f"{model['ssim']:.4f} | 3 |"], by_path.stdout  # fmt: skip


def test_evaluate_names_the_weights_it_ran(tmp_path):
    """With --weights the row and the JSON had read "maffsrn_x2", as for the shipped
    weights: a one-step run's numbers looked like the release's. The file is named."""
    import json
    import shutil

    from maffsrn_tf.model.shipped import weights_path

    data = _images(tmp_path / "tiny", [(40, 40)])
    shutil.copy(weights_path("maffsrn_x2"), tmp_path / "mine.npz")
    args = ["--datasets", data, "--weights", "mine.npz", "--json", "r.json"]
    proc = _run("evaluate", args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| tiny | maffsrn_x2 (mine.npz) |" in proc.stdout, proc.stdout
    meta = json.loads((tmp_path / "r.json").read_text())["meta"]
    assert (meta["model"], meta["weights"]) == ("maffsrn_x2 (mine.npz)", "mine.npz")


@pytest.mark.parametrize("columns", [100, 0])
def test_evaluate_progress_on_a_terminal_is_one_bar(tmp_path, columns):
    """stderr a terminal: one tqdm bar that redraws itself (carriage returns), with its rate
    and the images counted over every dataset; a terminal of no size (where tqdm would draw
    nothing) gets the plain lines."""
    import fcntl
    import pty
    import struct
    import termios

    one = _images(tmp_path / "a", [(40, 40), (48, 40)])
    two = _images(tmp_path / "b", [(40, 48)], seed=1)
    leader, follower = pty.openpty()
    fcntl.ioctl(
        follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24 if columns else 0, columns, 0, 0)
    )
    cmd = [sys.executable, "-m", "maffsrn_tf.cli.evaluate", "--datasets", f"{one},{two}",
           "--quantization", "int8", "--num_threads", "1"]  # fmt: skip
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=follower, cwd=tmp_path) as proc:
        os.close(follower)
        stdout = proc.communicate(timeout=120)[0].decode()
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other end is closed: all is read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    bar = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, bar[-2000:]
    assert "| a | maffsrn_x2_int8.tflite (shipped) |" in stdout
    if not columns:
        lines = bar.replace("\r\n", "\n").splitlines()  # the terminal's own line ends
        assert len(lines) == 3 and "\r" not in "".join(lines) and "b (2/2): img0" in bar, bar
        return
    assert "\r" in bar and "3/3" in bar and "image/s" in bar, bar
    assert "b (2/2)" in bar and "a (1/2): img" not in bar, bar  # the bar, not the plain lines


def test_evaluate_help_says_what_num_threads_and_quantization_do():
    cmd = [sys.executable, "-m", "maffsrn_tf.cli.evaluate", "--help"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "LiteRT threads of the TFLite model evaluated (--tflite or --quantization)" in text
    assert "default: the CPUs this process may use" in text
    assert "--quantization int8" in text and "--tflite maffsrn_x2_int8.tflite" not in text


@pytest.mark.slow  # about 30 s: TensorFlow traces the train step
def test_train_init_weights_by_name_starts_from_the_shipped_weights(tmp_path):
    """--init_weights maffsrn_x2 (not a file here): the shipped x2 weights. At learning rate 0
    the run's final weights are exactly the shipped ones; flags.json keeps the name."""
    import json
    from collections import Counter

    import h5py
    import numpy as np

    from maffsrn_tf.model.shipped import weights_path

    data = _images(tmp_path / "train", [(64, 64), (64, 80)])
    cmd = [sys.executable, "-m", "maffsrn_tf.cli.train", "--data_dir", data,
           "--cache_dir", str(tmp_path / "cache"), "--init_weights", "maffsrn_x2",
           "--patch_size", "16", "--batch_size", "2", "--epochs", "1", "--steps_per_epoch", "2",
           "--learning_rate", "0", "--optimizer", "adam", "--model_dir", "run",
           "--verbose", "0"]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "flags.json").read_text())["init_weights"] == "maffsrn_x2"
    # every shipped array is in the model's part of the file (Keras adds the optimizer's)
    shipped = Counter(_checksum(a) for a in np.load(weights_path("maffsrn_x2")).values())
    final = Counter()
    with h5py.File(tmp_path / "run" / "final.weights.h5") as f:
        f.visititems(
            lambda name, item: (
                final.update([_checksum(item[()])])
                if isinstance(item, h5py.Dataset) and not name.startswith("optimizer/")
                else None
            )
        )
    assert len(shipped) > 300 and shipped - final == Counter(), len(shipped - final)


def _checksum(array):
    import numpy as np

    return (array.shape, float(np.sum(array, dtype=np.float64)), float(np.abs(array).max()))
