"""Serving formats: a SavedModel for TF Serving and an ONNX model, each checked against the
Keras model before it is written; each states its contract (docs/serving.md) and keeps it.

The SavedModel needs TensorFlow only (not this package) to load. Its two signatures:

- ``serving_default``: ``image_bytes`` (a batch of PNG or JPEG files, what TF Serving's
  REST API carries as base64) to ``png_bytes`` (the upscaled images as PNG; the ``_bytes``
  suffix makes TF Serving's REST API answer in base64). Grayscale files come back grayscale
  (the rounded mean of the three upscaled channels, as ``maffsrn-upscale`` writes them),
  colour ones RGB; alpha is dropped and 16-bit files are read as 8-bit. Each file's size is
  read from its header (PNG: IHDR; JPEG: the frame header) and checked against the limit
  *before* it is decoded; anything that is not PNG or JPEG is refused. One image at a time.
- ``upscale_uint8``: uint8 pixels ``lr`` ``[N, H, W, 3]`` to uint8 ``sr`` ``[N, sH, sW, 3]``,
  rounded and clamped exactly as ``maffsrn-upscale`` does; ``N * H * W`` within the limit.

Both run the folded inference graph of the TFLite export (``export.folding``) on the whole
image, whose memory grows with it (measured: 0.8 GB loaded, plus about 1.3 GB per
megapixel of input): hence the limit on input pixels, set at export (``max_input_pixels``).
Every refusal is an ``InvalidArgumentError`` saying what is wrong, raised before the network
runs: not PNG/JPEG, over the limit, not 3 channels, a batch of none, under
``MIN_INPUT_SIZE`` pixels a side.

The ONNX model (``tf2onnx``, opset 17) is the same folded graph behind the guards ONNX can
express (it has no assert): input ``lr`` float32 RGB, NHWC ``[N, H, W, 3]`` with dynamic N,
H and W, NaN read as 0 and everything clipped to [0, 1]; images under ``MIN_INPUT_SIZE`` are
edge-padded to it and the result cropped back (as ``maffsrn-upscale`` does); output ``sr``
``[N, sH, sW, 3]`` clamped to [0, 1]. It has no pixel limit: a server must bound requests.
"""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.export.folding import fold_model
from maffsrn_tf.export.recipe import (
    DEFAULT_SERVING_MAX_PIXELS,
    MAX_SERVING_PIXELS,
    dataset_name,
)
from maffsrn_tf.io.atomic import OutputExists, atomic_folder, atomic_output
from maffsrn_tf.model.presets import MIN_INPUT_SIZE, checked_input_size

ONNX_OPSET = 17
# what "equal" means: the SavedModel's uint8 output against maffsrn-upscale's (Keras, whole
# image): one grey level (float summation order differs); ONNX's float output against Keras'
SAVED_MODEL_MAX_DIFF = 1
ONNX_MAX_DIFF = 1e-4


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8\xff"  # SOI, then a marker
# the smallest image the model takes: no lower pixel limit makes sense
MIN_INPUT_PIXELS = MIN_INPUT_SIZE * MIN_INPUT_SIZE


def checked_pixel_limit(max_input_pixels):
    """``max_input_pixels`` as an int; ``MaffsrnError`` (a ``ValueError``) unless it is an
    integer from one ``MIN_INPUT_SIZE`` square image to ``MAX_SERVING_PIXELS``."""
    if isinstance(max_input_pixels, bool) or not isinstance(max_input_pixels, (int, np.integer)):
        raise MaffsrnError(f"max_input_pixels={max_input_pixels!r} must be an integer")
    if max_input_pixels > MAX_SERVING_PIXELS:
        raise MaffsrnError(f"max_input_pixels={max_input_pixels} is over {MAX_SERVING_PIXELS:,}")
    if max_input_pixels < MIN_INPUT_PIXELS:
        raise MaffsrnError(
            f"max_input_pixels={max_input_pixels} admits no image: the smallest the model "
            f"takes is {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} = {MIN_INPUT_PIXELS} pixels"
        )
    return int(max_input_pixels)


def _grouped(n):
    """The int64 scalar ``n`` >= 0 as a string with thousands separators (16,000,000)."""
    powers = tf.constant([10**k for k in range(18, -1, -3)], tf.int64)
    above = n // powers
    groups = above % 1000
    last = tf.size(powers) - 1
    first = tf.minimum(tf.argmax(tf.cast(above > 0, tf.int32), output_type=tf.int32), last)
    first = tf.where(n > 0, first, last)
    parts = tf.where(
        tf.range(tf.size(powers)) == first,
        tf.strings.as_string(groups),
        tf.strings.as_string(groups, width=3, fill="0"),
    )
    return tf.strings.reduce_join(parts[first:], separator=",")


