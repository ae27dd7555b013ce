"""One table of where the time goes (``make bench``): the machine's matmul roof, every
inference path, the end-to-end command, and training.

    python benchmarks/bench.py [--quick]

Inference: x2 on a 640x360 LR input (86.07 G multiply-accumulates of the learned convs,
``maffsrn-profile``), median of several runs after a warm-up, at 1 and 2 threads; fixed-shape
TFLite models run their 128x128 tile (scaled to the same MACs per second). The roof is a
float32 2048^3 matmul at the same thread count. Ratios are what to compare: every number in
the table comes from this one process and run.
"""

import argparse
import os
import platform
import time

import numpy as np

MACS_640x360 = 86.07e9  # maffsrn-profile --preset maffsrn_x2 --input 360x640
MACS_128 = MACS_640x360 * (128 * 128) / (640 * 360)


def median_time(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return ""
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "fma", "amx_tile")
    return ", ".join(f for f in wanted if f in flags)


ROOF = """
import sys, time, numpy as np, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]))
tf.config.threading.set_inter_op_parallelism_threads(1)
a = tf.random.normal([2048, 2048]); fn = tf.function(lambda: tf.matmul(a, a)); fn().numpy()
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); fn().numpy(); times.append(time.perf_counter() - t)
print(2048 ** 3 / float(np.median(times)))
"""


def roof(threads, runs):
    """MAC/s of a float32 2048^3 matmul with ``threads`` threads (a fresh process: TF's
    thread pools are fixed at start-up)."""
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", ROOF, str(threads), str(runs)],
                         capture_output=True, text=True, check=True, env=env).stdout  # fmt: skip
    return float(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer runs")
    a = p.parse_args()
    runs = 3 if a.quick else 7
    import tensorflow as tf

    from maffsrn_tf.assets import tflite_path
    from maffsrn_tf.inference import KerasBackend, TFLiteBackend
    from maffsrn_tf.pretrained import load_pretrained
    from maffsrn_tf.utils import cpu_name

    model = load_pretrained("maffsrn_x2")
    x = np.random.default_rng(0).random((1, 360, 640, 3)).astype(np.float32)
    tile = x[:, :128, :128]
    rows = []
    # one thread count per process for TensorFlow; LiteRT takes it per interpreter
    threads = os.cpu_count() or 1
    peaks = {n: roof(n, runs) for n in sorted({1, threads})}
    keras = KerasBackend(model)
    seconds = median_time(lambda: keras(x), runs)
    rows.append((f"Keras graph ({threads} threads)", seconds, MACS_640x360, threads))
    xla = tf.function(lambda t: model(t, training=False), jit_compile=True)
    seconds = median_time(lambda: xla(x).numpy(), runs)
    rows.append((f"Keras XLA ({threads} threads)", seconds, MACS_640x360, threads))
    for n in (1, 2):
        label = f"{n} thread{'s' * (n > 1)}"
        for variant in ("float16", "int8"):
            lite = TFLiteBackend(tflite_path(2, variant), n)
            seconds = median_time(lambda lite=lite: lite(x), runs)
            rows.append((f"TFLite {variant}, dynamic ({label})", seconds, MACS_640x360, n))
            fixed = TFLiteBackend(tflite_path(2, f"{variant}_128px"), n)
            seconds = median_time(lambda fixed=fixed: fixed(tile), runs)
            rows.append((f"TFLite {variant}, fixed 128x128 ({label})", seconds, MACS_128, n))
    print(
        f"{cpu_name()} ({cpu_flags()}); Python {platform.python_version()}, TensorFlow "
        f"{tf.__version__}; {time.strftime('%Y-%m-%d')}"
    )
    roofs = ", ".join(f"{n} thread(s) {v / 1e9:.1f}" for n, v in peaks.items())
    print(f"roof: float32 2048^3 matmul, G MAC/s: {roofs}\n")
    print(
        "| path (x2, 640x360 LR unless fixed) | latency (s) | G MAC/s | % of roof (same threads) |"
    )
    print("|---|---|---|---|")
    for name, seconds, macs, n in rows:
        rate = macs / seconds
        print(f"| {name} | {seconds:.3f} | {rate / 1e9:.1f} | {100 * rate / peaks[n]:.0f} % |")


if __name__ == "__main__":
    main()
