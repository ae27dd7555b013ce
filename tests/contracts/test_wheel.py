"""The wheel: it carries the weights, cards and TFLite models, and an installed copy upscales
with ``--backend tflite`` away from the checkout."""

import subprocess
import sys
import sysconfig
import venv
import zipfile

import numpy as np
import pytest
from conftest import ROOT, build_wheel
from PIL import Image


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_carries_the_shipped_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for scale in (2, 3, 4):
        for suffix in (".npz", ".json", "_float16.tflite", "_int8.tflite"):
            assert f"maffsrn_tf/weights/maffsrn_x{scale}{suffix}" in names
    for module in ("train", "evaluate", "upscale", "export", "profile", "convert_weights"):
        assert f"maffsrn_tf/cli/{module}.py" in names
    assert "maffsrn_tf/export/graph.py" in names and "maffsrn_tf/upscaler/files.py" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "tflite/"))]


@pytest.mark.slow
def test_installed_wheel_upscales_with_tflite_outside_the_checkout(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # dependencies from the test environment (a plain path: its editable install stays off)
    (env_dir / site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(pip, check=True, timeout=600, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (12, 15, 3), dtype=np.uint8)
    Image.fromarray(small).resize((60, 45), Image.BICUBIC).save(work / "photo.png")
    cmd = [env_dir / "bin" / "maffsrn-upscale", "--input", "photo.png", "--output", "big.png",
           "--scale", "2", "--backend", "tflite"]  # fmt: skip
    run = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert Image.open(work / "big.png").size == (120, 90)
    where = subprocess.run(
        [py, "-c", "import maffsrn_tf.model.shipped as a; print(a.tflite_path(2))"],
        cwd=work, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(site) and not where.startswith(ROOT)


@pytest.mark.slow
def test_release_builds_an_sdist_and_a_wheel_that_twine_accepts(tmp_path):
    """``python -m build`` (as a release would run it) makes both artifacts, with the
    package's one version in their names; ``twine check`` accepts them; each carries the
    shipped models, the sample photo and the release files."""
    import maffsrn_tf

    cmd = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), ROOT]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    version = maffsrn_tf.__version__
    wheel = tmp_path / f"maffsrn_tf-{version}-py3-none-any.whl"
    sdist = tmp_path / f"maffsrn_tf-{version}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(p.name for p in tmp_path.iterdir())
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel),
                            str(sdist)], capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("PASSED") == 2
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("weights/maffsrn_x2.npz", "weights/maffsrn_x4_int8.tflite",
                 "samples/grace_hopper.jpg", "samples/LICENSE.txt"):  # fmt: skip
        assert f"maffsrn_tf/{name}" in names, name
    import tarfile

    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    shipped = [
        "maffsrn_tf/weights/maffsrn_x3_float16.tflite",
        "maffsrn_tf/samples/grace_hopper.jpg",
    ]
    for name in ["CHANGELOG.md", "CITATION.cff", "LICENSE", "README.md", *shipped]:
        assert name in members, name
