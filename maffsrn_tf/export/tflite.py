"""TFLite conversion of a Keras MAFFSRN (``convert``) and the export that verifies a
converted model against Keras before it writes the file (``export``)."""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from maffsrn_tf.export.calibrate import percentile_calibrated
from maffsrn_tf.export.equalize import equalized
from maffsrn_tf.export.graph import InferenceGraph
from maffsrn_tf.export.recipe import (
    DEFAULT_CALIBRATION_PERCENTILE,
    DEFAULT_EQUALIZE_WIDE,
    DEFAULT_MAX_WIDENING,
    DEFAULT_WIDE_GROUPS,
    DEFAULT_WIDE_PERCENTILE,
    QUANTIZATIONS,
)
from maffsrn_tf.export.verification import (
    dynamic_tensors,
    gpu_delegate_verdict,
    io_contract,
    measure_latency,
    op_names,
    verify,
)
from maffsrn_tf.io.atomic import atomic_output
from maffsrn_tf.model.presets import MIN_INPUT_SIZE


def _pad_to(patch, shape):
    patch = np.asarray(patch, np.float32)
    pad = [(0, max(0, shape[0] - patch.shape[0])), (0, max(0, shape[1] - patch.shape[1])), (0, 0)]
    return np.pad(patch, pad, mode="edge")[: shape[0], : shape[1]]


