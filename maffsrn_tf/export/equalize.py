"""Channel equalization before int8: rescale channels where the float function allows it.

TFLite's int8 model quantizes each activation tensor with one range for all its channels, so
a channel whose values span half the tensor's range gets half its grid. Where a channel
passes through positively homogeneous ops between two convolutions (LeakyReLU, ReLU,
max-pool, padding by zeros), scaling the first conv's output channel by ``s > 0`` and the
readers' input channel by ``1/s`` leaves the float function unchanged and gives the small
channels a finer grid. Pairs (each MAB):

- ``mab``: ``conv01`` -> LeakyReLU -> ``conv00``;
- ``esa``: the ESA's ``reduce_spatial_size`` -> max-pool -> the branch convolutions;
- ``esa_rc``: the ESA's ``reduce_channels``, read by ``reduce_spatial_size`` and (added to
  the upsampled branch sum, whose convolutions are scaled alike) ``increase_channels``;
- ``cea``: the CEA's ``bottom11`` -> the depthwise ``bottom11_dw``.

Measured in tflite/QUANTIZATION.md (``benchmarks/int8_equalize.py``, at commit f2f755c): it
takes the x2 int8 drop from 0.039 / 0.059 dB to 0.031 / 0.038 (Set5 / Set14). ``convert``
applies it to a copy of the model for every int8 export.
"""

import numpy as np

from maffsrn_tf.export.recipe import DEFAULT_CALIBRATION_PERCENTILE

PAIRS = ("mab", "esa", "esa_rc", "cea")
MAX_SCALE = 32.0
# the float output may move by float rounding only (2e-7 measured on the shipped models)
TOLERANCE = 1e-4


def mabs(model):
    """Every MAB of ``model``, in order."""
    return [block for ffg in model.body for block in ffg.blocks]


def channel_ranges(model, layers, patches, percentile=DEFAULT_CALIBRATION_PERCENTILE):
    """Per-channel ``(low, high)`` of each of ``layers``' outputs over ``patches`` (keyed by
    ``id(layer)``), by the export's percentile rule: the ``percentile`` of the per-patch
    maxima and the ``100 - percentile`` of the minima, as int8 calibration sees them."""
    seen = {id(layer): [] for layer in layers}
    for layer in layers:

        def call(x, *args, _layer=layer, **kwargs):
            y = type(_layer).call(_layer, x, *args, **kwargs)
            flat = np.asarray(y).reshape(-1, y.shape[-1])
            seen[id(_layer)].append((flat.min(0), flat.max(0)))
            return y

        layer.call = call  # an instance attribute: Keras' __call__ looks it up there
    try:
        for patch in patches:
            model(np.asarray(patch, np.float32)[None], training=False)
    finally:
        for layer in layers:
            del layer.call  # back to the class's method
    return {
        key: (np.percentile([lo for lo, _ in v], 100 - percentile, axis=0),
              np.percentile([hi for _, hi in v], percentile, axis=0))
        for key, v in seen.items()
    }  # fmt: skip


def channel_scales(ranges, rule="signed", max_scale=MAX_SCALE, power=1.0):
    """Scales for the channels of a tensor with per-channel ``ranges`` [(low, high), ...]
    (several: their union).

    ``signed``: each channel widened as far as it stays inside the tensor's [min, max] (a
    mostly negative channel must not widen the tensor's range, which would coarsen every
    channel); ``abs``: each channel's max |x| brought up to the largest. Then ``** power``,
    at most ``max_scale``, never below 1.
    """
    low = np.min([lo for lo, _ in ranges], 0)
    high = np.max([hi for _, hi in ranges], 0)
    if rule == "abs":
        r = np.maximum(np.maximum(-low, high), 1e-6)
        s = r.max() / r
    elif rule == "signed":
        up = np.where(high > 1e-6, high.max() / np.maximum(high, 1e-6), np.inf)
        down = np.where(low < -1e-6, low.min() / np.minimum(low, -1e-6), np.inf)
        s = np.maximum(np.minimum(up, down), 1.0)
    else:
        raise ValueError(f"unknown equalization rule {rule!r}; 'signed' or 'abs'")
    return np.minimum(s**power, max_scale).astype(np.float32)


def _plan(model, pairs):
    """(kind, first conv, convs scaled alike, the convs reading their channels) per pair."""
    unknown = sorted(set(pairs) - set(PAIRS))
    if unknown:
        raise ValueError(f"unknown equalization pairs {unknown}; of {', '.join(PAIRS)}")
    plan = []
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
    return plan


def equalize(
    model,
    patches,
    pairs=PAIRS,
    max_scale=MAX_SCALE,
    rule="signed",
    power=1.0,
    percentile=DEFAULT_CALIBRATION_PERCENTILE,
    wide_patches=None,
):
    """Rescale ``pairs`` of ``model`` in place from its channel ranges on ``patches`` (by
    the calibration's ``percentile`` rule); returns the scales applied, a list per kind.
    ``wide_patches`` (issue #43's graphics): each channel's range is the union of its ranges
    on both sets, so a channel quiet on ``patches`` but loud on these is not scaled up."""
    plan = _plan(model, pairs)
    # one pass: a first conv's output does not change when another pair is rescaled (the
    # readers of a rescaled tensor undo its scale)
    firsts = [first for _, first, _, _ in plan]
    ranges = channel_ranges(model, firsts, patches, percentile)
    wide = channel_ranges(model, firsts, wide_patches, percentile) if wide_patches else {}
    applied = {}
    for kind, first, alike, readers in plan:
        both = [ranges[id(first)]] + ([wide[id(first)]] if wide else [])
        s = channel_scales(both, rule, max_scale, power)
        for conv in [first, *alike]:
            conv.kernel.assign(np.asarray(conv.kernel) * s)
            conv.bias.assign(np.asarray(conv.bias) * s)
        for reader in readers:  # HWIO, or depthwise HW(C)1: the input channel is axis 2
            reader.kernel.assign(np.asarray(reader.kernel) / s[None, None, :, None])
        applied.setdefault(kind, []).append(s)
    return applied


def copy_model(model):
    """A MAFFSRN with ``model``'s config and a copy of its weights."""
    clone = type(model).from_config(model.get_config())
    clone.build((None, None, None, model.n_colors))
    clone.set_weights(model.get_weights())
    return clone


def equalized(
    model,
    patches,
    pairs=PAIRS,
    max_scale=MAX_SCALE,
    percentile=DEFAULT_CALIBRATION_PERCENTILE,
    wide_patches=None,
):
    """A copy of ``model`` with its channels equalized (``model`` is not changed).

    ``ValueError`` if the copy's float output differs from the model's by more than
    ``TOLERANCE`` on the first patches (the rescaling must preserve the function).
    """
    clone = copy_model(model)
    equalize(clone, patches, pairs, max_scale, percentile=percentile, wide_patches=wide_patches)
    diff = max(
        float(np.abs(np.asarray(clone(x)) - np.asarray(model(x))).max())
        for x in (np.asarray(p, np.float32)[None] for p in patches[:4])
    )
    if not diff <= TOLERANCE:
        raise ValueError(
            f"channel equalization changed the float output by {diff:.3g} (> {TOLERANCE:g}); "
            "convert without it (equalize=False)"
        )
    return clone
