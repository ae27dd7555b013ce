"""Reading and writing images as people have them, with clear errors and atomic writes.

The one image reader of the package: training data, evaluation, calibration and the
upscaler all read through ``read_image`` (or ``read_rgb`` on top of it), so EXIF
orientation, palettes, 16-bit and CMYK files are handled the same way everywhere.

Handles every mode Pillow opens (``image_array``, which ``upscale()`` shares for PIL images):
RGB, grayscale, RGBA/LA (alpha kept), ``tRNS`` transparency of grey/RGB/palette PNGs (read as
alpha), palette, premultiplied alpha (un-premultiplied), YCbCr/HSV (as RGB), 16-bit PNG
(grayscale through Pillow, grey+alpha/RGB/RGBA through pypng: Pillow reads them as 8-bit),
CMYK (converted to RGB through its ICC profile when present), EXIF orientation (applied), and
the ICC profile (kept); CIELAB is refused. What may be written is ``OUTPUT_EXTENSIONS``,
checked up front by ``check_output_path``; every PNG is written by ``io.png`` (8- and
16-bit), the other formats by Pillow. Folder runs read ``IMAGE_EXTENSIONS``: every
extension Pillow opens. Decompression bombs are refused: each call
passes its own pixel limit (``max_pixels``), checked from the header before anything is
decoded. Pillow's own limit, a process-wide setting, is turned off once when this module is
imported (our check replaces it), as is Pillow's bare warning about damaged EXIF (the read
says which file, and leaves that EXIF out); nothing here changes a global setting or the
warnings filter per call, so reads with different limits may run in threads at once.

Metadata. ``read_image``'s ``info`` holds ``format``, ``icc_profile``, ``exif``, ``xmp``,
``dpi``, and a PNG's ``gamma``, ``chromaticity`` and ``srgb`` (its ``gAMA``, ``cHRM`` and
``sRGB``: what the pixel values mean, as a profile says); each None when the file has none.
The pixels come back upright, so the EXIF Orientation tag is reset to 1 (patched in place:
every other byte of the EXIF is kept), and so is XMP's ``tiff:Orientation`` (AVIF writers
read it too). ``encode_image``/``write_image`` write what the format carries, and leave out
the rest (silently, but for what the next paragraph says is warned of):

======  ===========  ====  ===  ===  =====  ==================================================
format  ICC profile  EXIF  XMP  DPI  gamma  how
======  ===========  ====  ===  ===  =====  ==================================================
PNG     yes          yes   yes  yes  yes    iCCP, eXIf, iTXt XML:com.adobe.xmp, pHYs, gAMA,
                                            cHRM, sRGB (not beside iCCP)
JPEG    yes          yes   yes  yes  no     APP2, APP1 (each up to 64 KB), JFIF density
WebP    yes          yes   yes  no   no     ICCP, EXIF, XMP chunks (WebP has no DPI)
AVIF    yes          yes   yes  no   no     colr, Exif, mime XMP items (no DPI field)
TIFF    yes          yes   yes  yes  no     tags (EXIF's IFD0 tags, EXIF and GPS IFDs)
BMP     no           no    no   yes  no     pixels per metre (Pillow writes no ICC)
======  ===========  ====  ===  ===  =====  ==================================================

("gamma": PNG's gAMA, cHRM and sRGB, which only PNG stores: another output is written
without them, and shows as sRGB unless an ICC profile goes with it.) Text (``text``: a PNG's
tEXt, zTXt and iTXt chunks, a JPEG's comment as ``Comment``) is kept in PNG (every keyword
PNG allows, an iTXt's language and translated keyword too; of a keyword given twice, its
last value, with a warning) and JPEG (its Comment); the other formats have no place for
it. 16-bit outputs carry the same. An ICC profile is written only where its colour space
fits the pixels stored
(GRAY for grey, RGB for colour; WebP stores grey as RGB), EXIF and XMP over JPEG's 64 KB
segment are left out with a warning, and so is a DPI the format cannot store
(``DPI_RANGE``: a DPI of 0, NaN or infinite is none at all), and TIFF's own layout tags
(size, strips, resolution: the file's structure) are never copied from EXIF.
``without_metadata`` drops EXIF and XMP (camera, place, time, software) but keeps the ICC
profile, gamma and chromaticities, which say what the pixel values mean (dropping them
changes the colours shown), and the DPI. PNG and JPEG outputs also say that maffsrn_tf wrote them
(``tEXt Software``, the JPEG comment: ``written_here``), so that a rerun tells its earlier
outputs from a user's pictures of the same name and size.

Files Pillow would decode by running another program (``PROGRAM_FORMATS``: EPS and
PostScript, by Ghostscript) are never read, whatever their name: ``open_image``, which every
read here and the server's go through, refuses them by the format Pillow detects.
"""

import io
import logging
import math
import os
import re
import struct
import warnings

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, PngImagePlugin

from maffsrn_tf.errors import MaffsrnError, listed
from maffsrn_tf.io.atomic import NotARegularFile, OutputExists, atomic_output
from maffsrn_tf.io.paths import not_found, unreadable_entry
from maffsrn_tf.io.png import MAX_VALUE as MAX_PNG_VALUE
from maffsrn_tf.io.png import (
    damaged_chunk,
    encode_png,
    survey,
    text_chunks,
    text_keyword_problem,
)

# refuse larger inputs unless a call says otherwise (a decompression bomb, or a mistake)
DEFAULT_MAX_PIXELS = 200_000_000
# set once, here: read_image checks each call's own limit from the header instead
Image.MAX_IMAGE_PIXELS = None
# Pillow's bare "Corrupt EXIF data" (naming no file, shown once a process): read_image finds
# such EXIF itself (``exif_problem``) and says so naming the file; set once, at import
warnings.filterwarnings("ignore", message="Corrupt EXIF data", module="PIL.TiffImagePlugin")
warnings.filterwarnings("ignore", message="Metadata Warning", module="PIL.TiffImagePlugin")
# the text a PNG's chunks may decompress to, in all (Pillow's default, 64 MB, let a 63 KB
# file of compressed text take 63 MB): set once, here
PngImagePlugin.MAX_TEXT_MEMORY = 8 * 1024 * 1024
log = logging.getLogger("maffsrn_tf")
# what a folder run reads first among the files Pillow opens (also listed in messages)
COMMON_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".avif")
# formats Pillow identifies but cannot decode without a handler of one's own (the stubs:
# BUFR, GRIB, HDF5, WMF/EMF off Windows) or at all (MPEG): not images to a folder run
IDENTIFY_ONLY = frozenset({"MPEG"})
# formats Pillow decodes by running another program on the file: never opened here, whatever
# the file is named (a downloaded "photo.png" that is PostScript would be run by Ghostscript),
# by the server either (serve.service). {Pillow's name: (what the file is, the program)}.
# Pillow's only one: its other calls of programs are never made by a read (JPEG's djpeg
# only by an explicit ``load_djpeg``; GIF's netpbm and ImageShow's viewers write or show)
PROGRAM_FORMATS = {"EPS": ("PostScript (EPS)", "Ghostscript")}


