"""Every console script: bad arguments and missing paths give one ``error:`` line on stderr and
exit code 1 before TensorFlow is imported; console scripts and ``python -m`` both run."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import PROBE

MISSING = "/nonexistent/maffsrn"
CASES = {
    "train": [
        (["--data_dir", MISSING], "--data_dir not found"),
        (["--data_dir", ".", "--scale", "5"], "--scale must be 2, 3 or 4"),
        (["--data_dir", ".", "--init_weights", MISSING + ".h5"], "--init_weights not found"),
    ],
    "evaluate": [
        (["--datasets", MISSING], "dataset folder not found"),
        (["--datasets", ".", "--preset", "maffsrn_x9"], "flag --preset"),
    ],
    "upscale": [
        (["--input", MISSING + ".png"], "input not found"),
        (["--input", ".", "--scale", "7"], "--scale must be 2, 3 or 4"),
        (["--model", os.path.abspath(__file__), "--quantization", "int8"], "--quantization picks"),
    ],
    "export": [
        (["--scales", "2,5"], "--scales takes 2, 3 and/or 4"),
        (["--datasets", MISSING], "validation folder"),
        (["--weights", MISSING + ".h5"], "--weights not found"),
    ],
    "profile": [(["--input", "360by640"], "--input must be HEIGHTxWIDTH")],
    "pack": [
        (["--data_dir", MISSING], "--data_dir not found"),
        (["--data_dir", ".", "--output", "x.zip"], "--output must name an .npz file"),
    ],
    "convert_weights": [
        (["--checkpoint", MISSING + ".pt", "--output", "x.weights.h5"], "--checkpoint not found")
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
        one_model = name not in ("export", "pack")
        assert ("  --scale:" in proc.stdout) == one_model, (name, proc.stdout)
        assert ("  --preset:" in proc.stdout) == (one_model and name != "upscale"), name


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
