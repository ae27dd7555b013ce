"""Training data at DIV2K scale: peak memory does not grow with the number of images."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.slow
def test_peak_rss_independent_of_image_count(tmp_path):
    out = tmp_path / "rows.json"
    cmd = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "div2k_memory.py"),
        "--sizes", "10,30", "--batches", "60", "--workdir", str(tmp_path), "--json", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=1200, capture_output=True)
    small, large = json.loads(out.read_text())
    assert (small["images"], large["images"]) == (10, 30)
    growth = large["peak_rss_mb"] / small["peak_rss_mb"] - 1
    assert growth < 0.10, (small, large)  # speed: `python benchmarks/div2k_memory.py` (docs)