def convert(
    model,
    quantization="float32",
    input_shape=None,
    representative_data=None,
    uint8_io=False,
    calibration_percentile=DEFAULT_CALIBRATION_PERCENTILE,
    equalize=True,
    wide_data=None,
    wide_groups=DEFAULT_WIDE_GROUPS,
    wide_percentile=DEFAULT_WIDE_PERCENTILE,
    max_widening=DEFAULT_MAX_WIDENING,
    equalize_wide=DEFAULT_EQUALIZE_WIDE,
):
    """Convert a Keras MAFFSRN to TFLite bytes (builtin ops only).

    ``input_shape``: ``None`` for a dynamic ``[1, None, None, 3]`` model, or ``(H, W)`` for a
    fixed-size tile model. ``representative_data``: a list of float ``H x W x 3`` arrays in
    [0, 1], needed by ``int8`` and ``int16x8``. ``uint8_io`` (``int8`` only): uint8 input and
    output tensors (pixel values 0..255, scale 1/255, zero point 0) instead of float32 ones.
    ``calibration_percentile`` (``int8``): activation ranges from that percentile of the
    per-sample extremes (``percentile_calibrated``); ``100`` is TFLite's plain min/max.
    ``equalize`` (``int8``): convert a copy of the model with its channels equalized
    (``export.equalize``; the same float function, a smaller int8 drop).
    ``wide_data`` (``int8`` below percentile 100; issue #43): graphics patches, like
    ``representative_data``; the tensors of ``wide_groups`` (``calibrate.tensor_groups``'
    labels) get ranges that also cover their ``wide_percentile`` of extremes
    (``percentile_calibrated``), at most ``max_widening`` times their own width (``None``:
    no cap). ``None`` or no groups: every range from ``representative_data`` alone.
    ``equalize_wide``: the equalization's channel ranges also cover ``wide_data``'s.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"unknown quantization {quantization!r}; one of {', '.join(QUANTIZATIONS)}"
        )
    if uint8_io and quantization != "int8":
        raise ValueError(f"uint8_io needs quantization 'int8', not {quantization!r}")
    if quantization in ("int8", "int16x8") and not representative_data:
        raise ValueError(f"{quantization} needs representative_data (calibration patches)")
    if input_shape is not None and min(input_shape) < MIN_INPUT_SIZE:
        raise ValueError(f"input_shape {input_shape} is below the minimum of {MIN_INPUT_SIZE}")
    if not 0 < calibration_percentile <= 100:
        raise ValueError(
            f"calibration_percentile must be in (0, 100], got {calibration_percentile}"
        )
    if quantization == "int8" and equalize:
        model = equalized(
            model,
            representative_data,
            percentile=calibration_percentile,
            wide_patches=wide_data if equalize_wide else None,
        )
    if input_shape is not None and representative_data:
        # every patch is edge-padded (or cropped) to the fixed input: the fixed model then
        # sees the same calibration content as its dynamic twin (larger patches widen the
        # percentile ranges: x2 int8 at 128x128 lost 0.109 dB with 128-pixel patches)
        representative_data = [_pad_to(p, input_shape) for p in representative_data]
        if wide_data:
            wide_data = [_pad_to(p, input_shape) for p in wide_data]
    graph = InferenceGraph(model)
    h, w = input_shape if input_shape is not None else (None, None)
    fn = graph.concrete_function(h, w)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], graph)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "int8" and calibration_percentile < 100:
        from tensorflow.lite.python.convert import mlir_quantize

        calibrated = percentile_calibrated(
            converter.convert(),
            representative_data,
            calibration_percentile,
            wide_data,
            wide_percentile,
            wide_groups,
            max_widening,
        )
        io = tf.uint8 if uint8_io else tf.float32
        return mlir_quantize(calibrated, input_data_type=io, output_data_type=io)
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization in ("int8", "int16x8"):

        def gen():
            for patch in representative_data:
                yield [np.asarray(patch, np.float32)[None]]

        converter.representative_dataset = gen
        if quantization == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if uint8_io:
                converter.inference_input_type = tf.uint8
                converter.inference_output_type = tf.uint8
        else:
            # DEPTH_TO_SPACE has no 16x8 kernel: it (and only what lacks one) stays float
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                tf.lite.OpsSet.TFLITE_BUILTINS,
            ]
    return converter.convert()


def export(
    model,
    path,
    quantization,
    datasets,
    input_shape=None,
    representative_data=None,
    max_drop=0.5,
    uint8_io=False,
    calibration_percentile=DEFAULT_CALIBRATION_PERCENTILE,
    equalize=True,
    overwrite=True,
    wide_data=None,
    wide_groups=DEFAULT_WIDE_GROUPS,
    wide_percentile=DEFAULT_WIDE_PERCENTILE,
    max_image_drop=None,
    max_widening=DEFAULT_MAX_WIDENING,
    equalize_wide=DEFAULT_EQUALIZE_WIDE,
):
    """Convert, verify against the Keras model, then write ``path`` atomically
    (``overwrite=False``: only if ``path`` does not exist then, ``io.atomic.OutputExists``
    otherwise). ``wide_*``: ``convert``'s; ``max_image_drop``: ``verify``'s per-image limit.

    A fixed-shape model (``input_shape``) must have no dynamic tensor. Returns the report
    entry: accuracy per dataset, file size, latency at 1 and 2 threads, ops, the GPU
    delegate verdict of LiteRT's analyzer, and the I/O contract.
    """
    data = convert(
        model,
        quantization,
        input_shape,
        representative_data,
        uint8_io,
        calibration_percentile,
        equalize,
        wide_data,
        wide_groups,
        wide_percentile,
        max_widening,
        equalize_wide,
    )
    dynamic = dynamic_tensors(data) if input_shape is not None else []
    if dynamic:
        raise ValueError(
            f"{path}: fixed-shape model has dynamic tensors {dynamic[:3]}; not written"
        )
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = os.path.join(tmp_dir, os.path.basename(path))
        with open(tmp, "wb") as f:
            f.write(data)
        accuracy = (
            verify(model, tmp, datasets, int(model.scale), max_drop, max_image_drop)
            if datasets
            else {}
        )
        latency = {n: measure_latency(tmp, num_threads=n) for n in (1, 2)}
        with atomic_output(path, overwrite) as out:
            shutil.copyfile(tmp, out)
    compatible, detail = gpu_delegate_verdict(data)
    widens = bool(
        quantization == "int8" and calibration_percentile < 100 and wide_data and wide_groups
    )
    return {
        "file": os.path.basename(path),
        "scale": int(model.scale),
        "quantization": quantization,
        "uint8_io": bool(uint8_io),
        "input_shape": list(input_shape) if input_shape else None,
        "calibration_percentile": calibration_percentile if quantization == "int8" else None,
        "equalized": bool(equalize and quantization == "int8"),
        "equalized_on_graphics": bool(
            equalize and equalize_wide and wide_data and quantization == "int8"
        ),
        "wide_calibration": (
            {
                "groups": list(wide_groups),
                "percentile": wide_percentile,
                "patches": len(wide_data),
                "max_widening": max_widening,
            }
            if widens
            else None
        ),
        "bytes": len(data),
        "ops": op_names(data),
        "accuracy": accuracy,
        "latency_s": latency[2][0],
        "latency_1thread_s": latency[1][0],
        "latency_input": list(latency[2][1]),
        "gpu_delegate": {"compatible": compatible, "detail": detail},
        "io": io_contract(data),
    }
