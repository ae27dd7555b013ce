"""int8 calibration: patches of training images, and percentile-robust activation ranges.

Uses TensorFlow Lite's calibrator and flatbuffer utilities (private modules of TensorFlow);
``tests/export/test_convert.py`` checks the calibrated models they make.
"""

import numpy as np

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.io.images import image_size, list_images, read_rgb


def representative_patches(folder, count=64, size=64, seed=0):
    """LR training patches (float RGB in [0, 1]) for int8 calibration, from HR images.

    ``MaffsrnError`` naming the folder when none of its images is ``size`` pixels on a side.
    """
    rng = np.random.default_rng(seed)
    files = list_images(folder)
    if not any(min(image_size(path)) >= size for path in files):
        raise MaffsrnError(
            f"no calibration image in {folder} is at least {size}x{size} pixels; "
            "pass a folder of larger images or a smaller patch size"
        )
    patches = []
    while len(patches) < count:
        image = read_rgb(files[rng.integers(len(files))])
        h, w = image.shape[:2]
        if h < size or w < size:
            continue
        y, x = rng.integers(h - size + 1), rng.integers(w - size + 1)
        patches.append(image[y : y + size, x : x + size].astype(np.float32) / 255.0)
    return patches


def image_patches(images, count=64, size=64, seed=0, halved=0.5):
    """``count`` random ``size``-pixel patches (float RGB in [0, 1]) of uint8 RGB ``images``
    (arrays, e.g. the graphics stress set's), a ``halved`` share of them cut from the image
    halved by MATLAB bicubic (as an LR input made from a larger picture shows it), the rest
    from the image as it is (as a screenshot upscaled directly shows it).

    Issue #43 calibrates the int8 ranges of a few tensor groups on such graphics patches
    (``percentile_calibrated(..., wide_samples=...)``). ``ValueError`` when no image, halved
    or not, is ``size`` pixels on a side.
    """
    from maffsrn_tf.imaging.matlab import imresize

    rng = np.random.default_rng(seed)
    sources = [[np.asarray(img) for img in images], []]
    sources[1] = [imresize(img, 0.5) for img in sources[0]]
    sources = [[img for img in group if min(img.shape[:2]) >= size] for group in sources]
    if not sources[0] and not sources[1]:
        raise ValueError(f"no image is at least {size}x{size} pixels for calibration patches")
    patches = []
    while len(patches) < count:
        group = sources[int(rng.random() < halved)] or sources[0] or sources[1]
        image = group[rng.integers(len(group))]
        h, w = image.shape[:2]
        y, x = rng.integers(h - size + 1), rng.integers(w - size + 1)
        patches.append(image[y : y + size, x : x + size, :3].astype(np.float32) / 255.0)
    return patches


def op_name(model, op):
    """The builtin name (``"CONV_2D"``, ...) of operator ``op`` of a flatbuffer ``model``
    object (``flatbuffer_utils.convert_bytearray_to_object``)."""
    from tensorflow.lite.python import schema_py_generated as schema

    code = model.operatorCodes[op.opcodeIndex]
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return next(
        (k for k, v in vars(schema.BuiltinOperator).items() if v == number and k[0] != "_"), None
    )


def _pixel_tensors(model):
    """The input and the tensors that only move its pixels (the skip's replicate padding):
    they share the input's quantization (CONCATENATION needs equal scales), so they keep
    its full [0, 1] range."""
    moving = {"SLICE", "STRIDED_SLICE", "CONCATENATION", "PAD", "RESHAPE"}
    graph = model.subgraphs[0]
    pixels = {int(i) for i in graph.inputs}
    for op in graph.operators:
        if op_name(model, op) in moving and int(op.inputs[0]) in pixels:
            pixels.update(int(o) for o in op.outputs)
    return pixels


def _output_tensors(model):
    """The output and the tensors before it that are only clamped to [0, 1] or moved (the
    clamp, the pixel shuffle), back to the last sum: with the range [0, 1] their int8 grid is
    the 8-bit output's own, so the last sum is rounded once, as the float output is when it
    is saved, and the clamp and the shuffle are exact. Empty if the output is not clamped."""
    clamps = {"RELU", "RELU_0_TO_1", "MINIMUM", "MAXIMUM"}
    graph = model.subgraphs[0]
    producer = {int(o): op for op in graph.operators for o in op.outputs}
    tensors, clamped, todo = set(), False, [int(graph.outputs[0])]
    while todo:
        tensor = todo.pop()
        tensors.add(tensor)
        op = producer.get(tensor)
        name = op_name(model, op) if op is not None else None
        if name in clamps | {"DEPTH_TO_SPACE"}:
            clamped |= name in clamps
            todo.append(int(op.inputs[0]))
    return tensors if clamped else set()


