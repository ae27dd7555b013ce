"""int8 activation ranges chosen per tensor by quantization error, against the shipped rule.

    python benchmarks/int8_ranges.py --scale 2 [--search] [--json out/int8_ranges_x2.json]

The shipped rule clips every tensor at the 65th percentile of the per-sample extremes (one
knob for all 700 tensors; plain min/max lost 0.20-0.27 dB). Here each tensor's range is
the candidate with the least mean squared int8 rounding + clipping error over values sampled
from the float model's tensors on the calibration patches (candidates: the percentile range
scaled by 0.25-2.5, and the min/max). ``--search`` adds ranges chosen by the model's
output: the percentile ranges scaled by one factor per group of tensors (grouped by the op
that makes them), the factors picked one group at a time by the int8 model's PSNR on the
SR291 holdout (``splits/sr291_val.txt``; Set5 and Set14 are never used to choose). Rows:
Set5/Set14 drop of each rule's int8 model against the Keras float model
(``maffsrn_tf.export.verify``). Rule 3 corrects the mean output error instead (bias
correction of the last convolution, measured on the calibration patches).
"""

import argparse
import json
import os
import sys

import numpy as np
from int8_study import (
    add_flags,
    drops,
    float_tflite,
    print_header,
    print_row,
    tflite_file,
    write_rows,
)

from maffsrn_tf.export import percentile_calibrated, representative_patches
from maffsrn_tf.export.calibrate import op_name
from maffsrn_tf.presets import DEFAULT_CALIBRATION_PERCENTILE
from maffsrn_tf.pretrained import load_model_for
from maffsrn_tf.utils import atomic_output

FACTORS = np.concatenate([np.linspace(0.25, 1.0, 16), np.linspace(1.1, 2.5, 15)])
SEARCH_FACTORS = (0.6, 0.8, 1.0, 1.25, 1.6, 2.0)
TENSOR_STEPS = (0.9, 1.15)


def tensor_samples(float_model, patches, indices, per_patch=2048, seed=0):
    """``{tensor index: sampled float values}`` of the float model's tensors on the patches."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(seed)
    interpreter = Interpreter(
        model_content=float_model, experimental_preserve_all_tensors=True, num_threads=2
    )
    inp = interpreter.get_input_details()[0]["index"]
    samples = {i: [] for i in indices}
    for n, patch in enumerate(patches):
        interpreter.resize_tensor_input(inp, [1, *patch.shape], strict=False)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp, np.asarray(patch, np.float32)[None])
        interpreter.invoke()
        for i in indices:
            v = interpreter.get_tensor(i).reshape(-1)
            samples[i].append(v[rng.integers(v.size, size=min(per_patch, v.size))])
        print(f"\rsampled {n + 1}/{len(patches)} patches", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {i: np.concatenate(s) for i, s in samples.items()}


def int8_error(values, low, high):
    """Mean squared error of TFLite's asymmetric int8 quantization over [low, high]."""
    low, high = min(low, 0.0), max(high, 0.0)  # TFLite's range always holds zero
    if high - low <= 0:
        return float(np.mean(values**2))
    scale = (high - low) / 255.0
    zero = np.round(-128 - low / scale)
    q = np.clip(np.round(values / scale) + zero, -128, 127)
    return float(np.mean(((q - zero) * scale - values) ** 2))


def best_range(values, low, high):
    candidates = [(low * f, high * f) for f in FACTORS] + [(values.min(), values.max())]
    errors = [int8_error(values, lo, hi) for lo, hi in candidates]
    return candidates[int(np.argmin(errors))]


