"""One source for the tiling numbers (``maffsrn_tf/model/tiling.json``: the default tile and
overlap, the model's minimum input size, the fixed-shape models' tile) and the front ends
that carry or read them: the standalone ``tflite/run_tflite.py`` (its own copy, held equal
here), the web page (fetches the file; tests/contracts/test_web.py checks what it runs with)
and the Android core (``Defaults.kt``, generated from the file; tests/contracts/test_android.py
runs it). The package's side: tests/model/test_presets.py."""

import importlib.util
import inspect
import json
import os
import posixpath
import re
import sys

from conftest import ROOT

TILING_JSON = os.path.join(ROOT, "maffsrn_tf", "model", "tiling.json")
sys.path.insert(0, os.path.join(ROOT, "web"))


def _tiling():
    with open(TILING_JSON, encoding="utf-8") as f:
        return json.load(f)


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_tflite_carries_the_tiling_json_numbers():
    """The standalone script keeps its own copy (it runs without maffsrn_tf): the same numbers
    in its constants, its functions' defaults and its command line's defaults."""
    numbers = _tiling()
    script = _load("run_tflite", os.path.join(ROOT, "tflite", "run_tflite.py"))
    assert script.MIN_SIZE == numbers["min_input_size"]
    assert (script.TILE, script.OVERLAP) == (numbers["tile"], numbers["overlap"])
    for fn in (script.upscale_rgb, script.upscale_image):
        parameters = inspect.signature(fn).parameters
        assert parameters["tile"].default == numbers["tile"], fn
        assert parameters["overlap"].default == numbers["overlap"], fn
    args = script.parser().parse_args(["model.tflite", "in.png", "out.png"])
    assert (args.tile, args.overlap) == (numbers["tile"], numbers["overlap"])


def test_android_defaults_kt_is_generated_from_tiling_json():
    """Defaults.kt is what android/generate_defaults.py writes from the file today, and the
    Kotlin sources take their numbers from it (their values on the JVM: test_android.py)."""
    generator = _load("generate_defaults", os.path.join(ROOT, "android", "generate_defaults.py"))
    with open(generator.TARGET, encoding="utf-8") as f:
        assert f.read() == generator.generated(), "run python android/generate_defaults.py"
    assert generator.main(["--check"]) == 0
    kotlin = os.path.join(ROOT, "android", "src")
    sources = {
        name: open(os.path.join(kotlin, *name.split("/")), encoding="utf-8").read()
        for name in (
            "main/kotlin/maffsrn/tiling/Tiling.kt",
            "litert/kotlin/maffsrn/tiling/LiteRtTileModel.kt",
        )
    }
    tiling, litert = sources.values()
    assert "const val MIN_SIZE = Defaults.MIN_INPUT_SIZE" in tiling
    assert "private val overlap: Int = Defaults.OVERLAP)" in tiling
    assert "override val tile: Int = Defaults.FIXED_MODEL_TILE," in litert


def test_web_page_and_its_hosts_read_tiling_json():
    """The page fetches the file its <meta name="maffsrn-tiling"> names: served by serve.py
    from the checkout, copied beside the page by build_site.py. (The numbers it then runs
    with: tests/contracts/test_web.py.)"""
    import build_site
    import serve

    with open(os.path.join(ROOT, "web", "index.html"), encoding="utf-8") as f:
        meta = re.search(r'<meta name="maffsrn-tiling" content="([^"]+)">', f.read()).group(1)
    url = posixpath.normpath(posixpath.join(posixpath.dirname(serve.PAGE), meta))
    assert os.path.samefile(os.path.join(ROOT, url.lstrip("/")), TILING_JSON)
    assert serve.allowed(url)
    assert build_site.SETTINGS["maffsrn-tiling"] == "tiling.json"
    with open(os.path.join(ROOT, "web", "app.js"), encoding="utf-8") as f:
        assert "setting('maffsrn-tiling')" in f.read()
