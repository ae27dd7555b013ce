"""``upscale()``: super-resolve an image of any size, kind and bit depth with MAFFSRN.

Colour goes through the model; grayscale is run as RGB and averaged back; alpha is upscaled
separately by bicubic interpolation; images below the model's minimum size are padded
(edge-replicated) and the padding is cropped from the result.
"""

import numpy as np
from PIL import Image

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.io.images import DEFAULT_MAX_PIXELS, image_array, to_uint8
from maffsrn_tf.model.presets import MIN_INPUT_SIZE
from maffsrn_tf.model.shipped import DEFAULT_VARIANT
from maffsrn_tf.upscaler.engines import make_engine
from maffsrn_tf.upscaler.options import UpscaleOptions
from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP, tiled_predict

__all__ = ["upscale", "upscale_with"]


def _resize_channel(channel, scale):
    """Bicubic resize of one 8- or 16-bit channel (used for alpha)."""
    h, w = channel.shape
    im = Image.fromarray(channel.astype(np.float32), mode="F")
    out = np.asarray(im.resize((w * scale, h * scale), Image.BICUBIC))
    top = 65535 if channel.dtype == np.uint16 else 255
    return np.clip(np.round(out), 0, top).astype(channel.dtype)


def upscale(
    image,
    scale=2,
    model=None,
    tile=None,
    overlap=DEFAULT_OVERLAP,
    self_ensemble=False,
    backend="auto",
    progress=None,
    quantization=DEFAULT_VARIANT,
    max_pixels=DEFAULT_MAX_PIXELS,
):
    """Upscale a NumPy uint8/uint16 array (HxW, HxWx1, HxWx3, HxWx4) or a PIL image.

    Returns the same kind: an array of the same dtype and channels, or a PIL image.
    ``model``: None (shipped weights), a Keras model, or a ``.weights.h5``/``.keras``/
    ``.tflite`` path. ``backend``: ``auto`` (TFLite for shipped weights and ``.tflite``
    files, Keras for Keras models and weights), ``keras`` or ``tflite``; ``quantization``:
    the shipped TFLite file, ``float16`` or ``int8``. ``tile``: largest LR tile (default
    ``DEFAULT_TILE``, or a fixed-shape model's tile); ``0`` runs the whole image at once.
    ``progress(done, total)`` is called after each tile. ``max_pixels``: larger images are
    refused (as ``maffsrn-upscale`` refuses such files).
    """
    if progress is not None and not callable(progress):
        raise MaffsrnError(f"progress={progress!r} is not a function of (done, total)")
    array, restore = _as_array(image)  # a bad image is refused before a model is loaded
    options = UpscaleOptions(
        scale=scale,
        runtime=backend,
        variant=quantization,
        model=model,
        tile=tile,
        overlap=overlap,
        self_ensemble=self_ensemble,
        max_pixels=max_pixels,
    )
    _check_size(array, options)  # before the model is loaded
    return restore(_upscale_array(make_engine(options), array, options, progress))


def _check_size(array, options):
    h, w = array.shape[:2]
    if h * w > options.max_pixels:
        raise MaffsrnError(
            f"image: {w}x{h} = {w * h:,} pixels is over the limit of {options.max_pixels:,} "
            "(max_pixels)"
        )


def upscale_with(engine, image, options, progress=None):
    """``upscale`` with an engine already made (``make_engine(options)``): what a folder run
    or a Beam worker calls for each image, the model loaded once."""
    array, restore = _as_array(image)
    return restore(_upscale_array(engine, array, options, progress))


def _as_array(image):
    """``(array, restore)``: the image as a checked uint8/uint16 array, and the function that
    turns a result back into the caller's kind (a PIL image keeps its ICC profile).

    A PIL image of any mode is read as ``maffsrn-upscale`` reads the same pixels from a file
    (``io.images.image_array``: its plain equivalent, or an error); a PIL result is of the
    plain mode (16-bit grey as ``I;16``; 16-bit grey+alpha, which PIL cannot hold, as 8-bit).
    """
    as_pil = isinstance(image, Image.Image)
    icc = None
    if as_pil:
        array, icc = image_array(image)
    else:
        array = np.asarray(image)
        if array.dtype.kind == "u" and array.dtype.itemsize == 2:  # big-endian 16-bit too
            array = array.astype(np.uint16, copy=False)
    if array.dtype not in (np.uint8, np.uint16):
        raise MaffsrnError(f"image: expected a uint8 or uint16 image, got {array.dtype}")
    squeeze = array.ndim == 3 and array.shape[-1] == 1
    if squeeze:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (2, 3, 4)):
        raise MaffsrnError(f"image: expected HxW, HxWx3 or HxWx4, got shape {array.shape}")
    if array.size == 0:
        raise MaffsrnError(f"image: it is empty (shape {array.shape}): nothing to upscale")

    def restore(out):
        if squeeze:
            out = out[..., None]
        if as_pil:
            result = Image.fromarray(to_uint8(out) if out.ndim == 3 else out)
            if icc:
                result.info["icc_profile"] = icc
            return result
        return out

    return array, restore


def _upscale_array(engine, array, options, progress):
    """The upscaled array: colour through the model, grayscale as RGB averaged back, alpha
    by bicubic interpolation, images below the model's minimum padded and cropped back."""
    _check_size(array, options)
    scale = options.scale
    top = 65535.0 if array.dtype == np.uint16 else 255.0
    gray = array.ndim == 2 or array.shape[-1] == 2
    color = array if array.ndim == 2 else array[..., : 1 if gray else 3]
    alpha = array[..., -1] if array.ndim == 3 and array.shape[-1] in (2, 4) else None
    rgb = np.repeat(color.reshape(*color.shape[:2], 1), 3, -1) if gray else color
    h, w = rgb.shape[:2]
    pad_h, pad_w = max(0, MIN_INPUT_SIZE - h), max(0, MIN_INPUT_SIZE - w)
    if pad_h or pad_w:
        rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    out = tiled_predict(
        engine,
        rgb,
        scale,
        options.tile,
        options.overlap,
        options.self_ensemble,
        array.dtype,
        top,
        progress,
    )
    out = out[: h * scale, : w * scale]
    if gray:
        # the rounded mean of the three channels, in integers: sum/3 is never halfway
        out = ((out.sum(-1, dtype=np.uint32) + 1) // 3).astype(array.dtype)
    if alpha is not None:
        out = np.dstack([out, _resize_channel(alpha, scale)])
    return out
