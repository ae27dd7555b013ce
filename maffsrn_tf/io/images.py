"""Reading and writing images as people have them, with clear errors and atomic writes.

The one image reader of the package: training data, evaluation, calibration and the
upscaler all read through ``read_image`` (or ``read_rgb`` on top of it), so EXIF
orientation, palettes, 16-bit and CMYK files are handled the same way everywhere.

Handles every mode Pillow opens (``image_array``, which ``upscale()`` shares for PIL images):
RGB, grayscale, RGBA/LA (alpha kept), ``tRNS`` transparency of grey/RGB/palette PNGs (read as
alpha), palette, premultiplied alpha (un-premultiplied), YCbCr/HSV (as RGB), 16-bit PNG
(grayscale through Pillow, RGB/RGBA through pypng, which Pillow cannot write), CMYK (converted
to RGB through its ICC profile when present), EXIF orientation (applied), and the ICC profile
of RGB images (kept); CIELAB is refused. What may be written is ``OUTPUT_EXTENSIONS``,
checked up front by ``check_output_path``. Decompression bombs are refused: each call
passes its own pixel limit (``max_pixels``), checked from the header before anything is
decoded. Pillow's own limit, a process-wide setting, is turned off once when this module is
imported (our check replaces it), and nothing here changes a global setting or the warnings
filter per call, so reads with different limits may run in threads at once.
"""

import io
import logging
import os
import re

import numpy as np
from PIL import Image, ImageCms, ImageOps

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.io.atomic import OutputExists, atomic_output
from maffsrn_tf.io.png import encode_png

# refuse larger inputs unless a call says otherwise (a decompression bomb, or a mistake)
DEFAULT_MAX_PIXELS = 200_000_000
# set once, here: read_image checks each call's own limit from the header instead
Image.MAX_IMAGE_PIXELS = None
log = logging.getLogger("maffsrn_tf")
IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
# what an output may be written as (``--format``): image formats, by their extension
OUTPUT_FORMATS = ("png", "jpg", "webp")
# what an output file may be, by extension: (Pillow's format, what it holds besides 8-bit
# grey and RGB). "alpha": transparency kept ("drops alpha": JPEG writes the colour only);
# "16-bit": 16-bit grayscale kept; "16-bit colour": 16-bit grey+alpha, RGB, RGBA kept; "as
# 8-bit": 16-bit written as 8-bit (a lossy format). tests/io_ round-trips each through
# read_image. Anything else (.ico caps at 256 px, .gif quantizes to 256 colours) is refused.
OUTPUT_EXTENSIONS = {
    ".png": ("PNG", {"alpha", "16-bit", "16-bit colour"}),
    ".jpg": ("JPEG", {"drops alpha", "as 8-bit"}),
    ".jpeg": ("JPEG", {"drops alpha", "as 8-bit"}),
    ".webp": ("WEBP", {"alpha", "as 8-bit"}),
    ".bmp": ("BMP", set()),
    ".tif": ("TIFF", {"alpha", "16-bit"}),
    ".tiff": ("TIFF", {"alpha", "16-bit"}),
}
# the largest width or height each format stores (libwebp: 16383; libjpeg: 65500)
MAX_SIDE = {"WEBP": 16383, "JPEG": 65500}


class ImageError(MaffsrnError):
    """An input or output image problem, with the path and the fix in the message."""


def list_images(folder):
    """Sorted image files of a folder (non-recursive); ``ImageError`` when there are none."""
    if not os.path.isdir(folder):
        raise ImageError(f"not a folder: {folder}")
    files = sorted(
        os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS)
    )
    if not files:
        raise ImageError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return files


