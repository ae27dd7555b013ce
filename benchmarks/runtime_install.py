"""The runtime install from a fresh clone: time to the first upscaled image and venv size.

Clones this repository's HEAD into a temporary folder (clone time not counted), runs
``make upscale`` there (it builds ``.venv-runtime`` with ``pip install -e .``, no extras, then
upscales the shipped sample photo) and prints the wall time to the first image and the venv's
size. ``--cache warm`` uses pip's own cache, as a second install on a machine would;
``--cache cold`` an empty one (every wheel downloaded). Both by default.

    python benchmarks/runtime_install.py [--cache warm|cold|both]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def folder_mib(path):
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            p = os.path.join(folder, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total / 2**20


def run_once(cache, python):
    with tempfile.TemporaryDirectory() as tmp:
        clone = os.path.join(tmp, "maffsrn_tf")
        subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
        env = dict(os.environ)
        if cache == "cold":
            env["PIP_CACHE_DIR"] = os.path.join(tmp, "empty-pip-cache")
        start = time.perf_counter()
        run = subprocess.run(["make", "upscale", f"PYTHON={python}"], cwd=clone, env=env,
                             capture_output=True, text=True)  # fmt: skip
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            sys.exit(f"error: make upscale failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
        if not os.path.exists(os.path.join(clone, "out", "sample_x2.png")):
            sys.exit("error: make upscale wrote no out/sample_x2.png")
        size = folder_mib(os.path.join(clone, ".venv-runtime"))
        tf = subprocess.run([os.path.join(clone, ".venv-runtime", "bin", "python"), "-c",
                             "import tensorflow"], capture_output=True)  # fmt: skip
        return seconds, size, tf.returncode != 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", choices=["warm", "cold", "both"], default="both")
    p.add_argument("--python", default=shutil.which("python3") or sys.executable)
    a = p.parse_args()
    for cache in ("warm", "cold") if a.cache == "both" else (a.cache,):
        seconds, size, no_tf = run_once(cache, a.python)
        print(
            f"make upscale from a fresh clone, pip cache {cache}: first image after "
            f"{seconds:.1f} s; .venv-runtime {size:.0f} MiB; TensorFlow "
            f"{'absent' if no_tf else 'PRESENT'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
