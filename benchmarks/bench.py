"""One table of where the time goes (``make bench``): the machine's matmul roof, every
inference path, the end-to-end command per backend, and training.

    python benchmarks/bench.py [--quick]

Inference: x2 on a 640x360 LR input (86.07 G multiply-accumulates of the learned convs,
``maffsrn-profile``), median of several runs after a warm-up, at 1 and 2 threads; fixed-shape
TFLite models run their 128x128 tile (scaled to the same MACs per second). The roof is a
float32 2048^3 matmul at the same thread count. TFLite float32 and dynamic-range models are
converted here from the shipped weights; float16 and int8 are the shipped files.

End to end: ``maffsrn-upscale --scale 2`` on a 1280x720 photo (a sample photo resized), best
wall time of fresh processes, output megapixels per second, peak RSS, and the model's own
latency on that whole input in this process (model / wall: the share of the command spent in
the model). Training: ``model.fit`` steps per second on one in-memory batch (16 of 48x48, x2,
AdamP). Ratios are what to compare: every number comes from this one run.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

MACS_640x360 = 86.07e9  # maffsrn-profile --preset maffsrn_x2 --input 360x640
MACS_128 = MACS_640x360 * (128 * 128) / (640 * 360)
MACS_720p = MACS_640x360 * 4


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
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", ROOF, str(threads), str(runs)],
                         capture_output=True, text=True, check=True, env=env).stdout  # fmt: skip
    return float(out.strip().splitlines()[-1])


def command(args, repeats):
    """Best wall time of ``maffsrn-upscale ARGS`` over fresh processes, and its peak RSS in
    MiB (polled: Linux carries a parent's ``ru_maxrss`` into its children)."""
    import psutil

    best, peak = None, 0
    script = os.path.join(os.path.dirname(sys.executable), "maffsrn-upscale")
    for _ in range(repeats):
        start = time.perf_counter()
        proc = psutil.Popen([script, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while proc.poll() is None:
            try:
                peak = max(peak, proc.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.01)
        wall = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit(f"error: maffsrn-upscale {' '.join(args)} failed: "
                             f"{proc.stderr.read().decode()[-500:]}")  # fmt: skip
        best = wall if best is None else min(best, wall)
    return best, peak / 2**20


def tflite_file(model, quantization, fixed, folder):
    """The shipped file, or one converted here (float32 and dynamic are not shipped)."""
    from maffsrn_tf.export import convert
    from maffsrn_tf.model.shipped import tflite_path

    variant = quantization + ("_128px" if fixed else "")
    if quantization in ("float16", "int8"):
        return tflite_path(2, variant)
    path = os.path.join(folder, f"maffsrn_x2_{variant}.tflite")
    with open(path, "wb") as f:
        f.write(convert(model, quantization, input_shape=(128, 128) if fixed else None))
    return path


def phases(photo):
    """Where ``maffsrn-upscale --quantization int8`` spends its time (same code path, timed
    here): reading, the first tile (LiteRT/XNNPACK sets up a new input shape), the other
    tiles, blending, PNG writing."""
    from maffsrn_tf.io import images
    from maffsrn_tf.upscaler import UpscaleOptions, make_engine
    from maffsrn_tf.upscaler.tiling import tiled_predict

    calls = []
    start = time.perf_counter()
    backend = make_engine(UpscaleOptions(variant="int8"))
    made = time.perf_counter()
    array, info = images.read_image(photo)
    x = array.astype(np.float32) / 255
    read = time.perf_counter()

    class Timed:
        fixed_size = backend.fixed_size

        def __call__(self, tile):
            t = time.perf_counter()
            y = backend(tile)
            calls.append(time.perf_counter() - t)
            return y

    out = tiled_predict(Timed(), x, 2)
    tiled = time.perf_counter()
    images.write_image(os.path.join(os.path.dirname(photo), "phases.png"), out, info)
    written = time.perf_counter()
    return {
        "interpreter": made - start,
        "read": read - made,
        f"first of {len(calls)} tiles": calls[0],
        "other tiles": sum(calls[1:]),
        "blend": tiled - read - sum(calls),
        "write PNG": written - tiled,
    }


def training_rate(steps):
    import tensorflow as tf

    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.train.trainer import compile_model

    rng = np.random.default_rng(0)
    lr = rng.random((16, 48, 48, 3), np.float32)
    hr = rng.random((16, 96, 96, 3), np.float32)
    model = compile_model(build_model("maffsrn_x2"))
    data = tf.data.Dataset.from_tensors((lr, hr)).repeat()
    model.fit(data, epochs=1, steps_per_epoch=5, verbose=0)  # trace, warm up
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - start) / steps


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer runs")
    a = p.parse_args()
    runs = 3 if a.quick else 7
    import tensorflow as tf
    from PIL import Image

    from maffsrn_tf.export.report import cpu_name
    from maffsrn_tf.model.shipped import sample_photo_path, weights_path
    from maffsrn_tf.pretrained.loading import load_pretrained
    from maffsrn_tf.upscaler import UpscaleOptions, make_engine

    tmp = tempfile.mkdtemp()
    model = load_pretrained("maffsrn_x2")
    x = np.random.default_rng(0).random((1, 360, 640, 3)).astype(np.float32)
    tile = x[:, :128, :128]
    threads = os.cpu_count() or 1
    counts = sorted({1, min(2, threads)})
    peaks = {n: roof(n, runs) for n in counts}
    rows = [(f"roof: float32 2048³ matmul ({n} thr)", n, 2048**3 / peaks[n], 2048**3, "")
            for n in counts]  # fmt: skip
    keras = make_engine(UpscaleOptions(model=model))
    n = threads  # TensorFlow's pools are per process: all cores
    rows.append(
        (f"Keras graph ({n} thr)", n, median_time(lambda: keras(x), runs), MACS_640x360, "")
    )
    xla = tf.function(lambda t: model(t, training=False), jit_compile=True)
    seconds = median_time(lambda: xla(x).numpy(), max(2, runs // 2))
    rows.append((f"Keras XLA ({n} thr)", n, seconds, MACS_640x360, ""))
    lite_seconds = {}
    for quantization in ("float32", "float16", "dynamic", "int8"):
        for fixed in (False, True):
            path = tflite_file(model, quantization, fixed, tmp)
            for n in counts:
                lite = make_engine(UpscaleOptions(model=path, num_threads=n))
                data, macs = (tile, MACS_128) if fixed else (x, MACS_640x360)
                seconds = median_time(lambda lite=lite, data=data: lite(data), runs)
                shape = "fixed 128×128" if fixed else "dynamic"
                lite_seconds[quantization, fixed, n] = seconds
                name = f"TFLite {quantization}, {shape} ({n} thr)"
                rows.append((name, n, seconds, macs, ""))

    src = Image.open(sample_photo_path()).convert("RGB")
    photo = os.path.join(tmp, "photo.png")
    src.resize((1280, 720), Image.BICUBIC).save(photo)
    lr = (np.asarray(Image.open(photo), np.float32) / 255)[None]
    base = ["--input", photo, "--output", os.path.join(tmp, "out.png"), "--overwrite"]
    ends = [
        ("default (TFLite float16)", [], lambda: make_engine(UpscaleOptions(variant="float16"))),
        ("--quantization int8", ["--quantization", "int8"],
         lambda: make_engine(UpscaleOptions(variant="int8"))),
        ("--backend keras", ["--backend", "keras", "--model", weights_path("maffsrn_x2")],
         lambda: make_engine(UpscaleOptions(model=model))),
    ]  # fmt: skip
    e2e = {}
    for label, extra, make in ends:
        wall, rss = command(base + extra, 2 if a.quick else 3)
        backend = make()
        whole = median_time(lambda backend=backend: backend(lr), 1 if a.quick else 2)
        del backend
        e2e[label] = (wall, whole)
        note = (f"{2560 * 1440 / 1e6 / wall:.2f} MP/s out, peak RSS {rss:.0f} MiB; model on "
                f"the whole input {whole:.2f} s = {100 * whole / wall:.0f} % of wall, wall = "
                f"{wall / whole:.2f}x model")  # fmt: skip
        rows.append((f"maffsrn-upscale 1280×720 → 2560×1440, {label}", threads, wall, None, note))
    for t in (192, 320, 384):
        wall, rss = command(base + ["--quantization", "int8", "--tile", str(t)], 2)
        int8_model = e2e["--quantization int8"][1]
        note = f"peak RSS {rss:.0f} MiB; wall = {wall / int8_model:.2f}x model"
        rows.append(
            (f"maffsrn-upscale 1280×720, --quantization int8 --tile {t}", 2, wall, None, note)
        )
    phase_note = ", ".join(f"{k} {v:.2f} s" for k, v in phases(photo).items())
    rows.append(("the int8 command's phases, in this process", threads, None, None, phase_note))
    step = training_rate(10 if a.quick else 30)
    rows.append(("training step, batch 16 of 48×48, x2, AdamP", threads, step, None,
                 f"{1 / step:.2f} steps/s"))  # fmt: skip

    print(f"{cpu_name()} ({cpu_flags()}); Python {platform.python_version()}, TensorFlow "
          f"{tf.__version__}; {time.strftime('%Y-%m-%d')}\n")  # fmt: skip
    print("| measurement (x2; 640×360 LR unless stated) | seconds | G MAC/s | % of roof | notes |")
    print("|---|---|---|---|---|")
    for name, n, seconds, macs, note in rows:
        if macs is None:
            shown = "" if seconds is None else f"{seconds:.3f}"
            print(f"| {name} | {shown} | | | {note} |")
            continue
        rate = macs / seconds
        print(f"| {name} | {seconds:.3f} | {rate / 1e9:.1f} | {100 * rate / peaks[n]:.0f} % | |")
    float_paths = [r for r in rows[len(counts):] if r[3] and not r[0].startswith("TFLite int8")
                   and not r[0].startswith("TFLite dynamic")]  # fmt: skip
    best = max(float_paths, key=lambda r: r[3] / r[2] / peaks[r[1]])
    ratio = [lite_seconds["float32", False, n] / lite_seconds["int8", False, n] for n in counts]
    default_wall, default_model = e2e["default (TFLite float16)"]
    int8_wall, int8_model = e2e["--quantization int8"]
    print(
        f"\nbest float path: {best[0]}, {100 * best[3] / best[2] / peaks[best[1]]:.0f} % of roof; "
        "int8 / float32 TFLite speed (dynamic): "
        + ", ".join(f"{r:.2f}x ({n} thr)" for r, n in zip(ratio, counts))
        + f"; default command: model {100 * default_model / default_wall:.0f} % of wall; "
        f"int8 command: wall {int8_wall / int8_model:.2f}x model"
    )


if __name__ == "__main__":
    main()
