"""Channel equalization before int8: rescale channels where the float function allows it.

    python benchmarks/int8_equalize.py --scale 2 [--pairs mab,esa,esa_rc,cea] [--json F]

TFLite quantizes each activation tensor with one range for all its channels, so a channel
whose values span half the tensor's range gets half its grid. Where a channel passes
through a positively homogeneous op between two convolutions (LeakyReLU, max-pool, padding
by zeros), scaling the first conv's output channel by ``s`` and the second conv's input
channel by ``1/s`` leaves the float model's function unchanged (up to float rounding, which
the script checks) and gives the small channels a finer grid. Pairs rescaled:

- ``mab``: each MAB's ``conv01`` -> LeakyReLU -> ``conv00``;
- ``esa``: each ESA's ``reduce_spatial_size`` -> max-pool -> the branch convolutions;
- ``esa_rc``: each ESA's ``reduce_channels``, read by ``reduce_spatial_size`` and (added to
  the upsampled branch sum, whose convolutions are scaled alike) ``increase_channels``;
- ``cea``: each CEA's ``bottom11`` -> the depthwise ``bottom11_dw``.

``s`` brings each channel's range (the export's 65th percentile of per-patch maxima of |x|)
up to the tensor's largest, at most ``--max_scale``. Rows: the Set5/Set14 drop of the
shipped int8 procedure on the equalized weights against the original Keras float model.
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

from maffsrn_tf.export import convert, representative_patches
from maffsrn_tf.export.verify import verify
from maffsrn_tf.presets import DEFAULT_CALIBRATION_PERCENTILE
from maffsrn_tf.pretrained import load_model_for
from maffsrn_tf.utils import shared_dir


def mabs(model):
    return [block for ffg in model.body for block in ffg.blocks]


def recorded(model, layers, patches):
    """Per-channel ranges of ``layers``' outputs over the patches (the percentile rule)."""
    seen = {id(layer): [] for layer in layers}
    originals = {}
    for layer in layers:
        originals[id(layer)] = layer.call

        def call(x, *args, _layer=layer, **kwargs):
            y = originals[id(_layer)](x, *args, **kwargs)
            seen[id(_layer)].append(np.abs(np.asarray(y)).reshape(-1, y.shape[-1]).max(0))
            return y

        layer.call = call
    try:
        for patch in patches:
            model(patch[None], training=False)
    finally:
        for layer in layers:
            del layer.call  # back to the class's method
    return {k: np.percentile(np.array(v), DEFAULT_CALIBRATION_PERCENTILE, axis=0) for k, v in
            seen.items()}  # fmt: skip


def equalize(model, patches, pairs, max_scale):
    """Rescale the chosen pairs in place; returns the scales applied per pair kind."""
    plan = []  # (kind, first conv, convs scaled alike, the convs reading their channels)
    for block in mabs(model):
        esa = block.esa
        if "mab" in pairs:
            plan.append(("mab", block.conv01, [], [block.conv00]))
        if "esa" in pairs:
            plan.append(("esa", esa.reduce_spatial_size, [], esa.convs))
        if "esa_rc" in pairs:
            readers = [esa.reduce_spatial_size, esa.increase_channels]
            plan.append(("esa_rc", esa.reduce_channels, esa.convs, readers))
        if "cea" in pairs and block.cea is not None:
            plan.append(("cea", block.cea.bottom11, [], [block.cea.bottom11_dw]))
    # one pass: a first conv's output does not change when another pair is rescaled (the
    # readers of a rescaled tensor undo the scale)
    ranges = recorded(model, [first for _, first, _, _ in plan], patches)
    applied = {}
    for kind, first, alike, readers in plan:
        r = np.maximum(ranges[id(first)], 1e-6)
        s = np.minimum(r.max() / r, max_scale).astype(np.float32)
        for conv in [first, *alike]:
            conv.kernel.assign(np.asarray(conv.kernel) * s)
            conv.bias.assign(np.asarray(conv.bias) * s)
        for reader in readers:  # HWIO, or depthwise HW(C)1: the input channel is axis 2
            reader.kernel.assign(np.asarray(reader.kernel) / s[None, None, :, None])
        applied.setdefault(kind, []).append(s)
    return applied


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--weights", default="")
    p.add_argument("--pairs", default="mab,esa,esa_rc,cea")
    p.add_argument("--max_scale", type=float, default=8.0)
    p.add_argument("--json", default="")
    data = os.path.join(shared_dir(), "data")
    p.add_argument("--calibration_dir", default=os.path.join(data, "train", "SR291"))
    p.add_argument("--datasets", default=",".join(
        os.path.join(data, "benchmark", s) for s in ("Set5", "Set14")))  # fmt: skip
    a = p.parse_args()
    datasets = a.datasets.split(",")
    original = load_model_for(a.scale, a.weights or None)
    patches = representative_patches(a.calibration_dir, 128, 64)
    check = np.stack(patches[:4])
    reference = np.asarray(original(check, training=False))
    print("| weights | Set5 drop (dB) | Set14 drop (dB) | float max |diff| |")
    print("|---|---|---|---|", flush=True)
    rows = []
    for label in ["shipped", f"equalized ({a.pairs}, scale <= {a.max_scale:g})"]:
        model = load_model_for(a.scale, a.weights or None)
        if label != "shipped":
            applied = equalize(model, patches, a.pairs.split(","), a.max_scale)
            for kind, scales in applied.items():
                s = np.concatenate(scales)
                print(f"{kind}: {len(scales)} pairs, scales median {np.median(s):.2f}, "
                      f"max {s.max():.2f}", file=sys.stderr, flush=True)  # fmt: skip
        diff = float(np.abs(np.asarray(model(check, training=False)) - reference).max())
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.tflite")
            with open(path, "wb") as f:
                f.write(convert(model, "int8", representative_data=patches))
            result = verify(original, path, datasets, a.scale, max_drop=10)
        drops = [result[os.path.basename(os.path.normpath(d))]["drop"] for d in datasets]
        rows.append({"weights": label, "drops": drops, "float_max_diff": diff})
        shown = " | ".join(f"{d:+.4f}" for d in drops)
        print(f"| {label} | {shown} | {diff:.1e} |", flush=True)
    if a.json:
        os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
        with open(a.json, "w") as f:
            json.dump({"scale": a.scale, "datasets": datasets, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
