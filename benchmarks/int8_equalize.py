"""Channel equalization before int8: rescale channels where the float function allows it.

    python benchmarks/int8_equalize.py --scale 2 [--pairs mab,esa,esa_rc,cea] [--json F]

The pairs ``mab``, ``esa``, ``esa_rc`` and ``cea`` and the scale rules are the export's
(``maffsrn_tf.export.equalize``, which ``maffsrn-export`` applies to every int8 model); this
script compares them, their variants and one more kind of pair, which the export leaves out:

- ``stream``: the features between the blocks, with one scale vector per role, as the
  additions and the fusion require: the residual stream (the head's output, every FFG's
  input and output; read by the first MAB and the tail), and in each FFG the MAB outputs
  that are summed (``x0``, ``x1``, ``x2``), the last MAB's output (``x3``) and the two inner
  fusion outputs. A MAB's output is scaled through ``conv00`` (the attention convs reading
  it undo the scale); the fusion convs undo it on their shuffled inputs.

The scales (``channel_scales``, ``--rule``): ``signed`` widens each channel as far as it
stays inside the tensor's [min, max], ``abs`` brings each channel's max |x| up to the
largest; then ``** --power``, at most ``--max_scale``. Ranges follow the export's
percentile rule. Rows: the Set5/Set14 drop of the int8 export without its own equalization
(``equalize=False``) on the original and on the equalized weights, both against the original
Keras float model.
"""

import argparse
import sys

import numpy as np
from int8_study import add_flags, drops, print_header, print_row, tflite_file, write_rows

from maffsrn_tf.export import convert, representative_patches
from maffsrn_tf.export.equalize import channel_ranges, channel_scales, equalize
from maffsrn_tf.pretrained import load_model_for


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
    ranges = channel_ranges(model, layers, patches)

    def scales(*layers_):
        return channel_scales([ranges[id(x)] for x in layers_], rule, max_scale, power)

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


def equalize_all(model, patches, pairs, max_scale, power=1.0, rule="signed"):
    """The library's pairs (``export.equalize``), then ``stream`` if asked for."""
    applied = equalize(model, patches, [p for p in pairs if p != "stream"], max_scale, rule, power)
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
    for label in ["not equalized", equalized]:
        model = load_model_for(a.scale, a.weights or None)
        if label != "not equalized":
            applied = equalize_all(model, patches, a.pairs.split(","), a.max_scale, a.power, a.rule)
            for kind, scales in applied.items():
                s = np.concatenate(scales)
                print(f"{kind}: {len(scales)} pairs, scales median {np.median(s):.2f}, "
                      f"max {s.max():.2f}", file=sys.stderr, flush=True)  # fmt: skip
        diff = float(np.abs(np.asarray(model(check, training=False)) - reference).max())
        int8 = convert(model, "int8", representative_data=patches, equalize=False)
        with tflite_file(int8) as path:
            row_drops = drops(original, path, datasets, a.scale)  # against the original float
        rows.append({"weights": label, "drops": row_drops, "float_max_diff": diff})
        print_row(label, row_drops, f"{diff:.1e}")
    write_rows(a.json, a.scale, datasets, rows)


if __name__ == "__main__":
    main()
