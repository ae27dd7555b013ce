"""The runtime install: the wheel without extras upscales with no TensorFlow, as the full
install does, and a command that needs TensorFlow says so in one line."""

import subprocess
import sys
import venv

import numpy as np
import pytest
from conftest import build_wheel
from PIL import Image


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory):
    """A fresh venv with the wheel installed without extras (its dependencies from PyPI, or
    pip's cache)."""
    out = tmp_path_factory.mktemp("runtime")
    wheel = build_wheel(out / "wheel")
    env_dir = out / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [env_dir / "bin" / "python", "-m", "pip", "install", "-q", str(wheel)]
    run = subprocess.run(pip, timeout=900, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return env_dir


def _photo(path):
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    Image.fromarray(small).resize((90, 72), Image.BICUBIC).save(path)


@pytest.mark.slow
def test_runtime_install_upscales_without_tensorflow_like_the_full_install(runtime_venv, tmp_path):
    py = runtime_venv / "bin" / "python"
    absent = subprocess.run(
        [py, "-c", "import importlib.util as u; print([m for m in ('tensorflow', 'keras', "
         "'jax', 'torch', 'matplotlib') if u.find_spec(m)])"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert absent.stdout.strip() == "[]"
    tf = subprocess.run([py, "-c", "import tensorflow"], capture_output=True, text=True)
    assert tf.returncode != 0 and "No module named 'tensorflow'" in tf.stderr
    _photo(tmp_path / "photo.png")
    runtime = [runtime_venv / "bin" / "maffsrn-upscale", "--input", "photo.png", "--output",
               "runtime.png"]  # fmt: skip
    run = subprocess.run(runtime, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    full = [sys.executable, "-m", "maffsrn_tf.cli.upscale", "--input", "photo.png", "--output",
            "full.png"]  # fmt: skip
    run = subprocess.run(full, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    a = np.asarray(Image.open(tmp_path / "runtime.png"))
    b = np.asarray(Image.open(tmp_path / "full.png"))
    assert a.shape == (144, 180, 3)
    np.testing.assert_array_equal(a, b)
    # the sample photo ships in the wheel: the no-input run needs nothing else
    sample = subprocess.run([runtime_venv / "bin" / "maffsrn-upscale"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert sample.returncode == 0, sample.stderr
    assert Image.open(tmp_path / "out" / "sample_x2.png").size == (1024, 1200)
    # the library prints nothing: not LiteRT's XNNPACK INFO line either (native_logs)
    api = subprocess.run([py, "-c", "import numpy as np, maffsrn_tf; print(maffsrn_tf.upscale("
                          "np.zeros((16, 16, 3), np.uint8)).shape)"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert (api.returncode, api.stdout, api.stderr) == (0, "(32, 32, 3)\n", ""), api.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "command, args",
    [
        ("maffsrn-train", ["--data_dir", ".", "--model_dir", "../run"]),
        ("maffsrn-export", ["--scales", "2", "--quantizations", "float16", "--noverify"]),
        ("maffsrn-evaluate", ["--datasets", "."]),
        ("maffsrn-upscale", ["--input", "photo.png", "--backend", "keras"]),
    ],
)
def test_commands_that_need_tensorflow_say_so_in_one_line(runtime_venv, tmp_path, command, args):
    _photo(tmp_path / "photo.png")
    run = subprocess.run([runtime_venv / "bin" / command, *args], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0, run.stderr
    assert run.stderr.startswith("error: ") and run.stderr.strip().endswith(
        'needs TensorFlow: pip install "maffsrn_tf[tensorflow]"'
    ), run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_version_on_every_console_script(runtime_venv):
    import maffsrn_tf

    for command in ("upscale", "train", "evaluate", "export", "profile", "convert-weights", "pack"):
        run = subprocess.run([runtime_venv / "bin" / f"maffsrn-{command}", "--version"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == f"maffsrn-{command} {maffsrn_tf.__version__}"


def test_a_missing_runtime_is_one_error_that_says_what_to_do(monkeypatch):
    """Where ai-edge-litert has no wheel (it is left out by an environment marker) or
    TensorFlow is not installed, upscale() says what to install, not an ImportError."""
    from maffsrn_tf import MaffsrnError
    from maffsrn_tf.upscaler import UpscaleOptions, make_engine

    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(MaffsrnError, match=r"needs the LiteRT runtime .*backend='keras'"):
        make_engine(UpscaleOptions())
    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.setitem(sys.modules, "maffsrn_tf.pretrained.loading", None)
    with pytest.raises(
        MaffsrnError, match=r'needs TensorFlow: pip install "maffsrn_tf\[tensorflow\]"'
    ):
        make_engine(UpscaleOptions(runtime="keras"))
