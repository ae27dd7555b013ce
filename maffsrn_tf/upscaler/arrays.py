"""``upscale()``: super-resolve an image of any size, kind and bit depth with MAFFSRN.

Colour goes through the model; grayscale is run as RGB and averaged back; alpha is upscaled
separately by bicubic interpolation; images below the model's minimum size are padded
(edge-replicated) and the padding is cropped from the result. The colour under fully
transparent pixels is first replaced by the alpha-weighted colour nearby
(``_fill_transparent``), so it cannot bleed into the visible edge. ``composite()`` flattens an
image with alpha onto a solid background (for formats without alpha).
"""

import contextlib
import dataclasses
import os

import numpy as np
from PIL import Image

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.io.images import DEFAULT_MAX_PIXELS, image_array, image_metadata, to_uint8
from maffsrn_tf.model.presets import MIN_INPUT_SIZE
from maffsrn_tf.model.shipped import DEFAULT_VARIANT
from maffsrn_tf.upscaler.engines import make_engine
from maffsrn_tf.upscaler.options import UpscaleOptions
from maffsrn_tf.upscaler.sizing import resize
from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP, tiled_predict

__all__ = ["composite", "upscale", "upscale_with"]


def _resize_channel(channel, scale):
    """Bicubic resize of one 8- or 16-bit channel (used for alpha)."""
    h, w = channel.shape
    im = Image.fromarray(channel.astype(np.float32), mode="F")
    out = np.asarray(im.resize((w * scale, h * scale), Image.BICUBIC))
    top = 65535 if channel.dtype == np.uint16 else 255
    return np.clip(np.round(out), 0, top).astype(channel.dtype)


def upscale(
    image,
    scale=None,
    model=None,
    tile=None,
    overlap=DEFAULT_OVERLAP,
    self_ensemble=False,
    backend="auto",
    progress=None,
    quantization=DEFAULT_VARIANT,
    max_pixels=DEFAULT_MAX_PIXELS,
    outscale=None,
    width=None,
    height=None,
    num_threads=None,
):
    """Upscale a NumPy uint8/uint16 array (HxW, HxWx1, HxWx3, HxWx4) or a PIL image.

    Returns the same kind: an array of the same dtype and channels, or a PIL image.
    The size: ``scale`` (2, 3 or 4; default 2), or ``outscale`` (any factor from 1 to 16:
    ``round(outscale x side)``), or ``width``/``height`` (fits, aspect kept): one of them.
    ``model``: None (shipped weights), a Keras model, or a ``.weights.h5``/``.keras``/
    ``.tflite`` path. ``backend``: ``auto`` (TFLite for shipped weights and ``.tflite``
    files, Keras for Keras models and weights), ``keras`` or ``tflite``; ``quantization``:
    the shipped TFLite file, ``float16`` or ``int8``. ``tile``: largest LR tile (default
    ``DEFAULT_TILE``, or a fixed-shape model's tile); ``0`` runs the whole image at once.
    ``progress``: True for a progress bar (tqdm, on stderr), or ``progress(done, total)``
    called after each tile; by default nothing is printed. ``max_pixels``: larger images are
    refused (as ``maffsrn-upscale`` refuses such files). ``num_threads``: CPU threads of a
    TFLite model (default: the CPUs this process may use).
    """
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise MaffsrnError(
            f"progress={progress!r} is not a function of (done, total), True or False"
        )
    array, restore = _as_array(image)  # a bad image is refused before a model is loaded
    options = UpscaleOptions.from_keywords(
        scale=scale,
        outscale=outscale,
        width=width,
        height=height,
        backend=backend,
        quantization=quantization,
        model=model,
        tile=tile,
        overlap=overlap,
        self_ensemble=self_ensemble,
        max_pixels=max_pixels,
        num_threads=num_threads,
    )
    _check_size(array, options)  # before the model is loaded
    model_scale = options.plan(*array.shape[:2])[0]
    engine = make_engine(options, scale=model_scale)
    with _bar(progress) as show:
        return restore(_sized(engine, array, options, show))


@contextlib.contextmanager
def _bar(progress):
    """``progress(done, total)`` for ``progress``: itself, nothing, or (True) a tqdm bar."""
    if progress is not True:
        yield progress or None
        return
    from tqdm import tqdm

    bars = []

    def show(done, total):
        if not bars:  # made at the first tile, when the number of tiles is known
            bars.append(tqdm(total=total, unit="tile", desc="upscaling", leave=False))
        bars[0].update(done - bars[0].n)

    try:
        yield show
    finally:
        for bar in bars:
            bar.close()


def _sized(engine, array, options, progress):
    """The model's result at the size ``options`` ask for (``UpscaleOptions.plan``): run at
    the engine's scale, then resized (``sizing.resize``) where that differs."""
    _, out_h, out_w = options.plan(*array.shape[:2])
    if options.sized:  # the engine's own scale, for the code below
        options = dataclasses.replace(
            options, scale=engine.scale, outscale=None, width=None, height=None
        )
    return resize(_upscale_array(engine, array, options, progress), out_h, out_w)


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
    return restore(_sized(engine, array, options, progress))


