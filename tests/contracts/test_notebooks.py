"""The notebooks run: their code cells, with shell lines (``!cmd``, ``%pip``) as subprocesses."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, SHARED, shared_path
from PIL import Image


def notebook_as_script(path, params=None):
    """The code cells as one Python script; ``!cmd`` / ``%pip`` lines become shell calls with
    IPython's ``{name}`` expansion; ``params`` are assigned right after the cell tagged
    ``parameters`` (as papermill injects them)."""
    lines = [
        "import subprocess, sys",
        "def _sh(cmd):",
        "    print('$', cmd, flush=True)",
        "    subprocess.run(cmd, shell=True, check=True)",
        "def _tensorboard(logdir):  # %tensorboard: the test checks the folder once the run ends",
        "    import tensorboard  # noqa: F401 (the extension %load_ext loads)",
        "    print('tensorboard --logdir', logdir, flush=True)",
    ]
    with open(path) as f:
        cells = json.load(f)["cells"]
    tagged = False
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count"):
            raise AssertionError(f"{path}: outputs must be stripped in the repository")
        for line in "".join(cell["source"]).splitlines():
            body = line.lstrip()
            indent = line[: len(line) - len(body)]
            if body.startswith("!"):
                line = f"{indent}_sh({body[1:]!r}.format(**globals()))"
            elif body.startswith("%pip"):
                cmd = "{sys.executable} -m pip" + body[len("%pip") :]
                line = f"{indent}_sh({cmd!r}.format(**globals()))"
            elif body.startswith("%load_ext tensorboard"):
                line = f"{indent}import tensorboard  # %load_ext tensorboard"
            elif body.startswith("%tensorboard --logdir "):
                logdir = body[len("%tensorboard --logdir ") :]
                line = f"{indent}_tensorboard({logdir!r}.format(**globals()))"
            elif body.startswith("%"):
                raise AssertionError(f"unsupported magic in {path}: {body}")
            lines.append(line)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tagged = True
            lines += [f"{key} = {value!r}  # injected" for key, value in (params or {}).items()]
    assert tagged, f"{path} has no cell tagged 'parameters'"
    return "\n".join(lines) + "\n"


def run_notebook(name, tmp_path, **params):
    path = os.path.join(ROOT, "notebooks", name)
    with open(path) as f:
        text = f.read()
    assert "/work/" not in text and "/home/" not in text, f"absolute path in {name}"
    script = tmp_path / (name + ".py")
    script.write_text(notebook_as_script(path, {"SMALL": True, **params}))
    bin_dir = os.path.dirname(sys.executable)
    env = dict(
        os.environ,
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="3",
        PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
    )
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path):
    out = run_notebook("quickstart.ipynb", tmp_path)
    assert "MAFFSRN  PSNR" in out and "int8 TFLite PSNR" in out
    assert (tmp_path / "maffsrn_x2_int8.tflite").exists()


def small_shared(where, train=6, val=2, crop=120):
    """A ``SHARED`` folder as the notebook reads it (``data/train/SR291``,
    ``data/benchmark/Set5``) holding a few of the real images, the validation ones cropped:
    the smoke run's cost is the notebook's steps, not decoding 291 images."""
    sr291 = shared_path("data", "train", "SR291")
    train_dir = where / "data" / "train" / "SR291"
    val_dir = where / "data" / "benchmark" / "Set5"
    train_dir.mkdir(parents=True)
    val_dir.mkdir(parents=True)
    for name in sorted(os.listdir(sr291))[:train]:
        os.symlink(os.path.join(sr291, name), train_dir / name)
    set5 = os.path.join(SHARED, "data", "benchmark", "Set5")
    for name in sorted(os.listdir(set5))[:val]:
        with Image.open(os.path.join(set5, name)) as im:
            im.crop((0, 0, crop, crop)).save(val_dir / name)
    return str(where)


@pytest.mark.slow
def test_train_notebook_runs_a_smoke_training(tmp_path):
    shared = small_shared(tmp_path / "shared")
    out = run_notebook("train_colab.ipynb", tmp_path, SHARED=shared)
    assert "epoch 1: loss" in out and "epoch 2: loss" in out and "strategy: one_device" in out
    run_dir = tmp_path / "runs" / "colab_x2"
    assert (run_dir / "best.weights.h5").exists()
    # TensorBoard was pointed at the run's logs, which the run then wrote
    assert "tensorboard --logdir runs/colab_x2/tensorboard" in out
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    # it ships what it trained: float16 and int8 TFLite, measured, and a picture upscaled
    for quantization in ("float16", "int8"):
        assert (tmp_path / f"my_maffsrn_x2_{quantization}.tflite").exists()
        assert f"my_maffsrn_x2_{quantization}.tflite: " in out and "PSNR drop vs Keras" in out
    assert Image.open(tmp_path / "sample_x2_int8.png").size == (512, 600)


@pytest.mark.slow
def test_tflite_export_notebook_runs(tmp_path):
    out = run_notebook("tflite_export.ipynb", tmp_path)
    for mode in ("float32", "float16", "dynamic", "int8"):
        assert (tmp_path / "tflite_out" / f"maffsrn_x2_{mode}.tflite").exists()
        assert (tmp_path / "tflite_out" / f"maffsrn_x2_{mode}_64px.tflite").exists()
    assert "int16x8" not in out  # the small mode skips the slow reference kernels
    assert "| maffsrn_x2_int8_64px.tflite |" in out and "compatible" in out
    assert "done:" in out
