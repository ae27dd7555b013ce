#!/usr/bin/env python3
"""Upscale an image with a MAFFSRN ``.tflite`` model: only ai-edge-litert, NumPy and Pillow.

    pip install ai-edge-litert numpy pillow
    python run_tflite.py maffsrn_x2_int8.tflite photo.jpg photo_x2.png [--tile 256 --overlap 8]

Works with the dynamic-shape models (any tile size >= 13 px; ``--tile 0``: the whole image at
once) and with fixed-size tile models (the tile is the model's input size), float32 or uint8
input and output (``*_uint8io.tflite``: quantized through the tensors' parameters). Large
images go through overlapping tiles blended with linear ramps, one strip of rows at a time,
so memory stays bounded. Alpha is upscaled by bicubic interpolation; grayscale is run as RGB
and averaged back. 8-bit images only (16-bit and floating-point ones are refused:
maffsrn-upscale reads them); of an animated image the first frame, with a warning. An image
with alpha written as .jpg or .bmp (no transparency) is flattened onto white, with a notice.
The output is written to a temporary file and renamed, so a failure never leaves a partial
file; Ctrl-C or SIGTERM, from the first moment on, ends with one line and 130/143. Without
ai-edge-litert, NumPy or Pillow, ``--help`` still answers and a run is one line naming the
``pip install`` above.

This file is self-contained on purpose (copy it into an app's tooling); it mirrors
``maffsrn_tf.upscaler.tiling.tiled_predict`` without importing TensorFlow.
"""

import os
import signal


def _stopped_while_starting(signum, frame):
    """Ctrl-C or SIGTERM while the imports run (before ``main``): one line, nothing written."""
    words = "interrupted" if signum == signal.SIGINT else "terminated"
    os.write(2, f"error: {words} while starting; no output was written\n".encode())
    os._exit(128 + signum)


# what stops a run with one line (SIGHUP: its terminal closed; not on Windows)
_STOPS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

if __name__ == "__main__":  # from the first moment; not when imported (tests, an app)
    for _signal in _STOPS:
        signal.signal(_signal, _stopped_while_starting)

import argparse  # noqa: E402
import errno  # noqa: E402
import re  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import zlib  # noqa: E402

# what this script needs beyond Python, by the name pip installs it under
REQUIREMENTS = {"ai_edge_litert": "ai-edge-litert", "numpy": "numpy", "PIL": "pillow"}
INSTALL = "pip install ai-edge-litert numpy pillow"
_MISSING = None  # run as a script without them: --help still answers, anything else is one line
try:
    import numpy as np  # noqa: E402
    from ai_edge_litert.interpreter import Interpreter  # noqa: E402
    from PIL import Image, ImageOps  # noqa: E402

    Image.MAX_IMAGE_PIXELS = None  # MAX_PIXELS is checked from the header instead
except ImportError as _err:
    if __name__ != "__main__":  # imported by an app: its own ImportError, as any module's
        raise
    _top = (_err.name or "").split(".")[0]
    _MISSING = (
        f"{REQUIREMENTS[_top]} is not installed"
        if isinstance(_err, ModuleNotFoundError) and _top in REQUIREMENTS
        else f"cannot import what it needs ({_err})"
    )

# maffsrn_tf/model/tiling.json's numbers, copied so this file stands alone (tests hold them equal)
MAX_PIXELS = 200_000_000  # larger inputs refused from their header (maffsrn-upscale's default)
MIN_SIZE = 13  # smallest LR side the model accepts (ESA's stride-2 conv + 7x7/3 max-pool)
TILE = 256  # the default largest tile in LR pixels
OVERLAP = 8  # the default tile overlap in LR pixels