def _as_array(image):
    """``(array, restore)``: the image as a checked uint8/uint16 array, and the function that
    turns a result back into the caller's kind (a PIL image keeps its metadata in ``info``:
    ICC profile, EXIF and XMP with the orientation reset to 1, DPI; ``result.getexif()``
    reads it, and ``save(..., exif=result.info["exif"])`` writes it).

    A PIL image of any mode is read as ``maffsrn-upscale`` reads the same pixels from a file
    (``io.images.image_array``: its plain equivalent, or an error); a PIL result is of the
    plain mode (16-bit grey as ``I;16``; 16-bit grey+alpha, which PIL cannot hold, as 8-bit).
    """
    as_pil = isinstance(image, Image.Image)
    icc, kept = None, {}
    if as_pil:
        try:
            array, icc = image_array(image)
            kept = {k: v for k, v in image_metadata(image).items() if v is not None}
        except MaffsrnError:
            raise
        except (ValueError, OSError) as err:  # a closed image, a file gone since it was opened
            raise MaffsrnError(f"image: cannot read this PIL image ({err})") from None
    elif isinstance(image, (bytes, bytearray, memoryview)):  # a file's bytes, or its name
        raise MaffsrnError(
            f"image: upscale() takes a numpy array or a PIL image, not {type(image).__name__} "
            "(an encoded image: PIL.Image.open(io.BytesIO(data)); a path: upscale_path())"
        )
    elif isinstance(image, (str, os.PathLike)):  # a file's name: not its pixels
        shown = repr(image) if len(repr(image)) <= 200 else repr(image)[:200] + "..."
        raise MaffsrnError(
            f"image: upscale() takes a numpy array or a PIL image, not a path ({shown}); "
            "upscale_path() reads and writes files"
        )
    elif not isinstance(image, np.ndarray) and not hasattr(image, "__array__"):
        raise MaffsrnError(
            f"image: upscale() takes a numpy array or a PIL image, not {type(image).__name__}"
        )
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
        raise MaffsrnError(
            f"image: expected HxW, HxWx1, HxWx2 (grey and alpha), HxWx3 or HxWx4, got shape "
            f"{array.shape}"
        )
    if array.size == 0:
        raise MaffsrnError(f"image: it is empty (shape {array.shape}): nothing to upscale")

    def restore(out):
        if squeeze:
            out = out[..., None]
        if as_pil:
            result = Image.fromarray(to_uint8(out) if out.ndim == 3 else out)
            result.info.update(kept)
            if icc:
                result.info["icc_profile"] = icc
            return result
        return out

    return array, restore


def _upscale_array(engine, array, options, progress):
    """The upscaled array: colour through the model, grayscale as RGB averaged back, alpha
    by bicubic interpolation, images below the model's minimum padded and cropped back.

    Transparency: the colour of each fully transparent pixel (alpha 0) is replaced by the
    alpha-weighted colour of the pixels nearby (``_fill_transparent``) before the model runs;
    every other pixel goes in as stored (straight, not premultiplied, colour). Without it the
    colour hidden under transparent pixels (often black) bleeds into the visible edge: an
    opaque white disc on transparent black came out with edge pixels as dark as 130 where
    the upscaled alpha is over 0.5; with it they are 255. An image without alpha-0 pixels
    (opaque ones included) is upscaled exactly as before. Transparent output pixels keep
    the filled colour (the visible colour continued outwards), not 0, so a program that
    later resizes the result without premultiplying shows no dark fringe either.

    Premultiplying the colour instead was measured and not taken: the model draws an edge
    sharper than bicubic alpha, so its premultiplied output divided by the bicubic alpha
    came out too dark in the outer ring (the white disc's edge still went down to 183 where
    alpha > 0.5, and to 0 where it is 0.1-0.5), and dividing by a near-zero alpha amplifies
    noise, which filling avoids by never dividing. On a photo cut out with soft and hard
    edges, the error of the composited colour against the model on the uncut photo went
    from 1.7 to 0.28 levels on average and from 75 to 30 at worst (a 96x96 crop of
    samples/grace_hopper.jpg, the shipped x2 model).
    """
    _check_size(array, options)
    scale = options.scale
    top = 65535.0 if array.dtype == np.uint16 else 255.0
    gray = array.ndim == 2 or array.shape[-1] == 2
    color = array if array.ndim == 2 else array[..., : 1 if gray else 3]
    alpha = array[..., -1] if array.ndim == 3 and array.shape[-1] in (2, 4) else None
    if alpha is not None:
        color = _fill_transparent(color, alpha)
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


# rows of the full-size image handled at once where float temporaries are needed (even)
_ROWS = 256


