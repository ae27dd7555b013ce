"""Drive the web page in headless Chromium (Debian's ``/usr/bin/chromium``) with Playwright:
shared by the browser test and ``make web-screenshot``.

Playwright's Python package brings its driver; the browser is the system's Chromium,
given by ``executable_path`` (nothing downloads a browser build).
"""

import base64
import io
import os
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import serve  # noqa: E402

CHROMIUM = os.environ.get("MAFFSRN_CHROMIUM", "/usr/bin/chromium")
# flags of a headless, offline, root-run Chromium (this machine's network is closed)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# WebGPU on the CPU: SwiftShader (Vulkan on the CPU) as the WebGPU adapter. Correct, not fast
# (seconds per tile); WebGPU needs a secure context, which 127.0.0.1 is.
WEBGPU_ARGS = [
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
    "--use-webgpu-adapter=swiftshader",
]


class Page:
    """The MAFFSRN page in a fresh headless Chromium, served from this checkout (or ``url``,
    a page served by the caller). ``webgpu``: offer the page a (SwiftShader) WebGPU adapter;
    else the GPU is off and the page has none."""

    def __init__(self, width=1100, height=900, webgpu=False, url=None):
        from playwright.sync_api import sync_playwright

        self.server, self.url = (None, url) if url else serve()
        args = [a for a in ARGS if a != "--disable-gpu"] + WEBGPU_ARGS if webgpu else ARGS
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=args)
        self.page = self.browser.new_page(viewport={"width": width, "height": height})
        self.errors = []
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))
        self.page.goto(self.url)

    def close(self):
        self.browser.close()
        self._pw.stop()
        if self.server:
            self.server.shutdown()

    def state(self):
        return self.page.evaluate("document.body.dataset.state")

    def status(self):
        return self.page.text_content("#status")

    def device(self):
        """``(accelerator, the sentence the page shows)`` of the last run."""
        return (
            self.page.evaluate("document.body.dataset.accelerator || ''"),
            self.page.text_content("#device"),
        )

    def wait_for(self, predicate, timeout_s=30):
        """Poll a JavaScript expression until it is true. (Playwright's wait_for_function
        evaluates a string inside the page, which the page's Content-Security-Policy forbids,
        as it should; page.evaluate runs it through the DevTools protocol instead.)"""
        deadline = time.monotonic() + timeout_s
        while not self.page.evaluate(f"() => Boolean({predicate})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{predicate} still false after {timeout_s} s")
            time.sleep(0.1)

    def choose(self, path):
        self.page.set_input_files("#file", str(path))
        self.wait_for(
            "document.body.dataset.state !== 'idle' || !document.getElementById('run').disabled"
        )

    def upscale(self, scale, model, timeout_s=600, accelerator="auto"):
        """Run one upscale; returns the result as a uint8 RGB array (lossless, via PNG)."""
        self.page.select_option("#scale", str(scale))
        self.page.select_option("#model", model)
        self.page.select_option("#accelerator", accelerator)
        self.page.click("#run")
        self.wait_for(
            "['done', 'error', 'cancelled'].includes(document.body.dataset.state)", timeout_s
        )
        if self.state() != "done":
            raise RuntimeError(f"the page says: {self.status()}")
        url = self.page.evaluate("document.getElementById('sr').toDataURL('image/png')")
        png = base64.b64decode(url.split(",", 1)[1])
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
