"""The Android tiling core (``android/src/main/kotlin``), compiled with kotlinc and run on the
JVM with a known-answer tile model, against ``tflite/run_tflite.py`` with the same model: the
same tile starts and the same output bytes (layout, blend, strip-by-strip rows, rounding).
The LiteRT adapter (``android/src/litert``) is not compiled here: its AAR is on Google's
Maven, which these machines cannot reach."""

import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

ANDROID = os.path.join(ROOT, "android")
KOTLINC = os.path.join(ANDROID, "node_modules", "kotlin-compiler", "bin", "kotlinc-jvm")
sys.path.insert(0, os.path.join(ROOT, "tflite"))
import run_tflite  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jar(tmp_path_factory):
    missing = [p for p in (KOTLINC,) if not os.path.exists(p)] + [
        tool for tool in ("java", "javac") if shutil.which(tool) is None
    ]
    if missing:
        message = f"{missing} missing: `make test` installs the JDK and kotlin-compiler (npm ci)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)
    sources = sorted(
        glob.glob(os.path.join(ANDROID, "src", "main", "kotlin", "**", "*.kt"), recursive=True)
    )
    sources += sorted(
        glob.glob(os.path.join(ANDROID, "src", "test", "kotlin", "**", "*.kt"), recursive=True)
    )
    out = str(tmp_path_factory.mktemp("kotlin") / "tiling.jar")
    build = subprocess.run(
        [KOTLINC, *sources, "-include-runtime", "-d", out],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return out


def _java(jar, *args):
    run = subprocess.run(
        ["java", "-cp", jar, "maffsrn.tiling.TilingCheckKt", *map(str, args)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return run


class KnownAnswer:
    """TilingCheck.kt's KnownAnswerModel in NumPy: nearest x``scale`` plus a column ramp."""

    def __init__(self, tile, scale):
        self.fixed, self.scale = tile, scale

    def __call__(self, x):
        s, ts = self.scale, self.fixed * self.scale
        v = np.repeat(np.repeat(x[0], s, 0), s, 1)
        ramp = np.arange(ts, dtype=np.float32) / np.float32(ts)
        return v * np.float32(0.9) + np.float32(0.1) * ramp[None, :, None]


def _tiling():
    with open(os.path.join(ROOT, "maffsrn_tf", "model", "tiling.json"), encoding="utf-8") as f:
        return json.load(f)


def test_compiled_defaults_are_tiling_json(jar):
    """Defaults.kt (generated from tiling.json: tests/contracts/test_tiling_defaults.py) as
    the JVM sees it, and Tiling.MIN_SIZE taken from it."""
    numbers = _tiling()
    got = dict(item.split("=") for item in _java(jar, "defaults").stdout.split())
    assert {k: int(v) for k, v in got.items()} == {**numbers, "min_size": numbers["min_input_size"]}


def test_upscaler_blends_with_the_default_overlap(jar, tmp_path):
    """``Upscaler(model)`` without an overlap tiles as run_tflite.py does with tiling.json's."""
    numbers = _tiling()
    tile, overlap, height = numbers["fixed_model_tile"], numbers["overlap"], 170

    def tiles(length, overlap):
        return len(run_tflite.layout(length, tile, overlap, exact=True)[1])

    # a width a wider overlap cuts into more tiles, so the overlap shows in the bytes
    width = next(w for w in range(tile, 4 * tile) if tiles(w, overlap) != tiles(w, overlap + 4))
    rgb = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    (tmp_path / "in.rgb").write_bytes(rgb.tobytes())
    _java(jar, "upscale", tmp_path / "in.rgb", width, height, tile, 2, "default", tmp_path / "o")
    got = np.frombuffer((tmp_path / "o").read_bytes(), np.uint8).reshape(height * 2, width * 2, 3)
    model = KnownAnswer(tile, 2)
    want = run_tflite.upscale_rgb(model, rgb, tile=tile, overlap=overlap)
    np.testing.assert_array_equal(got, want)
    assert (run_tflite.upscale_rgb(model, rgb, tile=tile, overlap=overlap + 4) != want).any()


def test_tile_starts_equal_run_tflite(jar):
    lengths = [13, 100, 128, 129, 200, 255, 300, 1000, 4000]
    lines = _java(jar, "layout", 128, 24, *lengths).stdout.split("\n")
    for length, line in zip(lengths, lines):
        size, starts = run_tflite.layout(length, 128, 24, exact=True)
        assert [int(v) for v in line.split()] == [length, size, *starts], line


@pytest.mark.parametrize(
    "width, height, scale", [(300, 170, 2), (40, 30, 3), (257, 129, 4), (128, 128, 2)]
)
def test_upscaled_bytes_equal_run_tflite(jar, tmp_path, width, height, scale):
    rgb = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    (tmp_path / "in.rgb").write_bytes(rgb.tobytes())
    run = _java(
        jar, "upscale", tmp_path / "in.rgb", width, height, 128, scale, 24, tmp_path / "out.rgb"
    )
    got = np.frombuffer((tmp_path / "out.rgb").read_bytes(), np.uint8)
    want = run_tflite.upscale_rgb(KnownAnswer(128, scale), rgb, tile=128, overlap=24)
    assert got.size == want.size
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    tiles = len(run_tflite.layout(max(height, 128), 128, 24, True)[1]) * len(
        run_tflite.layout(max(width, 128), 128, 24, True)[1]
    )
    assert run.stderr.splitlines()[-1] == f"tile {tiles}/{tiles}"  # progress per tile
