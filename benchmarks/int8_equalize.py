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

- ``stream``: the features between the blocks, with one scale vector per role, as the
  additions and the fusion require: the residual stream (the head's output, every FFG's
  input and output; read by the first MAB and the tail), and in each FFG the MAB outputs
  that are summed (``x0``, ``x1``, ``x2``), the last MAB's output (``x3``) and the two inner
  fusion outputs. A MAB's output is scaled through ``conv00`` (the attention convs reading
  it undo the scale); the fusion convs undo it on their shuffled inputs.

The scales (``channel_scales``, ``--rule``): ``signed`` widens each channel as far as it
stays inside the tensor's [min, max], ``abs`` brings each channel's max |x| up to the
largest; then ``** --power``, at most ``--max_scale``. Ranges follow the export's
percentile rule. Rows: the Set5/Set14 drop of the
shipped int8 procedure on the equalized weights against the original Keras float model.
"""

import argparse
import sys

import numpy as np
from int8_study import add_flags, drops, print_header, print_row, tflite_file, write_rows

from maffsrn_tf.export import convert, representative_patches
from maffsrn_tf.presets import DEFAULT_CALIBRATION_PERCENTILE
from maffsrn_tf.pretrained import load_model_for


def mabs(model):
    return [block for ffg in model.body for block in ffg.blocks]


def recorded(model, layers, patches):
    """Per-channel ``(low, high)`` of ``layers``' outputs over the patches, by the export's
    percentile rule (the 65th percentile of per-patch maxima, the 35th of minima)."""
    seen = {id(layer): [] for layer in layers}
    originals = {}
    for layer in layers:
        originals[id(layer)] = layer.call

        def call(x, *args, _layer=layer, **kwargs):
            y = originals[id(_layer)](x, *args, **kwargs)
            flat = np.asarray(y).reshape(-1, y.shape[-1])
            seen[id(_layer)].append((flat.min(0), flat.max(0)))
            return y

        layer.call = call
    try:
        for patch in patches:
            model(patch[None], training=False)
    finally:
        for layer in layers:
            del layer.call  # back to the class's method
    p = DEFAULT_CALIBRATION_PERCENTILE
    return {
        k: (np.percentile([lo for lo, _ in v], 100 - p, axis=0),
            np.percentile([hi for _, hi in v], p, axis=0))
        for k, v in seen.items()
    }  # fmt: skip


def channel_scales(ranges, rule, power, max_scale):
    """Scales for the channels of a tensor with per-channel ``ranges`` [(low, high), ...]
    (several: their union). ``abs``: every channel's max |x| up to the largest; ``signed``:
    every channel as far as it stays inside the tensor's [min, max] (a channel that is
    mostly negative must not widen the tensor's range, which would coarsen all channels)."""
    low = np.min([lo for lo, _ in ranges], 0)
    high = np.max([hi for _, hi in ranges], 0)
    if rule == "abs":
        r = np.maximum(np.maximum(-low, high), 1e-6)
        s = r.max() / r
    else:
        up = np.where(high > 1e-6, high.max() / np.maximum(high, 1e-6), np.inf)
        down = np.where(low < -1e-6, low.min() / np.minimum(low, -1e-6), np.inf)
        s = np.maximum(np.minimum(up, down), 1.0)
    return np.minimum(s**power, max_scale).astype(np.float32)


def scale_output(conv, s):
    """Multiply ``conv``'s output channels by ``s`` (Conv2D, or weight-normed: ``g``)."""
    if hasattr(conv, "g"):
        conv.g.assign(np.asarray(conv.g) * s)
    else:
        conv.kernel.assign(np.asarray(conv.kernel) * s)
    conv.bias.assign(np.asarray(conv.bias) * s)


def scale_input(conv, s):
    """Divide ``conv``'s input channels by ``s`` (a weight-normed conv gets ``v`` = the new
    kernel and ``g`` = its norm, so its effective kernel is exactly the new one)."""
    if hasattr(conv, "g"):
        kernel = np.asarray(conv.effective_kernel()) / s[None, None, :, None]
        conv.v.assign(kernel)
        conv.g.assign(np.sqrt(np.sum(np.square(kernel), axis=(0, 1, 2))))
    else:
        conv.kernel.assign(np.asarray(conv.kernel) / s[None, None, :, None])


