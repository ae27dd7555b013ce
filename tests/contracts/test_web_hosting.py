"""The web page on WebGPU (SwiftShader's CPU adapter in headless Chromium) and from the
self-contained static build (``make web-dist``) served alone under a path prefix, each
against the Python runner. (Each test starts its own browser: Playwright's sync API allows
one at a time per thread, so they live apart from test_web.py's module-wide page.)"""

import functools
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import shared_path
from PIL import Image
from test_web import ROOT, TILING, _python_runner, _require_browser

from maffsrn_tf.data.sources import load_benchmark
from maffsrn_tf.imaging import metrics

pytestmark = pytest.mark.slow


def test_page_runs_float16_on_webgpu_and_int8_on_wasm(tmp_path):
    """SwiftShader's WebGPU adapter (a CPU emulation: seconds per tile) proves correctness."""
    from browser import Page

    from maffsrn_tf.model.shipped import tflite_path

    _require_browser()
    items = load_benchmark(shared_path("data", "benchmark", "Set5"), 4)
    smallest = sorted(items, key=lambda item: item[2].size)[:2]  # one 128-px tile each
    gpu = Page(webgpu=True)
    try:
        for name, hr, lr in smallest:
            lr_path = tmp_path / f"{name}.png"
            Image.fromarray(lr).save(lr_path)
            gpu.choose(lr_path)
            got = gpu.upscale(4, "float16", timeout_s=900)
            assert gpu.device() == ("webgpu", "Runs on: GPU (WebGPU)"), name
            want = _python_runner(tflite_path(4, "float16_128px"), lr_path, tmp_path / "py.png")
            assert got.shape == want.shape == hr.shape
            assert metrics.psnr(want, got, 0) >= 40.0, name
        gpu.upscale(4, "int8")  # WebGPU computes in floats: int8 models stay on wasm
        assert gpu.device()[0] == "wasm"
        gpu.upscale(4, "float16", accelerator="wasm")  # the user's choice
        assert gpu.device()[0] == "wasm"
    finally:
        gpu.close()
    assert not gpu.errors, gpu.errors


class _StaticHost(http.server.SimpleHTTPRequestHandler):
    """A plain static host (no knowledge of the repository) with the site's ``_headers``."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript"}  # fmt: skip
    headers_to_send = {}

    def end_headers(self):
        for name, value in self.headers_to_send.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, *args):
        pass


def test_static_build_works_alone_under_a_path_prefix(tmp_path):
    from browser import Page

    from maffsrn_tf.model.shipped import tflite_path

    _require_browser()
    root = tmp_path / "host"
    site = root / "user" / "maffsrn"
    build = subprocess.run(
        [sys.executable, os.path.join(ROOT, "web", "build_site.py"), "--out", str(site)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    for name in ("index.html", "app.js", "dist/worker.js"):  # nothing outside the folder
        code = [
            ln for ln in (site / name).read_text().splitlines() if not ln.strip().startswith("//")
        ]
        text = "\n".join(code)  # (esbuild's comments name the bundled files' origins)
        assert "../" not in text and "node_modules" not in text and "maffsrn_tf/" not in text
    assert json.loads((site / "tiling.json").read_text()) == TILING  # the page's tiling numbers
    lines = (site / "_headers").read_text().splitlines()
    _StaticHost.headers_to_send = dict(line.strip().split(": ", 1) for line in lines[1:])
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_StaticHost, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/user/maffsrn/"
    hosted = Page(url=url)
    try:
        name, hr, lr = load_benchmark(shared_path("data", "benchmark", "Set5"), 2)[1]
        lr_path = tmp_path / f"{name}.png"
        Image.fromarray(lr).save(lr_path)
        hosted.choose(lr_path)
        got = hosted.upscale(2, "int8")
        want = _python_runner(tflite_path(2, "int8_128px"), lr_path, tmp_path / "py.png")
        assert got.shape == want.shape == hr.shape
        assert metrics.psnr(want, got, 0) >= 40.0
    finally:
        hosted.close()
        server.shutdown()
    assert not hosted.errors, hosted.errors
