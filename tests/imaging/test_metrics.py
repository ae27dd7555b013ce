"""The PSNR/SSIM protocol (``imaging.metrics``) against the published RCAN table on the
shared oracles, and maffsrn-evaluate's bicubic rows. (MATLAB's imresize: test_matlab.py.)"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ORACLE_NAMES, shared_image, shared_path

from maffsrn_tf.imaging import metrics

RCAN = {
    "RCAN": {2: (38.27, 0.9614), 3: (34.74, 0.9299), 4: (32.63, 0.9002)},
    "RCANplus": {2: (38.33, 0.9617), 3: (34.85, 0.9305), 4: (32.73, 0.9013)},
}


@pytest.mark.parametrize("method", list(RCAN))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_metrics_reproduce_published_rcan_table(method, scale):
    psnrs, ssims = [], []
    for name in ORACLE_NAMES:
        hr = shared_image("data", "oracle", "matlab_bicubic", "HR", f"x{scale}", f"{name}.png")
        sr = shared_image("data", "oracle", "rcan_sr", method, f"x{scale}", f"{name}.png")
        psnrs.append(metrics.psnr(hr, sr, scale))
        ssims.append(metrics.ssim(hr, sr, scale))
    want_psnr, want_ssim = RCAN[method][scale]
    assert round(float(np.mean(psnrs)), 2) == want_psnr
    assert round(float(np.mean(ssims)), 4) == want_ssim


def test_grayscale_is_evaluated_on_its_own_values():
    hr = np.random.default_rng(1).integers(0, 256, (40, 40), dtype=np.uint8)
    sr = hr.copy()
    sr[10, 10] ^= 8
    mse = 64 / (36 * 36)  # one pixel differs by 8 inside the shaved 36x36 region
    assert metrics.psnr(hr, sr, 2) == pytest.approx(10 * np.log10(255**2 / mse))
    assert metrics.psnr(hr, np.dstack([sr] * 3), 2) == pytest.approx(metrics.psnr(hr, sr, 2))
    assert metrics.ssim(hr, hr, 2) == pytest.approx(1.0)


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env)


def test_evaluate_cli_bicubic_rows(tmp_path):
    set5 = shared_path("data", "benchmark", "Set5")
    set14 = shared_path("data", "benchmark", "Set14")
    out = tmp_path / "r.json"
    proc = run_cli(
        "maffsrn_tf.cli.evaluate",
        "--scale",
        "3",
        "--datasets",
        f"{set5},{set14}",
        "--bicubic_only",
        "--json",
        str(out),
        "--per_image",
    )
    assert proc.returncode == 0, proc.stderr
    assert "| Set5 | bicubic | 30.40 | 0.8689 | 5 |" in proc.stdout
    assert "| Set14 | bicubic | 27.54 |" in proc.stdout and "| 14 |" in proc.stdout
    result = json.loads(out.read_text())
    assert result["datasets"]["Set14"]["images"] == 14
    assert len(result["datasets"]["Set5"]["per_image"]) == 5
    bad = run_cli("maffsrn_tf.cli.evaluate", "--scale", "5", "--datasets", set5, "--bicubic_only")
    assert bad.returncode == 1 and "--scale must be 2, 3 or 4" in bad.stderr
    assert len(bad.stderr.splitlines()) == 1, bad.stderr
    missing = run_cli(
        "maffsrn_tf.cli.evaluate",
        "--scale",
        "2",
        "--datasets",
        str(tmp_path / "x"),
        "--bicubic_only",
    )
    assert missing.returncode == 1 and "dataset folder not found" in missing.stderr
