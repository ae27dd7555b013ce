"""The notebooks run: their code cells, with shell lines (``!cmd``, ``%pip``) as subprocesses."""

import json
import os
import subprocess
import sys

import pytest
from conftest import SHARED, shared_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def notebook_as_script(path):
    """The code cells as one Python script; ``!cmd`` / ``%pip`` lines become shell calls with
    IPython's ``{name}`` expansion."""
    lines = [
        "import subprocess, sys",
        "def _sh(cmd):",
        "    print('$', cmd, flush=True)",
        "    subprocess.run(cmd, shell=True, check=True)",
    ]
    with open(path) as f:
        cells = json.load(f)["cells"]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            body = line.lstrip()
            indent = line[: len(line) - len(body)]
            if body.startswith("!"):
                line = f"{indent}_sh({body[1:]!r}.format(**globals()))"
            elif body.startswith("%pip"):
                cmd = "{sys.executable} -m pip" + body[len("%pip") :]
                line = f"{indent}_sh({cmd!r}.format(**globals()))"
            elif body.startswith("%"):
                raise AssertionError(f"unsupported magic in {path}: {body}")
            lines.append(line)
    return "\n".join(lines) + "\n"


def run_notebook(name, tmp_path):
    script = tmp_path / (name + ".py")
    script.write_text(notebook_as_script(os.path.join(ROOT, "notebooks", name)))
    bin_dir = os.path.dirname(sys.executable)
    env = dict(
        os.environ,
        MPLBACKEND="Agg",
        MAFFSRN_NOTEBOOK_SMOKE="1",
        MAFFSRN_SHARED=os.path.abspath(SHARED),
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


@pytest.mark.slow
def test_train_notebook_runs_a_smoke_training(tmp_path):
    shared_path("data", "train", "SR291")
    out = run_notebook("train_colab.ipynb", tmp_path)
    assert "epoch 1: loss" in out and "maffsrn_x2" in out
    assert (tmp_path / "runs" / "colab_x2" / "best.weights.h5").exists()
