"""TFLite export: a folded inference graph, five quantization modes, builtin ops only.

The inference graph (``InferenceGraph``) computes exactly the Keras model with:
weight norm evaluated once into plain kernels; the FFG channel shuffle folded into the input
channels of the 1x1 fusion convs (no reshape/transpose); ``res_scale`` folded into the last
fusion conv; the tail's two weighted branches merged into one 5x5 conv (the 3x3 kernel
zero-padded) whose output shares one DEPTH_TO_SPACE with the bicubic skip; dilated convs as
single CONV_2D ops with a dilation factor; the output clamped to [0, 1].
``x_scale`` stays one constant MUL per FFG (it scales the group's input, not a conv output).
"""

import os

import numpy as np
import tensorflow as tf

from maffsrn_tf.layers import LEAKY_SLOPE
from maffsrn_tf.model import MIN_INPUT_SIZE

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8", "int16x8")
# Chosen on x2 (Set5 and Set14 drops, tflite/QUANTIZATION.md); 100 (min/max) lost 0.20-0.27 dB.
DEFAULT_CALIBRATION_PERCENTILE = 65.0
TFLITE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tflite")


def _np(v):
    return np.asarray(tf.convert_to_tensor(v), np.float32)


def _kernel(layer):
    """(HWIO kernel, bias) of a Conv2D or a WeightNormConv2D."""
    if hasattr(layer, "effective_kernel"):
        return _np(layer.effective_kernel()), _np(layer.bias)
    return _np(layer.kernel), _np(layer.bias)