def mse_calibrated(float_model, patches, percentile=DEFAULT_CALIBRATION_PERCENTILE):
    """The percentile-calibrated model with each activation range replaced by its best
    candidate (least int8 error on the sampled values)."""
    from tensorflow.lite.tools import flatbuffer_utils

    base = percentile_calibrated(float_model, patches, percentile)
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(base))
    tensors, indices = model.subgraphs[0].tensors, _ranged(model)
    samples = tensor_samples(float_model, patches, indices)
    factors = []
    for i in indices:
        q = tensors[i].quantization
        low, high = best_range(samples[i], q.min[0], q.max[0])
        factors.append(high / q.max[0] if q.max[0] else 1.0)
        q.min, q.max = [float(low)], [float(high)]
    print(f"{len(indices)} ranges; high / percentile high: median {np.median(factors):.2f}, "
          f"10-90 % {np.percentile(factors, 10):.2f}-{np.percentile(factors, 90):.2f}",
          file=sys.stderr)  # fmt: skip
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def bias_corrected(calibrated, patches, log=print):
    """``calibrated`` with the int8 model's mean output error on the calibration patches
    (per colour; int8 rounds low on average) added to the bias of the tail convolution
    before the pixel shuffle, so the int8 model is corrected and the float one untouched."""
    from tensorflow.lite.python.convert import mlir_quantize
    from tensorflow.lite.tools import flatbuffer_utils

    from maffsrn_tf.backends import TFLiteBackend

    with tflite_file(calibrated) as f32, tflite_file(mlir_quantize(calibrated)) as i8:
        float_model, int8_model = TFLiteBackend(f32), TFLiteBackend(i8)
        diffs = [
            (float_model(p[None]) - int8_model(p[None])).reshape(-1, 3).mean(0) for p in patches
        ]
    delta = np.mean(diffs, 0)
    log(f"int8 output error on the calibration patches: {np.round(-delta * 255, 3)} levels")
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    graph = model.subgraphs[0]
    made_by = {int(o): op for op in graph.operators for o in op.outputs}
    tail = made_by[int(graph.outputs[0])]  # back through the clamp, the shuffle, the sums
    while op_name(model, tail) != "CONV_2D":
        tail = made_by[int(tail.inputs[0])]
    buffer = model.buffers[graph.tensors[int(tail.inputs[2])].buffer]
    bias = np.frombuffer(bytes(np.asarray(buffer.data, np.uint8)), np.float32).copy()
    bias += delta[np.arange(bias.size) % 3].astype(np.float32)  # depth_to_space: colour last
    buffer.data = np.frombuffer(bias.tobytes(), np.uint8)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _ranged(model):
    """Indices of the activation tensors that carry a calibrated range (not the pixels)."""
    from maffsrn_tf.export.calibrate import _pixel_tensors

    tensors, pixels = model.subgraphs[0].tensors, _pixel_tensors(model)
    return [
        i
        for i, t in enumerate(tensors)
        if i not in pixels
        and t.quantization is not None
        and t.quantization.min is not None
        and len(t.quantization.min)
    ]


def _groups(model, indices):
    """``{producing op name: [tensor indices]}`` for the ranged tensors."""
    made_by = {}
    for op in model.subgraphs[0].operators:
        name = op_name(model, op) or "?"
        for o in op.outputs:
            made_by[int(o)] = name
    groups = {}
    for i in indices:
        groups.setdefault(made_by.get(i, "input"), []).append(i)
    return groups