def image_size(path):
    """(height, width) as displayed (EXIF orientation applied), from the header only."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Exception as err:
        raise ImageError(f"cannot read {path} as an image ({type(err).__name__}: {err})") from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def to_uint8(array):
    """8-bit version of a ``read_image`` array (16-bit values scaled by 255/65535)."""
    if array.dtype == np.uint8:
        return array
    return np.round(array.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)


def read_rgb(path, max_pixels=DEFAULT_MAX_PIXELS):
    """``read_image`` as uint8 RGB ``H x W x 3`` (grayscale repeated, alpha dropped)."""
    array = to_uint8(read_image(path, max_pixels=max_pixels)[0])
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, -1)
    if array.shape[-1] == 2:
        return np.repeat(array[..., :1], 3, -1)
    return np.ascontiguousarray(array[..., :3])


def _read_png16(path, data=None):
    import png

    reader = png.Reader(bytes=data) if data is not None else png.Reader(filename=path)
    width, height, rows, info = reader.asDirect()
    planes = info["planes"]
    data = np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(height, width, planes)
    return data[..., 0] if planes == 1 else data


def is_png16_color(path, data=None):
    if data is not None:
        head = data[:33]
    else:
        with open(path, "rb") as f:
            head = f.read(33)
    # PNG signature, IHDR: bit depth at byte 24, colour type at byte 25
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16 and head[25] in (2, 4, 6)


def _float_to_uint16(arr, name):
    """A 32-bit float image (Pillow mode F) with values in [0, 1] as 16-bit; refused when its
    values lie elsewhere (no silent clipping)."""
    arr = np.asarray(arr, np.float64)
    if not arr.size:  # empty: nothing to check (upscale() names it)
        return arr.astype(np.uint16)
    if not np.isfinite(arr).all():
        raise ImageError(f"{name} is a floating-point image with NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise ImageError(
            f"{name} is a floating-point image with values in [{lo:g}, {hi:g}]; only [0, 1] "
            "is read: rescale it to [0, 1], or save it as an 8- or 16-bit image"
        )
    return np.round(arr * 65535.0).astype(np.uint16)


def _int32_to_uint16(arr, name):
    """A 32-bit integer image (Pillow mode I, e.g. 16-bit PNG/TIFF) as 16-bit; refused when
    its values do not fit 0..65535."""
    if not arr.size:
        return arr.astype(np.uint16)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > 65535:
        raise ImageError(
            f"{name} is a 32-bit integer image with values in [{lo}, {hi}]; only 0..65535 is "
            "read: save it as an 8- or 16-bit image"
        )
    return arr.astype(np.uint16)


# Pillow modes read as another: the plain mode of the same pixels (premultiplied alpha
# un-premultiplied, YCbCr and HSV converted by Pillow's exact formulas, RGBX's pad dropped)
PLAIN_MODES = {"1": "L", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB", "YCbCr": "RGB", "HSV": "RGB"}
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def _warn_frames(im, name):
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        log.warning("%s has %d frames: only the first is read", name, frames)
    return frames


def image_array(image, name="image"):
    """``(array, icc_profile)`` of a PIL image of any mode, as ``read_image`` reads a file:
    uint8/uint16 HxW, HxWx2 (grey+alpha), HxWx3 or HxWx4; ``ImageError`` for what cannot be
    read faithfully (CIELAB, out-of-range 16/32-bit and float values).

    Of an animated image the first frame, with a warning (the image is left on its frame).
    An EXIF orientation is applied, as for a file (the result is upright, as the image is
    shown). ``name`` names the image in messages. What ``upscale()`` does with a PIL image.
    """
    frames, current = _warn_frames(image, name), image.tell()
    if frames > 1 and current:
        image.seek(0)
        try:
            return _plain_array(_upright(image), name)
        finally:
            image.seek(current)
    return _plain_array(_upright(image), name)


def _upright(image):
    """The image with its EXIF orientation applied (itself when it has none)."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF: as it is stored
        return image
    return ImageOps.exif_transpose(image) if orientation not in (0, 1) else image


def _plain_array(im, name):
    """``image_array`` of the image's current frame."""
    mode, icc = im.mode, im.info.get("icc_profile")
    transparent = "transparency" in im.info
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        arr = np.asarray(im)
        arr = _int32_to_uint16(arr, name) if mode == "I" else arr.astype(np.uint16)
        if isinstance(im.info.get("transparency"), int):  # tRNS of a 16-bit grey PNG
            alpha = np.where(arr == int(im.info["transparency"]), 0, 65535).astype(np.uint16)
            arr = np.dstack([arr, alpha])
        return arr, None
    if mode == "F":
        return _float_to_uint16(im, name), None
    if mode == "CMYK":
        return np.array(_cmyk_to_rgb(im, icc)), None
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if im.has_transparency_data else "RGB")
    elif mode in ("1", "L", "RGB") and transparent:  # tRNS: one value is transparent
        im = im.convert("RGBA" if mode == "RGB" else "LA")
    elif mode in PLAIN_MODES:
        im = im.convert(PLAIN_MODES[mode])
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise ImageError(f"{name}: mode {mode} is not supported: convert it to RGB first")
    return np.array(im), icc