def _readable_extensions():
    """Every extension Pillow opens (``Image.OPEN``; not write-only formats such as PDF or
    identify-only ones), the common ones first: what a folder run picks up."""
    by_ext = Image.registered_extensions()  # imports every plugin (Image.init)
    readable = {
        fmt
        for fmt, (factory, _) in Image.OPEN.items()
        if fmt not in IDENTIFY_ONLY
        and not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))
    }
    if "JPEG" in readable:  # MPO (multi-picture JPEG) files are opened by the JPEG opener
        readable.add("MPO")
    common = [e for e in COMMON_EXTENSIONS if by_ext.get(e) in readable]
    rest = sorted(e for e, fmt in by_ext.items() if fmt in readable and e not in common)
    return tuple(common + rest)


IMAGE_EXTENSIONS = _readable_extensions()  # once, at import
# what an output file may be, by extension: (Pillow's format, what it holds besides 8-bit
# grey and RGB). "alpha": transparency kept ("drops alpha": JPEG writes the colour only);
# "16-bit": 16-bit grayscale kept; "16-bit colour": 16-bit grey+alpha, RGB, RGBA kept; "as
# 8-bit": 16-bit written as 8-bit (a lossy format; Pillow writes AVIF in 8 bits only, and
# grey+alpha as RGBA). tests/io_ round-trips each through read_image. Anything else (.ico
# caps at 256 px, .gif quantizes to 256 colours) is refused. The first extension of each
# format is its ``--format`` name (``OUTPUT_FORMATS``).
OUTPUT_EXTENSIONS = {
    ".png": ("PNG", {"alpha", "16-bit", "16-bit colour"}),
    ".jpg": ("JPEG", {"drops alpha", "as 8-bit"}),
    ".jpeg": ("JPEG", {"drops alpha", "as 8-bit"}),
    ".webp": ("WEBP", {"alpha", "as 8-bit"}),
    ".avif": ("AVIF", {"alpha", "as 8-bit"}),
    ".bmp": ("BMP", set()),
    ".tiff": ("TIFF", {"alpha", "16-bit"}),
    ".tif": ("TIFF", {"alpha", "16-bit"}),
}


# what PNG and JPEG outputs say wrote them (``tEXt Software``, the JPEG comment): an earlier
# output of ours is told from a picture of the user's with its name and size (a TIFF's
# Software tag would read back as EXIF, which outputs copy: not used)
SOFTWARE = "maffsrn_tf"


def written_here(path):
    """Whether the image at ``path`` says it was written by maffsrn_tf (``SOFTWARE``): True
    or False for PNG and JPEG, which carry the mark, None for other formats and for what
    cannot be read (the name and size are all there is to go by)."""
    try:  # through open_image, as every read: a program format is never opened
        with open_image(path, path) as im:
            fmt = im.format
            if fmt == "PNG":
                said = im.info.get("Software")
            elif fmt == "JPEG":  # a comment segment of its own (the user's comment kept)
                return any(k == "COM" and v == SOFTWARE.encode() for k, v in im.applist)
            else:
                return None
    except Exception:  # Pillow raises many kinds for what is not an image
        return None
    if isinstance(said, bytes):
        said = said.decode("latin-1")
    return said == SOFTWARE


def _format_names():
    """Each output format once, named by its first extension (``jpg``, ``tiff``), in order."""
    names = {}
    for ext, (fmt, _) in OUTPUT_EXTENSIONS.items():
        names.setdefault(fmt, ext[1:])
    return tuple(names.values())


# what an output may be written as (``--format``): derived from OUTPUT_EXTENSIONS (a tuple,
# not a set: the choices are listed in this order in --help and messages)
OUTPUT_FORMATS = _format_names()
# the largest width or height each format stores (libwebp: 16383; libjpeg: 65500; AVIF:
# libavif reads at most 32768 a side, though libaom writes up to 65536)
MAX_SIDE = {"WEBP": 16383, "JPEG": 65500, "AVIF": 32768}
# the most pixels each format stores: libavif reads at most 16384 x 16384 pixels (its
# default limit, which Pillow does not change); larger AVIF files are written but unread
MAX_AREA = {"AVIF": 16384 * 16384}
# what each output format carries of ``read_image``'s info (the module's table)
OUTPUT_METADATA = {
    "PNG": frozenset(
        {"icc_profile", "exif", "xmp", "dpi", "gamma", "chromaticity", "srgb", "text"}
    ),
    "JPEG": frozenset({"icc_profile", "exif", "xmp", "dpi", "text"}),
    "WEBP": frozenset({"icc_profile", "exif", "xmp"}),
    "AVIF": frozenset({"icc_profile", "exif", "xmp"}),
    "TIFF": frozenset({"icc_profile", "exif", "xmp", "dpi"}),
    "BMP": frozenset({"dpi"}),
}


class ImageError(MaffsrnError):
    """An input or output image problem, with the path and the fix in the message."""


class TextTooLarge(ImageError):
    """A PNG whose text chunks decompress to more than Pillow is let read (a text bomb)."""


def _text_bomb(err, name):
    """The ``TextTooLarge`` for Pillow's error ``err`` when it is its text bomb guard's
    (``MAX_TEXT_CHUNK``, ``MAX_TEXT_MEMORY``), else None."""
    if isinstance(err, ValueError) and ("MAX_TEXT_CHUNK" in str(err) or "text chunks" in str(err)):
        return TextTooLarge(
            f"{name}: its PNG text chunks decompress to more than this reads (over 1 MB in "
            "one, or 8 MB in all): save it again without its text"
        )
    return None


def is_resource_fork(name):
    """Whether a file name is a Mac's resource fork of another file (``._NAME``: the
    AppleDouble file a copy to another disk leaves beside each file), never a picture."""
    return os.path.basename(name).startswith("._")


def list_images(folder):
    """Sorted image files of a folder (non-recursive); ``ImageError`` when there are none.
    A Mac's resource forks (``._NAME.png``, AppleDouble files a copy to another disk leaves
    beside each file) are no images and are left out."""
    if not os.path.isdir(folder):
        raise ImageError(f"not a folder: {folder}")
    files = sorted(
        os.path.join(folder, f)
        for f in os.listdir(folder)
        if f.lower().endswith(IMAGE_EXTENSIONS) and not is_resource_fork(f)
    )
    if not files:
        raise ImageError(
            f"no images ({', '.join(COMMON_EXTENSIONS)} or another of the "
            f"{len(IMAGE_EXTENSIONS)} extensions Pillow reads) in {folder}"
        )
    return files


