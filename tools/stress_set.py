"""Write the graphics stress set (issue #43) as PNGs: ``maffsrn_tf.evaluation.stress``'s
images (rendered text on saturated and dark backgrounds, flat shapes, gradients, line art,
stripes, a chart, a UI screenshot).

    python tools/stress_set.py OUT_DIR [--seed 0] [--scale 1.0] [--bundled_font_only]

Deterministic: the same arguments give the same PNG bytes on the same machine. Seed 0 is the
evaluation set (``benchmarks/int8_worst.py``, ``maffsrn-export --stress_set``); the int8
calibration draws from seeds 1 and 2. ``--bundled_font_only``: Pillow's bundled font alone
(the bytes then depend on Pillow only); ``--scale`` (0.25 or more) shrinks the canvases.
"""

import argparse

import numpy as np
from PIL import Image

from maffsrn_tf.evaluation.stress import (  # noqa: F401 (the script's module API)
    IMAGES,
    stress_images,
    write_stress_set,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0, help="0: the evaluation set")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="canvas size factor (0.25 or more)"
    )
    parser.add_argument("--bundled_font_only", action="store_true")
    args = parser.parse_args(argv)
    for path in write_stress_set(args.out_dir, args.seed, args.scale, args.bundled_font_only):
        h, w = np.asarray(Image.open(path)).shape[:2]
        print(f"{path}  {w}x{h}")


if __name__ == "__main__":
    main()
