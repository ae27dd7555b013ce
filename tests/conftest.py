"""Shared fixtures and helpers: the ``../shared`` folder (skip with a message when absent),
small models, images and data folders used by more than one test file."""

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
# (at exit: a command ends through cli.common.exit_now, which runs the exit handlers and
# then leaves without Python's teardown, so nothing after its run would be reached)
PROBE = """
import atexit, runpy, sys
sys.argv = sys.argv[1:]
atexit.register(lambda: print("tensorflow" in sys.modules, flush=True))
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def tree(root):
    """Every path under ``root`` (links not followed): what a refused run must leave as is."""
    found = set()
    for path, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(path, name), root))
    return found


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


# The images of the shared MATLAB oracles (``data/oracle/...``): Set5's five.
ORACLE_NAMES = ["baby", "bird", "butterfly", "head", "woman"]


def shared_image(*parts):
    """An image under the shared folder as an array (skipped as ``shared_path`` says)."""
    import numpy as np
    from PIL import Image

    return np.array(Image.open(shared_path(*parts)))


def photo(h=40, w=52, seed=0):
    """A smooth random RGB uint8 image, ``h`` x ``w``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
    return np.array(Image.fromarray(small).resize((w, h), Image.BICUBIC))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small random x2 model saved as .keras (fast; formats do not need trained weights)."""
    import keras

    from maffsrn_tf.model.maffsrn import build_model

    keras.utils.set_random_seed(0)
    model = build_model("maffsrn_x2", n_ffgs=1)
    path = str(tmp_path_factory.mktemp("m") / "tiny.keras")
    model.save(path)
    return model, path


def smooth_image(rng, h, w):
    """A random but smooth RGB image (so LR is a faithful shrink of HR)."""
    import numpy as np
    from PIL import Image

    small = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    return np.array(Image.fromarray(small).resize((w, h), Image.BICUBIC))


DIV2K_SCALE = 3  # the scale of the ``div2k`` fixture's LR folder


@pytest.fixture()
def div2k(tmp_path):
    """A tiny DIV2K-layout folder: 3 usable images and one too small for a patch."""
    import numpy as np
    from PIL import Image

    from maffsrn_tf.imaging.matlab import imresize

    rng = np.random.default_rng(0)
    hr_dir = tmp_path / "DIV2K_train_HR"
    lr_dir = tmp_path / "DIV2K_train_LR_bicubic" / f"X{DIV2K_SCALE}"
    hr_dir.mkdir()
    lr_dir.mkdir(parents=True)
    for i, (h, w) in enumerate([(72, 90), (96, 66), (60, 60), (30, 90)], start=1):
        hr = smooth_image(rng, h, w)
        Image.fromarray(hr).save(hr_dir / f"{i:04d}.png")
        Image.fromarray(imresize(hr, 1 / DIV2K_SCALE)).save(lr_dir / f"{i:04d}x{DIV2K_SCALE}.png")
    return tmp_path
