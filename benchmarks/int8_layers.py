"""Where the x2 int8 model breaks on graphics (issue #43): per activation tensor, how much of
the float activations falls outside the tensor's int8 range on natural images and on the
graphics that int8 damages (Set14 ``img_013``, the stress set of ``tools/stress_set.py``).

    python benchmarks/int8_layers.py [--int8 maffsrn_tf/weights/maffsrn_x2_int8.tflite]
        [--float /tmp/x2_float32_equalized.tflite] [--natural img_003,img_005,img_010,img_011]
        [--stress_dir DIR] [--top 25]

The int8 file is made from a channel-equalized copy of the Keras model (``export.equalize``),
so its tensors are compared with the float32 TFLite model of that same equalized copy (built
here by the export's own steps from the shipped weights and the release's calibration
patches when ``--float`` does not exist; written there). Tensors are matched by name; a
tensor's int8 range is its ``scale * ([-128, 127] - zero_point)``. Per tensor and image group:

- *clip*: the share of float activations beyond the int8 range by more than half a step
  (they saturate in int8);
- *used*: the float activations' [min, max];
- *sat*: the share of the int8 model's own values at -128 or 127 (its interpreter run on the
  same input, ``experimental_preserve_all_tensors``).

Images run in LR tiles of at most ``--tile`` pixels (every tensor of a whole image at once
would need gigabytes).
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from int8_worst import load_set  # noqa: E402

DEFAULT_INT8 = os.path.join(ROOT, "maffsrn_tf", "weights", "maffsrn_x2_int8.tflite")
DEFAULT_FLOAT = "/tmp/int8study/x2_float32_equalized.tflite"


def build_float(path, scale=2, calibration_dir=None, percentile=None):
    """The float32 TFLite model of the equalized copy that ``export.convert`` quantizes
    (shipped weights, the release's 128 patches of 64 px, its percentile)."""
    import tensorflow as tf
    from int8_worst import BENCH

    from maffsrn_tf.export import representative_patches
    from maffsrn_tf.export.equalize import equalized
    from maffsrn_tf.export.graph import InferenceGraph
    from maffsrn_tf.export.recipe import DEFAULT_CALIBRATION_PERCENTILE
    from maffsrn_tf.pretrained.loading import load_model_for

    calibration_dir = calibration_dir or os.path.join(os.path.dirname(BENCH), "train", "SR291")
    patches = representative_patches(calibration_dir, 128, 64)
    model = equalized(
        load_model_for(scale), patches, percentile=percentile or DEFAULT_CALIBRATION_PERCENTILE
    )
    graph = InferenceGraph(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([graph.concrete_function()], graph)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    data = converter.convert()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _interpreter(path):
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Warning: Enabling `experimental_preserve_all")
        return tf.lite.Interpreter(model_path=path, experimental_preserve_all_tensors=True)


def _run(interpreter, x):
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape, strict=False)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    if detail["dtype"] != np.float32:
        s, z = detail["quantization"]
        x = np.clip(np.round(x / s + z), 0, 255).astype(detail["dtype"])
    interpreter.set_tensor(index, x)
    interpreter.invoke()


def matched_tensors(float_path, int8_path):
    """``[(name, op, float index, int8 index, low, high, step)]``: the int8 model's int8
    activation tensors that the float model has by name, with their int8 ranges."""
    f, q = _interpreter(float_path), _interpreter(int8_path)
    floats = {d["name"]: d["index"] for d in f.get_tensor_details() if d["dtype"] == np.float32}
    producer = {}
    for op in q._get_ops_details():
        for o in op["outputs"]:
            producer[int(o)] = op["op_name"]
    out = []
    for d in q.get_tensor_details():
        scale, zero = d["quantization"]
        if d["dtype"] != np.int8 or not scale or d["name"] not in floats:
            continue
        if int(d["index"]) not in producer:  # weights and biases
            continue
        low, high = (-128 - zero) * scale, (127 - zero) * scale
        out.append(
            (d["name"], producer[int(d["index"])], floats[d["name"]], d["index"], low, high, scale)
        )
    return out


def _tiles(lr, tile):
    h, w = lr.shape[:2]
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            t = lr[y : y + tile, x : x + tile]
            if min(t.shape[:2]) >= 16:
                yield t


def measure(float_path, int8_path, images, tensors, tile=96):
    """Per tensor ``[clipped, count, min, max, saturated]`` summed over ``images`` (uint8
    LR arrays)."""
    f, q = _interpreter(float_path), _interpreter(int8_path)
    acc = np.zeros((len(tensors), 5))
    acc[:, 2], acc[:, 3] = np.inf, -np.inf
    for lr in images:
        rgb = np.repeat(lr[..., None], 3, -1) if lr.ndim == 2 else lr
        for t in _tiles(rgb, tile):
            x = t[None].astype(np.float32) / 255.0
            _run(f, x)
            _run(q, x)
            for i, (_, _, fi, qi, low, high, step) in enumerate(tensors):
                a = f.get_tensor(fi)
                v = q.get_tensor(qi)
                acc[i, 0] += np.count_nonzero((a < low - step / 2) | (a > high + step / 2))
                acc[i, 1] += a.size
                acc[i, 2] = min(acc[i, 2], float(a.min()))
                acc[i, 3] = max(acc[i, 3], float(a.max()))
                acc[i, 4] += np.count_nonzero((v == -128) | (v == 127))
    return acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--int8", default=DEFAULT_INT8)
    parser.add_argument("--float", default=DEFAULT_FLOAT, help="built there when absent")
    parser.add_argument("--natural", default="img_003,img_005,img_010,img_011")
    parser.add_argument("--stress", default="", help="stress images (default: all 10)")
    parser.add_argument("--stress_dir", default="")
    parser.add_argument("--tile", type=int, default=96)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    start = time.time()
    if not os.path.exists(args.float):
        build_float(args.float)
    tensors = matched_tensors(args.float, args.int8)
    set14 = {name: lr for name, _, lr in load_set("Set14", 2)}
    stress = {name: lr for name, _, lr in load_set("stress", 2, args.stress_dir or None)}
    if args.stress:
        stress = {k: v for k, v in stress.items() if k in args.stress.split(",")}
    groups = {
        "natural": [set14[n] for n in args.natural.split(",")],
        "img_013": [set14["img_013"]],
        "stress": list(stress.values()),
    }
    stats = {
        g: measure(args.float, args.int8, imgs, tensors, args.tile) for g, imgs in groups.items()
    }
    clip = {g: s[:, 0] / s[:, 1] for g, s in stats.items()}
    sat = {g: s[:, 4] / s[:, 1] for g, s in stats.items()}
    print(
        f"Made by `python benchmarks/int8_layers.py {' '.join(argv or sys.argv[1:])}` "
        f"({time.time() - start:.0f} s): {len(tensors)} int8 activation tensors of "
        f"{os.path.basename(args.int8)} matched by name in the equalized float model; natural: "
        f"Set14 {args.natural}; stress: {len(groups['stress'])} stress-set images. *clip*: share "
        "of float activations beyond the int8 range; *sat*: share of int8 values at -128/127.\n"
    )
    print("| group | tensors with clip > 0.1 % | > 1 % | > 5 % | mean clip | max clip |")
    print("|---|---|---|---|---|---|")
    for g in groups:
        c = clip[g]
        print(
            f"| {g} | {int((c > 1e-3).sum())} | {int((c > 1e-2).sum())} | "
            f"{int((c > 5e-2).sum())} | {100 * c.mean():.3f} % | {100 * c.max():.2f} % |"
        )
    by_op = {}
    for i, t in enumerate(tensors):
        by_op.setdefault(t[1], []).append(i)
    print("\n| op (output) | tensors | mean clip natural | mean clip img_013 | mean clip stress |")
    print("|---|---|---|---|---|")
    for op, idx in sorted(by_op.items(), key=lambda kv: -clip["stress"][kv[1]].mean()):
        print(
            f"| {op} | {len(idx)} | {100 * clip['natural'][idx].mean():.3f} % | "
            f"{100 * clip['img_013'][idx].mean():.3f} % | "
            f"{100 * clip['stress'][idx].mean():.3f} % |"
        )
    order = np.argsort(-(np.maximum(clip["stress"], clip["img_013"]) - clip["natural"]))
    print(
        "\n| # | tensor | op | int8 range | natural used | natural clip / sat | img_013 used "
        "| img_013 clip / sat | stress used | stress clip / sat |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rank, i in enumerate(order[: args.top]):
        name, op, _, _, low, high, _ = tensors[i]
        short = name if len(name) < 60 else "..." + name[-57:]
        cells = []
        for g in groups:
            s = stats[g][i]
            cells.append(f"[{s[2]:.2f}, {s[3]:.2f}]")
            cells.append(f"{100 * clip[g][i]:.2f} % / {100 * sat[g][i]:.2f} %")
        print(
            f"| {rank + 1} | `{short}` | {op} | [{low:.2f}, {high:.2f}] | "
            + " | ".join(cells)
            + " |"
        )


if __name__ == "__main__":
    main()
