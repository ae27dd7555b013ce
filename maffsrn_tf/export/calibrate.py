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


def percentile_calibrated(float_model, samples, percentile):
    """A calibrated float model whose activation ranges are robust to outlier patches.

    TFLite calibrates with the min/max over *all* samples, so one unusual patch widens a
    tensor's range and coarsens its int8 grid for every image (more calibration data made
    our int8 models worse). Here each sample's tensors are measured on their own
    (``sample_ranges``) and a tensor's range is the ``percentile`` of the per-sample maxima
    (and ``100 - percentile`` of the minima): the rare extremes are clipped, the common
    values keep a fine grid.
    """
    from tensorflow.lite.python.optimize import calibrator
    from tensorflow.lite.tools import flatbuffer_utils

    model = calibrator.add_intermediate_tensors(float_model)
    # the calibrator marks the tensors to quantize; their ranges are measured below
    feed = [np.asarray(samples[0], np.float32)[None]]
    stats = calibrator.Calibrator(model, [], []).calibrate(lambda: iter([feed]))
    calibrated = flatbuffer_utils.convert_bytearray_to_object(bytearray(stats))
    graph = calibrated.subgraphs[0]
    marked = {
        i
        for i, t in enumerate(graph.tensors)
        if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min)
    }
    lows, highs = sample_ranges(model, samples, marked)
    low = np.percentile(lows, 100 - percentile, axis=0)
    high = np.percentile(highs, percentile, axis=0)
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
