"""The notebooks install as Colab runs them: each one's install cell, exactly as the notebook
builds its pip line, from a git URL of a local clone, in a fresh venv; and the repository
setting that makes their badges and install URLs is applied everywhere."""

import json
import os
import subprocess
import sys
import venv

import pytest
from test_notebooks import ROOT, notebook_as_script

NOTEBOOKS = ("quickstart.ipynb", "train_colab.ipynb", "tflite_export.ipynb")


def _head_cells(name):
    """A notebook with its first three cells (intro, parameters, install): the install runs
    as the notebook builds it, nothing after it."""
    with open(os.path.join(ROOT, "notebooks", name)) as f:
        notebook = json.load(f)
    notebook["cells"] = notebook["cells"][:3]
    return notebook


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A clone of this repository's HEAD (what `git+https://…` gives Colab)."""
    path = tmp_path_factory.mktemp("clone") / "maffsrn_tf"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", ROOT, str(path)], check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_install_line_installs_from_a_git_url(name, clone, tmp_path):
    head = tmp_path / name
    head.write_text(json.dumps(_head_cells(name)))
    install = [c for c in json.loads(head.read_text())["cells"] if c["cell_type"] == "code"][1]
    assert "maffsrn_tf{EXTRAS} @ {SOURCE}" in "".join(install["source"])
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    # Colab's pip is current; the pip that venv bundles (23.2) rejects git+file:// in a
    # "name[extra] @ url" requirement
    upgrade = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-U", "pip"]
    subprocess.run(upgrade, check=True, capture_output=True, timeout=300)
    source = f"git+file://{clone}"
    script = tmp_path / "install.py"
    script.write_text(notebook_as_script(str(head), {"PACKAGE_SOURCE": source,
                                                     "PIP_OPTIONS": "--no-deps"}))  # fmt: skip
    run = subprocess.run([py, str(script)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "maffsrn_tf[" in run.stdout and f"@ {source}" in run.stdout  # the line it ran
    show = subprocess.run([py, "-m", "pip", "show", "-f", "maffsrn_tf"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    import maffsrn_tf

    assert f"Version: {maffsrn_tf.__version__}" in show.stdout
    assert "maffsrn_tf/weights/maffsrn_x2_float16.tflite" in show.stdout
    extras = subprocess.run(
        [py, "-c", "import importlib.metadata as m; print(m.metadata('maffsrn_tf').get_all("
         "'Provides-Extra'))"], capture_output=True, text=True, check=True)  # fmt: skip
    assert "tensorflow" in extras.stdout and "tfds" in extras.stdout


def test_repository_setting_is_applied_to_badges_and_install_urls():
    run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "notebooks.py"), "--check"],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    with open(os.path.join(ROOT, "notebooks", "REPOSITORY")) as f:
        repository = f.read().strip()
    badge = f"https://colab.research.google.com/github/{repository}/blob/main/notebooks/"
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    for name in NOTEBOOKS:
        with open(os.path.join(ROOT, "notebooks", name)) as f:
            text = f.read()
        assert badge + name in text and badge + name in readme, name
        assert f'REPOSITORY = \\"{repository}\\"' in text, name
        assert "colab-badge.svg" in text


def test_notebook_tool_rewrites_for_a_fork(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import notebooks as tool
    finally:
        sys.path.pop(0)
    text = ("[![b](https://colab.research.google.com/github/a/b/blob/main/notebooks/x.ipynb)]\n"
            'REPOSITORY = "a/b"  # owner/name\n')  # fmt: skip
    assert tool.rewrite(text, "you/fork") == (
        "[![b](https://colab.research.google.com/github/you/fork/blob/main/notebooks/x.ipynb)]\n"
        'REPOSITORY = "you/fork"  # owner/name\n'
    )
