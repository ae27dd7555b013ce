"""Training-data memory and speed at DIV2K scale: peak RSS and batches/s vs image count.

    python benchmarks/div2k_memory.py [--sizes 20,60] [--workdir /tmp/div2k_bench] [--json F]

Writes synthetic DIV2K-layout folders (2040x1356 HR PNGs, x2 LR by bicubic) of each size,
then, per size, in a fresh process: decodes the folder into the patch store
(``data.training_store``), streams batches of 16 48x48 patches and reports the process's
peak RSS (``ru_maxrss``: TensorFlow, store building and streaming together) and batches/s.
Memory that grows with the number of images shows as a larger peak for the larger folder.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from PIL import Image

HR_SIZE = (1356, 2040)  # DIV2K's most common HR size (height, width)


def div2k_paths(root, i, scale=2):
    """The HR and LR files of image ``i`` (from 1) in a DIV2K-layout folder, folders made."""
    paths = (
        os.path.join(root, "DIV2K_train_HR", f"{i:04d}.png"),
        os.path.join(root, "DIV2K_train_LR_bicubic", f"X{scale}", f"{i:04d}x{scale}.png"),
    )
    for path in paths:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    return paths


def make_div2k(root, count, scale=2, seed=0):
    """A DIV2K-layout folder of ``count`` synthetic photos-like images (kept between runs)."""
    rng = np.random.default_rng(seed)
    h, w = HR_SIZE
    for i in range(1, count + 1):
        hr_path, lr_path = div2k_paths(root, i, scale)
        if os.path.exists(hr_path) and os.path.exists(lr_path):
            continue
        coarse = rng.random((h // 64 + 2, w // 64 + 2, 3)).astype(np.float32) * 255
        base = Image.fromarray(coarse.astype(np.uint8)).resize((w, h), Image.BICUBIC)
        noise = rng.standard_normal((h, w, 3), dtype=np.float32) * 12
        hr = np.clip(np.asarray(base, np.float32) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(hr).save(hr_path, compress_level=1)
        Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC).save(
            lr_path, compress_level=1
        )
    return root


def child(root, cache_dir, batches):
    """Runs in its own process: store building, then streaming; prints one JSON line."""
    from maffsrn_tf.data import patches
    from maffsrn_tf.data import sources as data

    start = time.perf_counter()
    store = data.training_store("div2k", root, 2, 48, cache_dir=cache_dir)
    built = time.perf_counter() - start
    it = iter(patches.patch_dataset(store, 2, 48, 16, seed=0))
    for _ in range(20):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches / (time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "images": len(store),
                "peak_rss_mb": peak,
                "batches_per_s": rate,
                "store_build_s": built,
            }
        )
    )


def linked_subset(source, root, count, scale=2):
    """A DIV2K-layout folder of the first ``count`` images of ``source``, as symbolic links
    (the images of a smaller folder are those of the larger one: made once)."""
    for i in range(1, count + 1):
        for target, link in zip(div2k_paths(source, i, scale), div2k_paths(root, i, scale)):
            if not os.path.lexists(link):
                os.symlink(target, link)
    return root


def measure(sizes, workdir, batches=300):
    rows = []
    most = max(sizes)
    largest = make_div2k(os.path.join(workdir, f"div2k_{most}"), most)
    for n in sizes:
        folder = os.path.join(workdir, f"div2k_{n}")
        root = largest if n == most else linked_subset(largest, folder, n)
        cache = os.path.join(workdir, f"cache_{n}")
        cmd = [
            sys.executable,
            __file__,
            "--child",
            root,
            "--cache",
            cache,
            "--batches",
            str(batches),
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="20,60")
    p.add_argument("--workdir", default="/tmp/maffsrn_div2k_bench")
    p.add_argument("--batches", type=int, default=300)
    p.add_argument("--json", default="")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    p.add_argument("--cache", default="", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a.child, a.cache, a.batches)
        return
    rows = measure([int(s) for s in a.sizes.split(",")], a.workdir, a.batches)
    print(
        f"{os.cpu_count()} CPUs; synthetic DIV2K-layout folders, 2040x1356 HR, x2, batch 16, "
        "48x48 LR patches"
    )
    print("| images | peak RSS (MiB) | batches/s | store build (s) |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['images']} | {r['peak_rss_mb']:.0f} | {r['batches_per_s']:.1f} | "
            f"{r['store_build_s']:.1f} |"
        )
    growth = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"] - 1
    print(
        f"peak RSS growth from {rows[0]['images']} to {rows[-1]['images']} images: "
        f"{100 * growth:+.1f} %"
    )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