class Model:
    """A MAFFSRN ``.tflite``: float32 [1, H, W, 3] RGB in [0, 1] -> [1, sH, sW, 3] in [0, 1]
    (a model with uint8 input and output is fed and read through its quantization).
    ``allocate=False``: the tensors are allocated (the delegate made) by ``allocate()``, so
    that the flags can be checked against ``fixed`` first."""

    def __init__(self, path, num_threads=2, allocate=True):
        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        self.inp = self.interpreter.get_input_details()[0]
        out = self.interpreter.get_output_details()[0]
        for tensor in (self.inp, out):
            if tensor["dtype"] == np.float32:
                continue
            if tensor["dtype"] != np.uint8 or not tensor["quantization"][0]:
                raise ValueError(
                    f"its {tensor['name']} tensor is {np.dtype(tensor['dtype']).name}"
                    + ("" if tensor["dtype"] != np.uint8 else " without quantization")
                    + ": this script runs MAFFSRN models with float32 or quantized uint8 I/O"
                )
        signature = self.inp["shape_signature"]
        self.fixed = None if -1 in signature[1:3] else int(self.inp["shape"][1])
        self.shape = None
        if allocate:
            self.allocate()

    def allocate(self):
        """Allocate the tensors (LiteRT makes its XNNPACK delegate here)."""
        if self.fixed is None:  # the 1x1 placeholder is below the model's minimum size
            self.interpreter.resize_tensor_input(self.inp["index"], [1, 16, 16, 3], strict=False)
        self.interpreter.allocate_tensors()
        self.shape = tuple(self.interpreter.get_input_details()[0]["shape"])

    def __call__(self, x):
        if x.shape != self.shape:
            self.interpreter.resize_tensor_input(self.inp["index"], x.shape, strict=False)
            self.interpreter.allocate_tensors()
            self.shape = x.shape
        if self.inp["dtype"] == np.uint8:  # uint8 I/O: x / scale + zero point, as LiteRT
            scale, zero = self.inp["quantization"]
            x = np.clip(np.round(x / np.float32(scale) + zero), 0, 255).astype(np.uint8)
        self.interpreter.set_tensor(self.inp["index"], x)
        self.interpreter.invoke()
        out = self.interpreter.get_output_details()[0]
        y = self.interpreter.get_tensor(out["index"])[0]
        if y.dtype == np.uint8:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * np.float32(scale)
        return y