def _check_pixels(path, size, max_pixels):
    w, h = size
    if w * h > max_pixels:
        raise ImageError(
            f"refusing {path}: {w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
            "(a decompression bomb?); if the image is genuine, raise the pixel limit"
        )


def read_image(path, data=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Read an image file: ``(array, info)``; array is uint8/uint16 HxW, HxWx2, HxWx3 or
    HxWx4 (``image_array``: every Pillow mode read as its plain equivalent, or refused).

    ``info`` holds ``icc_profile`` (RGB images) and ``format``. Float images (values in
    [0, 1]) and 32-bit integer images (0..65535) come back as 16-bit; a grey or RGB PNG with
    ``tRNS`` transparency with alpha (16-bit grey stays 16-bit); of an animated image only
    the first frame is read (with a warning). ``data``: the file's bytes, already read
    (from a remote file system); ``path`` then only names it in messages. ``max_pixels``:
    larger images are refused (``ImageError``) from their header, before decoding.
    """
    if data is None and not os.path.exists(path):
        raise ImageError(f"input not found: {path}")
    if data is None and os.path.isdir(path):
        raise ImageError(f"input is a folder, expected an image file: {path}")
    if data is None and not os.path.isfile(path):  # a FIFO or a device would block or never end
        raise ImageError(f"input is not a regular file (a pipe or a device?): {path}")
    try:
        with Image.open(path if data is None else io.BytesIO(data)) as im:
            _check_pixels(path, im.size, max_pixels)
            im.load()
            fmt = im.format
            _warn_frames(im, path)
            if fmt == "PNG" and is_png16_color(path, data):  # pypng: orient it as Pillow would
                array = _oriented(_read_png16(path, data), im.getexif().get(0x0112, 1))
                return array, {"format": fmt, "icc_profile": None}
            array, icc = _plain_array(ImageOps.exif_transpose(im), path)
            return array, {"format": fmt, "icc_profile": icc}
    except ImageError:
        raise
    except Exception as err:
        text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", repr(path), str(err))
        raise ImageError(f"cannot read {path} as an image ({type(err).__name__}: {text})") from None


def _oriented(array, orientation):
    """``array`` (H x W [x C]) with an EXIF orientation applied, as ``ImageOps.exif_transpose``
    applies it to an image."""
    swap = (1, 0) + tuple(range(2, array.ndim))
    steps = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(swap),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(swap)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    step = steps.get(orientation)
    return np.ascontiguousarray(step(array)) if step else array


def _cmyk_to_rgb(im, icc):
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except Exception:  # a broken profile: fall back to the naive conversion
            pass
    return im.convert("RGB")


LOSSY = (".jpg", ".jpeg", ".webp")


def _extensions(holds=None):
    """The output extensions whose format holds ``holds`` (all when None), for messages:
    ``.png, .webp or .tif/.tiff``."""
    by_format = {}
    for ext, (fmt, held) in OUTPUT_EXTENSIONS.items():
        if holds is None or holds in held:
            by_format.setdefault(fmt, []).append(ext)
    names = ["/".join(exts) for exts in by_format.values()]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _output_problem(ext, array=None, scale=1):
    """Why an image file of extension ``ext`` cannot hold ``array`` upscaled ``scale``
    times (its dtype, channels, size; None: the extension only), or None when it can."""
    ext = ext.lower()
    if ext not in OUTPUT_EXTENSIONS:
        if not ext:
            return f"it has no extension; use {_extensions()} (a folder: end it in /)"
        return f"{ext} is not an image format this writes; use {_extensions()}"
    fmt, held = OUTPUT_EXTENSIONS[ext]
    if array is None:
        return None
    channels = 1 if array.ndim == 2 else array.shape[-1]
    need, what = None, ""
    if array.dtype == np.uint16 and "as 8-bit" not in held:
        need = "16-bit" if channels == 1 else "16-bit colour"
        what = "a 16-bit " + {1: "grayscale", 2: "grayscale+alpha", 3: "RGB", 4: "RGBA"}[channels]
        what += " image"
    elif channels in (2, 4) and not held & {"alpha", "drops alpha"}:
        need, what = "alpha", "an image with transparency (alpha)"
    if need and need not in held:
        return f"{ext} cannot hold {what}; use {_extensions(need)}"
    h, w = array.shape[0] * scale, array.shape[1] * scale
    if max(h, w) > MAX_SIDE.get(fmt, max(h, w)):
        return (
            f"{ext} holds at most {MAX_SIDE[fmt]} pixels a side, and the result is {w}x{h}; "
            "use .png or .tif/.tiff"
        )
    return None


def check_output_path(path, array=None, scale=1):
    """Refuse (``ImageError``), before any work, an output file whose format cannot hold the
    result: an extension that is not in ``OUTPUT_EXTENSIONS`` (``.ico``, ``.gif``, ``.txt``,
    none), and, given ``array`` (the input; the result has its dtype and channels) and
    ``scale``, transparency or 16-bit into a format without them (16-bit into JPEG/WebP is
    written as 8-bit; alpha into JPEG is dropped), or a side over the format's limit."""
    problem = _output_problem(os.path.splitext(path)[1], array, scale)
    if problem:
        raise ImageError(f"cannot write {path}: {problem}")


def encode_image(array, ext, info=None, quality=None):
    """The bytes of ``array`` as an image file of extension ``ext`` (``.png``, ``.jpg``, ...).

    16-bit images stay 16-bit in PNG (colour and grey+alpha via pypng) and TIFF (grey) and
    become 8-bit in JPEG/WebP; ``quality`` (1-100) for JPEG (default 95) and WebP (Pillow's
    80); the ICC profile of ``info`` is kept. ``ImageError`` for what the format cannot hold
    (``check_output_path``).
    """
    info = info or {}
    ext = ext.lower()
    problem = _output_problem(ext, array)
    if problem:
        raise ImageError(problem)
    if ext in LOSSY:
        array = to_uint8(array)
    out = io.BytesIO()
    if array.dtype == np.uint16 and array.ndim == 3:  # PNG (_output_problem)
        import png

        h, w, c = array.shape
        writer = png.Writer(w, h, greyscale=c <= 2, alpha=c in (2, 4), bitdepth=16)
        writer.write(out, array.reshape(h, w * c).tolist())
        return out.getvalue()
    as_png = ext == ".png"
    if as_png and array.dtype == np.uint8:  # the common case: twice as fast as Pillow (pngwriter)
        color = array.ndim == 3 and array.shape[-1] in (3, 4)
        return encode_png(array, info.get("icc_profile") if color else None)
    im = Image.fromarray(array)
    kwargs = {}
    if info.get("icc_profile") and im.mode in ("RGB", "RGBA"):
        kwargs["icc_profile"] = info["icc_profile"]
    if ext in (".jpg", ".jpeg"):
        if im.mode in ("RGBA", "LA"):
            im = im.convert("RGB" if im.mode == "RGBA" else "L")
        kwargs["quality"] = quality or 95
    elif ext == ".webp" and quality:
        kwargs["quality"] = quality
    elif as_png:  # 16-bit grey: zlib level 1 (Pillow's default 6 is six times slower)
        kwargs["compress_level"] = 1
    im.save(out, format=OUTPUT_EXTENSIONS[ext][0], **kwargs)
    return out.getvalue()


def write_image(path, array, info=None, overwrite=True, quality=None):
    """Write ``array`` atomically (temporary file, then rename), in the format of the path's
    extension (``encode_image``). Any encoder error is an ``ImageError`` naming the file."""
    if os.path.exists(path) and not overwrite:
        raise ImageError(f"output exists: {path} (pass overwrite=True to replace it)")
    try:
        data = encode_image(array, os.path.splitext(path)[1], info, quality)
        with atomic_output(path, overwrite) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
    except OutputExists:  # written by another process while this one worked
        raise ImageError(f"output exists: {path} (pass overwrite=True to replace it)") from None
    except ImageError as err:
        raise ImageError(f"cannot write {path} ({err})") from None
    except Exception as err:  # Pillow, pypng and the OS raise many types
        raise ImageError(f"cannot write {path} ({type(err).__name__}: {err})") from None
    return path