def equalize_stream(model, patches, max_scale, power=1.0, rule="signed"):
    """The ``stream`` rescaling (see the module docstring); returns the scales per role."""
    ffgs = list(model.body)
    if any(ffg.fusion != "m-bff" for ffg in ffgs):
        raise SystemExit("stream equalization follows the m-bff fusion (the shipped models')")
    layers = [model.head, *ffgs]
    for ffg in ffgs:
        layers += [*ffg.blocks, *ffg.reductions[:2]]
    ranges = recorded(model, layers, patches)

    def scales(*layers_):
        return channel_scales([ranges[id(x)] for x in layers_], rule, power, max_scale)

    stream = scales(model.head, *ffgs)
    roles = {"stream": [stream], "summed MAB outputs": [], "last MAB output": [], "fusion": []}
    scale_output(model.head, stream)
    scale_input(model.tail.tail_k3, stream)
    scale_input(model.tail.tail_k5, stream)
    for ffg in ffgs:
        summed, last = scales(*ffg.blocks[:3]), scales(ffg.blocks[3])
        r1, r2 = scales(ffg.reductions[0]), scales(ffg.reductions[1])
        for block, inp, out in zip(ffg.blocks, [stream, summed, summed, summed],
                                   [summed, summed, summed, last]):  # fmt: skip
            scale_input(block.conv01, inp)
            scale_output(block.conv00, out)
            scale_input(block.esa.reduce_channels, out)
            if block.cea is not None:
                scale_input(block.cea.bottom11, out)
        perm = ffg.shuffle.permutation(2 * len(stream)) if ffg.shuffle is not None else None
        for reduction, inp, out in zip(ffg.reductions, [(summed, summed), (r1, summed), (r2, last)],
                                       [r1, r2, stream]):  # fmt: skip
            cat = np.concatenate(inp)
            scale_input(reduction, cat[perm] if perm is not None else cat)
            scale_output(reduction, out)
        roles["summed MAB outputs"].append(summed)
        roles["last MAB output"].append(last)
        roles["fusion"] += [r1, r2]
    return roles


def equalize(model, patches, pairs, max_scale, power=1.0, rule="signed"):
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
        s = channel_scales([ranges[id(first)]], rule, power, max_scale)
        for conv in [first, *alike]:
            conv.kernel.assign(np.asarray(conv.kernel) * s)
            conv.bias.assign(np.asarray(conv.bias) * s)
        for reader in readers:  # HWIO, or depthwise HW(C)1: the input channel is axis 2
            reader.kernel.assign(np.asarray(reader.kernel) / s[None, None, :, None])
        applied.setdefault(kind, []).append(s)
    if "stream" in pairs:
        applied.update(equalize_stream(model, patches, max_scale, power, rule))
    return applied


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_flags(p)
    p.add_argument("--pairs", default="mab,esa,esa_rc,cea")
    p.add_argument("--max_scale", type=float, default=8.0)
    p.add_argument("--power", type=float, default=1.0, help="scales ** power")
    p.add_argument("--rule", default="signed", choices=["signed", "abs"])
    a = p.parse_args()
    datasets = a.datasets.split(",")
    original = load_model_for(a.scale, a.weights or None)
    patches = representative_patches(a.calibration_dir, 128, 64)
    check = np.stack(patches[:4])
    reference = np.asarray(original(check, training=False))
    print_header("weights", datasets, "float max \\|diff\\|")
    rows = []
    equalized = f"equalized ({a.pairs}; {a.rule}, power {a.power:g}, scale <= {a.max_scale:g})"
    for label in ["shipped", equalized]:
        model = load_model_for(a.scale, a.weights or None)
        if label != "shipped":
            applied = equalize(model, patches, a.pairs.split(","), a.max_scale, a.power, a.rule)
            for kind, scales in applied.items():
                s = np.concatenate(scales)
                print(f"{kind}: {len(scales)} pairs, scales median {np.median(s):.2f}, "
                      f"max {s.max():.2f}", file=sys.stderr, flush=True)  # fmt: skip
        diff = float(np.abs(np.asarray(model(check, training=False)) - reference).max())
        int8 = convert(model, "int8", representative_data=patches)
        with tflite_file(int8) as path:
            row_drops = drops(original, path, datasets, a.scale)  # against the original float
        rows.append({"weights": label, "drops": row_drops, "float_max_diff": diff})
        print_row(label, row_drops, f"{diff:.1e}")
    write_rows(a.json, a.scale, datasets, rows)


if __name__ == "__main__":
    main()
