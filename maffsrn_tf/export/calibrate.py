"""int8 calibration: patches of training images, and percentile-robust activation ranges.

Uses TensorFlow Lite's calibrator and flatbuffer utilities (private modules of TensorFlow);
``tests/test_export.py`` checks the calibrated models they make.
"""

import numpy as np

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.images import image_size, list_images, read_rgb


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


def percentile_calibrated(float_model, samples, percentile):
    """A calibrated float model whose activation ranges are robust to outlier patches.

    TFLite calibrates with the min/max over *all* samples, so one unusual patch widens a
    tensor's range and coarsens its int8 grid for every image (more calibration data made
    our int8 models worse). Here each sample is calibrated on its own and a tensor's range is
    the ``percentile`` of the per-sample maxima (and ``100 - percentile`` of the minima):
    the rare extremes are clipped, the common values keep a fine grid.
    """
    from tensorflow.lite.python.optimize import calibrator
    from tensorflow.lite.tools import flatbuffer_utils

    model = calibrator.add_intermediate_tensors(float_model)
    lows, highs, calibrated = [], [], None
    for sample in samples:
        feed = [np.asarray(sample, np.float32)[None]]
        stats = calibrator.Calibrator(model, [], []).calibrate(lambda feed=feed: iter([feed]))
        calibrated = flatbuffer_utils.convert_bytearray_to_object(bytearray(stats))
        tensors = calibrated.subgraphs[0].tensors
        ranges = [
            (t.quantization.min[0], t.quantization.max[0])
            if t.quantization is not None
            and t.quantization.min is not None
            and len(t.quantization.min)
            else (np.nan, np.nan)
            for t in tensors
        ]
        lows.append([r[0] for r in ranges])
        highs.append([r[1] for r in ranges])
    low = np.percentile(np.array(lows), 100 - percentile, axis=0)
    high = np.percentile(np.array(highs), percentile, axis=0)
    graph = calibrated.subgraphs[0]  # the last sample's model: its ranges are replaced below
    pixels = _pixel_tensors(calibrated)
    for i, t in enumerate(graph.tensors):
        if i in pixels:  # the input's range is known: [0, 1] (never clip highlights)
            t.quantization.min, t.quantization.max = [0.0], [1.0]
        elif not np.isnan(low[i]):
            t.quantization.min, t.quantization.max = [float(low[i])], [float(high[i])]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(calibrated))
