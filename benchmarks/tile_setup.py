"""What LiteRT/XNNPACK's set-up of a new input shape costs, per tile pixel.

    python benchmarks/tile_setup.py [--quantization int8] [--sizes 128,192,256,384]

A dynamic-shape model is set up again at every new input shape (``allocate_tensors``):
this prints, per square tile, the set-up time, the time of one inference at that shape
after it, the pages the process touched during the set-up, and the per-pixel figures.
Each size runs in a fresh interpreter. With ``--huge_pages`` the same runs repeat in a child
process with glibc's transparent-huge-page tunable (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``).
"""

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

from maffsrn_tf.upscaler import UpscaleOptions, make_engine


def measure(quantization, size):
    backend = make_engine(UpscaleOptions(variant=quantization))
    interpreter = backend.interpreter
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    interpreter.resize_tensor_input(backend.input["index"], [1, size, size, 3], strict=False)
    interpreter.allocate_tensors()
    setup = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    x = np.random.default_rng(0).random((1, size, size, 3)).astype(np.float32)
    backend(x)  # the first run at the shape
    start = time.perf_counter()
    backend(x)
    run = time.perf_counter() - start
    pages = after.ru_minflt - before.ru_minflt
    return setup, run, pages, after.ru_stime - before.ru_stime


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quantization", default="int8", choices=["float16", "int8"])
    p.add_argument("--sizes", default="128,192,256,384")
    p.add_argument("--huge_pages", action="store_true")
    p.add_argument("--label", default="glibc default", help=argparse.SUPPRESS)
    a = p.parse_args()
    page = os.sysconf("SC_PAGE_SIZE")
    if a.label == "glibc default":
        print(f"{a.quantization} model, 2 threads, x2\n")
        print("| malloc | tile | set-up (s) | of it in the kernel (s) | one run (s) | "
              "set-up µs / px | touched KB / px |")  # fmt: skip
        print("|---|---|---|---|---|---|---|", flush=True)
    for size in map(int, a.sizes.split(",")):
        setup, run, pages, system = measure(a.quantization, size)
        px = size * size
        print(f"| {a.label} | {size}×{size} | {setup:.3f} | {system:.3f} | {run:.3f} | "
              f"{1e6 * setup / px:.2f} | {pages * page / 1024 / px:.1f} |", flush=True)  # fmt: skip
    if a.huge_pages:
        env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.hugetlb=1")
        args = [sys.executable, __file__, "--quantization", a.quantization, "--sizes", a.sizes]
        subprocess.run([*args, "--label", "transparent huge pages"], env=env, check=True)


if __name__ == "__main__":
    main()
