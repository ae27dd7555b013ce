"""Issue #43's fix by per-tensor range choice: natural ranges for most tensors, graphics
ranges for the groups where graphics outrun them, the groups chosen by the worst image of a
validation set (never the test images).

    python benchmarks/int8_wide.py prepare --scale 2 [--cache /tmp/q43_cache]
        [--equalize natural|union|none]
    python benchmarks/int8_wide.py try --scale 2 --groups ";esa;all" --wide_percentile 65
        [--max_widening 1.5,3,0]
    python benchmarks/int8_wide.py greedy --scale 2 --wide_percentile 80
    python benchmarks/int8_wide.py eliminate --scale 2 --wide_percentile 65 --groups all
        [--unit op|block] [--only body/CONV_2D] [--min_gain 0]
    python benchmarks/int8_wide.py build --scale 2 --groups all --max_widening 3 --out FILE

``prepare`` (once per scale, cached): the model is the export's (``export.tflite.convert``'s
steps: the shipped weights, equalized on the release's 128 SR291 patches of 64 px, the
dynamic float TFLite graph); every activation tensor's per-patch extremes are measured on
those natural patches and on 64 graphics patches (``export.calibrate.image_patches`` of the
stress set at seeds 1 and 2, half of them halved by MATLAB bicubic). The tensors are labelled
``region/OP`` by ``export.calibrate.tensor_groups`` (regions ``esa``, ``cea``, ``body``).

A candidate is a list of groups widened to also cover the graphics patches' percentile
(``--wide_percentile``) of extremes; every other tensor keeps the release's range (p65 of
the natural patches). It is quantized by ``mlir_quantize`` exactly as the export does
(``export.calibrate.write_ranges``), and measured on the validation set: the 10 SR291
images held out of training (``splits/sr291_val.txt``) and the stress set at seed 3 (seeds
1 and 2 calibrate, seed 0 is the test set), per image against the shipped float16 model
(Y PSNR, ``scale`` pixels shaved). The criterion is the validation set's worst drop.

``greedy``: from the natural ranges, the groups in order of how far the graphics patches
outrun their natural ranges; a group is kept when it lowers the worst validation drop by
more than ``--min_gain`` dB. ``eliminate``: from the groups widened, each given back its
natural range when the worst does not rise by more than ``--min_gain``. ``--max_widening``:
a widened range is at most that many times its natural width (0: no cap). ``--equalize
union``: the channels equalized on natural and graphics ranges together (a separate
``--cache``). ``build`` writes a candidate for ``int8_worst.py --int8``. Results are appended
to ``CACHE/x{scale}_log.jsonl``; tflite/QUANTIZATION.md holds the study.
"""

import argparse
import copy
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared_data import REPO, shared_dir  # noqa: E402

VALIDATION_STRESS_SEED = 3


def _paths(cache, scale):
    os.makedirs(cache, exist_ok=True)
    return {
        k: os.path.join(cache, f"x{scale}_{k}")
        for k in ("float.tflite", "ranges.npz", "val.json", "log.jsonl")
    }