def searched_calibrated(base, scale, holdout, per_tensor=False, log=print, state_path=None):
    """``base`` (a calibrated model) with each group's ranges scaled by the factor that gives
    the int8 model the best mean PSNR on ``holdout`` (``[(name, hr, lr)]``), one group at a
    time in order of size; ``per_tensor``: then each tensor's range narrowed or widened
    (``TENSOR_STEPS``) where that helps. ``state_path``: a JSON file the search saves after
    each step and resumes from. Returns the model bytes and ``{group: factor}``."""
    import copy

    from tensorflow.lite.python.convert import mlir_quantize
    from tensorflow.lite.tools import flatbuffer_utils

    from maffsrn_tf import metrics
    from maffsrn_tf.backends import TFLiteBackend
    from maffsrn_tf.inference import predict_uint8

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(base))
    groups = _groups(model, _ranged(model))
    original = {
        i: (t.quantization.min[0], t.quantization.max[0])
        for i, t in enumerate(model.subgraphs[0].tensors)
        if any(i in g for g in groups.values())
    }
    scales = {i: 1.0 for i in original}

    def build(scales):
        m = copy.deepcopy(model)
        tensors = m.subgraphs[0].tensors
        for i, f in scales.items():
            low, high = original[i]
            tensors[i].quantization.min, tensors[i].quantization.max = [low * f], [high * f]
        return bytes(flatbuffer_utils.convert_object_to_bytearray(m))

    def holdout_psnr(scales):
        with tflite_file(mlir_quantize(build(scales))) as path:
            lite = TFLiteBackend(path)
            return float(
                np.mean([metrics.psnr(hr, predict_uint8(lite, lr), scale) for _, hr, lr in holdout])
            )

    state = {"scales": scales, "best": None, "groups": None, "tensors_done": 0, "changed": 0}
    if state_path and os.path.exists(state_path):  # resume an interrupted search
        with open(state_path) as f:
            saved = json.load(f)
        state.update(saved, scales={int(k): v for k, v in saved["scales"].items()})
        log(f"resumed from {state_path}: {state['tensors_done']} tensors done")

    def save():
        if state_path:
            with atomic_output(state_path) as tmp, open(tmp, "w") as f:
                json.dump(state, f)

    if state["best"] is None:
        state["best"] = holdout_psnr(state["scales"])
        log(f"holdout PSNR with the percentile ranges: {state['best']:.4f} dB")
    if state["groups"] is None:
        chosen = {}
        for g in sorted(groups, key=lambda g: -len(groups[g])):
            chosen[g] = 1.0
            for f in SEARCH_FACTORS:
                if f == 1.0:
                    continue
                trial = {**state["scales"], **{i: f for i in groups[g]}}
                value = holdout_psnr(trial)
                log(f"  {g} ({len(groups[g])} tensors) x{f}: {value:.4f} dB")
                if value > state["best"]:
                    state.update(best=value, scales=trial)
                    chosen[g] = f
            log(f"{g}: x{chosen[g]} (holdout {state['best']:.4f} dB)")
        state["groups"] = chosen
        save()
    chosen = dict(state["groups"])
    if per_tensor:
        order = sorted(original)
        for n in range(state["tensors_done"], len(order)):
            i = order[n]
            for f in TENSOR_STEPS:
                trial = {**state["scales"], i: state["scales"][i] * f}
                value = holdout_psnr(trial)
                if value > state["best"]:
                    state.update(best=value, scales=trial, changed=state["changed"] + 1)
                    break
            state["tensors_done"] = n + 1
            save()
            log(f"tensor {n + 1}/{len(order)}: holdout {state['best']:.4f} dB, "
                f"{state['changed']} changed")  # fmt: skip
        chosen["tensors changed one by one"] = state["changed"]
    scales = state["scales"]
    return build(scales), chosen


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_flags(p)
    p.add_argument("--search", action="store_true", help="also search ranges on the holdout")
    p.add_argument("--per_tensor", action="store_true", help="--search, then tensor by tensor")
    p.add_argument("--state", default="", help="save the search here after each step; resume")
    p.add_argument("--rules", default="", help="only these rules (numbers from 1), e.g. 3")
    a = p.parse_args()
    from tensorflow.lite.python.convert import mlir_quantize

    model = load_model_for(a.scale, a.weights or None)
    datasets = a.datasets.split(",")
    patches = representative_patches(a.calibration_dir, 128, 64)
    float_model = float_tflite(model)
    rules = {
        f"{DEFAULT_CALIBRATION_PERCENTILE:g}th percentile of per-sample extremes (shipped)": (
            lambda: percentile_calibrated(float_model, patches, DEFAULT_CALIBRATION_PERCENTILE)
        ),
        "least int8 error per tensor": lambda: mse_calibrated(float_model, patches),
        "shipped ranges, the output's mean int8 error on the calibration patches corrected": (
            lambda: bias_corrected(
                percentile_calibrated(float_model, patches, DEFAULT_CALIBRATION_PERCENTILE),
                patches,
                lambda m: print(m, file=sys.stderr, flush=True),
            )
        ),
    }
    chosen = {}
    if a.search:
        from maffsrn_tf.data import load_benchmark, read_holdout

        split = os.path.join(os.path.dirname(__file__), "..", "splits", "sr291_val.txt")
        names = read_holdout(split, a.calibration_dir)
        holdout = load_benchmark(a.calibration_dir, a.scale, only=set(names))
        holdout.sort(key=lambda item: item[2].shape)  # one LiteRT set-up per shape

        def search():
            base = percentile_calibrated(float_model, patches, DEFAULT_CALIBRATION_PERCENTILE)

            def log(message):
                print(message, file=sys.stderr, flush=True)

            data, factors = searched_calibrated(
                base, a.scale, holdout, a.per_tensor, log, a.state or None
            )
            chosen.update(factors)
            return data

        label = "percentile ranges scaled per op group"
        label += ", then per tensor" if a.per_tensor else ""
        rules[f"{label}, chosen on the SR291 holdout"] = search
    if a.rules:
        keep = {int(n) - 1 for n in a.rules.split(",")}
        rules = {k: v for n, (k, v) in enumerate(rules.items()) if n in keep}
    print_header("activation ranges", datasets)
    rows = []
    for label, calibrate in rules.items():
        with tflite_file(mlir_quantize(calibrate())) as path:
            row_drops = drops(model, path, datasets, a.scale)
        rows.append({"ranges": label, "drops": row_drops})
        print_row(label, row_drops)
    if chosen:
        shown = ", ".join(f"{g} x{f}" for g, f in chosen.items())
        print(f"\nfactors chosen on the holdout: {shown}")
    write_rows(a.json, a.scale, datasets, rows, factors=chosen)


if __name__ == "__main__":
    main()