def _sum2x2(x):
    """Sums over 2x2 blocks (a last odd row or column is its own block), as float32."""
    h, w = x.shape[:2]
    x = np.pad(x, ((0, h % 2), (0, w % 2)) + ((0, 0),) * (x.ndim - 2))
    return np.add.reduce([x[i::2, j::2] for i in (0, 1) for j in (0, 1)], axis=0, dtype=np.float32)


def _push_pull(color, weight):
    """``color`` (float32, HxWxC) where ``weight`` > 0, the rest filled: each empty pixel
    takes the weighted mean colour of the 2x2 block above it in a pyramid of weighted means,
    of the 4x4 block where that block is empty too, and so on (push-pull)."""
    empty = weight == 0
    if not empty.any():
        return color
    w2 = _sum2x2(weight)
    c2 = _sum2x2(color * weight[..., None])
    c2 /= np.where(w2 > 0, w2, 1)[..., None]
    up = _double(_push_pull(c2, w2), *weight.shape)
    return np.where(empty[..., None], up, color)


def _double(x, h, w):
    """Each pixel of ``x`` as a 2x2 block, cropped to ``h`` x ``w``."""
    return np.repeat(np.repeat(x, 2, 0), 2, 1)[:h, :w]


def _fill_transparent(color, alpha):
    """``color`` (HxW, HxWxC; uint8/uint16) with the colour of each pixel whose ``alpha`` is 0
    replaced by the alpha-weighted (premultiplied) mean colour around it: push-pull over 2x2
    blocks, so the nearest visible pixels decide and a more opaque pixel counts for more.
    Pixels with alpha > 0 keep their colour; an image with no alpha-0 pixel, or with nothing
    but alpha-0 pixels (nothing visible to fill from), is returned as it is. Memory beyond a
    copy of ``color``: quarter-size float32 pyramids and ``_ROWS`` rows of float32 at a time.
    """
    if alpha.all() or not alpha.any():
        return color
    shape = color.shape
    color = color.reshape(*shape[:2], -1)
    h, w = alpha.shape
    # the first pyramid level, from the integers a strip of rows at a time
    weight = np.empty((-(-h // 2), -(-w // 2)), np.float32)
    mean = np.empty((*weight.shape, color.shape[-1]), np.float32)
    for y in range(0, h, _ROWS):
        a = alpha[y : y + _ROWS].astype(np.float32)
        rows = slice(y // 2, (y + _ROWS + 1) // 2)
        weight[rows] = _sum2x2(a)
        mean[rows] = _sum2x2(color[y : y + _ROWS] * a[..., None])
    mean /= np.where(weight > 0, weight, 1)[..., None]
    mean = _push_pull(mean, weight)
    filled = color.copy()
    for y in range(0, h, _ROWS):
        up = _double(mean[y // 2 : (y + _ROWS) // 2], min(_ROWS, h - y), w)
        empty = alpha[y : y + _ROWS] == 0
        filled[y : y + _ROWS][empty] = np.round(up[empty]).astype(color.dtype)
    return filled.reshape(shape)


def composite(array, background=(255, 255, 255)):
    """``array`` (uint8/uint16 HxWx4 RGBA or HxWx2 grey+alpha, straight alpha) over a solid
    ``background``, an ``(r, g, b)`` tuple of 0..255: HxWx3 RGB, or HxW grey for grey+alpha,
    of the same dtype, each value ``colour * a + background * (1 - a)`` rounded to the nearest
    integer (exactly, in integers; never a tie). 16-bit images take the background times 257.
    Grey+alpha is composited over the background's luma, ``(299 r + 587 g + 114 b) / 1000``
    as Pillow converts RGB to L, rounded to a level of the image (white, black and greys are
    themselves), so the result stays grey (HxW). An array without alpha (HxW, HxWx3) is
    returned as it is.
    """
    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise MaffsrnError(f"composite: expected a uint8 or uint16 image, got {array.dtype}")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3):
        return array
    if array.ndim != 3 or array.shape[-1] not in (2, 4):
        raise MaffsrnError(f"composite: expected HxWx2 or HxWx4, got shape {array.shape}")
    try:
        rgb = tuple(int(v) for v in background)
        ok = len(rgb) == 3 and all(0 <= v <= 255 for v in rgb) and rgb == tuple(background)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise MaffsrnError(
            f"composite: background={background!r} is not an (r, g, b) tuple of 0..255"
        )
    top = 65535 if array.dtype == np.uint16 else 255
    if array.shape[-1] == 2:
        bg = np.array([(299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2]) / 1000.0])
        bg = np.round(bg * (top / 255.0)).astype(np.uint64)
    else:
        bg = np.array(rgb, np.uint64) * (top // 255)
    out = np.empty(array.shape[:-1] + (len(bg),), array.dtype)
    for y in range(0, array.shape[0], _ROWS):
        rows = array[y : y + _ROWS].astype(np.uint64)
        a = rows[..., -1:]
        total = rows[..., :-1] * a + bg * (top - a)  # < 2**32: no overflow in uint64
        out[y : y + _ROWS] = (2 * total + top) // (2 * top)
    return out[..., 0] if array.shape[-1] == 2 else out
