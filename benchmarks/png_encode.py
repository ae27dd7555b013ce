"""The PNG write of an upscale: maffsrn_tf.pngwriter against Pillow, time and size.

    python benchmarks/png_encode.py [--runs 5]

The image is what ``maffsrn-upscale`` writes for the sample photo resized to 1280x720 at x2
(2560x1440 RGB); both encoders run on the same array in this process, median of the runs.
"""

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image

from maffsrn_tf.assets import sample_photo_path
from maffsrn_tf.pngwriter import LEVEL, encode_png
from maffsrn_tf.upscaler import upscale


def timed(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(fn())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    with Image.open(sample_photo_path()) as im:
        lr = np.asarray(im.convert("RGB").resize((1280, 720), Image.BICUBIC))
    sr = upscale(lr, 2, quantization="int8")

    def pillow(level):
        out = io.BytesIO()
        Image.fromarray(sr).save(out, "PNG", compress_level=level)
        return out.getvalue()

    rows = [
        ("Pillow, zlib level 1 (adaptive filters; the encoder before pngwriter)",
         lambda: pillow(1)),
        ("Pillow, zlib level 6 (Pillow's default)", lambda: pillow(6)),
        (f"pngwriter, Sub filter, level {LEVEL}, 1 thread", lambda: encode_png(sr, threads=1)),
        (f"pngwriter, Sub filter, level {LEVEL}, 2 threads", lambda: encode_png(sr, threads=2)),
    ]  # fmt: skip
    results = [(name, *timed(fn, a.runs)) for name, fn in rows]
    base = results[0][1]
    print(f"{sr.shape[1]}x{sr.shape[0]} RGB, median of {a.runs} runs\n")
    print("| encoder | seconds | vs Pillow level 1 | size (MB) |")
    print("|---|---|---|---|")
    for name, seconds, size in results:
        print(f"| {name} | {seconds:.3f} | {base / seconds:.2f}x | {size / 1e6:.2f} |")


if __name__ == "__main__":
    main()
