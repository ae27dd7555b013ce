"""Any output size against bicubic: ``--outscale`` on Set5 and Set14 at non-integer factors.

    python benchmarks/outscale.py [--factors 2.5,3.5] [--quantization float16]

For a factor f = p/q (2.5 = 5/2, 3.5 = 7/2), each HR image is cropped (top-left) to sides
that are multiples of p, made into LR by MATLAB's bicubic ``imresize(hr, 1/f)`` (as the
benchmarks make their LR images), and brought back to the HR size two ways: MATLAB bicubic
``imresize(lr, f)``, and ``maffsrn_tf.upscale(lr, outscale=f)`` (the smallest shipped model
at or above f, then Lanczos down to ``round(f x side)``). PSNR on Y with ``ceil(f)`` border
pixels shaved, the published protocol. Prints a Markdown table (docs/benchmarks.md).
"""

import argparse
import fractions
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared_data import shared_dir  # noqa: E402

from maffsrn_tf.imaging.matlab import imresize  # noqa: E402
from maffsrn_tf.imaging.metrics import psnr  # noqa: E402
from maffsrn_tf.io.images import list_images, read_rgb  # noqa: E402
from maffsrn_tf.upscaler import upscale  # noqa: E402
from maffsrn_tf.upscaler.sizing import model_scale  # noqa: E402


def measure(folder, factor, quantization):
    """Mean (bicubic, MAFFSRN) PSNR over a folder's images at ``factor``."""
    step = fractions.Fraction(factor).limit_denominator(8).numerator
    shave = math.ceil(factor)
    results = []
    for path in list_images(folder):
        hr = read_rgb(path)
        h, w = hr.shape[0] // step * step, hr.shape[1] // step * step
        hr = hr[:h, :w]
        lr = imresize(hr, 1 / factor)
        bicubic = imresize(lr, factor)
        sr = upscale(lr, outscale=factor, quantization=quantization)
        assert bicubic.shape == sr.shape == hr.shape, (bicubic.shape, sr.shape, hr.shape)
        results.append((psnr(hr, bicubic, shave), psnr(hr, sr, shave)))
    return np.mean(results, axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--factors", default="2.5,3.5")
    parser.add_argument("--quantization", default="float16", choices=("float16", "int8"))
    args = parser.parse_args()
    factors = [float(f) for f in args.factors.split(",")]
    root = os.path.join(shared_dir(), "data", "benchmark")
    print(f"| set | factor | model run | bicubic (dB) | MAFFSRN {args.quantization} (dB) | gain |")
    print("|---|---|---|---|---|---|")
    for name in ("Set5", "Set14"):
        for factor in factors:
            bicubic, ours = measure(os.path.join(root, name), factor, args.quantization)
            print(
                f"| {name} | x{factor:g} | x{model_scale(factor)} | {bicubic:.2f} | {ours:.2f} "
                f"| +{ours - bicubic:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
