"""Images per second: ``maffsrn-beam`` on the DirectRunner against ``maffsrn-upscale``.

The same 20 photos (Set14 and Set5 HR images, one SR291 image), upscaled x2 with the shipped
float16 TFLite model, each command timed from start to exit (start-up included, as a user
waits for it): ``maffsrn-upscale`` on the folder (LiteRT with 2 threads), then
``maffsrn-beam`` with 2 worker processes of 1 and of 2 LiteRT threads. Ratios are against the
``maffsrn-upscale`` run of the same invocation.

    python benchmarks/beam_throughput.py [--scale 2] [--repeats 2]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from shared_data import shared_dir

from maffsrn_tf.export.report import cpu_name


def photos(folder):
    data = os.path.join(shared_dir(), "data")
    sources = [os.path.join(data, "benchmark", s) for s in ("Set14", "Set5")]
    files = [os.path.join(s, n) for s in sources for n in sorted(os.listdir(s))]
    files.append(
        os.path.join(
            data, "train", "SR291", sorted(os.listdir(os.path.join(data, "train", "SR291")))[0]
        )
    )
    for i, path in enumerate(files[:20]):
        shutil.copy(path, os.path.join(folder, f"{i:02d}{os.path.splitext(path)[1]}"))
    return len(files[:20])


def timed(command):
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"{command[2]} failed: {run.stderr[-2000:]}")
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "in")
        os.makedirs(folder)
        n = photos(folder)
        py = [sys.executable, "-m"]
        runs = {
            "maffsrn-upscale (2 threads)": lambda out: (
                py
                + [
                    "maffsrn_tf.cli.upscale",
                    "--input",
                    folder,
                    "--output",
                    out,
                    "--scale",
                    str(a.scale),
                ]
            ),
        }
        for threads in (1, 2):
            runs[f"maffsrn-beam DirectRunner, 2 workers x {threads} thread(s)"] = (
                lambda out, t=threads: py
                + ["maffsrn_tf.cli.beam", "--input_pattern", folder + "/*", "--output_dir", out,
                   "--scale", str(a.scale), "--num_threads", str(t), "--runner", "DirectRunner",
                   "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
            )  # fmt: skip
        best = {}
        for r in range(a.repeats):
            for label, command in runs.items():
                out = os.path.join(tmp, f"out{r}-{len(best)}")
                seconds = timed(command(out))
                shutil.rmtree(out, ignore_errors=True)
                best[label] = min(best.get(label, seconds), seconds)
    base = best["maffsrn-upscale (2 threads)"]
    print(f"{n} photos (Set14, Set5, one SR291), x{a.scale} float16, {cpu_name()}, "
          f"best of {a.repeats}, start-up included\n")  # fmt: skip
    print("| command | seconds | images/s | vs maffsrn-upscale |\n|---|---|---|---|")
    for label, seconds in best.items():
        print(f"| {label} | {seconds:.1f} | {n / seconds:.2f} | {base / seconds:.2f}x |")


if __name__ == "__main__":
    main()