def _refuse_unless(condition, *message):
    """An assertion whose message is the strings and int tensors of ``message`` joined."""
    words = [m if isinstance(m, str) else tf.strings.as_string(m) for m in message]
    return tf.debugging.Assert(condition, [tf.strings.join(words)])


def _after(checks, x):
    """``x``, available only once ``checks`` ran: what depends on it waits for them."""
    with tf.control_dependencies(checks):
        return tf.identity(x)


def _big_endian(octets):
    value = tf.constant(0, tf.int64)
    for k in range(4):
        value = value * 256 + octets[k]
    return value


class ServingModule(tf.Module):
    """The folded MAFFSRN with the two serving signatures (see the module docstring);
    ``max_input_pixels``: the most input pixels one call (``upscale_uint8``) or one file
    (``serving_default``) may hold."""

    def __init__(self, model, max_input_pixels=DEFAULT_SERVING_MAX_PIXELS):
        super().__init__(name="maffsrn_serving")
        self.scale = int(model.scale)
        self.max_input_pixels = checked_pixel_limit(max_input_pixels)
        self._forward = fold_model(model, clamp=True)

    def _limit_words(self):
        return f"over the limit of this model: {self.max_input_pixels:,} input pixels"

    def _checked(self, lr):
        """``lr`` behind its checks, each a clear ``InvalidArgumentError`` before the network
        runs, each after the one before (one message: the first that applies)."""

        def check(x, condition_and_message):
            with tf.control_dependencies([x]):  # the checks before this one ran
                shape = tf.unstack(tf.shape(x, out_type=tf.int64))
                return _after([_refuse_unless(*condition_and_message(*shape))], x)

        def three_channels(n, h, w, c):
            return tf.equal(c, 3), "expected RGB pixels [N, H, W, 3], got ", c, " channels"

        def some_images(n, h, w, c):
            return n > 0, "a batch of 0 images: send at least one"

        lr = check(check(lr, three_channels), some_images)
        lr = checked_input_size(
            lr, f"MAFFSRN needs images of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} pixels"
        )

        def within_limit(n, h, w, c):
            what = tf.where(
                n > 1,
                tf.strings.join(["a batch of ", tf.strings.as_string(n), " images of "]),
                "image is ",
            )
            pixels = n * h * w  # a tensor in memory: no overflow
            return (
                pixels <= self.max_input_pixels,
                what, w, "x", h, " = ", _grouped(pixels), " pixels, ", self._limit_words(),
                tf.where(n > 1, " per call", ""),
            )  # fmt: skip

        return check(lr, within_limit)

    def _pixels(self, lr):
        y = self._forward(tf.cast(self._checked(lr), tf.float32) / 255.0)
        return tf.cast(tf.clip_by_value(tf.round(y * 255.0), 0.0, 255.0), tf.uint8)

    def _decoded(self, data):
        """One PNG or JPEG file decoded, once its header said it is within the limit."""
        head = tf.strings.substr(tf.strings.join([data, "\0" * 24]), 0, 24)
        head = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)
        png = tf.reduce_all(tf.equal(head[:8], list(PNG_SIGNATURE)))
        png = tf.logical_and(png, tf.reduce_all(tf.equal(head[12:16], list(b"IHDR"))))
        jpeg = tf.reduce_all(tf.equal(head[:3], list(JPEG_START)))

        def jpeg_size():  # the frame header (libjpeg reads the markers, not the pixels)
            return tf.cast(tf.io.extract_jpeg_shape(data)[:2], tf.int64)

        size = tf.cond(
            png,
            lambda: tf.stack([_big_endian(head[20:24]), _big_endian(head[16:20])]),
            lambda: tf.cond(jpeg, jpeg_size, lambda: tf.constant([-1, -1], tf.int64)),
        )
        known = _refuse_unless(
            size[0] >= 0, "image is not a PNG or JPEG file (this model reads PNG and JPEG only)"
        )
        # a PNG header may say up to 2**32 - 1 a side: compare, and show, without overflowing
        h, w = size[0], size[1]
        within = tf.logical_or(h <= 0, w <= self.max_input_pixels // tf.maximum(h, 1))
        pixels = tf.cast(
            tf.minimum(tf.cast(h, tf.float64) * tf.cast(w, tf.float64), 2.0**62), tf.int64
        )
        with tf.control_dependencies([known]):
            too_many = _refuse_unless(
                within,
                "image is ", w, "x", h, " = ", _grouped(pixels), " pixels, ", self._limit_words(),
            )  # fmt: skip
        data = _after([known, too_many], data)
        return tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="lr")])
    def upscale_uint8(self, lr):
        return {"sr": self._pixels(lr)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def upscale_images(self, image_bytes):
        def one(data):
            image = self._decoded(data)
            channels = tf.shape(image)[-1]
            gray = channels < 3  # L, or L + alpha
            rgb = tf.cond(gray, lambda: tf.repeat(image[..., :1], 3, -1), lambda: image[..., :3])
            sr = self._pixels(rgb[None])[0]

            def mean():  # sum/3 is never halfway: (sum + 1) // 3 is the rounded mean
                total = tf.reduce_sum(tf.cast(sr, tf.int32), -1, keepdims=True)
                return tf.io.encode_png(tf.cast((total + 1) // 3, tf.uint8))

            return tf.cond(gray, mean, lambda: tf.io.encode_png(sr))

        # one image at a time: the memory is one image's, whatever the batch
        pngs = tf.map_fn(one, image_bytes, fn_output_signature=tf.string, parallel_iterations=1)
        return {"png_bytes": pngs}


def _lr_images(datasets, scale):
    """``(dataset name, [uint8 RGB LR images])`` of HR benchmark folders (MATLAB bicubic)."""
    from maffsrn_tf.data.sources import load_benchmark

    for folder in datasets:
        lrs = []
        for _, _, lr in load_benchmark(folder, scale):
            lrs.append(np.repeat(lr[..., None], 3, -1) if lr.ndim == 2 else lr)
        yield dataset_name(folder), lrs


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


def export_saved_model(
    model, path, datasets, max_input_pixels=DEFAULT_SERVING_MAX_PIXELS, overwrite=True
):
    """Write the serving SavedModel to the folder ``path`` once it is verified on
    ``datasets`` (HR benchmark folders; none: unverified). Returns the verification report.
    ``max_input_pixels``: the most input pixels one call, or one file, may hold (more: an
    ``InvalidArgumentError`` before anything is decoded or run). ``overwrite=False``: an
    existing ``path`` is left alone (``io.atomic.OutputExists``; nothing written)."""
    module = ServingModule(model, max_input_pixels)  # a bad limit: nothing is written
    with atomic_folder(path) as tmp:
        signatures = {
            "serving_default": module.upscale_images.get_concrete_function(),
            "upscale_uint8": module.upscale_uint8.get_concrete_function(),
        }
        tf.saved_model.save(module, tmp, signatures=signatures)
        report = verify_saved_model(model, tmp, datasets) if datasets else {}
        if not overwrite and os.path.lexists(path):  # made since the caller checked
            raise OutputExists(f"output exists: {path}")
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


def guarded_float(forward, scale):
    """``forward`` (float RGB in [0, 1]) for any float input, with what ONNX can express in
    place of asserts: NaN read as 0 and every pixel clipped to [0, 1] (+inf: 1, -inf: 0);
    an image under ``MIN_INPUT_SIZE`` a side edge-padded to it (right and bottom, as
    ``maffsrn-upscale`` pads) and the result cropped back. (``forward`` clamps its output.)"""

    def guarded(lr):
        x = tf.clip_by_value(tf.where(tf.math.is_nan(lr), tf.zeros_like(lr), lr), 0.0, 1.0)
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        for axis, size in ((1, h), (2, w)):  # edge padding: the last row/column repeated
            x = tf.gather(
                x, tf.minimum(tf.range(tf.maximum(size, MIN_INPUT_SIZE)), size - 1), axis=axis
            )
        y = forward(x)  # fold_model(clamp=True): in [0, 1]
        return y[:, : scale * h, : scale * w, :]

    return guarded


def convert_onnx(model, opset=ONNX_OPSET):
    """The folded MAFFSRN as an ONNX ``ModelProto`` (see the module docstring)."""
    import tf2onnx

    forward = guarded_float(fold_model(model, clamp=True), int(model.scale))
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


def export_onnx(model, path, datasets, opset=ONNX_OPSET, overwrite=True):
    """Write the ONNX model to ``path`` once it is verified on ``datasets``; the report.
    ``overwrite=False``: only if ``path`` does not exist then (``io.atomic.OutputExists``)."""
    onnx_model = convert_onnx(model, opset)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = os.path.join(tmp_dir, os.path.basename(path))
        with open(tmp, "wb") as f:
            f.write(onnx_model.SerializeToString())
        report = verify_onnx(model, tmp, datasets) if datasets else {}
        with atomic_output(path, overwrite) as out:
            shutil.copyfile(tmp, out)
    return report
