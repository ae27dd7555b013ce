"""Files and folders for ``maffsrn-upscale``: paths, checks, progress, comparison image."""

import os
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

from maffsrn_tf import images
from maffsrn_tf.assets import sample_photo_path
from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.images import IMAGE_EXTENSIONS
from maffsrn_tf.inference import DEFAULT_OVERLAP
from maffsrn_tf.presets import check_scale
from maffsrn_tf.upscaler.arrays import make_backend, upscale


class UpscaleError(MaffsrnError):
    """A problem with the user's request: printed as one line, exit code 1."""


def sample_image_path():
    """The sample photo shipped in the package (Grace Hopper, public domain)."""
    path = sample_photo_path()
    if not os.path.isfile(path):
        raise UpscaleError(
            f"the sample photo is missing from the install ({path}); pass input_path=IMAGE"
        )
    return path


FORMATS = ("png", "jpg", "webp")


def output_path_for(input_path, output, scale, dtype_16bit_color=False, fmt=""):
    """The output file: ``output`` itself, or ``NAME_x{scale}.EXT`` in it (or in ./out).

    EXT is ``fmt`` when given, else the input's (PNG for 16-bit colour and odd formats).
    """
    stem, ext = os.path.splitext(os.path.basename(input_path))
    if fmt:
        ext = "." + fmt
    elif dtype_16bit_color or ext.lower() not in (
        ".png",
        ".jpg",
        ".jpeg",
        ".bmp",
        ".tif",
        ".tiff",
        ".webp",
    ):
        ext = ".png"
    name = f"{stem}_x{scale}{ext}"
    if not output:
        return os.path.join("out", name)
    if os.path.isdir(output) or output.endswith(os.sep):
        return os.path.join(output, name)
    given = os.path.splitext(output)[1].lower().replace(".jpeg", ".jpg")
    if fmt and given != "." + fmt:
        raise UpscaleError(f"output={output!r} does not end in .{fmt} (fmt={fmt!r})")
    return output


def _progress_printer(label):
    if not sys.stderr.isatty():
        return None

    def show(done, total):
        bar = "#" * int(30 * done / total)
        print(f"\r{label} [{bar:<30}] {done}/{total} tiles", end="", file=sys.stderr)
        if done == total:
            print(file=sys.stderr)

    return show


def comparison(low, high, scale):
    """Side by side: bicubic upscaling of ``low`` | ``high`` (8-bit RGB), labelled."""

    def to8(a):
        a = a if a.dtype == np.uint8 else (a >> 8).astype(np.uint8)
        a = a[..., :3] if a.ndim == 3 else np.repeat(a[..., None], 3, -1)
        return Image.fromarray(np.ascontiguousarray(a))

    lo, hi = to8(low), to8(high)
    bicubic = lo.resize(hi.size, Image.BICUBIC)
    canvas = Image.new("RGB", (hi.width * 2 + 8, hi.height), "white")
    canvas.paste(bicubic, (0, 0))
    canvas.paste(hi, (hi.width + 8, 0))
    draw = ImageDraw.Draw(canvas)
    for x, text in ((4, f"bicubic x{scale}"), (hi.width + 12, f"MAFFSRN x{scale}")):
        draw.rectangle((x - 2, 2, x + 8 * len(text), 16), fill="black")
        draw.text((x, 4), text, fill="white")
    return np.asarray(canvas)


def _check_output(in_path, out_path, overwrite):
    if os.path.abspath(in_path) == os.path.abspath(out_path) and not overwrite:
        raise UpscaleError(
            f"output {out_path} is the input; choose another output "
            "(or pass overwrite=True to replace the input)"
        )
    if os.path.exists(out_path) and not overwrite:
        raise UpscaleError(f"output exists: {out_path} (pass overwrite=True to replace it)")
    directory = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(directory):
        raise UpscaleError(f"output directory does not exist: {directory}")
    try:  # a real probe: permissions, read-only file systems, pseudo file systems
        fd, probe = tempfile.mkstemp(prefix=".tmp-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UpscaleError(
            f"output directory is not writable: {directory} ({err.strerror})"
        ) from None


