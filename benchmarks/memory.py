"""Peak memory of tiled upscaling of a large photo (default: 4000x3000 at x4 -> 16000x12000).

    python benchmarks/memory.py [--size 4000x3000] [--scale 4] [--tile 256] [--overlap 8]

In one process: the resident memory (RSS) after loading the model and making the input, the
peak RSS while upscaling (tiled), and the size of the output array itself. Tiling keeps the
working memory bounded: the peak grows with the output, not with the model's activations over
the whole image. The input is a synthetic photo-like image (smooth gradients + texture).
"""

import argparse
import resource
import sys
import time

import numpy as np
import psutil

from maffsrn_tf.upscaler import UpscaleOptions, make_engine, upscale
from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP, DEFAULT_TILE


def peak_rss_mb():
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin((x + y) / 97.0)], -1) * 180
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the LR input")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--tile", type=int, default=DEFAULT_TILE)
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    p.add_argument("--model", default=None, help="weights or .tflite (default: shipped)")
    a = p.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    backend = make_engine(UpscaleOptions(scale=a.scale, model=a.model))
    image = synthetic_photo(h, w)
    backend(np.zeros((1, 64, 64, 3), np.float32))  # load kernels before the baseline
    base = psutil.Process().memory_info().rss / 2**20
    print(
        f"input {w}x{h} -> output {w * a.scale}x{h * a.scale} (x{a.scale}), "
        f"tile {a.tile}, overlap {a.overlap}"
    )
    print(f"RSS before upscaling (model + input): {base:8.0f} MiB")
    done = [0]

    def progress(i, total):
        if i * 20 // total != done[0]:
            done[0] = i * 20 // total
            print(f"\r  {i}/{total} tiles", end="", file=sys.stderr, flush=True)

    start = time.perf_counter()
    out = upscale(image, a.scale, model=backend, tile=a.tile, overlap=a.overlap, progress=progress)
    elapsed = time.perf_counter() - start
    print(file=sys.stderr)
    print(f"output array:                          {out.nbytes / 2**20:8.0f} MiB")
    print(f"peak RSS of the process:               {peak_rss_mb():8.0f} MiB")
    print(
        f"peak RSS above the baseline:           {peak_rss_mb() - base:8.0f} MiB "
        f"({(peak_rss_mb() - base) / (out.nbytes / 2**20):.2f}x the output array)"
    )
    print(f"time: {elapsed:.0f} s")


if __name__ == "__main__":
    main()
