"""The library prints nothing of its own (``maffsrn_tf``'s docstring): TensorFlow's and
LiteRT's native start-up lines are held back (``native_logs``), every other line on
stderr still shows, in order; ``MAFFSRN_TF_LOGS=1`` shows them all."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

NOISY = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796652705.766722    3345 port.cc:153] oneDNN custom operations are on.\n"
    "user line one\n"
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    "E0000 00:00:1796652716.739282    3345 cuda_platform.cc:52] failed call to cuInit\n"
    "user line two\n"
)
PROGRAM = (
    "import os, sys\n"
    "from maffsrn_tf.native_logs import filtered\n"
    "print('before', file=sys.stderr, flush=True)\n"
    "with filtered():\n"
    "    os.write(2, sys.argv[1].encode())\n"
    "    print('python line', file=sys.stderr)\n"
    "print('after', file=sys.stderr, flush=True)\n"
)


@pytest.mark.parametrize("shown", [False, True])
def test_only_the_start_up_lines_are_held_back(shown):
    env = dict(os.environ, PYTHONPATH=ROOT, MAFFSRN_TF_LOGS="1" if shown else "")
    run = subprocess.run([sys.executable, "-c", PROGRAM, NOISY], env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    if shown:
        assert run.stderr == f"before\n{NOISY}python line\nafter\n"
    else:
        assert run.stderr == "before\nuser line one\nuser line two\npython line\nafter\n"


def test_with_stderr_closed_the_block_runs():
    code = "from maffsrn_tf.native_logs import filtered\nwith filtered():\n    print('ran')\n"
    run = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" 2>&-', code],
                         env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                         text=True)  # fmt: skip
    assert (run.returncode, run.stdout) == (0, "ran\n")


def test_using_the_library_prints_nothing(tmp_path):
    """Loading the shipped Keras model and running one on the Keras backend (TensorFlow's
    import and runtime start), and upscaling with the shipped TFLite model (LiteRT's XNNPACK
    delegate): stderr stays empty. (On the light install: test_runtime_install.)"""
    code = (
        "import numpy as np, maffsrn_tf\n"
        "maffsrn_tf.upscale(np.zeros((16, 16, 3), np.uint8), backend='keras')\n"
        "maffsrn_tf.load_pretrained('maffsrn_x2')\n"
        "print(maffsrn_tf.upscale(np.zeros((16, 16, 3), np.uint8)).shape)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "MAFFSRN_TF_"))}
    run = subprocess.run([sys.executable, "-c", code], env=dict(env, PYTHONPATH=ROOT),
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == "(32, 32, 3)\n" and run.stderr == ""