def readable_formats(formats=None):
    """Pillow's format names an image may be opened as: ``formats`` (default: every format
    Pillow opens, in its order) less ``PROGRAM_FORMATS``; a tuple for ``Image.open``."""
    if formats is None:
        Image.init()  # every plugin registered (once; later calls return at once)
        formats = Image.ID
    return tuple(f for f in formats if f.upper() not in PROGRAM_FORMATS)


def program_format_problem(head, name):
    """Why the file whose first bytes are ``head`` is not read (``name`` names it), when it
    is one of ``PROGRAM_FORMATS`` (as Pillow tells it: its plugin's check of the first bytes,
    no parsing), else None."""
    for fmt, (what, program) in PROGRAM_FORMATS.items():
        accept = Image.OPEN.get(fmt, (None, None))[1]
        if accept is not None and accept(bytes(head[:16])):
            return (
                f"{name} is {what}, which Pillow reads by running {program}: convert it to "
                "PNG first"
            )
    return None


def open_image(source, name, formats=None):
    """``Image.open(source)`` (a path or a binary file object) as ``formats`` (Pillow's names;
    default: every format Pillow opens), never as one of ``PROGRAM_FORMATS``: such a file is
    an ``ImageError`` naming what it is and what to do (``program_format_problem``), whatever
    its name, and a text bomb is a ``TextTooLarge``; other failures are Pillow's errors. The
    one opener of this module (and of the server): nothing opened here runs another
    program."""
    try:
        return Image.open(source, formats=readable_formats(formats))
    except Exception as err:
        try:
            if isinstance(source, (str, bytes, os.PathLike)):
                with open(source, "rb") as f:
                    head = f.read(16)
            else:
                source.seek(0)
                head = source.read(16)
        except Exception:  # unreadable: Pillow's own error says so
            head = b""
        problem = program_format_problem(head, name)
        if problem:
            raise ImageError(problem) from None
        bomb = _text_bomb(err, name)  # text before the pixels is read here
        if bomb:
            raise bomb from None
        damage = _png_damage(source, head, name) or _heif_problem(head, name)
        if damage:
            raise ImageError(damage) from None
        raise


# HEIC/HEIF (iPhone photos): not read by Pillow itself
HEIF_EXTENSIONS = (".heic", ".heif", ".hif")
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
HEIF_FIX = "this reads no HEIC/HEIF; convert them to JPEG or PNG first (e.g. on the phone)"


def _heif_problem(head, name):
    """The line for a HEIC/HEIF file (an ISO box ``ftyp`` of a HEIF brand; AVIF, which is
    read, has its own), else None."""
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return f"{name} is a HEIC/HEIF photo: {HEIF_FIX.replace('them', 'it')}"
    return None


def _png_damage(source, head, name):
    """Why Pillow refused a PNG as "cannot identify image file", when it is a chunk it
    found damaged (a CRC that does not match, a text chunk of a compression method PNG
    does not define), else None."""
    if not head.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    try:
        if isinstance(source, (str, bytes, os.PathLike)):
            path, data = source, None
        else:
            source.seek(0)
            path, data = None, source.read()
        bad = damaged_chunk(path, data)
        text = [(k, p) for k, p in text_chunks(path, data) if p and "method" in p]
    except OSError:
        return None
    if bad:
        return (
            f"{name} is a damaged PNG: its {bad[0]} chunk (chunk {bad[1]}) does not match its "
            "checksum (CRC); save it again from where it came"
        )
    if text:
        return (
            f"{name}: its text chunk {text[0][0]!r} has a {text[0][1]}, which the reader "
            "refuses; save it again without that text"
        )
    return None


