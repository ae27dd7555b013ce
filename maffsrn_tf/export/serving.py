"""Serving formats: a SavedModel for TF Serving and an ONNX model, each checked against the
Keras model before it is written.

The SavedModel needs TensorFlow only (not this package) to load. Its two signatures:

- ``serving_default``: ``image_bytes`` (a batch of PNG/JPEG/BMP/GIF/WebP files, what TF
  Serving's REST API carries as base64) to ``png_bytes`` (the upscaled images as PNG; the
  ``_bytes`` suffix makes TF Serving's REST API answer in base64). Grayscale files come back
  grayscale (the rounded mean of the three upscaled channels, as ``maffsrn-upscale``
  writes them), colour ones RGB; alpha is dropped and 16-bit files are read as 8-bit.
- ``upscale_uint8``: uint8 pixels ``lr`` ``[N, H, W, 3]`` to uint8 ``sr`` ``[N, sH, sW, 3]``,
  rounded and clamped exactly as ``maffsrn-upscale`` does.

Both run the folded inference graph of the TFLite export (``export.folding``) on the whole
image; any size from ``MIN_INPUT_SIZE`` pixels up (smaller: an ``InvalidArgumentError``
naming the minimum).

The ONNX model (``tf2onnx``, opset 17) is the same folded graph: input ``lr`` float32 RGB in
[0, 1], NHWC ``[N, H, W, 3]`` with dynamic N, H and W; output ``sr`` ``[N, sH, sW, 3]``
clamped to [0, 1].
"""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from maffsrn_tf.export.folding import fold_model
from maffsrn_tf.io.atomic import atomic_folder, atomic_output
from maffsrn_tf.model.presets import MIN_INPUT_SIZE, checked_input_size

ONNX_OPSET = 17
# what "equal" means: the SavedModel's uint8 output against maffsrn-upscale's (Keras, whole
# image): one grey level (float summation order differs); ONNX's float output against Keras'
SAVED_MODEL_MAX_DIFF = 1
ONNX_MAX_DIFF = 1e-4


