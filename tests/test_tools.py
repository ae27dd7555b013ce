"""The repository's tools (``tools/``): the campaign curve's fit."""

import importlib.util
import math
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_campaign_curve_fits_the_best_so_far_over_cumulative_iterations():
    curve = _tool("campaign_curve")

    def stage(start, n):  # validations every 500 iterations on psnr = 30 + 0.1 ln(iterations)
        points = [[k * 500, round(30 + 0.1 * math.log(start + k * 500), 6)] for k in range(1, n)]
        return {"iterations": n * 500, "curve": points, "best_val_psnr": points[-1][1]}

    # each stage's last 500 iterations are not validated: the next stage starts after them
    card = {"history": [{"iterations": 5000}, stage(5000, 6), stage(8000, 4), stage(10000, 8)]}
    points = curve.best_so_far(card)
    assert [p[0] for p in points[:6]] == [5500, 6000, 6500, 7000, 7500, 8500]
    assert {p[2] for p in points} == {2, 3, 4}
    a, b = curve.log_fit([p[:2] for p in points], 3)
    assert a == pytest.approx(30, abs=1e-4) and b == pytest.approx(0.1, abs=1e-5)
    gains = curve.stage_gains(card)
    assert [g[0] for g in gains] == [2, 3, 4] and gains[0][3] is None
    assert gains[1][3] == pytest.approx(card["history"][2]["best_val_psnr"] - gains[0][2])
    with pytest.raises(ValueError, match="3 stages"):
        curve.log_fit([p[:2] for p in points if p[2] > 2], 2)
    assert curve.iterations_to_reach(a, b, 30 + 0.1 * math.log(40000)) == pytest.approx(40000, 1e-3)
    assert curve.iterations_to_reach(30, -0.01, 31) is None


def test_campaign_curve_command_reads_a_shipped_card():
    tool = os.path.join(ROOT, "tools", "campaign_curve.py")
    proc = subprocess.run(
        [sys.executable, tool, "--name", "maffsrn_x2"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "dB per doubling" in proc.stdout and "projected at    40,000" in proc.stdout
    proc = subprocess.run(
        [sys.executable, tool, "--name", "maffsrn_x2", "--reach", "32.9"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    fit = re.search(r"psnr = ([\d.]+) \+ ([\d.]+) ln", proc.stdout)
    reached = re.search(r"32\.900 dB reached at +([\d,]+) iterations", proc.stdout)
    at = int(reached.group(1).replace(",", ""))
    assert float(fit.group(1)) + float(fit.group(2)) * math.log(at) == pytest.approx(32.9, abs=2e-3)
    assert "h at this campaign's pace" in proc.stdout
    proc = subprocess.run(
        [sys.executable, tool, "--name", "maffsrn_x2", "--reach", "high"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and proc.stderr.strip().startswith("error: --reach takes")
    proc = subprocess.run(
        [sys.executable, tool, "--name", "maffsrn_x2", "--at", "0"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and proc.stderr.strip().startswith("error: --at takes")
    proc = subprocess.run(
        [sys.executable, tool, "--name", "maffsrn_x9"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and proc.stderr.strip().startswith("error: no model card")