def image_size(path):
    """(height, width) as displayed (EXIF orientation applied), from the header only; an
    ``ImageError`` for a file that is no image read here (``open_image``)."""
    try:
        with open_image(path, path) as im:
            w, h = im.size
            if _damaged_exif(im):  # its orientation unreadable: as stored (read_image says)
                return h, w
            orientation = im.getexif().get(0x0112, 1)
    except ImageError:
        raise
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

    Of an animated image the first frame, with a warning; one moved to another frame
    (``seek``, ``ImageSequence``) is an ``ImageError`` naming it and the fix, ``copy()``:
    read as its first frame, each frame of a loop came out as the first without a word.
    An EXIF orientation is applied, as for a file (the result is upright, as the image is
    shown). ``name`` names the image in messages. What ``upscale()`` does with a PIL image.
    """
    frames, current = getattr(image, "n_frames", 1), image.tell()
    if frames > 1 and current:
        raise ImageError(
            f"{name} is on frame {current + 1} of {frames}: an animated image is read from "
            "its first frame; pass the frame you want as an image of its own (its copy())"
        )
    _warn_frames(image, name)
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
            "(a decompression bomb?); if the image is genuine, raise the pixel limit (max_pixels)"
        )


def read_image(path, data=None, max_pixels=DEFAULT_MAX_PIXELS, formats=None):
    """Read an image file: ``(array, info)``; array is uint8/uint16 HxW, HxWx2, HxWx3 or
    HxWx4 (``image_array``: every Pillow mode read as its plain equivalent, or refused).

    ``info`` holds ``format`` (Pillow's name), ``icc_profile`` (bytes; None for CMYK, which
    is converted to RGB), ``exif`` (bytes as Pillow writes them, ``Exif\\0\\0`` first, with
    the Orientation tag reset to 1: the orientation is applied to the pixels), ``xmp``
    (bytes or str, its ``tiff:Orientation`` reset to 1 too), ``dpi`` ((x, y) floats,
    rounded to 0.01), and a PNG's ``gamma`` (a float), ``chromaticity`` (8 floats) and
    ``srgb`` (the rendering intent, 0-3), as Pillow reads ``gAMA``, ``cHRM`` and ``sRGB``;
    each None when the file has none (the module's table says which formats keep which).
    Float images (values in [0, 1]) and 32-bit integer images (0..65535) come back as
    16-bit; a grey or RGB PNG with ``tRNS`` transparency with alpha (16-bit grey stays
    16-bit); of an animated image only the first frame is read (with a warning).
    ``data``: the file's bytes, already read (from a remote file system); ``path`` then
    only names it in messages. ``max_pixels``: larger images are refused
    (``ImageError``) from their header, before decoding. ``formats``: Pillow's format names
    tried (``Image.open``'s ``formats``; default: every format Pillow opens). A file Pillow
    decodes by running another program (``PROGRAM_FORMATS``: EPS, by Ghostscript) is refused
    whatever its name or ``formats``, with what it is and what to do.
    """
    if data is None and os.path.lexists(path) and not os.path.exists(path):
        raise ImageError(f"input cannot be opened: {path} is {unreadable_entry(path)}")
    if data is None and not os.path.exists(path):
        raise ImageError(not_found("input", path))
    if data is None and os.path.isdir(path):
        raise ImageError(f"input is a folder, expected an image file: {path}")
    if data is None and not os.path.isfile(path):  # a FIFO or a device would block or never end
        raise ImageError(f"input is not a regular file (a pipe or a device?): {path}")
    try:
        with open_image(path if data is None else io.BytesIO(data), path, formats) as im:
            _check_pixels(path, im.size, max_pixels)
            im.load()
            _drop_damaged_exif(im, path)
            fmt = im.format
            short, chunks = survey(path, data) if fmt == "PNG" else (None, None)
            if short:  # Pillow leaves the missing rows black, without a word
                raise ImageError(
                    f"{path} is cut short or damaged: its image data holds {short[0]:,} of "
                    f"the {short[1]:,} bytes its header declares (the rows after are missing)"
                )
            _warn_frames(im, path)
            if fmt == "PNG" and is_png16_color(path, data):  # pypng: orient it as Pillow would
                array = _oriented(_read_png16(path, data), im.getexif().get(ORIENTATION, 1))
            else:
                array = _plain_array(ImageOps.exif_transpose(im), path)[0]
            return array, {"format": fmt, **_metadata(im, path, chunks)}
    except ImageError:
        raise
    except ValueError as err:
        raise (_text_bomb(err, path) or _unreadable(path, err)) from None
    except Exception as err:
        raise _unreadable(path, err) from None


def _unreadable(path, err):
    """The ``ImageError`` for a file Pillow could not read, with its own words."""
    name = repr(path)  # a function: \u200b or \xff in a name is not a regex escape
    text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", lambda _: name, str(err))
    if isinstance(err, OSError) and "truncated" in text.lower():  # JPEG, WebP, TIFF...
        return ImageError(
            f"{path} is cut short: its data ends before the picture does "
            f"({type(err).__name__}: {text}); use the whole file"
        )
    return ImageError(f"cannot read {path} as an image ({type(err).__name__}: {text})")


# --- metadata: read upright, written where the format carries it ------------------------------

ORIENTATION = 0x0112  # the EXIF (and TIFF) Orientation tag
_EXIF_PREFIX = b"Exif\x00\x00"
# TIFF tags that describe a TIFF file's own layout (size, samples, strips and tiles,
# compression, resolution, the ICC/XMP/IPTC/Photoshop blocks carried apart): never EXIF to
# copy from a TIFF, never to write from EXIF into one
TIFF_LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281}
    | {282, 283, 284, 296, 297, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347}
    | {513, 514, 529, 530, 531, 532, 700, 33723, 34377, 34675}
)
_XMP_ORIENTATION = (
    (r"(tiff:Orientation\s*=\s*[\"'])[0-9]([\"'])", r"\g<1>1\g<2>"),
    (r"(<tiff:Orientation>\s*)[0-9](\s*</tiff:Orientation>)", r"\g<1>1\g<2>"),
)


def image_metadata(image, name="image"):
    """The metadata ``read_image`` keeps, of a PIL image: ``icc_profile``, ``exif`` and
    ``xmp`` (their orientation reset to 1), ``dpi``, ``gamma``, ``chromaticity`` and
    ``srgb``; each None when absent. What ``upscale()`` carries from a PIL image to its
    result."""
    return _metadata(image, name)


def _metadata(im, name, chunks=None):
    """``read_image``'s metadata of an opened (and loaded) image, as stored (before the
    pixels are turned upright): ICC profile, EXIF and XMP with their orientation reset to
    1, DPI, PNG's gamma, chromaticities and sRGB intent (``_colour_chunks``), and text
    (``_text``; ``chunks``: a PNG's text chunks, ``png.text_chunks``)."""
    icc = None if im.mode == "CMYK" else im.info.get("icc_profile") or None
    return {
        "icc_profile": icc,
        "exif": _exif_upright(im, name),
        "xmp": _xmp_upright(im.info.get("xmp")),
        "dpi": _dpi(im.info.get("dpi")) if _has_resolution(im) else None,
        **_colour_chunks(im.info),
        "text": _text(im, name, chunks),
    }


# PNG text keywords that are not the user's text: XMP and EXIF carried as text (read as
# xmp/exif), and the program that wrote the file (an output names this one)
_NOT_TEXT = ("XML:com.adobe.xmp", "Raw profile type exif", "Raw profile type APP1",
             "Raw profile type xmp", "Software")  # fmt: skip


# text carried from an input to its outputs, in all (UTF-8 bytes): more is left out, with a
# warning (a 63 KB PNG of compressed text had made a 63 MB output)
MAX_TEXT_BYTES = 256 * 1024


def _text(im, name="image", chunks=None):
    """A PNG's text chunks (``tEXt``, ``zTXt``, ``iTXt``: title, author, comment...) or a
    JPEG's comment (as ``Comment``), ``{keyword: str}`` (an ``iTXt`` value that names its
    language or translates its keyword is Pillow's ``iTXt``, which keeps both), or None;
    text over ``MAX_TEXT_BYTES`` in all and values holding a NUL (which no text chunk may)
    are left out, with a warning naming ``name``.
    ``chunks``: the PNG's text chunks in file order (``png.text_chunks``): a keyword
    given more than once, of which Pillow keeps the last value only, is said, and a chunk
    that holds no text to read is left out, with a warning."""
    if im.format == "PNG":
        text = {k: v for k, v in getattr(im, "text", {}).items() if k not in _NOT_TEXT}
        chunks = chunks or ()
        keywords = [k for k, _ in chunks]
        said = set()
        for i, (k, problem) in enumerate(chunks):  # Pillow gives it an empty value, or none
            if problem and k not in _NOT_TEXT:
                log.warning("%s: text chunk %r cannot be read (%s): left out", name, k, problem)
                said.add(k)
                if k not in keywords[i + 1 :]:  # the value Pillow kept is this chunk's
                    text.pop(k, None)
        lost = sorted({k for k in keywords if k not in text and k not in _NOT_TEXT} - said)
        for k in lost:  # Pillow leaves such a chunk out without a word
            log.warning("%s: text chunk %r cannot be read (damaged, not UTF-8, or no "
                        "keyword): left out", name, k)  # fmt: skip
        repeated = sorted({k for k in keywords if keywords.count(k) > 1 and k in text})
        for k in repeated:
            log.warning("%s: text %r is given %d times: only its last value is kept",
                        name, k, keywords.count(k))  # fmt: skip
        bad = [k for k, v in text.items() if "\0" in v]
        size = sum(len(k.encode("utf-8", "replace")) + len(v.encode("utf-8", "replace"))
                   for k, v in text.items())  # fmt: skip
        if size > MAX_TEXT_BYTES:
            log.warning("%s: its text chunks hold %d bytes, over %d: left out of the output",
                        name, size, MAX_TEXT_BYTES)  # fmt: skip
            return None
        if bad:
            log.warning("%s: text %s holds a NUL, which a PNG text chunk cannot: left out",
                        name, ", ".join(repr(k) for k in bad))  # fmt: skip
            text = {k: v for k, v in text.items() if k not in bad}
    elif im.format in ("JPEG", "MPO"):  # its first comment segment that is not our mark
        said = [bytes(v) for k, v in getattr(im, "applist", []) if k == "COM"]
        said = [v for v in said if v and v != SOFTWARE.encode()]
        text = {"Comment": _decoded(said[0])} if said else {}
    elif im.format == "GIF" and im.info.get("comment"):  # its comment extension
        text = {"Comment": _decoded(bytes(im.info["comment"]))}
    else:
        text = {}
    return text or None


def _decoded(raw):
    """Text of a comment segment: UTF-8, else Latin-1 (every byte is one)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _has_resolution(im):
    """Whether the image's file records a resolution: Pillow reads a TIFF without its
    resolution tags (XResolution 282, YResolution 283) as 1 DPI, and a JPEG whose JFIF
    header says none (unit 0) with EXIF but no resolution in it as 72 DPI, neither of
    which the file says."""
    tags = getattr(im, "tag_v2", None)
    if tags is not None:
        return 282 in tags and 283 in tags
    if im.format in ("JPEG", "MPO") and im.info.get("jfif_unit", 0) == 0 and "exif" in im.info:
        try:
            exif = im.getexif()
            return 282 in exif and 283 in exif  # where Pillow read the DPI from
        except Exception:  # unreadable EXIF: no resolution read from it
            return False
    return True


def _png_fraction(value, least=0):
    """Whether a PNG chunk holds ``value`` as its four-byte number times 100,000 (``gAMA``,
    ``cHRM``): ``least`` to 2**31 - 1 once scaled and rounded."""
    return math.isfinite(value) and least <= round(value * 100_000) <= MAX_PNG_VALUE


def _colour_chunks(info):
    """``gamma`` (a float), ``chromaticity`` (8 floats) and ``srgb`` (0-3) of a PNG's
    ``gAMA``, ``cHRM`` and ``sRGB`` as Pillow reads them into ``info`` (each None when
    absent, or a value a PNG cannot hold: a gamma of 0, a NaN)."""
    gamma, chromaticity, srgb = (info.get(k) for k in ("gamma", "chromaticity", "srgb"))
    try:
        gamma = float(gamma) if gamma is not None else None
        chromaticity = tuple(float(v) for v in chromaticity) if chromaticity else None
    except (TypeError, ValueError):
        gamma = chromaticity = None
    if gamma is not None and not _png_fraction(gamma, 1):  # gAMA 0 is invalid
        gamma = None
    if chromaticity is not None and not (
        len(chromaticity) == 8 and all(_png_fraction(v) for v in chromaticity)
    ):
        chromaticity = None
    if isinstance(srgb, bool) or srgb not in (0, 1, 2, 3):
        srgb = None
    return {
        "gamma": gamma,
        "chromaticity": chromaticity,
        "srgb": None if srgb is None else int(srgb),
    }


def _exif_bytes(exif):
    """EXIF as Pillow writes it (``Exif\\0\\0`` then the TIFF-structured data) from what a
    plugin or a caller gives (with or without the prefix, or an ``Image.Exif``)."""
    if isinstance(exif, Image.Exif):
        return exif.tobytes() if len(exif) else None
    if not exif:
        return None
    exif = bytes(exif)
    return exif if exif.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + exif


def _orientation_reset(exif):
    """EXIF bytes (``Exif\\0\\0`` first) with IFD0's Orientation set to 1 in place: every
    other byte kept (maker notes, thumbnail); unchanged without one; None when the data
    cannot be walked (then Pillow rebuilds it)."""
    tiff = memoryview(exif)[len(_EXIF_PREFIX) :]
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(bytes(tiff[:4]))
    if order is None or len(tiff) < 8:
        return None
    ifd = struct.unpack_from(order + "I", tiff, 4)[0]
    if ifd + 2 > len(tiff):
        return None
    count = struct.unpack_from(order + "H", tiff, ifd)[0]
    if ifd + 2 + 12 * count > len(tiff):
        return None
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, kind, n = struct.unpack_from(order + "HHI", tiff, entry)
        if tag == ORIENTATION:
            if n != 1 or kind not in (3, 4):  # SHORT (as EXIF has it) or LONG
                return None
            out = bytearray(exif)
            value = struct.pack(order + ("H" if kind == 3 else "I"), 1)
            start = len(_EXIF_PREFIX) + entry + 8
            out[start : start + len(value)] = value
            return bytes(out)
    return exif


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
                    13: 4, 16: 8, 17: 8, 18: 8}  # fmt: skip
_SUB_IFDS = (0x8769, 0x8825, 0xA005)  # the EXIF, GPS and interoperability IFDs


def exif_problem(raw):
    """Why EXIF bytes (``Exif\0\0`` first or not) cannot be read whole, in a few words, or
    ``""``: not TIFF-structured, or an IFD (IFD0, the EXIF and GPS IFDs) or a value that
    points past the end. Pillow reads such EXIF with a bare warning that names no file
    (``Corrupt EXIF data``), or fails the whole image (``not a TIFF file``)."""
    data = bytes(raw)
    if data.startswith(_EXIF_PREFIX):
        data = data[len(_EXIF_PREFIX) :]
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8 or struct.unpack(order + "H", data[2:4])[0] != 42:
        return "it is not TIFF-structured"
    todo, seen = [struct.unpack(order + "I", data[4:8])[0]], set()
    while todo:
        at = todo.pop()
        if at in seen:
            continue
        seen.add(at)
        if at + 2 > len(data):
            return "a directory of it lies past its end"
        (count,) = struct.unpack(order + "H", data[at : at + 2])
        if at + 2 + 12 * count > len(data):
            return "a directory of it runs past its end"
        for i in range(count):
            entry = data[at + 2 + 12 * i : at + 14 + 12 * i]
            tag, kind, n = struct.unpack(order + "HHI", entry[:8])
            size = _TIFF_TYPE_SIZES.get(kind, 1) * n
            (offset,) = struct.unpack(order + "I", entry[8:])
            if size > 4 and offset + size > len(data):
                return "a value of it lies past its end"
            if tag == ORIENTATION and n != 1:  # Pillow: "Metadata Warning", naming no file
                return f"its orientation holds {n} values"
            if tag in _SUB_IFDS and kind in (4, 13) and n == 1:
                todo.append(offset)
    return ""


def _damaged_exif(im):
    """``exif_problem`` of an opened image's EXIF bytes (``""``: none, or whole)."""
    raw = im.info.get("exif")
    return exif_problem(raw) if isinstance(raw, (bytes, bytearray)) and raw else ""


def _drop_damaged_exif(im, name):
    """Leave out (with one warning naming ``name``) EXIF that cannot be read whole, before
    anything parses it: a picture is never refused for its EXIF."""
    why = _damaged_exif(im)
    if why:
        log.warning("%s: its EXIF is damaged (%s); it is left out", name, why)
        del im.info["exif"]
        im.getexif().clear()  # what Pillow parsed of it on opening (a JPEG's DPI) too


def _exif_upright(im, name):
    """The image's EXIF (``Exif\\0\\0`` first) with Orientation 1, or None."""
    raw = im.info.get("exif")
    if isinstance(raw, (bytes, bytearray)) and raw:
        upright = _orientation_reset(_exif_bytes(raw))
        if upright is not None:
            return upright
    try:  # TIFF (its IFD0 is the EXIF), PNG's "Raw profile type exif", unusual EXIF
        exif = im.getexif()
        for tag in [t for t in exif if t in TIFF_LAYOUT_TAGS]:
            del exif[tag]
        if set(exif) <= {ORIENTATION}:  # none, or only XMP's orientation (Pillow reads it)
            return None
        if ORIENTATION in exif:
            exif[ORIENTATION] = 1
        return exif.tobytes()
    except Exception as err:  # unreadable EXIF: the image is read without it
        log.warning("%s: its EXIF cannot be read (%s); it is left out", name, err)
        return None


def _xmp_upright(xmp):
    """XMP (bytes or str, as given) with ``tiff:Orientation`` set to 1, or None."""
    if isinstance(xmp, tuple) and len(xmp) == 1:
        xmp = xmp[0]
    if not xmp or not isinstance(xmp, (bytes, bytearray, str)):
        return None
    for pattern, repl in _XMP_ORIENTATION:
        if isinstance(xmp, str):
            xmp = re.sub(pattern, repl, xmp)
        else:
            xmp = re.sub(pattern.encode(), repl.encode(), bytes(xmp))
    return xmp


def _dpi(dpi):
    """``(x, y)`` dots per inch as floats rounded to 0.01 (PNG's dots per metre read back
    as 299.9994), or None for none or nonsense (NaN, infinite, 0 or negative, or rounding
    to 0)."""
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    x, y = round(x, 2), round(y, 2)
    return (x, y) if x > 0 and y > 0 else None


# what each format stores of a DPI: (the values it holds, in words; the number its writer
# stores for a DPI; the least and the most it holds). A DPI outside is left out, with a
# warning, rather than written wrong or crashing the writer. PNG's pHYs and BMP's header:
# whole dots per metre (io.png's and Pillow's rounding), four-byte numbers up to 2**31 - 1
# (PNG's limit; BMP's are signed); JPEG's JFIF density: whole dots per inch (Pillow's
# round()) in 16 bits; TIFF: a fraction of two unsigned four-byte numbers (Pillow stores a
# larger value as 2**32 - 1 or NaN)
DPI_RANGE = {
    "PNG": ("whole dots per metre, 1 to 2,147,483,647", lambda d: int(d / 0.0254 + 0.5),
            1, MAX_PNG_VALUE),
    "BMP": ("whole dots per metre, 1 to 2,147,483,647", lambda d: int(d * 39.3701 + 0.5),
            1, 2**31 - 1),
    "JPEG": ("whole dots per inch, 1 to 65535", round, 1, 65535),
    "TIFF": ("up to 4,294,967,295 dots per inch", float, 0.01, 2**32 - 1),
}  # fmt: skip


def _stored_dpi(fmt, dpi, name):
    """``dpi`` (``_dpi``'s) when format ``fmt`` stores both its values (``DPI_RANGE``),
    else None, with a warning naming the file."""
    if not dpi or fmt not in DPI_RANGE:
        return None
    what, stored, low, high = DPI_RANGE[fmt]
    try:
        if all(low <= stored(d) <= high for d in dpi):
            return dpi
    except OverflowError:  # 1e308 dots per inch: infinite dots per metre
        pass
    log.warning(
        "%s: a DPI of %g x %g is outside what %s stores (%s): written without a DPI",
        name, dpi[0], dpi[1], fmt, what,
    )  # fmt: skip
    return None


def without_metadata(info):
    """A copy of ``info`` (``read_image``'s) with EXIF, XMP and text (a PNG's text chunks, a
    JPEG's comment) dropped (set to None): the camera, its settings, the place (GPS), the
    time, the software, any description, title or author. The ICC
    profile and the DPI stay: the profile says what the pixel values mean (dropping it would
    change the colours shown) and the DPI the printed size; neither says anything else."""
    return {**(info or {}), "exif": None, "xmp": None, "text": None}


# read_image's metadata keys as a notice names them (gamma, chromaticity and srgb: PNG's)
_METADATA_NAMES = {"icc_profile": "ICC profile", "exif": "EXIF", "xmp": "XMP", "dpi": "DPI",
                   "text": "text", "gamma": "gamma", "chromaticity": "chromaticities",
                   "srgb": "sRGB intent"}  # fmt: skip


def metadata_dropped(ext, info):
    """The names of what ``info`` (``read_image``'s) holds that an output of extension
    ``ext`` cannot carry (``OUTPUT_METADATA``: a BMP no ICC profile, EXIF or XMP; a WebP no
    DPI or text), in a fixed order; ``[]`` when it carries all, or for an unknown ``ext``.
    What a run says once it has written such a file, naming a format that keeps them."""
    fmt = OUTPUT_EXTENSIONS.get(str(ext).lower(), (None,))[0]
    if fmt is None or not info:
        return []
    carried = OUTPUT_METADATA.get(fmt, frozenset())
    dropped = [n for key, n in _METADATA_NAMES.items() if info.get(key) and key not in carried]
    text = info.get("text") or {}
    if fmt == "JPEG" and set(text) - {"Comment"}:  # its one comment segment holds Comment
        dropped.append("text other than a Comment")
    return dropped


def _icc_fits(icc, channels):
    """Whether an ICC profile's colour space (bytes 16-20 of its header) is that of pixels
    with ``channels`` channels: GRAY for grey (+alpha), RGB for RGB(A)."""
    return bytes(icc[16:20]) == (b"GRAY" if channels <= 2 else b"RGB ")


def _output_metadata(fmt, channels, info, name):
    """What ``info`` gives that format ``fmt`` carries for pixels stored with ``channels``
    channels: a dict of icc_profile (bytes), exif (bytes, ``Exif\\0\\0`` first), xmp
    (bytes), dpi ((x, y), where the format stores it: ``DPI_RANGE``), and for PNG gamma,
    chromaticity and srgb; the rest left out (the module's table)."""
    carried = OUTPUT_METADATA.get(fmt, frozenset())
    out = {}
    icc = info.get("icc_profile")
    if "icc_profile" in carried and icc and _icc_fits(icc, channels):
        out["icc_profile"] = bytes(icc)
    exif = _exif_bytes(info.get("exif")) if "exif" in carried else None
    xmp = info.get("xmp") if "xmp" in carried else None
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if fmt == "JPEG":  # one APP1 segment each (Pillow writes no extended XMP)
        if exif and len(exif) > 65533:
            log.warning("%s: EXIF of %d bytes is over JPEG's 65533: left out", name, len(exif))
            exif = None
        if xmp and len(xmp) > 65533 - 29:
            log.warning("%s: XMP of %d bytes is over JPEG's 65504: left out", name, len(xmp))
            xmp = None
    if exif:
        out["exif"] = exif
    if xmp:
        out["xmp"] = bytes(xmp)
    dpi = _stored_dpi(fmt, _dpi(info.get("dpi")), name) if "dpi" in carried else None
    if dpi:
        out["dpi"] = dpi
    text = info.get("text") if "text" in carried else None
    if text and fmt == "JPEG":  # its one comment: a PNG's Comment, or a JPEG's comment
        text = {"Comment": text["Comment"]} if "Comment" in text else None
    if text and fmt == "PNG":
        for k in [k for k in text if text_keyword_problem(k)]:
            log.warning("%s: text %r is left out: PNG does not allow its keyword (%s)",
                        name, k, text_keyword_problem(k))  # fmt: skip
        text = {k: v for k, v in text.items() if not text_keyword_problem(k)}
    if text:
        out["text"] = dict(text)
    if "gamma" in carried:  # PNG: gAMA, cHRM, sRGB (io.png leaves sRGB out beside iCCP)
        out.update({k: v for k, v in _colour_chunks(info).items() if v is not None})
    return out


def _tiff_tags(exif, xmp):
    """The TIFF tags of EXIF (its IFD0 tags less TIFF_LAYOUT_TAGS, its EXIF and GPS IFDs)
    and XMP (tag 700), as an ``Image.Exif`` for Pillow's TIFF writer, or None."""
    tags = Image.Exif()
    if exif:
        try:
            tags.load(exif)
            for tag in [t for t in tags if t in TIFF_LAYOUT_TAGS]:
                del tags[tag]
        except Exception as err:  # unreadable EXIF: the TIFF is written without it
            log.warning("EXIF cannot be read (%s); the .tiff output is written without it", err)
            tags = Image.Exif()
    if xmp:
        tags[700] = xmp
    return tags if len(tags) else None


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


# what ``quality`` applies to: JPEG (default 95), WebP (Pillow's 80), AVIF (Pillow's 75)
LOSSY = (".jpg", ".jpeg", ".webp", ".avif")


def _extensions(holds=None, where=None):
    """The output extensions whose format holds ``holds`` (all when None) and passes
    ``where(fmt, ext)``, for messages: ``.png, .webp or .tif/.tiff`` (shorter extensions first)."""
    by_format = {}
    for ext, (fmt, held) in OUTPUT_EXTENSIONS.items():
        if (holds is None or holds in held) and (where is None or where(fmt, ext)):
            by_format.setdefault(fmt, []).append(ext)
    names = ["/".join(sorted(exts, key=len)) for exts in by_format.values()]
    return listed(names, "or")


def _output_problem(ext, array=None, scale=1, suggest=True, flattens=False):
    """Why an image file of extension ``ext`` cannot hold ``array`` upscaled ``scale``
    times (its dtype, channels, size; None: the extension only; ``scale`` may be a float),
    or None when it can. ``flattens``: the caller flattens an image with alpha for a format
    without it (its alpha is no problem there); the formats suggested instead hold the
    image as each would get it (``suggest``: name them)."""
    ext = ext.lower()
    if ext not in OUTPUT_EXTENSIONS:
        if not ext:
            folder = "a folder: end it in /, or make it first"
            return f"it has no extension; use {_extensions()} ({folder})"
        return f"{ext} is not an image format this writes; use {_extensions()}"
    fmt, held = OUTPUT_EXTENSIONS[ext]
    if fmt not in Image.SAVE:  # AVIF: Pillow built without libavif (Windows ARM64, iOS)
        return f"this Pillow cannot write {ext} (built without it); use {_extensions()}"
    if array is None:
        return None
    array_in = array
    given = 1 if array.ndim == 2 else array.shape[-1]
    if flattens and given in (2, 4) and "alpha" not in held:  # flattened for this format
        array = array[..., :-1]
    channels = 1 if array.ndim == 2 else array.shape[-1]
    need, what = None, ""
    if array.dtype == np.uint16 and "as 8-bit" not in held:
        need = "16-bit" if channels == 1 else "16-bit colour"
        what = "a 16-bit " + {1: "grayscale", 2: "grayscale+alpha", 3: "RGB", 4: "RGBA"}[channels]
        what += " image" + (" (flattened: its alpha left out)" if given != channels else "")
    elif channels in (2, 4) and not held & {"alpha", "drops alpha"}:
        need, what = "alpha", "an image with transparency (alpha)"
    if need and need not in held:
        if not suggest:
            return what

        def holds(f, e):
            return _output_problem(e, array_in, suggest=False, flattens=flattens) is None

        return f"{ext} cannot hold {what}; use {_extensions(need, where=holds)}"
    # the result's size: round(scale x side), as upscaler.sizing.scaled_size (scale: a float
    # for outscale/width/height)
    h, w = (max(1, round(side * scale)) for side in array.shape[:2])
    over = None
    if max(h, w) > MAX_SIDE.get(fmt, max(h, w)):
        over = f"{ext} holds at most {MAX_SIDE[fmt]} pixels a side, and the result is {w}x{h}"
    elif h * w > MAX_AREA.get(fmt, h * w):
        over = f"{ext} holds at most {MAX_AREA[fmt]:,} pixels, and the result is {w}x{h}"
    if over:
        unlimited = _extensions(  # formats without a size limit that hold the image
            where=lambda f, e: (
                f not in MAX_SIDE
                and f not in MAX_AREA
                and _output_problem(e, array_in, suggest=False, flattens=flattens) is None
            )
        )
        return f"{over}; use {unlimited}"
    return None


def check_output_path(path, array=None, scale=1, flattens=False):
    """Refuse (``ImageError``), before any work, an output file whose format cannot hold the
    result: an extension that is not in ``OUTPUT_EXTENSIONS`` (``.ico``, ``.gif``, ``.txt``,
    none), and, given ``array`` (the input; the result has its dtype and channels) and
    ``scale``, transparency or 16-bit into a format without them (16-bit into JPEG, WebP
    and AVIF is written as 8-bit; alpha into JPEG is dropped), or a side or a pixel count
    over the format's limit (``MAX_SIDE``, ``MAX_AREA``). ``flattens``: the caller
    flattens alpha for a format without it (as ``maffsrn-upscale`` does)."""
    problem = _output_problem(os.path.splitext(path)[1], array, scale, flattens=flattens)
    if problem:
        raise ImageError(f"cannot write {path}: {problem}")


def encode_image(array, ext, info=None, quality=None, name=None):
    """The bytes of ``array`` as an image file of extension ``ext`` (``.png``, ``.jpg``, ...).

    16-bit images stay 16-bit in PNG (every channel count, ``io.png``) and TIFF (grey) and
    become 8-bit in JPEG, WebP and AVIF; ``quality`` (1-100) for JPEG (default 95), WebP
    (Pillow's 80) and AVIF (Pillow's 75). The metadata of ``info`` (``read_image``'s:
    ``icc_profile``, ``exif``, ``xmp``, ``dpi``, PNG's ``gamma``, ``chromaticity`` and
    ``srgb``) is written where the format carries it (the module's table;
    ``without_metadata`` drops EXIF and XMP), and what it cannot store is left out with a
    warning naming the output as ``name`` (default: ``.EXT output``). ``ImageError`` for
    what the format cannot hold (``check_output_path``).
    """
    info = info or {}
    ext = ext.lower()
    name = name or f"{ext} output"
    problem = _output_problem(ext, array)
    if problem:
        raise ImageError(problem)
    fmt = OUTPUT_EXTENSIONS[ext][0]
    if ext in LOSSY:
        array = to_uint8(array)
    channels = 1 if array.ndim == 2 else array.shape[-1]
    if fmt == "PNG":  # 8- and 16-bit, every channel count: io.png (threads, Sub filter)
        meta = _output_metadata(fmt, channels, info, name)
        return encode_png(
            array,
            meta.get("icc_profile"),
            exif=meta.get("exif"),
            xmp=meta.get("xmp"),
            dpi=meta.get("dpi"),
            gamma=meta.get("gamma"),
            chromaticity=meta.get("chromaticity"),
            srgb=meta.get("srgb"),
            text=meta.get("text"),
            software=SOFTWARE,
        )
    im = Image.fromarray(array)
    kwargs = {}
    if fmt == "JPEG":
        if im.mode in ("RGBA", "LA"):
            im = im.convert("RGB" if im.mode == "RGBA" else "L")
        kwargs["quality"] = quality or 95
    elif fmt in ("WEBP", "AVIF") and quality:
        kwargs["quality"] = quality
    # the channels stored: WebP stores grey as RGB, AVIF grey+alpha as RGBA
    stored = len(im.getbands())
    if fmt == "WEBP" or (fmt == "AVIF" and stored == 2):
        stored = 3 if stored == 1 else 4
    meta = _output_metadata(fmt, stored, info, name)
    comment = meta.pop("text", {}).get("Comment") if fmt == "JPEG" else None
    if comment is not None:
        kwargs["comment"] = _jpeg_comment(comment, name)
    if fmt == "TIFF":
        tags = _tiff_tags(meta.pop("exif", None), meta.pop("xmp", None))
        if tags is not None:
            kwargs["exif"] = tags
        # lossless Deflate (Pillow's default writes raw pixels: a 600 DPI A4 scan upscaled
        # x2 took hundreds of MB); every TIFF reader decodes it. (Where libtiff refuses an
        # EXIF tag, uncompressed, the metadata kept.)
        kwargs["compression"] = "tiff_adobe_deflate"
    kwargs.update(meta)
    if fmt == "BMP" and "dpi" not in kwargs:  # 0: none (Pillow's default writes 96 DPI)
        kwargs["dpi"] = (0, 0)
    out = io.BytesIO()
    try:
        im.save(out, format=fmt, **kwargs)
    except RuntimeError:  # libtiff (the compressed TIFF writer) refuses some EXIF tags
        if "compression" not in kwargs:
            raise
        kwargs.pop("compression")  # Pillow's own writer takes them: uncompressed, all kept
        out = io.BytesIO()
        im.save(out, format=fmt, **kwargs)
    return _with_mark(out.getvalue()) if fmt == "JPEG" else out.getvalue()


def _with_mark(jpeg):
    """A JPEG with the mark as a comment segment of its own, after its APPn segments (JFIF's
    APP0 and EXIF's APP1 stay first, where readers look for them) and before the user's
    comment (which readers that show one comment, Pillow's ``info``, show)."""
    at = 2
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF and 0xE0 <= jpeg[at + 1] <= 0xEF:
        at += 2 + struct.unpack(">H", jpeg[at + 2 : at + 4])[0]
    mark = SOFTWARE.encode("ascii")
    return jpeg[:at] + b"\xff\xfe" + struct.pack(">H", len(mark) + 2) + mark + jpeg[at:]


def _jpeg_comment(text, name):
    """A comment as a JPEG's comment segment holds it (UTF-8; at most 65533 bytes, longer
    cut there with a warning)."""
    data = text.encode("utf-8")
    if len(data) > 65533:
        log.warning("%s: a comment of %d bytes is over JPEG's 65533: cut there", name, len(data))
        data = data[:65533].decode("utf-8", "ignore").encode("utf-8")
    return data


def write_image(path, array, info=None, overwrite=True, quality=None):
    """Write ``array`` atomically (temporary file, then rename), in the format of the path's
    extension (``encode_image``, with the metadata of ``info``). Any encoder error is an
    ``ImageError`` naming the file."""
    if os.path.exists(path) and not overwrite:
        raise ImageError(f"output exists: {path} (pass overwrite=True to replace it)")
    try:
        data = encode_image(array, os.path.splitext(path)[1], info, quality, name=path)
        with atomic_output(path, overwrite) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
    except NotARegularFile as err:
        raise ImageError(str(err)) from None
    except OutputExists:  # written by another process while this one worked
        raise ImageError(
            f"output exists: {path} was written by another run meanwhile; it is left as it is"
        ) from None
    except ImageError as err:
        raise ImageError(f"cannot write {path} ({err})") from None
    except Exception as err:  # Pillow and the OS raise many types
        raise ImageError(f"cannot write {path} ({type(err).__name__}: {err})") from None
    return path
