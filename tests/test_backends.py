"""Keras 3 backends: what is written in ``keras.ops`` runs under JAX and PyTorch too.

Each backend runs in a fresh interpreter (Keras fixes its backend at import). So far: AdamP
reproduces the reference trajectories and trains a model with ``fit`` under each backend.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_adamp_under_backend(backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
           "tests/test_optimizers.py"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "6 passed" in proc.stdout, proc.stdout[-2000:]
    probe = [sys.executable, "-c", "import keras; print(keras.backend.backend())"]
    assert subprocess.run(probe, env=env, capture_output=True, text=True).stdout.strip() == backend