def shuffle_permutation(channels, groups=2):
    """``perm[k]``: the concatenated channel that the shuffle puts at position ``k``."""
    per = channels // groups
    return np.array([(k % groups) * per + k // groups for k in range(channels)])


def fold_weights(model):
    """All constants of the inference graph, as NumPy arrays."""
    w = {"scale": int(model.scale), "head": _kernel(model.head), "ffgs": []}
    for ffg in model.body:
        blocks = []
        for mab in ffg.blocks:
            esa, cea = mab.esa, mab.cea
            dw_kernel, dw_bias = _np(cea.bottom11_dw.kernel), _np(cea.bottom11_dw.bias)
            blocks.append(
                {
                    "conv01": _kernel(mab.conv01),
                    "conv00": _kernel(mab.conv00),
                    "reduce_channels": _kernel(esa.reduce_channels),
                    "reduce_spatial_size": _kernel(esa.reduce_spatial_size),
                    "conv1": _kernel(esa.conv1),
                    "conv2": _kernel(esa.conv2),
                    "increase_channels": _kernel(esa.increase_channels),
                    "bottom11": _kernel(cea.bottom11),
                    "bottom11_dw": (dw_kernel, dw_bias),
                }
            )
        reductions = []
        for k, layer in enumerate(ffg.reductions):
            kernel, bias = _kernel(layer)
            perm = shuffle_permutation(kernel.shape[2])
            folded = np.zeros_like(kernel)
            folded[:, :, perm, :] = kernel  # conv input k reads concat channel perm[k]
            if k == len(ffg.reductions) - 1:
                res = float(_np(ffg.res_scale.scale)[0])
                folded, bias = folded * res, bias * res
            reductions.append((folded, bias))
        w["ffgs"].append(
            {
                "blocks": blocks,
                "reductions": reductions,
                "x_scale": float(_np(ffg.x_scale.scale)[0]),
            }
        )
    k3, b3 = _kernel(model.tail.tail_k3)
    k5, b5 = _kernel(model.tail.tail_k5)
    l3, l5 = float(_np(model.tail.scale_k3.scale)[0]), float(_np(model.tail.scale_k5.scale)[0])
    tail = l5 * k5
    tail[1:4, 1:4] += l3 * k3
    w["tail"] = (tail, l3 * b3 + l5 * b5)
    model.upsample.build((None, None, None, 3))
    w["skip"] = _np(model.upsample._kernel)
    w["skip_split"] = split_for_int8(w["skip"])
    return w


def split_for_int8(kernel):
    """``kernel`` as two kernels that sum to it: one exactly on the per-output-channel int8
    grid TFLite quantizes weights to, and the (127x smaller) remainder.

    The bicubic skip's fixed coefficients are not int8 numbers: quantized, they shift every
    output pixel (0.1 dB at x4 in the dynamic, int8 and int16x8 models). Split this way the
    first part quantizes exactly and the second one's error is ~250x smaller; in float the
    two convolutions (3 input channels) add a negligible cost.
    """
    kernel = np.asarray(kernel, np.float64)
    step = np.abs(kernel).max(axis=(0, 1, 2)) / 127.0
    step[step == 0] = 1.0
    high = np.round(kernel / step) * step
    return high.astype(np.float32), (kernel - high).astype(np.float32)


class InferenceGraph(tf.Module):
    """The folded MAFFSRN as a ``tf.function`` of plain TFLite-builtin ops."""

    def __init__(self, model, clamp=True):
        super().__init__(name="maffsrn_inference")
        self.w = fold_weights(model)
        self.scale = self.w["scale"]
        self.clamp = clamp

    @staticmethod
    def _conv(x, kb, dilation=1, stride=1, padding="SAME"):
        kernel, bias = kb
        y = tf.nn.conv2d(x, tf.constant(kernel), stride, padding, dilations=dilation)
        return tf.nn.bias_add(y, tf.constant(bias))

    def _mab(self, x, b):
        c = self._conv
        x = c(tf.nn.leaky_relu(c(x, b["conv01"]), LEAKY_SLOPE), b["conv00"])
        rc = c(x, b["reduce_channels"])
        rs = c(
            tf.pad(rc, [[0, 0], [1, 1], [1, 1], [0, 0]]),
            b["reduce_spatial_size"],
            stride=2,
            padding="VALID",
        )
        pool = tf.nn.max_pool2d(rs, 7, 3, "VALID")
        conv = tf.nn.leaky_relu(c(pool, b["conv2"], dilation=2), LEAKY_SLOPE) + tf.nn.leaky_relu(
            c(pool, b["conv1"]), LEAKY_SLOPE
        )
        up = tf.raw_ops.ResizeNearestNeighbor(
            images=conv, size=tf.shape(rc)[1:3], align_corners=False, half_pixel_centers=False
        )
        esa = tf.sigmoid(tf.nn.relu(c(up + rc, b["increase_channels"])))
        dw_kernel, dw_bias = b["bottom11_dw"]
        cea = tf.nn.depthwise_conv2d(
            c(x, b["bottom11"]), tf.constant(dw_kernel), [1, 1, 1, 1], "SAME"
        )
        cea = tf.sigmoid(tf.nn.bias_add(cea, tf.constant(dw_bias)))
        return (esa * x) * cea

    def _ffg(self, x, f):
        b0, b1, b2, b3 = f["blocks"]
        x0 = self._mab(x, b0)
        x1 = self._mab(x0, b1) + x0
        x2 = self._mab(x1, b2) + x1
        x3 = self._mab(x2, b3)
        res = x0
        for kb, other in zip(f["reductions"], (x1, x2, x3)):
            res = self._conv(tf.concat([res, other], -1), kb)
        return res + f["x_scale"] * x

    def _replicate_pad(self, x):
        for axis in (1, 2):
            first = x[:, :1] if axis == 1 else x[:, :, :1]
            last = x[:, -1:] if axis == 1 else x[:, :, -1:]
            x = tf.concat([first, first, x, last, last], axis)
        return x

    def __call__(self, x):
        h = self._conv(x, self.w["head"])
        for f in self.w["ffgs"]:
            h = self._ffg(h, f)
        tail = self._conv(h, self.w["tail"])
        padded = self._replicate_pad(x)
        skip = sum(tf.nn.conv2d(padded, tf.constant(k), 1, "VALID") for k in self.w["skip_split"])
        y = tf.nn.depth_to_space(tail + skip, self.scale)
        return tf.clip_by_value(y, 0.0, 1.0) if self.clamp else y

    def concrete_function(self, height=None, width=None):
        spec = tf.TensorSpec([1, height, width, 3], tf.float32, name="lr")
        fn = tf.function(lambda lr: {"sr": self(lr)})
        return fn.get_concrete_function(spec)


def representative_patches(folder, count=64, size=64, seed=0):
    """LR training patches (float RGB in [0, 1]) for int8 calibration, from HR images."""
    from maffsrn_tf.data import list_images, read_rgb

    rng = np.random.default_rng(seed)
    files = list_images(folder)
    patches = []
    while len(patches) < count:
        image = read_rgb(files[rng.integers(len(files))])
        h, w = image.shape[:2]
        if h < size or w < size:
            continue
        y, x = rng.integers(h - size + 1), rng.integers(w - size + 1)
        patches.append(image[y : y + size, x : x + size].astype(np.float32) / 255.0)
    return patches


def _pixel_tensors(model):
    """The input and the tensors that only move its pixels (the skip's replicate padding):
    they share the input's quantization (CONCATENATION needs equal scales), so they keep
    its full [0, 1] range."""
    from tensorflow.lite.python import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    moving = {"SLICE", "STRIDED_SLICE", "CONCATENATION", "PAD", "RESHAPE"}
    graph = model.subgraphs[0]
    pixels = {int(i) for i in graph.inputs}
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode))
        if name in moving and int(op.inputs[0]) in pixels:
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


