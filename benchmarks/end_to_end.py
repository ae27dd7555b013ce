"""End-to-end ``maffsrn-upscale --scale 2`` on a 1280x720 photo, per backend, against the
model's own latency on that whole input (measured in the same run).

    python benchmarks/end_to_end.py [--repeats 2]

Prints a markdown table: command wall time (best of ``--repeats`` fresh processes), output
megapixels per second, peak RSS of the command, the model's own latency on the whole
640x360 LR input (one warm call, in this process), and model latency / wall time (the share
of the command spent computing the model; the rest is start-up, reading, tiling, writing).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from matplotlib import cbook
from PIL import Image


def command(photo, out, extra, repeats):
    """Best wall time of ``maffsrn-upscale`` over fresh processes, and its peak RSS (polled:
    Linux carries a parent's ``ru_maxrss`` into its children)."""
    import psutil

    best, peak = None, 0
    script = os.path.join(os.path.dirname(sys.executable), "maffsrn-upscale")
    for _ in range(repeats):
        start = time.perf_counter()
        proc = psutil.Popen(
            [script, "--input", photo, "--output", out, "--scale", "2", "--overwrite", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while proc.poll() is None:
            try:
                peak = max(peak, proc.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.02)
        wall = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit(f"error: maffsrn-upscale {' '.join(extra)} failed")
        best = wall if best is None else min(best, wall)
    return best, peak / 2**20


def model_latency(backend, lr):
    x = (lr.astype(np.float32) / 255.0)[None]
    backend(x)  # warm-up (tracing, allocation)
    start = time.perf_counter()
    backend(x)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    from maffsrn_tf.assets import tflite_path
    from maffsrn_tf.inference import KerasBackend, TFLiteBackend
    from maffsrn_tf.pretrained import load_pretrained
    from maffsrn_tf.utils import cpu_name

    tmp = tempfile.mkdtemp()
    photo = os.path.join(tmp, "photo.png")
    src = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    src.resize((1280, 720), Image.BICUBIC).save(photo)
    lr = np.asarray(Image.open(photo))
    out = os.path.join(tmp, "out.png")
    rows = [
        ("keras", [], lambda: KerasBackend(load_pretrained("maffsrn_x2"))),
        ("tflite float16", ["--backend", "tflite", "--model", tflite_path(2, "float16")],
         lambda: TFLiteBackend(tflite_path(2, "float16"))),
        ("tflite int8", ["--backend", "tflite", "--model", tflite_path(2, "int8")],
         lambda: TFLiteBackend(tflite_path(2, "int8"))),
    ]  # fmt: skip
    print(f"{cpu_name()}; {time.strftime('%Y-%m-%d')}; 1280x720 photo -> 2560x1440")
    print(
        "| backend | command wall (s) | output MP/s | peak RSS (MiB) | model on the whole "
        "input (s) | model / wall |"
    )
    print("|---|---|---|---|---|---|")
    for name, extra, make in rows:
        wall, rss = command(photo, out, extra, a.repeats)
        model = model_latency(make(), lr)
        print(
            f"| {name} | {wall:.2f} | {2560 * 1440 / 1e6 / wall:.2f} | {rss:.0f} | "
            f"{model:.2f} | {100 * model / wall:.0f} % |",
            flush=True,
        )


if __name__ == "__main__":
    main()