def sample_ranges(float_model, samples, indices=None):
    """Each tensor's ``(min, max)`` per sample, ``(lows, highs)`` of shape [samples, tensors]
    (NaN for tensors that hold no float activations, and for those not in ``indices`` when
    it is given).

    TensorFlow Lite's calibrator logs an op's inputs after the op has run, so an input whose
    buffer the op reused in place (ADD, MUL...) is logged with the op's *output* values: the
    tail conv's range became the final image's, [-0.19, 1.04] instead of [-0.19, 0.21]. Here
    every tensor is read from an interpreter that keeps all tensors apart.
    """
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():  # "intended for debugging": measuring is what it is for
        warnings.filterwarnings("ignore", "Warning: Enabling `experimental_preserve_all")
        interpreter = tf.lite.Interpreter(
            model_content=bytes(float_model), experimental_preserve_all_tensors=True
        )
    index = interpreter.get_input_details()[0]["index"]
    lows, highs = [], []
    for sample in samples:
        x = np.asarray(sample, np.float32)[None]
        interpreter.resize_tensor_input(index, x.shape, strict=False)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        low, high = [], []
        for detail in interpreter.get_tensor_details():
            if indices is not None and detail["index"] not in indices:
                low.append(np.nan), high.append(np.nan)
                continue
            try:
                t = interpreter.get_tensor(detail["index"])
            except ValueError:  # a tensor without data (none is needed here)
                t = None
            if t is None or t.dtype != np.float32 or t.size == 0:
                low.append(np.nan), high.append(np.nan)
            else:
                low.append(float(t.min())), high.append(float(t.max()))
        lows.append(low), highs.append(high)
    return np.array(lows), np.array(highs)


def calibration_template(float_model, sample):
    """The pieces a calibration fills in: ``(model, calibrated, marked)``.

    ``model``: ``float_model`` with the calibrator's intermediate tensors (the model the
    ranges are measured on); ``calibrated``: the flatbuffer object of the calibrator's output
    after one ``sample`` (its tensors to quantize carry a ``min``/``max``, overwritten by
    ``write_ranges``); ``marked``: the indices of those tensors (not the weights and shapes).
    """
    from tensorflow.lite.python.optimize import calibrator
    from tensorflow.lite.tools import flatbuffer_utils

    model = calibrator.add_intermediate_tensors(float_model)
    # the calibrator marks the tensors to quantize; their ranges are measured separately
    feed = [np.asarray(sample, np.float32)[None]]
    stats = calibrator.Calibrator(model, [], []).calibrate(lambda: iter([feed]))
    calibrated = flatbuffer_utils.convert_bytearray_to_object(bytearray(stats))
    graph = calibrated.subgraphs[0]
    marked = {
        i
        for i, t in enumerate(graph.tensors)
        if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min)
    }
    return model, calibrated, marked


def percentile_ranges(lows, highs, percentile):
    """``(low, high)`` per tensor from ``sample_ranges``' per-sample extremes: the
    ``100 - percentile`` of the minima and the ``percentile`` of the maxima."""
    return (
        np.percentile(lows, 100 - percentile, axis=0),
        np.percentile(highs, percentile, axis=0),
    )


def tensor_groups(calibrated):
    """Each tensor's region and producing op, ``{index: "region/OP"}``, from the graph's
    structure (a converted graph's tensor names say nothing of the Keras layers).

    Regions: ``esa`` and ``cea``, the tensors inside an attention branch (back from a
    LOGISTIC's input up to, not including, the tensor the block multiplies by the attention
    map, i.e. a tensor read by a MUL; ``esa`` when the branch holds a MAX_POOL_2D), and
    ``body`` for every other tensor. Issue #43 measured where graphics outrun the natural
    ranges by these groups (``benchmarks/int8_wide.py``).
    """
    graph = calibrated.subgraphs[0]
    producer = {int(o): op for op in graph.operators for o in op.outputs}
    multiplied = {
        int(i) for op in graph.operators if op_name(calibrated, op) == "MUL" for i in op.inputs
    }
    region = {}
    for op in graph.operators:
        if op_name(calibrated, op) != "LOGISTIC":
            continue
        cone, todo = set(), [int(op.inputs[0])]
        while todo:
            tensor = todo.pop()
            if tensor in cone or tensor in multiplied or tensor < 0:
                continue
            cone.add(tensor)
            if tensor in producer:
                todo += [int(i) for i in producer[tensor].inputs]
        pooled = any(
            t in producer and op_name(calibrated, producer[t]) == "MAX_POOL_2D" for t in cone
        )
        for tensor in cone:
            region[tensor] = "esa" if pooled else "cea"
    out = {}
    for i in range(len(graph.tensors)):
        op = producer.get(i)
        out[i] = f"{region.get(i, 'body')}/{op_name(calibrated, op) if op is not None else 'INPUT'}"
    return out