def upscale_file(
    in_path,
    out_path,
    scale,
    backend,
    tile,
    overlap,
    self_ensemble,
    compare,
    overwrite,
    max_pixels,
    fmt="",
    quality=None,
    label="",
):
    images.MAX_PIXELS = max_pixels
    try:
        array, info = images.read_image(in_path)
    except images.ImageError as err:
        raise UpscaleError(str(err)) from None
    out_path = output_path_for(
        in_path, out_path, scale, array.dtype == np.uint16 and array.ndim == 3, fmt
    )
    _check_output(in_path, out_path, overwrite)
    compare_path = os.path.splitext(out_path)[0] + "_compare.png"
    if compare:
        _check_output(in_path, compare_path, overwrite)
    try:
        result = upscale(
            array,
            scale,
            model=backend,
            tile=tile,
            overlap=overlap,
            self_ensemble=self_ensemble,
            progress=_progress_printer(label),
        )
    except MaffsrnError as err:
        raise UpscaleError(f"{in_path}: {err}") from None
    try:
        written = [images.write_image(out_path, result, info, quality=quality)]
        if compare:
            written.append(images.write_image(compare_path, comparison(array, result, scale)))
    except images.ImageError as err:
        raise UpscaleError(str(err)) from None
    return written


def upscale_path(
    input_path,
    output,
    scale,
    backend="auto",
    model=None,
    tile=None,
    overlap=DEFAULT_OVERLAP,
    self_ensemble=False,
    compare=False,
    overwrite=False,
    max_pixels=200_000_000,
    fmt="",
    quality=None,
    quantization="float16",
    on_error=None,
):
    """Upscale a file or every image of a folder; returns the paths written.

    A folder run goes on past a file that fails (``on_error(error)`` is called; by default
    it prints the error to stderr), and raises ``UpscaleError`` listing the failures at the
    end. ``fmt``: png, jpg or webp (default: the input's); ``quality``:
    1-100 for jpg/webp. ``backend``, ``model`` and ``quantization`` as in ``make_backend``.
    """
    try:
        scale = check_scale(scale)
    except MaffsrnError as err:
        raise UpscaleError(str(err)) from None
    if fmt and fmt not in FORMATS:
        raise UpscaleError(f"fmt={fmt!r} is not one of {', '.join(FORMATS)}")
    if quality is not None and not 1 <= quality <= 100:
        raise UpscaleError(f"quality={quality} is not in 1..100")
    sample = not input_path
    if sample:
        input_path = sample_image_path()
        compare = True
        output = output or os.path.join("out", f"sample_x{scale}.png")
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        overwrite = True
    if not os.path.exists(input_path):
        raise UpscaleError(f"input not found: {input_path}")
    if not output:
        os.makedirs("out", exist_ok=True)
    try:
        engine = make_backend(scale, model, backend, quantization=quantization)
    except (MaffsrnError, FileNotFoundError) as err:
        raise UpscaleError(str(err)) from None
    settings = dict(
        scale=scale,
        backend=engine,
        tile=tile,
        overlap=overlap,
        self_ensemble=self_ensemble,
        compare=compare,
        overwrite=overwrite,
        max_pixels=max_pixels,
        fmt=fmt,
        quality=quality,
    )
    if not os.path.isdir(input_path):
        return upscale_file(input_path, output, **settings)
    files = sorted(f for f in os.listdir(input_path) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise UpscaleError(f"no images in folder {input_path}")
    out_dir = output or "out"
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UpscaleError(f"output={out_dir!r} must be a folder when input_path is a folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as err:
        raise UpscaleError(f"cannot create output folder {out_dir}: {err}") from None
    written, failed = [], []
    for i, name in enumerate(files, 1):
        print(f"[{i}/{len(files)}] {name}", file=sys.stderr, flush=True)
        try:
            written += upscale_file(
                os.path.join(input_path, name),
                out_dir + os.sep,
                label=f"[{i}/{len(files)}]",
                **settings,
            )
        except UpscaleError as err:  # report, go on with the other images
            if on_error is None:
                print(f"error: {err}", file=sys.stderr)
            else:
                on_error(err)
            failed.append(name)
    if failed:
        raise UpscaleError(f"{len(failed)} of {len(files)} images failed: {', '.join(failed)}")
    return written