def prepare(scale, cache, equalize="natural"):
    """Measure and cache the per-patch extremes of every tensor (natural and graphics).
    ``equalize``: the channels equalized on the natural patches (the release), on the union
    of their ranges with the graphics patches' (``union``), or not at all (``none``)."""
    import tensorflow as tf

    from maffsrn_tf.evaluation.stress import CALIBRATION_SEEDS, stress_images
    from maffsrn_tf.export.calibrate import (
        calibration_template,
        image_patches,
        representative_patches,
        sample_ranges,
        tensor_groups,
    )
    from maffsrn_tf.export.equalize import equalized
    from maffsrn_tf.export.graph import InferenceGraph
    from maffsrn_tf.export.recipe import DEFAULT_CALIBRATION_PERCENTILE
    from maffsrn_tf.pretrained.loading import load_model_for

    paths = _paths(cache, scale)
    start = time.time()
    natural = representative_patches(os.path.join(shared_dir(), "data/train/SR291"), 128, 64)
    graphics = image_patches(
        [img for s in CALIBRATION_SEEDS for _, img in stress_images(seed=s)], 64, 64
    )
    model = load_model_for(scale)
    if equalize != "none":  # the release: channels equalized on the natural patches
        wide = graphics if equalize == "union" else None
        model = equalized(model, natural, percentile=DEFAULT_CALIBRATION_PERCENTILE,
                          wide_patches=wide)  # fmt: skip
    graph = InferenceGraph(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [graph.concrete_function(None, None)], graph
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    float_model = converter.convert()
    with open(paths["float.tflite"], "wb") as f:
        f.write(float_model)
    print(f"float model {time.time() - start:.0f} s", flush=True)
    with_stats, calibrated, marked = calibration_template(float_model, natural[0])
    t = time.time()
    nat = sample_ranges(with_stats, natural, marked)
    print(f"natural ranges ({len(natural)} patches) {time.time() - t:.0f} s", flush=True)
    t = time.time()
    gra = sample_ranges(with_stats, graphics, marked)
    print(f"graphics ranges ({len(graphics)} patches) {time.time() - t:.0f} s", flush=True)
    labels = tensor_groups(calibrated)
    np.savez(
        paths["ranges.npz"],
        nat_lows=nat[0],
        nat_highs=nat[1],
        gra_lows=gra[0],
        gra_highs=gra[1],
        marked=np.array(sorted(marked)),
        labels=np.array([labels[i] for i in range(len(labels))]),
    )
    print(f"prepared x{scale} in {time.time() - start:.0f} s", flush=True)


class Study:
    """The cached measurements of one scale, candidates built and validated from them."""

    def __init__(self, scale, cache, wide_percentile, percentile=65.0, max_widening=None):
        from maffsrn_tf.export.calibrate import calibration_template, percentile_ranges

        self.scale, self.paths = scale, _paths(cache, scale)
        with open(self.paths["float.tflite"], "rb") as f:
            self.float_model = f.read()
        r = np.load(self.paths["ranges.npz"])
        self.marked = set(int(i) for i in r["marked"])
        self.labels = dict(enumerate(str(s) for s in r["labels"]))
        self.natural = percentile_ranges(r["nat_lows"], r["nat_highs"], percentile)
        self.graphics = percentile_ranges(r["gra_lows"], r["gra_highs"], wide_percentile)
        self.wide_percentile = wide_percentile
        self.max_widening = max_widening
        sample = np.zeros((64, 64, 3), np.float32)
        _, self.template, _ = calibration_template(self.float_model, sample)
        self.items = None
        self.reference = {}
        self.blocks = self._blocks()

    def _blocks(self):
        """``{tensor: "region/OP/bN"}``: the label and the block (the number of MAX_POOL_2D
        ops before the tensor's producer: ESA pools, one per MAB) of every tensor."""
        from maffsrn_tf.export.calibrate import op_name

        graph, pools = self.template.subgraphs[0], 0
        out = {i: f"{label}/b0" for i, label in self.labels.items()}
        for op in graph.operators:
            name = op_name(self.template, op)
            for o in op.outputs:
                out[int(o)] = f"{self.labels[int(o)]}/b{pools}"
            pools += name == "MAX_POOL_2D"
        return out

    def ranges(self, groups):
        """Natural ranges, the tensors of ``groups`` (``region``, ``region/OP`` or
        ``region/OP/bN``) widened to the graphics ranges."""
        from maffsrn_tf.export.calibrate import widened

        fine = {g for g in groups if g.count("/") == 2}
        coarse = [g for g in groups if g not in fine]
        cap = self.max_widening
        low, high = widened(*self.natural, *self.graphics, self.labels, coarse, cap)
        picked = {i: "x" for i, b in self.blocks.items() if b in fine}
        return widened(low, high, *self.graphics, picked, ["x"], cap)

    def build(self, groups):
        """int8 TFLite bytes with ``groups`` widened (the export's ``mlir_quantize`` call)."""
        import tensorflow as tf
        from tensorflow.lite.python.convert import mlir_quantize

        from maffsrn_tf.export.calibrate import write_ranges

        low, high = self.ranges(groups)
        calibrated = write_ranges(copy.deepcopy(self.template), self.marked, low, high)
        return mlir_quantize(calibrated, input_data_type=tf.float32, output_data_type=tf.float32)

    def excess(self):
        """Per ``region/OP`` group: how far the graphics ranges outrun the natural ones, the
        mean over its tensors of the widening relative to the natural range's width."""
        (nl, nh), (gl, gh) = self.natural, self.graphics
        out = {}
        for i in self.marked:
            if np.isnan(nl[i]) or np.isnan(gl[i]):
                continue
            width = max(nh[i] - nl[i], 1e-6)
            grow = (max(0.0, gh[i] - nh[i]) + max(0.0, nl[i] - gl[i])) / width
            out.setdefault(self.labels[i], []).append(grow)
        return {k: (float(np.mean(v)), len(v)) for k, v in out.items()}

    def validation(self):
        """``[(name, hr, lr)]``: the SR291 holdout and the stress set at seed 3."""
        if self.items is None:
            from maffsrn_tf.data.sources import load_benchmark
            from maffsrn_tf.evaluation.stress import stress_images
            from maffsrn_tf.imaging.matlab import imresize, mod_crop

            with open(os.path.join(REPO, "splits", "sr291_val.txt")) as f:
                holdout = {line.strip() for line in f if line.strip() and line[0] != "#"}
            folder = os.path.join(shared_dir(), "data/train/SR291")
            items = load_benchmark(folder, self.scale, only=holdout)
            for name, img in stress_images(seed=VALIDATION_STRESS_SEED):
                hr = mod_crop(img, self.scale)
                lr = imresize(hr, 1 / self.scale)
                items.append((f"s{VALIDATION_STRESS_SEED}_{name}", hr, lr))
            self.items = items
        return self.items

    def evaluate(self, int8_bytes):
        """Per validation image, the drop (dB) against the shipped float16 model."""
        from maffsrn_tf.imaging.metrics import psnr
        from maffsrn_tf.model.shipped import tflite_path
        from maffsrn_tf.upscaler.engines import TFLiteEngine
        from maffsrn_tf.upscaler.tiling import predict_uint8

        path = os.path.join(os.path.dirname(self.paths["val.json"]), f"x{self.scale}_cand.tflite")
        with open(path, "wb") as f:
            f.write(int8_bytes)
        engine = TFLiteEngine(path, 2)
        if not self.reference:
            ref = TFLiteEngine(tflite_path(self.scale, "float16"), 2)
            for name, hr, lr in self.validation():
                self.reference[name] = psnr(hr, predict_uint8(ref, lr), self.scale)
        return {
            name: self.reference[name] - psnr(hr, predict_uint8(engine, lr), self.scale)
            for name, hr, lr in self.validation()
        }

    def trial(self, groups, note=""):
        start = time.time()
        drops = self.evaluate(self.build(groups))
        natural = {k: v for k, v in drops.items() if not k.startswith("s")}
        graphics = {k: v for k, v in drops.items() if k.startswith("s")}
        worst = max(drops, key=drops.get)
        row = {
            "scale": self.scale,
            "wide_percentile": self.wide_percentile,
            "max_widening": self.max_widening,
            "groups": list(groups),
            "worst": worst,
            "worst_drop": drops[worst],
            "natural_mean": float(np.mean(list(natural.values()))),
            "natural_worst": max(natural.values()),
            "graphics_mean": float(np.mean(list(graphics.values()))),
            "graphics_worst": max(graphics.values()),
            "seconds": time.time() - start,
            "note": note,
            "drops": drops,
        }
        with open(self.paths["log.jsonl"], "a") as f:
            f.write(json.dumps(row) + "\n")
        print(
            f"| x{self.scale} | p{self.wide_percentile:g} | {self.max_widening or '-'} | "
            f"{','.join(groups) or '-'} | "
            f"{worst} {drops[worst]:+.4f} | {row['natural_mean']:+.4f} | "
            f"{row['natural_worst']:+.4f} | {row['graphics_mean']:+.4f} | "
            f"{row['graphics_worst']:+.4f} | {row['seconds']:.0f} s | {note} |",
            flush=True,
        )
        return row


HEADER = (
    "| scale | graphics percentile | max widening | widened groups | worst validation image "
    "| natural mean | natural worst | graphics mean | graphics worst | time | note |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def greedy(study, min_gain, limit=None):
    """Widen groups in order of their graphics excess; keep those that lower the worst."""
    excess = study.excess()
    order = sorted((k for k, (e, _) in excess.items() if e > 0.05), key=lambda k: -excess[k][0])
    print("groups by excess: " + ", ".join(f"{k} {excess[k][0]:.2f} ({excess[k][1]})"
                                          for k in order), flush=True)  # fmt: skip
    print(HEADER, flush=True)
    kept = []
    best = study.trial([], "natural ranges (the release)")["worst_drop"]
    for group in order[:limit]:
        row = study.trial([*kept, group], f"+ {group}")
        if row["worst_drop"] < best - min_gain:
            kept.append(group)
            best = row["worst_drop"]
            print(f"kept {group}: worst {best:+.4f}", flush=True)
    print(f"greedy x{study.scale} p{study.wide_percentile:g}: {','.join(kept)} worst {best:+.4f}")
    return kept


def eliminate(study, start, unit, min_gain, only=()):
    """From ``start`` widened, restore the natural range of one group of ``unit`` (``op``:
    ``region/OP``, ``block``: ``region/OP/bN``) at a time, groups with the least graphics
    excess first; keep the restoration when the worst validation drop does not rise by more
    than ``min_gain`` dB (the natural images' grid comes back for free or nearly). ``only``:
    try only the groups under these ``region/OP`` prefixes (the others stay as started)."""
    effective = ("CONV_2D", "DEPTHWISE_CONV_2D", "LEAKY_RELU", "ADD", "MUL", "CONCATENATION")
    labels = study.blocks if unit == "block" else study.labels
    groups = sorted({labels[i] for i in study.marked if labels[i].split("/")[1] in effective})
    current = [g for g in groups if any(g == s or g.startswith(s + "/") or s == "all"
                                       for s in start)]  # fmt: skip
    if unit == "block":  # a region/OP/bN group stays whole when it ended up in ``start``
        current = [g for g in current if g.rsplit("/", 1)[0] in start or "all" in start]
    print(HEADER, flush=True)
    best = study.trial(current, f"start: {','.join(start)} ({len(current)} groups)")["worst_drop"]
    for group in [g for g in current if not only or g.rsplit("/", 1)[0] in only]:
        trial = [g for g in current if g != group]
        row = study.trial(trial, f"- {group}")
        if row["worst_drop"] <= best + min_gain:
            current, best = trial, min(best, row["worst_drop"])
            print(f"restored {group}: worst {row['worst_drop']:+.4f}", flush=True)
    print(f"eliminate x{study.scale} p{study.wide_percentile:g}: {';'.join(current)} "
          f"worst {best:+.4f}")  # fmt: skip
    return current


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("prepare", "try", "greedy", "eliminate", "build"))
    parser.add_argument("--unit", default="op", choices=("op", "block"))
    parser.add_argument("--equalize", default="natural", choices=("natural", "union", "none"))
    parser.add_argument("--only", default="", help="eliminate: region/OP groups to try")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--cache", default="/tmp/q43_cache")
    parser.add_argument("--wide_percentile", type=float, default=80.0)
    parser.add_argument("--groups", default="", help="';' between candidates, ',' in one")
    parser.add_argument("--min_gain", type=float, default=0.005)
    parser.add_argument("--max_widening", default="", help="',' between values to try; 0: no cap")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return prepare(args.scale, args.cache, args.equalize)
    caps = [float(c) or None for c in args.max_widening.split(",") if c] or [None]
    study = Study(args.scale, args.cache, args.wide_percentile, max_widening=caps[0])
    if args.command == "greedy":
        return greedy(study, args.min_gain)
    if args.command == "eliminate":
        only = [g for g in args.only.split(",") if g]
        return eliminate(study, args.groups.split(","), args.unit, args.min_gain, only)
    candidates = [[g for g in c.split(",") if g] for c in args.groups.split(";")]
    if args.command == "build":
        with open(args.out, "wb") as f:
            f.write(study.build(candidates[0]))
        return print(f"wrote {args.out}")
    print(HEADER, flush=True)
    for cap in caps:
        study.max_widening = cap
        for groups in candidates:
            study.trial(groups)


if __name__ == "__main__":
    main()