def convert(
    model,
    quantization="float32",
    input_shape=None,
    representative_data=None,
    uint8_io=False,
    calibration_percentile=DEFAULT_CALIBRATION_PERCENTILE,
):
    """Convert a Keras MAFFSRN to TFLite bytes (builtin ops only).

    ``input_shape``: ``None`` for a dynamic ``[1, None, None, 3]`` model, or ``(H, W)`` for a
    fixed-size tile model. ``representative_data``: a list of float ``H x W x 3`` arrays in
    [0, 1], needed by ``int8`` and ``int16x8``. ``uint8_io`` (``int8`` only): uint8 input and
    output tensors (pixel values 0..255, scale 1/255, zero point 0) instead of float32 ones.
    ``calibration_percentile`` (``int8``): activation ranges from that percentile of the
    per-sample extremes (``percentile_calibrated``); ``100`` is TFLite's plain min/max.
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
    graph = InferenceGraph(model)
    h, w = input_shape if input_shape is not None else (None, None)
    fn = graph.concrete_function(h, w)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], graph)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "int8" and calibration_percentile < 100:
        from tensorflow.lite.python.convert import mlir_quantize

        samples = [
            p[: input_shape[0], : input_shape[1]] if input_shape is not None else p
            for p in representative_data
        ]
        calibrated = percentile_calibrated(converter.convert(), samples, calibration_percentile)
        io = tf.uint8 if uint8_io else tf.float32
        return mlir_quantize(calibrated, input_data_type=io, output_data_type=io)
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization in ("int8", "int16x8"):

        def gen():
            for patch in representative_data:
                if input_shape is not None:
                    patch = patch[: input_shape[0], : input_shape[1]]
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


def op_names(tflite_bytes):
    """Sorted builtin/custom op names used by a TFLite model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    return sorted({d["op_name"] for d in interpreter._get_ops_details()})


def shipped_tflite(scale, variant="float16"):
    path = os.path.join(TFLITE_DIR, f"maffsrn_x{scale}_{variant}.tflite")
    if not os.path.exists(path):
        raise ValueError(f"no shipped TFLite model {path}; make it with `make tflite`")
    return path


def measure_latency(path, height=128, width=128, runs=5, num_threads=2):
    """Median seconds per inference of a ``.tflite`` at ``height x width`` (after one warm-up)."""
    import time

    from maffsrn_tf.inference import TFLiteBackend

    backend = TFLiteBackend(path, num_threads)
    if backend.fixed_size:
        height, width = backend.fixed_size
    x = np.random.default_rng(0).random((1, height, width, 3), np.float32)
    backend(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend(x)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), (height, width)


