"""Shared fixtures: the ``../shared`` folder (skip with a message when absent)."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_dir():
    """The shared data folder: ``$MAFFSRN_SHARED`` or ``../shared`` beside the repository."""
    return os.environ.get("MAFFSRN_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")


SHARED = shared_dir()


# PROBE runs a command module as __main__ and reports, on stdout, whether TensorFlow was imported
# by the time it exited.
PROBE = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print("tensorflow" in sys.modules)
sys.exit(code)
"""


def shared_path(*parts):
    """Path under the shared folder. When it is missing the test is skipped with the reason,
    or fails when the environment variable ``CI`` is set (CI must run every oracle test)."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        message = f"shared data not found: {path} (set MAFFSRN_SHARED to the shared folder)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def build_wheel(out):
    """The package's wheel, built into ``out``; its path.

    Builds share the checkout's ``build/`` and ``*.egg-info`` folders, so test workers that
    build at once break each other's builds: one build at a time, under a file lock."""
    import fcntl
    import subprocess
    import sys
    import tempfile

    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
           "-w", str(out), ROOT]  # fmt: skip
    lock_path = os.path.join(tempfile.gettempdir(), "maffsrn_tf-wheel-build.lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = subprocess.run(cmd, timeout=600, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    (path,) = out.glob("maffsrn_tf-*.whl")
    return path
