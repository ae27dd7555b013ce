"""The LiteRT.js page in headless Chromium: it runs the shipped fixed-shape models like the
Python runner does, reports a non-image file, and cancels without freezing the tab.
(WebGPU and the static build: tests/contracts/test_web_hosting.py.)"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, shared_path
from PIL import Image

from maffsrn_tf.data.sources import load_benchmark
from maffsrn_tf.imaging import metrics

sys.path.insert(0, os.path.join(ROOT, "web"))
with open(os.path.join(ROOT, "maffsrn_tf", "model", "tiling.json"), encoding="utf-8") as f:
    TILING = json.load(f)  # the tiling numbers every front end shares

pytestmark = pytest.mark.slow


def _require_browser():
    from browser import CHROMIUM

    missing = [
        p
        for p in (CHROMIUM, os.path.join(ROOT, "web", "dist", "worker.js"))
        if not os.path.exists(p)
    ]
    if missing:
        message = f"{missing} missing: `make test` installs Chromium and builds web/ (npm ci)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def page():
    from browser import Page

    _require_browser()
    p = Page()
    yield p
    p.close()
    assert not p.errors, p.errors


def _python_runner(model, lr_path, out_path):
    script = os.path.join(ROOT, "tflite", "run_tflite.py")
    tile, overlap = str(TILING["fixed_model_tile"]), str(TILING["overlap"])
    cmd = [sys.executable, script, model, str(lr_path), str(out_path), "--tile", tile]
    subprocess.run([*cmd, "--overlap", overlap, "--overwrite"], check=True, capture_output=True)
    return np.asarray(Image.open(out_path).convert("RGB"))


@pytest.mark.parametrize("variant", ["int8", "float16"])
def test_page_matches_the_python_runner_on_set5(page, tmp_path, variant):
    from maffsrn_tf.model.shipped import tflite_path

    name, hr, lr = load_benchmark(shared_path("data", "benchmark", "Set5"), 2)[0]
    lr_path = tmp_path / f"{name}.png"
    Image.fromarray(lr).save(lr_path)
    page.choose(lr_path)
    got = page.upscale(2, variant)
    # this browser has no GPU: the page says it runs on the CPU
    assert page.device() == ("wasm", "Runs on: CPU (WebAssembly)")
    want = _python_runner(tflite_path(2, f"{variant}_128px"), lr_path, tmp_path / "py.png")
    assert got.shape == want.shape == hr.shape
    assert metrics.psnr(want, got, 0) >= 40.0
    assert abs(metrics.psnr(hr, got, 2) - metrics.psnr(hr, want, 2)) <= 0.05


def test_page_tiles_with_the_numbers_of_tiling_json(page, tmp_path):
    """The page fetches maffsrn_tf/model/tiling.json and hands the worker its overlap and the
    fixed-shape models' tile (the worker checks the model's input is that tile)."""
    page.page.evaluate(
        """() => {
          window.sentToWorker = [];
          const post = Worker.prototype.postMessage;
          Worker.prototype.postMessage = function (msg, ...rest) {
            window.sentToWorker.push({tile: msg.tile, overlap: msg.overlap, url: msg.modelUrl});
            return post.call(this, msg, ...rest);
          };
        }"""
    )
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    page.choose(tmp_path / "a.png")
    assert page.upscale(2, "int8").shape == (60, 80, 3)
    sent = page.page.evaluate("window.sentToWorker")
    tile = TILING["fixed_model_tile"]
    assert sent[-1]["tile"] == tile and sent[-1]["overlap"] == TILING["overlap"]
    assert sent[-1]["url"].endswith(f"/maffsrn_x2_int8_{tile}px.tflite")


def test_non_image_file_gets_a_message(page, tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"this is not an image")
    page.choose(junk)
    assert page.state() == "error" and "is not an image" in page.status()
    assert page.page.is_disabled("#run")


def test_cancel_stops_the_run_and_the_tab_stays_usable(page, tmp_path):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(big).resize((800, 600), Image.BICUBIC).save(tmp_path / "big.png")
    page.choose(tmp_path / "big.png")
    page.page.select_option("#scale", "2")
    page.page.click("#run")
    page.wait_for("document.getElementById('status').textContent.includes('tile')", 120)
    page.page.click("#cancel")
    assert page.state() == "cancelled" and "Cancelled" in page.status()
    assert page.page.evaluate("1 + 1") == 2 and not page.page.is_disabled("#run")
    # and it still works after a cancel
    small = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(small).save(tmp_path / "small.png")
    page.choose(tmp_path / "small.png")
    assert page.upscale(2, "int8").shape == (80, 100, 3)