class ServingModule(tf.Module):
    """The folded MAFFSRN with the two serving signatures (see the module docstring)."""

    def __init__(self, model):
        super().__init__(name="maffsrn_serving")
        self.scale = int(model.scale)
        self._forward = fold_model(model, clamp=True)

    def _pixels(self, lr):
        lr = checked_input_size(
            lr, f"MAFFSRN needs images of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} pixels"
        )
        y = self._forward(tf.cast(lr, tf.float32) / 255.0)
        return tf.cast(tf.clip_by_value(tf.round(y * 255.0), 0.0, 255.0), tf.uint8)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="lr")])
    def upscale_uint8(self, lr):
        return {"sr": self._pixels(lr)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def upscale_images(self, image_bytes):
        def one(data):
            image = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
            channels = tf.shape(image)[-1]
            gray = channels < 3
            rgb = tf.cond(gray, lambda: tf.repeat(image[..., :1], 3, -1), lambda: image[..., :3])
            sr = self._pixels(rgb[None])[0]

            def mean():  # sum/3 is never halfway: (sum + 1) // 3 is the rounded mean
                total = tf.reduce_sum(tf.cast(sr, tf.int32), -1, keepdims=True)
                return tf.io.encode_png(tf.cast((total + 1) // 3, tf.uint8))

            return tf.cond(gray, mean, lambda: tf.io.encode_png(sr))

        return {"png_bytes": tf.map_fn(one, image_bytes, fn_output_signature=tf.string)}


def _lr_images(datasets, scale):
    """``(dataset name, [uint8 RGB LR images])`` of HR benchmark folders (MATLAB bicubic)."""
    from maffsrn_tf.data.sources import load_benchmark

    for folder in datasets:
        lrs = []
        for _, _, lr in load_benchmark(folder, scale):
            lrs.append(np.repeat(lr[..., None], 3, -1) if lr.ndim == 2 else lr)
        yield os.path.basename(os.path.normpath(folder)), lrs


def _check_limit(path, dataset, worst, limit, shown):
    if worst > limit:
        raise ValueError(
            f"{path}: {shown} from the Keras model on {dataset} (limit {limit:g}); not written"
        )


def verify_saved_model(model, path, datasets):
    """Load the SavedModel at ``path`` and compare both signatures with ``maffsrn-upscale``'s
    Keras result on whole images; ``{dataset: {"images", "max_abs_diff_uint8"}}``.

    ``ValueError`` when they differ by more than ``SAVED_MODEL_MAX_DIFF`` grey levels, or the
    bytes signature disagrees with the pixel one."""
    from maffsrn_tf.upscaler.engines import KerasEngine
    from maffsrn_tf.upscaler.tiling import predict_uint8

    loaded = tf.saved_model.load(path)
    pixels, files = loaded.signatures["upscale_uint8"], loaded.signatures["serving_default"]
    keras_engine, report = KerasEngine(model), {}
    for name, lrs in _lr_images(datasets, int(model.scale)):
        worst = 0
        for lr in lrs:
            sr = pixels(lr=tf.constant(lr[None]))["sr"].numpy()[0]
            expected = predict_uint8(keras_engine, lr)
            worst = max(worst, int(np.abs(sr.astype(int) - expected.astype(int)).max()))
            png = files(image_bytes=tf.constant([tf.io.encode_png(lr).numpy()]))["png_bytes"]
            decoded = tf.io.decode_png(png[0]).numpy()
            if decoded.shape != sr.shape or not np.array_equal(decoded, sr):
                raise ValueError(f"{path}: serving_default and upscale_uint8 disagree on {name}")
        _check_limit(path, name, worst, SAVED_MODEL_MAX_DIFF, f"{worst} grey levels")
        report[name] = {"images": len(lrs), "max_abs_diff_uint8": worst}
    return report


def export_saved_model(model, path, datasets):
    """Write the serving SavedModel to the folder ``path`` once it is verified on
    ``datasets`` (HR benchmark folders; none: unverified). Returns the verification report."""
    with atomic_folder(path) as tmp:
        module = ServingModule(model)
        signatures = {
            "serving_default": module.upscale_images.get_concrete_function(),
            "upscale_uint8": module.upscale_uint8.get_concrete_function(),
        }
        tf.saved_model.save(module, tmp, signatures=signatures)
        report = verify_saved_model(model, tmp, datasets) if datasets else {}
    return report


def _explicit_dilated_padding(onnx_model):
    """Dilated ``SAME`` convolutions with explicit pads: onnxruntime refuses ``auto_pad``
    ``SAME_UPPER`` with dilations. Stride 1, so the pads are ``d * (k - 1)`` split evenly."""
    from onnx import helper

    for node in onnx_model.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        dilations = list(attrs.get("dilations", [1, 1]))
        pad_mode = attrs.get("auto_pad", b"NOTSET")
        if max(dilations) == 1 or pad_mode not in (b"SAME_UPPER", b"SAME_LOWER"):
            continue
        if list(attrs.get("strides", [1, 1])) != [1, 1]:
            raise ValueError(f"{node.name}: a strided dilated convolution cannot be padded")
        kernel = list(attrs["kernel_shape"])
        total = [d * (k - 1) for d, k in zip(dilations, kernel)]
        begin = [t // 2 if pad_mode == b"SAME_UPPER" else t - t // 2 for t in total]
        pads = begin + [t - b for t, b in zip(total, begin)]
        keep = [a for a in node.attribute if a.name != "auto_pad"]
        del node.attribute[:]
        node.attribute.extend(keep + [helper.make_attribute("pads", pads)])
    return onnx_model


def convert_onnx(model, opset=ONNX_OPSET):
    """The folded MAFFSRN as an ONNX ``ModelProto`` (see the module docstring)."""
    import tf2onnx

    forward = fold_model(model, clamp=True)
    fn = tf.function(lambda lr: {"sr": forward(lr)})
    spec = (tf.TensorSpec([None, None, None, 3], tf.float32, name="lr"),)
    onnx_model, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=opset)
    return _explicit_dilated_padding(onnx_model)


def verify_onnx(model, path, datasets):
    """Run ``path`` in onnxruntime (CPU) on the datasets' LR images at their own sizes next to
    the Keras model (clamped to [0, 1]); ``{dataset: {"images", "max_abs_diff"}}``.
    ``ValueError`` above ``ONNX_MAX_DIFF``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    report = {}
    for name, lrs in _lr_images(datasets, int(model.scale)):
        worst = 0.0
        for lr in lrs:
            x = lr[None].astype(np.float32) / 255.0
            sr = session.run(["sr"], {"lr": x})[0]
            expected = np.clip(np.asarray(model(x, training=False)), 0.0, 1.0)
            worst = max(worst, float(np.abs(sr - expected).max()))
        _check_limit(path, name, worst, ONNX_MAX_DIFF, f"max |diff| {worst:.2e}")
        report[name] = {"images": len(lrs), "max_abs_diff": worst}
    return report


def export_onnx(model, path, datasets, opset=ONNX_OPSET):
    """Write the ONNX model to ``path`` once it is verified on ``datasets``; the report."""
    onnx_model = convert_onnx(model, opset)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = os.path.join(tmp_dir, os.path.basename(path))
        with open(tmp, "wb") as f:
            f.write(onnx_model.SerializeToString())
        report = verify_onnx(model, tmp, datasets) if datasets else {}
        with atomic_output(path) as out:
            shutil.copyfile(tmp, out)
    return report
