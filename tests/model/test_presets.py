"""The package's tiling numbers come from one data file, ``maffsrn_tf/model/tiling.json``,
which ships with the package and loads without TensorFlow. (The standalone script, the web
page and the Android core against the same file: tests/contracts/test_tiling_defaults.py.)"""

import ast
import fnmatch
import json
import os
import subprocess
import sys

from conftest import ROOT

TILING_JSON = os.path.join(ROOT, "maffsrn_tf", "model", "tiling.json")


def _tiling():
    with open(TILING_JSON, encoding="utf-8") as f:
        return json.load(f)


def test_tiling_json_holds_the_four_numbers():
    numbers = _tiling()
    assert set(numbers) == {"tile", "overlap", "min_input_size", "fixed_model_tile"}
    assert all(type(v) is int for v in numbers.values()), numbers
    # a tile fits the model and leaves room for its overlaps, fixed models' tiles included
    for tile in (numbers["tile"], numbers["fixed_model_tile"]):
        assert tile >= numbers["min_input_size"] and 0 <= 2 * numbers["overlap"] < tile


def test_package_constants_are_the_tiling_json_defaults():
    from maffsrn_tf.model import presets
    from maffsrn_tf.upscaler import tiling

    numbers = _tiling()
    assert presets.TILING == numbers
    assert presets.MIN_INPUT_SIZE == numbers["min_input_size"]
    assert presets.DEFAULT_TILE == tiling.DEFAULT_TILE == numbers["tile"]
    assert presets.DEFAULT_OVERLAP == tiling.DEFAULT_OVERLAP == numbers["overlap"]
    assert presets.FIXED_MODEL_TILE == numbers["fixed_model_tile"]


def test_presets_load_the_file_without_tensorflow():
    code = (
        "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None\n"
        "from maffsrn_tf.model import presets\n"
        "print(presets.DEFAULT_TILE, presets.DEFAULT_OVERLAP, presets.MIN_INPUT_SIZE)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert run.returncode == 0, run.stderr
    numbers = _tiling()
    want = f"{numbers['tile']} {numbers['overlap']} {numbers['min_input_size']}"
    assert run.stdout.split() == want.split()


def test_tiling_json_ships_in_the_wheel_and_the_sdist():
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    package_data = next(
        ast.literal_eval(k.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup"
        for k in node.keywords
        if k.arg == "package_data"
    )
    assert any(fnmatch.fnmatch("model/tiling.json", g) for g in package_data["maffsrn_tf"])
    with open(os.path.join(ROOT, "MANIFEST.in"), encoding="utf-8") as f:
        assert "include maffsrn_tf/model/tiling.json" in f.read().splitlines()
