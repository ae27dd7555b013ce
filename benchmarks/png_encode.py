"""The PNG write of an upscale: maffsrn_tf.io.png against Pillow, time and size.

    python benchmarks/png_encode.py [--runs 5] [--memory 8000x6000]

The image is what ``maffsrn-upscale`` writes for the sample photo resized to 1280x720 at x2
(2560x1440 RGB); both encoders run on the same array in this process, median of the runs.
``--memory WxH``: also each encoder once in a fresh process on a WxH RGB image (a gradient
with noise, about as compressible as a photo), printing its peak memory above the image.
"""

import argparse
import io
import json
import subprocess
import sys
import time

import numpy as np
from bench import median_time
from PIL import Image

from maffsrn_tf.io.png import LEVEL, encode_png
from maffsrn_tf.model.shipped import sample_photo_path
from maffsrn_tf.upscaler import upscale


def timed(fn, runs):
    """Median seconds of ``fn`` (after a warm-up run) and the size of what it returns."""
    return median_time(fn, runs), len(fn())


def peak_rss():
    """This process's peak resident memory in bytes (``VmHWM``: unlike ``ru_maxrss``, not
    carried over from the parent that started it)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def memory_child(encoder, width, height):
    """In a fresh process: peak RSS (MiB) above the image while ``encoder`` writes it."""
    import psutil

    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = (np.arange(width) * 255 // width).astype(np.uint8)[None]
    rgb[..., 1] = (np.arange(height) * 255 // height).astype(np.uint8)[:, None]
    rgb[..., 2] = 7
    rng = np.random.default_rng(0)
    for top in range(0, height, 256):  # the noise a strip at a time: no second image
        strip = rgb[top : top + 256]
        strip += rng.integers(0, 24, strip.shape, dtype=np.uint8)
    before = psutil.Process().memory_info().rss
    if peak_rss() > before + 2**23:
        raise SystemExit("making the image peaked above its own size: cannot measure")
    start = time.perf_counter()
    if encoder == "pillow":
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, "PNG", compress_level=1)
        size = len(out.getvalue())
    else:
        size = len(encode_png(rgb))
    seconds = time.perf_counter() - start
    peak = peak_rss()
    print(json.dumps({"above": (peak - before) / 2**20, "image": rgb.nbytes / 2**20,
                      "file": size / 2**20, "seconds": seconds}))  # fmt: skip


def memory_rows(size):
    width, height = map(int, size.split("x"))
    print(f"\n{width}x{height} RGB, each encoder in a fresh process\n")
    print("| encoder | peak memory above the image (MiB) | image (MiB) | file (MiB) | seconds |")
    print("|---|---|---|---|---|")
    for encoder, name in (("pillow", "Pillow, level 1"), ("pngwriter", "pngwriter")):
        child = subprocess.run(
            [sys.executable, __file__, "--child", encoder, "--memory", size],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['above']:.0f} | {r['image']:.0f} | {r['file']:.0f} | "
              f"{r['seconds']:.2f} |")  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--memory", default="", help="also peak memory at this WxH")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        width, height = map(int, a.memory.split("x"))
        return memory_child(a.child, width, height)
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
    if a.memory:
        memory_rows(a.memory)


if __name__ == "__main__":
    main()