def verify(model, tflite_path, datasets, scale, max_drop=0.5):
    """Run a ``.tflite`` on benchmark images next to the Keras float model.

    Returns ``{dataset: {"psnr", "ssim", "keras_psnr", "keras_ssim", "drop",
    "max_abs_diff"}}``; raises ``ValueError`` when the file uses non-builtin ops, gives
    wrong shapes, or loses more than ``max_drop`` dB PSNR on any dataset.
    """
    from maffsrn_tf import metrics
    from maffsrn_tf.data import load_benchmark
    from maffsrn_tf.evaluation import model_predict
    from maffsrn_tf.inference import KerasBackend, TFLiteBackend

    with open(tflite_path, "rb") as f:
        ops = op_names(f.read())
    flex = [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    if flex:
        raise ValueError(f"{tflite_path} needs non-builtin ops: {flex}")
    lite, keras_backend = TFLiteBackend(tflite_path), KerasBackend(model)
    report = {}
    for folder in datasets:
        name = os.path.basename(os.path.normpath(folder))
        rows = []
        for _, hr, lr in load_benchmark(folder, scale):
            sr_lite = model_predict(lite, lr)
            sr_keras = model_predict(keras_backend, lr)
            if sr_lite.shape != hr.shape[: sr_lite.ndim]:
                raise ValueError(f"{tflite_path}: output {sr_lite.shape} for HR {hr.shape}")
            rows.append(
                (
                    metrics.psnr(hr, sr_lite, scale),
                    metrics.ssim(hr, sr_lite, scale),
                    metrics.psnr(hr, sr_keras, scale),
                    metrics.ssim(hr, sr_keras, scale),
                    float(np.abs(sr_lite.astype(int) - sr_keras.astype(int)).max()),
                )
            )
        r = np.array(rows)
        entry = {
            "psnr": float(r[:, 0].mean()),
            "ssim": float(r[:, 1].mean()),
            "keras_psnr": float(r[:, 2].mean()),
            "keras_ssim": float(r[:, 3].mean()),
            "max_abs_diff_uint8": float(r[:, 4].max()),
            "images": len(rows),
        }
        entry["drop"] = entry["keras_psnr"] - entry["psnr"]
        if entry["drop"] > max_drop:
            raise ValueError(
                f"{tflite_path} loses {entry['drop']:.3f} dB on {name} "
                f"(limit {max_drop}); not written"
            )
        report[name] = entry
    return report


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
):
    """Convert, verify against the Keras model, then write ``path`` atomically.

    Returns the report entry (accuracy per dataset, file size, latency, ops).
    """
    import shutil
    import tempfile

    from maffsrn_tf.utils import atomic_output

    data = convert(
        model, quantization, input_shape, representative_data, uint8_io, calibration_percentile
    )
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = os.path.join(tmp_dir, os.path.basename(path))
        with open(tmp, "wb") as f:
            f.write(data)
        accuracy = verify(model, tmp, datasets, int(model.scale), max_drop) if datasets else {}
        latency, size = measure_latency(tmp)
        with atomic_output(path) as out:
            shutil.copyfile(tmp, out)
    return {
        "file": os.path.basename(path),
        "quantization": quantization,
        "input_shape": list(input_shape) if input_shape else None,
        "calibration_percentile": calibration_percentile if quantization == "int8" else None,
        "bytes": len(data),
        "ops": op_names(data),
        "accuracy": accuracy,
        "latency_s": latency,
        "latency_input": list(size),
        "io": io_contract(data),
    }


def io_contract(tflite_bytes):
    """Names, dtypes, shape signatures and quantization of the model's I/O tensors.

    For float-I/O quantized models also the int8/int16 tensors right after the input's
    QUANTIZE and right before the output's DEQUANTIZE (the integer core's I/O).
    """
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_bytes)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}

    def describe(t):
        scale, zero = t["quantization"]
        d = {
            "name": t["name"],
            "dtype": np.dtype(t["dtype"]).name,
            "shape_signature": [int(v) for v in t.get("shape_signature", t["shape"])],
        }
        if scale:
            d["quantization"] = {"scale": float(scale), "zero_point": int(zero)}
        return d

    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    result = {"input": describe(inp), "output": describe(out)}
    result["signatures"] = interp.get_signature_list()
    for op in interp._get_ops_details():
        if op["op_name"] == "QUANTIZE" and inp["index"] in op["inputs"]:
            result["core_input"] = describe(tensors[op["outputs"][0]])
        if op["op_name"] == "DEQUANTIZE" and out["index"] in op["outputs"]:
            result["core_output"] = describe(tensors[op["inputs"][0]])
    return result