def in_groups(label, groups):
    """Whether a ``tensor_groups`` label (``"esa/MAX_POOL_2D"``) is in ``groups``: names of
    regions (``"esa"``), of region and op (``"esa/MAX_POOL_2D"``), or ``"all"``."""
    region = label.split("/", 1)[0]
    return "all" in groups or label in groups or region in groups


def write_ranges(calibrated, marked, low, high):
    """The calibrated flatbuffer (bytes) of ``calibration_template``'s ``calibrated`` with the
    ranges ``low``/``high`` (per tensor index) written into its ``marked`` tensors; the
    input's and the clamped output's tensors get [0, 1] (``calibrated`` is changed)."""
    from tensorflow.lite.tools import flatbuffer_utils

    graph = calibrated.subgraphs[0]
    known = _pixel_tensors(calibrated) | _output_tensors(calibrated)
    for i in sorted(marked):  # not the weights and shapes
        t = graph.tensors[i]
        q = t.quantization
        if i in known:  # the input's and the clamped output's range: [0, 1]
            q.min, q.max = [0.0], [1.0]
        elif np.isnan(low[i]):
            raise RuntimeError(f"no activation range measured for tensor {t.name.decode()!r}")
        else:
            q.min, q.max = [float(low[i])], [float(high[i])]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(calibrated))


def widened(low, high, wide_low, wide_high, labels, groups, max_widening=None):
    """``(low, high)`` with each tensor whose ``labels`` entry is in ``groups`` widened to
    also cover ``(wide_low, wide_high)`` (NaN there: left as it is).

    ``max_widening``: a widened range is at most this many times as wide as its own (both
    ends moved out by the same share of what covering would take): a tensor whose graphics
    range is far wider keeps part of its natural grid.
    """
    low, high = np.array(low, float), np.array(high, float)
    for i, label in labels.items():
        if i < len(low) and in_groups(label, groups) and not np.isnan(wide_low[i]):
            down, up = max(0.0, low[i] - wide_low[i]), max(0.0, wide_high[i] - high[i])
            if max_widening is not None and down + up > 0:
                room = (max_widening - 1.0) * max(high[i] - low[i], 0.0)
                share = min(1.0, room / (down + up))
                down, up = down * share, up * share
            low[i], high[i] = low[i] - down, high[i] + up
    return low, high


def percentile_calibrated(
    float_model,
    samples,
    percentile,
    wide_samples=None,
    wide_percentile=None,
    wide_groups=(),
    max_widening=None,
):
    """A calibrated float model whose activation ranges are robust to outlier patches.

    TFLite calibrates with the min/max over *all* samples, so one unusual patch widens a
    tensor's range and coarsens its int8 grid for every image (more calibration data made
    our int8 models worse). Here each sample's tensors are measured on their own
    (``sample_ranges``) and a tensor's range is the ``percentile`` of the per-sample maxima
    (and ``100 - percentile`` of the minima): the rare extremes are clipped, the common
    values keep a fine grid.

    ``wide_samples`` (issue #43: graphics patches, which reach far beyond natural images'
    ranges): the tensors of ``wide_groups`` (``tensor_groups``' regions or ``region/OP``
    labels) are widened to also cover the ``wide_percentile`` of these samples' extremes;
    every other tensor keeps its range from ``samples``, so one kind of image does not
    coarsen the grid of every tensor. ``max_widening``: ``widened``'s cap (``None``: none).
    """
    model, calibrated, marked = calibration_template(float_model, samples[0])
    low, high = percentile_ranges(*sample_ranges(model, samples, marked), percentile)
    if wide_samples is not None and len(wide_samples) and wide_groups:
        labels = tensor_groups(calibrated)
        wide = {i for i in marked if in_groups(labels[i], wide_groups)}
        wide_low, wide_high = percentile_ranges(
            *sample_ranges(model, wide_samples, wide),
            percentile if wide_percentile is None else wide_percentile,
        )
        low, high = widened(low, high, wide_low, wide_high, labels, wide_groups, max_widening)
    return write_ranges(calibrated, marked, low, high)