def layout(length, tile, overlap, exact=False):
    """(size, starts): the fewest tiles of at most ``tile`` pixels covering ``length`` with
    ``overlap`` shared pixels, all of one size, spread evenly (``exact``: of ``tile`` pixels,
    for fixed-size models)."""
    if length <= tile:
        return length, [0]
    n = -(-(length - overlap) // (tile - overlap))
    size = tile if exact else max(-(-(length + (n - 1) * overlap) // n), MIN_SIZE)
    return size, [i * (length - size) // (n - 1) for i in range(n)]


def ramp(n, before, after, scale):
    """Per-pixel blend weight along one tile axis: linear ramps over the overlaps."""
    w = np.ones(n, np.float32)
    if before:
        k = before * scale
        w[:k] = (np.arange(k) + 0.5) / k
    if after:
        k = after * scale
        w[n - k :] = np.minimum(w[n - k :], (np.arange(k)[::-1] + 0.5) / k)
    return w


def overlaps(starts, i, size):
    """Pixels tile ``i`` shares with its previous and next neighbour along one axis."""
    before = starts[i - 1] + size - starts[i] if i else 0
    after = starts[i] + size - starts[i + 1] if i + 1 < len(starts) else 0
    return max(before, 0), max(after, 0)


def weight_sums(length, size, starts, scale):
    """Per-pixel ramps of each tile along one axis, and their sum over the tiles (a tile's
    weight is row ramp x column ramp, so the 2-D sum is the outer product of two such sums)."""
    ramps = [ramp(size * scale, *overlaps(starts, i, size), scale) for i in range(len(starts))]
    total = np.zeros(length * scale, np.float32)
    for start, w in zip(starts, ramps):
        total[start * scale : (start + size) * scale] += w
    return ramps, total


def tile_for(fixed, h, w, tile, overlap):
    """The tile an ``h`` x ``w`` image (padded to the model's least size) is run in;
    ``ValueError`` if ``overlap`` is not below half of it (``fixed``: the model's tile)."""
    least = fixed or MIN_SIZE
    h, w = max(h, least), max(w, least)
    tile = fixed or min(tile or max(h, w), max(h, w))
    if max(h, w) > tile and 2 * overlap >= tile:  # one tile covering the image needs none
        raise ValueError(f"--overlap must be below half the tile ({tile})")
    return tile


def upscale_rgb(model, rgb, tile=TILE, overlap=OVERLAP):
    """uint8 H x W x 3 -> uint8 sH x sW x 3, tiled (``tile`` 0: in one piece); holds the
    input and output as uint8 and one strip of tile rows as float32."""
    h0, w0 = rgb.shape[:2]
    least = model.fixed or MIN_SIZE
    x = np.pad(rgb, ((0, max(0, least - h0)), (0, max(0, least - w0)), (0, 0)), mode="edge")
    h, w = x.shape[:2]
    tile = tile_for(model.fixed, h, w, tile, overlap)
    exact = bool(model.fixed)
    (th, ys), (tw, xs) = layout(h, tile, overlap, exact), layout(w, tile, overlap, exact)
    scale = out = acc = None
    try:
        for r, y0 in enumerate(ys):
            if r:  # move rows shared with the previous strip up, clear the rest
                keep = overlaps(ys, r, th)[0] * scale
                acc[:keep] = acc[acc.shape[0] - keep :]
                acc[keep:] = 0
            for c, x0 in enumerate(xs):
                lr = np.multiply(
                    x[None, y0 : y0 + th, x0 : x0 + tw], np.float32(1 / 255), dtype=np.float32
                )
                sr = model(lr)
                if scale is None:  # the first tile tells the scale
                    scale = sr.shape[0] // th
                    out = np.empty((h * scale, w * scale, 3), np.uint8)
                    acc = np.zeros((th * scale, w * scale, 3), np.float32)
                    (wys, wy_sum), (wxs, wx_sum) = (
                        weight_sums(h, th, ys, scale),
                        weight_sums(w, tw, xs, scale),
                    )
                weighted = sr * wys[r][:, None, None]
                weighted *= wxs[c][None, :, None]
                acc[:, x0 * scale : (x0 + tw) * scale] += weighted
            top, end = y0 * scale, (ys[r + 1] if r + 1 < len(ys) else y0 + th) * scale
            rows = acc[: end - top]  # finished rows, normalized in place
            rows /= wy_sum[top:end, None, None]
            rows /= wx_sum[None, :, None]
            rows *= 255
            np.round(rows, out=rows)
            np.clip(rows, 0, 255, out=rows)
            out[top:end] = rows
            done = min(end, h0 * scale)  # of the output's rows (the padding is not output)
            print(f"\rrows {done}/{h0 * scale}", end="", file=sys.stderr, flush=True)
    finally:  # the progress line ends, also when a signal stops the run
        print(file=sys.stderr)
    return out[: h0 * scale, : w0 * scale]


def upscale_image(model, image, tile=TILE, overlap=OVERLAP):
    """A PIL image in, the upscaled PIL image out (RGB, L, RGBA or LA; EXIF orientation applied)."""
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    gray = image.mode in ("L", "LA", "1", "I;16", "I")
    rgba = image.convert("RGBA")
    rgb = np.asarray(rgba)[..., :3]
    sr = upscale_rgb(model, rgb, tile, overlap)
    mode = "RGB"
    if gray:
        sr, mode = ((sr.sum(-1, dtype=np.uint16) + 1) // 3).astype(np.uint8), "L"  # rounded mean
    result = Image.fromarray(sr, mode)
    if has_alpha:
        alpha = rgba.getchannel("A").resize(result.size, Image.BICUBIC)
        result.putalpha(alpha)
    return result


def flatten(image, background=255):
    """An RGBA or LA image over white (``background``, a grey level): RGB or L, each value
    ``colour * a + background * (255 - a)`` over 255, rounded; as maffsrn-upscale flattens
    into a format without transparency. A few rows at a time (bounded memory)."""
    array = np.asarray(image)
    out = np.empty(array.shape[:-1] + (array.shape[-1] - 1,), np.uint8)
    for y in range(0, array.shape[0], 256):
        rows = array[y : y + 256].astype(np.uint32)
        a = rows[..., -1:]
        total = rows[..., :-1] * a + background * (255 - a)
        out[y : y + 256] = (2 * total + 255) // 510
    return Image.fromarray(out[..., 0] if out.shape[-1] == 1 else out, image.mode[:-1])


# formats without transparency: an image with alpha is flattened onto white, with a notice
NO_ALPHA = (".jpg", ".jpeg", ".bmp")
# what this script reads faithfully (16-bit and float images: maffsrn-upscale reads them) and
# the formats it writes (an .ico would cap the size, a .gif quantize the colours)
MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "La", "CMYK", "YCbCr")
OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
# Pillow's raw modes of more than 8 bits a sample, which it opens as an 8-bit mode (a 16-bit
# RGB PNG or TIFF is "RGB" cut to its high bytes); "BGR;16", "RGB;16" are packed 5-6-5 pixels
_DEEP_RAWMODE = re.compile(r";(16[BLN]|32)|^L;16$")


def png_rows_missing(path):
    """``(have, want)`` when a PNG's image data (its IDAT chunks, inflated) ends before the
    rows its header declares, else None: Pillow decodes such a file (cut and re-deflated,
    or from a broken encoder) with the missing rows black and no error. (The package's
    ``maffsrn_tf.io.png.survey`` makes the same check; this file imports no package.)"""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
    inflate, have, want, seen = zlib.decompressobj(), 0, None, False
    with open(path, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        while not inflate.eof:
            head = f.read(8)
            if len(head) < 8:
                break
            length, kind = struct.unpack(">I4s", head)
            body = f.read(length)
            f.seek(4, os.SEEK_CUR)  # its CRC (Pillow checks it)
            if kind == b"IHDR" and length >= 13:
                w, h, depth, colour, _, _, laced = struct.unpack(">IIBBBBB", body[:13])
                bits = depth * channels.get(colour, 4)
                passes = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2),
                          (0, 1, 2, 2), (1, 0, 2, 1)) if laced else ((0, 0, 1, 1),)  # fmt: skip
                want = 0
                for y, x, dy, dx in passes:  # a filter byte and the packed samples of each row
                    pw, ph = (w - x + dx - 1) // dx, (h - y + dy - 1) // dy
                    want += ph * (1 + (pw * bits + 7) // 8) if pw and ph else 0
            elif kind == b"IDAT":
                seen = True
                try:
                    while body and not inflate.eof:
                        have += len(inflate.decompress(body, 1 << 20))
                        body = inflate.unconsumed_tail
                except zlib.error:  # damaged: Pillow says so itself
                    return None
            elif seen or kind == b"IEND":
                break
    return (have, want) if want is not None and have < want else None


def deeper_than_8_bits(image):
    """What ``image`` (opened, not yet loaded) is when it holds more than 8 bits a sample
    (``"16-bit RGB"``, ``"16-bit grayscale"``, ``"floating-point grayscale"``), else None."""
    kinds = {"I": "grayscale", "L": "grayscale", "LA": "grayscale+alpha", "F": "grayscale"}
    if image.mode == "F":
        return "floating-point grayscale"
    for tile in image.tile:
        args = tile[3]
        rawmode = args[0] if isinstance(args, tuple) and args else args
        maxval = args[1] if isinstance(args, tuple) and len(args) > 1 else None
        if not isinstance(rawmode, str):
            continue
        kind = kinds.get(rawmode.split(";")[0], rawmode.split(";")[0])
        if tile[0] == "ppm" and isinstance(maxval, int) and maxval > 255:  # a 16-bit PNM
            return f"16-bit {kinds.get(image.mode, image.mode)}"
        if _DEEP_RAWMODE.search(rawmode):
            return f"{32 if ';32' in rawmode else 16}-bit {kind}"
    if image.mode.startswith("I;16"):
        return "16-bit grayscale"
    if image.mode == "I":
        return "32-bit grayscale"
    return None


def frame_count(image):
    """How many frames ``image`` holds (1 where its file cannot tell)."""
    try:
        return int(getattr(image, "n_frames", 1))
    except Exception:  # a cut animation: its first frame is what is read
        return 1


class _Parser(argparse.ArgumentParser):
    """Flags written in full only (``--til`` is not ``--tile``), and every word used: what
    is left over is one line naming it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):  # one line and exit 1
        if message.startswith("the following arguments are required"):
            # a file named -o5.png was taken for a flag: said as for any unknown flag
            unknown = [
                w
                for w in self._flags
                if w.startswith("-")
                and w not in ("-", "--")
                and w.split("=", 1)[0] not in self._option_string_actions
                and not self._negative_number_matcher.match(w)
            ]
            if unknown:
                message = _leftover(self, unknown)
        print(f"error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(1)

    def parse_args(self, args=None, namespace=None):
        """The arguments; ``given``: the names of the flags the command line gave."""
        words = sys.argv[1:] if args is None else list(args)
        flags = words[: words.index("--")] if "--" in words else words
        self._flags = flags
        if len(words) > 1 and any(w in ("-h", "--help") for w in flags):
            self.error("--help is answered alone: give it without other words")
        namespace, rest = self.parse_known_args(args, namespace)
        if rest:
            self.error(_leftover(self, rest))
        namespace.given = vars(namespace).pop("_given", set())
        return namespace


def _leftover(parser, words):
    """What a parser says of ``words`` it did not take: the first word that looks like a
    flag (with the flag it abbreviates, which is not taken), else the first word."""
    flag = next((w for w in words if w.startswith("-") and w not in ("-", "--")), None)
    if flag is None:
        return (  # argparse's words, and what the script takes
            f"unrecognized arguments: {' '.join(words)}; this script takes MODEL INPUT OUTPUT "
            "and flags"
        )
    name = flag.split("=", 1)[0]
    full = sorted(
        o for o in parser._option_string_actions if o.startswith("--") and o.startswith(name)
    )
    if name.startswith("--") and full:
        return (
            f"unknown flag {name!r}: flags are not abbreviated; write {' or '.join(full)} in full"
        )
    return f"unknown flag {name!r}; a file whose name starts with - goes after --"


class _Once(argparse.Action):
    """A flag's value, refused when the flag is given twice (the last would silently win)."""

    def __init__(self, *args, flag=False, **kwargs):
        self.flag = flag
        super().__init__(*args, **({"nargs": 0} if flag else {}), **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        given = vars(namespace).setdefault("_given", set())
        if self.dest in given:
            parser.error(f"{self.option_strings[-1]} is given twice: give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, True if self.flag else values)


class _Terminated(BaseException):
    """SIGTERM, raised where the script is (past any ``except Exception``), so that the
    temporary output is removed as for Ctrl-C."""


def _terminate(signum, frame):
    raise _Terminated(signum)


def parser():
    """The command line's arguments."""
    p = _Parser(description=__doc__.split("\n")[0])
    p.add_argument("model", help="a MAFFSRN .tflite file")
    p.add_argument("input", help="image file")
    p.add_argument("output", help="output image file (.png keeps it lossless)")
    p.add_argument(
        "--tile",
        type=int,
        default=TILE,
        action=_Once,
        help=f"largest tile in LR pixels (default: {TILE}; 0: the whole image at once; a "
        "fixed-size model's tile is its input size)",
    )
    p.add_argument(
        "--overlap", type=int, default=OVERLAP, action=_Once, help="tile overlap in LR pixels"
    )
    p.add_argument("--threads", type=int, default=2, action=_Once)
    p.add_argument(
        "--overwrite", default=False, action=_Once, flag=True, help="replace an existing output"
    )
    return p


def _unopenable(path):
    """What ``path``, a link that is there but names no file, is: ``"a link loop"``, ``"a
    broken link to X"`` (as maffsrn-upscale says it)."""
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a link loop"
        if err.errno == errno.ENOENT and os.path.islink(path):
            try:
                return f"a broken link to {os.readlink(path)}"
            except OSError:
                return "a broken link"
        return f"not readable ({err.strerror})"
    return "not readable"


def _check_file(path, what):
    if not path:
        kind = "a MAFFSRN .tflite file" if what == "model" else "the image file to upscale"
        raise ValueError(f"the {what} name is empty: name {kind}")
    if os.path.isdir(path):
        raise ValueError(f"{what} {path} is a folder: name a file")
    if os.path.lexists(path) and not os.path.exists(path):  # a link that names no file
        raise ValueError(f"{what} cannot be opened: {path} is {_unopenable(path)}")
    if not os.path.exists(path):
        raise ValueError(f"{what} not found: {path}")
    if not os.path.isfile(path):  # a FIFO or a device would block or never end
        raise ValueError(f"{what} is not a regular file (a pipe or a device?): {path}")


def main(argv=None):
    a = parser().parse_args(argv)  # --help answers without LiteRT, NumPy or Pillow
    if _MISSING:
        print(f"error: {_MISSING}: this script needs ai-edge-litert, NumPy and Pillow: {INSTALL}",
              file=sys.stderr)  # fmt: skip
        return 1
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the start's handlers: replaced
    for stop in _STOPS[1:]:  # SIGTERM, SIGHUP
        signal.signal(stop, _terminate)
    try:
        for path, what in ((a.model, "model"), (a.input, "input")):
            _check_file(path, what)
        if 0 < a.tile < MIN_SIZE or a.tile < 0 or a.overlap < 0 or not 1 <= a.threads <= 256:
            raise ValueError(
                f"--tile must be 0 (the whole image) or at least {MIN_SIZE}, --overlap at "
                f"least 0 and --threads 1..256; got {a.tile}, {a.overlap}, {a.threads}"
            )
        if a.tile == 0 and "overlap" in a.given and "tile" in a.given:  # a word not used
            raise ValueError(
                "--overlap applies between tiles, and --tile 0 runs the image whole: leave one out"
            )
        if not a.output:
            raise ValueError(
                "the output name is empty: name the image file to write (.png keeps it lossless)"
            )
        if os.path.realpath(a.input) == os.path.realpath(a.output) or (
            os.path.exists(a.output) and os.path.samefile(a.input, a.output)
        ):  # a symbolic link to it, or a hard link: the same file under another name
            raise ValueError(
                f"the output {a.output} is the input {a.input} (or a link to it); choose "
                "another output path"
            )
        if os.path.realpath(a.model) == os.path.realpath(a.output) or (
            os.path.exists(a.output)
            and os.path.exists(a.model)
            and os.path.samefile(a.model, a.output)
        ):  # the model would be replaced by the picture
            raise ValueError(
                f"the output {a.output} is the model {a.model} (or a link to it); choose "
                "another output path"
            )
        if os.path.exists(a.output) and not os.path.isfile(a.output):  # /dev/null, a FIFO
            raise ValueError(f"{a.output} exists and is not a regular file; name another file")
        if os.path.exists(a.output) and not a.overwrite:
            raise ValueError(f"{a.output} exists; pass --overwrite to replace it")
        ext = os.path.splitext(a.output)[1]
        if ext.lower() not in OUTPUT_EXTENSIONS:
            raise ValueError(
                f"{a.output}: {ext or 'no extension'} is not a format this writes; use "
                + ", ".join(OUTPUT_EXTENSIONS)
            )
        directory = os.path.dirname(os.path.abspath(a.output))
        if not os.path.isdir(directory):
            raise ValueError(f"output folder does not exist: {directory}")
        if not os.access(directory, os.W_OK):
            raise ValueError(f"output folder is not writable: {directory}")
        try:
            model = Model(a.model, a.threads, allocate=False)  # its flags are checked first
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"cannot load {a.model} as a TFLite model: {err}") from None
        if model.fixed and "tile" in a.given and a.tile != model.fixed:
            raise ValueError(
                f"--tile {a.tile}: {a.model} takes {model.fixed}x{model.fixed} tiles only; "
                "leave --tile out"
            )
        try:
            with Image.open(a.input) as im:
                if im.size[0] * im.size[1] > MAX_PIXELS:  # from the header, before decoding
                    raise ValueError(
                        f"{a.input} is {im.size[0]}x{im.size[1]}, over this script's "
                        f"{MAX_PIXELS // 10**6} megapixels: maffsrn-upscale --max_megapixels "
                        "reads larger images"
                    )
                deep, fmt = deeper_than_8_bits(im), im.format
                frames = frame_count(im)
                if not deep:
                    im.load()
                    image = im.copy()
        except (OSError, Image.DecompressionBombError) as err:
            raise ValueError(f"cannot read {a.input} as an image: {err}") from None
        short = not deep and fmt == "PNG" and png_rows_missing(a.input)
        if short:  # Pillow leaves the missing rows black, without a word
            raise ValueError(
                f"{a.input} is cut short or damaged: its image data holds {short[0]:,} of the "
                f"{short[1]:,} bytes its header declares (the rows after are missing)"
            )
        if deep:
            raise ValueError(
                f"{a.input} is a {deep} image (16-bit or floating point): this script "
                "reads 8-bit images only; maffsrn-upscale reads it"
            )
        if image.mode not in MODES:
            raise ValueError(
                f"{a.input} is a {image.mode} image: this script reads RGB, grayscale, palette "
                "and CMYK images; convert it to RGB first"
            )
        tile_for(model.fixed, *image.size[::-1], a.tile, a.overlap)
        try:
            model.allocate()
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"cannot load {a.model} as a TFLite model: {err}") from None
        if frames > 1:
            print(
                f"warning: {a.input} has {frames} frames: only the first frame is upscaled",
                file=sys.stderr,
            )
        result = upscale_image(model, image, a.tile, a.overlap)
        if ext.lower() in NO_ALPHA and result.mode in ("RGBA", "LA"):
            result = flatten(result)
            print(
                f"warning: {ext} has no transparency: it is flattened onto white",
                file=sys.stderr,
            )
        tmp = None
        try:
            try:
                fd, tmp = tempfile.mkstemp(
                    prefix=f".tmp-p{os.getpid()}-", suffix=ext, dir=directory
                )
                os.close(fd)
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)  # as any new file (mkstemp's is private)
                result.save(tmp)
                if a.overwrite:
                    os.replace(tmp, a.output)
                else:  # only if the name is still free (another run may have written it)
                    os.link(tmp, a.output)
            finally:
                if tmp and os.path.exists(tmp):
                    os.unlink(tmp)
        except FileExistsError:
            raise ValueError(f"{a.output} exists; pass --overwrite to replace it") from None
        except (OSError, ValueError, KeyError) as err:  # KeyError: Pillow, unknown extension
            raise ValueError(f"cannot write {a.output} ({type(err).__name__}: {err})") from None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; no output was written", file=sys.stderr)
        return 130
    except _Terminated as stop:
        print("error: terminated; no output was written", file=sys.stderr)
        return 128 + (stop.args[0] if stop.args else signal.SIGTERM)
    print(
        f"{a.input} {image.size[0]}x{image.size[1]} -> {a.output} {result.size[0]}x{result.size[1]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
