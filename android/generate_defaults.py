"""Write the Android core's tiling defaults (``Defaults.kt``) from ``maffsrn_tf/model/tiling.json``,
the one file of tiling numbers the Python package, ``tflite/run_tflite.py`` and the web page share.

    python android/generate_defaults.py          # rewrite Defaults.kt after editing tiling.json
    python android/generate_defaults.py --check  # exit 1 if the committed Defaults.kt is stale

Plain Python, nothing to install (``tests/contracts/test_tiling_defaults.py`` runs the check).
"""

import argparse
import json
import os
import sys

ANDROID = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(ANDROID)
SOURCE = os.path.join(ROOT, "maffsrn_tf", "model", "tiling.json")
TARGET = os.path.join(ANDROID, "src", "main", "kotlin", "maffsrn", "tiling", "Defaults.kt")

# tiling.json's keys: the Kotlin constant each becomes, and its documentation
CONSTANTS = {
    "tile": ("TILE", "The default largest tile in LR pixels (dynamic-shape models)."),
    "overlap": ("OVERLAP", "The LR pixels each tile shares with its neighbours."),
    "min_input_size": (
        "MIN_INPUT_SIZE",
        "The smallest side the model accepts (ESA's stride-2 conv and 7x7/3 max-pool).",
    ),
    "fixed_model_tile": (
        "FIXED_MODEL_TILE",
        "The LR input size of the shipped fixed-shape models (maffsrn_x2_float16_128px.tflite).",
    ),
}


def kotlin(numbers):
    """The text of ``Defaults.kt`` for ``numbers`` (tiling.json's object)."""
    if set(numbers) != set(CONSTANTS) or not all(
        type(v) is int and v >= 0 for v in numbers.values()
    ):
        raise SystemExit(f"error: {SOURCE} must hold the integers {', '.join(CONSTANTS)}")
    lines = [
        "// Generated from maffsrn_tf/model/tiling.json by android/generate_defaults.py: do not",
        "// edit. The tiling numbers shared with the Python package, tflite/run_tflite.py and the",
        "// web page.",
        "package maffsrn.tiling",
        "",
        "object Defaults {",
    ]
    for key, (name, doc) in CONSTANTS.items():
        lines += [f"    /** {doc} */", f"    const val {name} = {numbers[key]}"]
    return "\n".join([*lines, "}", ""])


def generated():
    with open(SOURCE, encoding="utf-8") as f:
        return kotlin(json.load(f))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="only check that Defaults.kt is current")
    a = p.parse_args(argv)
    text = generated()
    if a.check:
        with open(TARGET, encoding="utf-8") as f:
            if f.read() != text:
                print(f"error: {TARGET} is stale; run python {__file__}", file=sys.stderr)
                return 1
        return 0
    with open(TARGET, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
