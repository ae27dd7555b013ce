"""The worst image of each int8 model (issue #43): per image, the PSNR drop of a shipped int8
TFLite model against the float16 model shipped beside it, on Set5, Set14 and the graphics
stress set (``tools/stress_set.py``, seed 0).

    python benchmarks/int8_worst.py [--scales 2,3,4] [--variants dynamic,128px,128px_uint8io]
        [--sets Set5,Set14,stress] [--stress_dir DIR] [--per_image]
    python benchmarks/int8_worst.py --scales 2 --variants dynamic --int8 /tmp/x2_int8.tflite

HR images mod-cropped to the scale, LR by MATLAB bicubic (``data.sources.load_benchmark``);
PSNR on Y with ``scale`` pixels shaved (``imaging.metrics.psnr``); *drop* = float16 PSNR -
int8 PSNR (positive: int8 is worse). The dynamic models run whole images; the fixed 128-px
models and their float16 twin (``maffsrn_x{s}_float16_128px.tflite``) run the same tiles
(``maffsrn-upscale``'s overlap), so the drop measures the quantization, not the tiling.
On the worst image of each set the table adds the share of pixels whose int8 output differs
from the float16 output by more than 4 and more than 16 grey levels (in any channel).

``--int8 PATH``: measure that file instead of the shipped one (one scale and one variant;
``--float16 PATH`` likewise for the reference). ``measure(...)`` and ``summarize(...)`` are the
functions calibration experiments call.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

BENCH = os.path.join(
    os.environ.get("MAFFSRN_SHARED")
    or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared"),
    "data",
    "benchmark",
)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = {  # name: (int8 file args, float16 reference args) for model.shipped.tflite_name
    "dynamic": ((0, False), 0),
    "128px": ((128, False), 128),
    "128px_uint8io": ((128, True), 128),
}
THRESHOLDS = (4, 16)


def stress_module():
    """The stress set's generator, ``maffsrn_tf.evaluation.stress`` (``tools/stress_set.py``
    writes it as PNGs)."""
    from maffsrn_tf.evaluation import stress

    return stress


def shipped(scale, quantization, tile=0, uint8_io=False):
    """Path of a shipped TFLite file (dynamic or fixed tile)."""
    from maffsrn_tf.model.shipped import tflite_name

    return os.path.join(
        ROOT, "maffsrn_tf", "weights", tflite_name(scale, quantization, tile, uint8_io)
    )


def load_set(name, scale, stress_dir=None):
    """``[(image name, hr, lr)]`` of ``Set5``/``Set14`` (``BENCH``) or ``stress`` (the stress
    set in ``stress_dir``, written there (seed 0) when the folder does not exist)."""
    from maffsrn_tf.data.sources import load_benchmark

    if name == "stress":
        if not stress_dir:
            stress_dir = os.path.join(tempfile.gettempdir(), "maffsrn_stress_set_seed0")
        if not os.path.isdir(stress_dir):
            stress_module().write_stress_set(stress_dir, seed=0)
        return load_benchmark(stress_dir, scale)
    return load_benchmark(os.path.join(BENCH, name), scale)


class _Runner:
    """One engine per model file; SR outputs cached per (file, image) (float16 references are
    shared by the int8 variants that compare with them)."""

    def __init__(self, num_threads=2):
        self.engines, self.cache, self.num_threads = {}, {}, num_threads

    def sr(self, path, key, lr):
        from maffsrn_tf.upscaler.engines import TFLiteEngine
        from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP, predict_uint8

        if (path, key) not in self.cache:
            if path not in self.engines:
                self.engines[path] = TFLiteEngine(path, self.num_threads)
            engine = self.engines[path]
            tile = engine.fixed_size[0] if engine.fixed_size else 0
            overlap = min(DEFAULT_OVERLAP, tile // 4)
            self.cache[(path, key)] = predict_uint8(engine, lr, tile, overlap)
        return self.cache[(path, key)]


_RUNNER = _Runner()


def measure(int8_path, float16_path, items, scale, runner=None):
    """Per image ``{"name", "float16", "int8", "drop", "gt4", "gt16", "max_diff"}``: PSNRs
    against HR, the drop, and the shares of pixels whose int8 output is more than 4 / 16 grey
    levels from the float16 output."""
    from maffsrn_tf.imaging.metrics import psnr

    runner = runner or _RUNNER
    rows = []
    for name, hr, lr in items:
        key = (name, lr.shape, hash(lr.tobytes()))
        ref = runner.sr(float16_path, key, lr)
        out = runner.sr(int8_path, key, lr)
        diff = np.abs(ref.astype(np.int16) - out.astype(np.int16))
        if diff.ndim == 3:
            diff = diff.max(-1)
        p_ref, p_out = psnr(hr, ref, scale), psnr(hr, out, scale)
        row = {"name": name, "float16": p_ref, "int8": p_out, "drop": p_ref - p_out}
        row.update({f"gt{t}": float((diff > t).mean()) for t in THRESHOLDS})
        row["max_diff"] = int(diff.max())
        rows.append(row)
    return rows


def summarize(rows):
    """``{"mean", "worst", "worst_drop", "gt4", "gt16", "max_diff", "images"}`` of ``measure``'s
    rows (the pixel shares of the worst image)."""
    worst = max(rows, key=lambda r: r["drop"])
    return {
        "images": len(rows),
        "mean": float(np.mean([r["drop"] for r in rows])),
        "worst": worst["name"],
        "worst_drop": worst["drop"],
        "gt4": worst["gt4"],
        "gt16": worst["gt16"],
        "max_diff": worst["max_diff"],
    }


def table_header():
    return (
        "| scale | int8 model | set | images | mean drop (dB) | worst image | worst drop (dB) "
        "| worst: px >4 levels | worst: px >16 levels | worst: max diff |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )


def table_row(scale, model, set_name, s):
    return (
        f"| x{scale} | {model} | {set_name} | {s['images']} | {s['mean']:+.4f} | {s['worst']} | "
        f"{s['worst_drop']:+.4f} | {100 * s['gt4']:.2f} % | {100 * s['gt16']:.3f} % | "
        f"{s['max_diff']} |"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="2,3,4")
    parser.add_argument("--variants", default="dynamic,128px,128px_uint8io")
    parser.add_argument("--sets", default="Set5,Set14,stress")
    parser.add_argument("--stress_dir", default="", help="the stress set (seed 0) folder")
    parser.add_argument("--int8", default="", help="an int8 file instead of the shipped one")
    parser.add_argument("--float16", default="", help="a float16 file instead of the shipped one")
    parser.add_argument("--per_image", action="store_true", help="also every image's drop")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    scales = [int(s) for s in args.scales.split(",")]
    variants = args.variants.split(",")
    sets = args.sets.split(",")
    if (args.int8 or args.float16) and (len(scales) > 1 or len(variants) > 1):
        parser.error("--int8/--float16 need one scale and one variant")
    runner = _Runner(args.threads)
    start = time.time()
    lines, per_image = [table_header()], []
    for scale in scales:
        data = {name: load_set(name, scale, args.stress_dir or None) for name in sets}
        for variant in variants:
            (tile, uint8_io), ref_tile = VARIANTS[variant]
            int8 = args.int8 or shipped(scale, "int8", tile, uint8_io)
            ref = args.float16 or shipped(scale, "float16", ref_tile)
            for name in sets:
                rows = measure(int8, ref, data[name], scale, runner)
                line = table_row(scale, os.path.basename(int8), name, summarize(rows))
                lines.append(line)
                print(line, file=sys.stderr, flush=True)
                per_image += [(scale, os.path.basename(int8), name, r) for r in rows]
    print(
        f"Made by `python benchmarks/int8_worst.py {' '.join(argv or sys.argv[1:])}`; drop = "
        "PSNR (Y, shaved) of the float16 file minus that of the int8 file, against HR; "
        f"{time.time() - start:.0f} s.\n"
    )
    print("\n".join(lines))
    if args.per_image:
        print("\n| scale | int8 model | set | image | float16 PSNR | int8 PSNR | drop (dB) "
              "| px >4 | px >16 |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
        for scale, model, name, r in per_image:
            print(
                f"| x{scale} | {model} | {name} | {r['name']} | {r['float16']:.3f} | "
                f"{r['int8']:.3f} | {r['drop']:+.4f} | {100 * r['gt4']:.2f} % | "
                f"{100 * r['gt16']:.3f} % |"
            )


if __name__ == "__main__":
    main()
