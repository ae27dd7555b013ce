"""Files and folders for ``maffsrn-upscale``: paths, checks, progress, comparison image."""

import os
import sys

import numpy as np
from PIL import Image, ImageDraw

from maffsrn_tf.errors import MaffsrnError, one_line
from maffsrn_tf.io import images
from maffsrn_tf.io.atomic import OUR_TEMPORARY, probe_writable, remove_stale_temporaries
from maffsrn_tf.io.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS
from maffsrn_tf.model.shipped import DEFAULT_VARIANT, sample_photo_path
from maffsrn_tf.upscaler.arrays import upscale_with
from maffsrn_tf.upscaler.engines import make_engine
from maffsrn_tf.upscaler.options import UpscaleOptions
from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP


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


def output_path_for(input_path, output, scale, dtype_16bit_color=False, fmt=""):
    """The output file: ``output`` itself, or ``NAME_x{scale}.EXT`` in it (or in ./out).

    EXT is ``fmt`` when given, else the input's (PNG for 16-bit colour and odd formats). An
    ``output`` file whose extension is not an image format written here
    (``io.images.OUTPUT_EXTENSIONS``: not ``.ico``, ``.gif``, ``.txt``) is an ``UpscaleError``.
    """
    stem, ext = os.path.splitext(os.path.basename(input_path))
    if fmt:
        ext = "." + fmt
    elif dtype_16bit_color or ext.lower() not in images.OUTPUT_EXTENSIONS:
        ext = ".png"
    name = f"{stem}_x{scale}{ext}"
    if not output:
        return os.path.join("out", name)
    if os.path.isdir(output) or output.endswith(os.sep):
        return os.path.join(output, name)
    given = os.path.splitext(output)[1].lower().replace(".jpeg", ".jpg")
    if fmt and given != "." + fmt:
        raise UpscaleError(f"output={output!r} does not end in .{fmt} (fmt={fmt!r})")
    try:
        images.check_output_path(output)
    except images.ImageError as err:
        raise UpscaleError(str(err)) from None
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


def _is_the_input(in_path, out_path):
    """Whether writing ``out_path`` would replace ``in_path``: the same path however spelled,
    a symbolic link to it, or a hard link of it."""
    if os.path.realpath(in_path) == os.path.realpath(out_path):
        return True
    try:
        return os.path.samefile(in_path, out_path)
    except OSError:  # the output does not exist yet
        return False


def _check_output(in_path, out_path, overwrite):
    if _is_the_input(in_path, out_path):  # never, even with overwrite: inputs are not changed
        raise UpscaleError(f"output {out_path} is the input; choose another output")
    if os.path.exists(out_path) and not overwrite:
        raise UpscaleError(f"output exists: {out_path} (pass overwrite=True to replace it)")
    directory = os.path.dirname(os.path.abspath(out_path))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UpscaleError(f"output folder {directory} is a file, not a folder")
    if not os.path.isdir(directory):
        raise UpscaleError(f"output directory does not exist: {directory}")
    try:  # a real probe: permissions, read-only file systems, pseudo file systems
        probe_writable(directory)
    except OSError as err:
        raise UpscaleError(
            f"output directory is not writable: {directory} ({err.strerror})"
        ) from None


def _is_16bit_color(path):
    """Whether the file is a 16-bit colour PNG (its output is PNG whatever its extension)."""
    try:  # only a regular file is read (a FIFO would block the whole run)
        return os.path.isfile(path) and images.is_png16_color(path)
    except OSError:
        return False


def _plan_folder(folder, files, out_dir, scale, fmt, compare):
    """The files of a folder run, checked before any work: two inputs that would write one
    output (``a.jpg`` and ``a.png``) are an ``UpscaleError``; when the output folder is the
    input folder, the outputs of an earlier run (``a_x2.png`` beside ``a.jpg``) are left out,
    with one notice."""
    targets = {}
    for name in files:
        path = os.path.join(folder, name)
        out = output_path_for(path, out_dir + os.sep, scale, _is_16bit_color(path), fmt)
        targets.setdefault(os.path.abspath(out), []).append(name)
        if compare:
            extra = os.path.splitext(out)[0] + "_compare.png"
            targets.setdefault(os.path.abspath(extra), []).append(name)
    same_folder = os.path.isdir(out_dir) and os.path.samefile(folder, out_dir)
    earlier = sorted(
        name
        for name in files
        if same_folder and os.path.abspath(os.path.join(folder, name)) in targets
    )
    if earlier:
        print(
            f"skipping {len(earlier)} earlier output(s) of this command in {folder}: "
            + ", ".join(earlier[:5])
            + (" ..." if len(earlier) > 5 else ""),
            file=sys.stderr,
        )
    for target, sources in targets.items():
        sources = [s for s in sources if s not in earlier]
        if len(sources) > 1:
            raise UpscaleError(
                f"{' and '.join(sources)} would both be written to {os.path.relpath(target)}; "
                "rename one, or upscale them into separate folders"
            )
    return [name for name in files if name not in earlier]


def upscale_file(in_path, out_path, engine, options, label="", create_folder=False):
    """Upscale one file into ``out_path`` (a file, or a folder ending in a separator);
    returns the paths written."""
    try:
        array, info = images.read_image(in_path, max_pixels=options.max_pixels)
    except images.ImageError as err:
        raise UpscaleError(str(err)) from None
    scale = options.scale
    out_path = output_path_for(
        in_path, out_path, scale, array.dtype == np.uint16 and array.ndim == 3, options.fmt
    )
    try:  # a format that cannot hold the result (alpha into .bmp): refused before the model
        images.check_output_path(out_path, array, scale)
    except images.ImageError as err:
        raise UpscaleError(str(err)) from None
    compare_path = os.path.splitext(out_path)[0] + "_compare.png"
    targets = [out_path, compare_path] if options.compare else [out_path]
    # the default ./out is made only once there is something to write into it
    deferred = create_folder and not os.path.isdir(os.path.dirname(os.path.abspath(out_path)))
    for path in [] if deferred else targets:
        _check_output(in_path, path, options.overwrite)
    try:
        result = upscale_with(engine, array, options, progress=_progress_printer(label))
    except MaffsrnError as err:
        raise UpscaleError(f"{in_path}: {err}") from None
    if deferred:
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        for path in targets:
            _check_output(in_path, path, options.overwrite)
    try:
        written = [images.write_image(out_path, result, info, options.overwrite, options.quality)]
        if options.compare:
            compared = comparison(array, result, scale)
            written.append(images.write_image(compare_path, compared, None, options.overwrite))
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
    max_pixels=DEFAULT_MAX_PIXELS,
    fmt="",
    quality=None,
    quantization=DEFAULT_VARIANT,
    on_error=None,
):
    """Upscale a file or every image of a folder; returns the paths written.

    A folder run goes on past a file that fails (``on_error(error)`` is called; by default
    it prints the error to stderr), and raises ``UpscaleError`` listing the failures at the
    end. ``fmt``: png, jpg or webp (default: the input's); ``quality``: 1-100 for jpg/webp;
    ``max_pixels``: larger inputs are refused. The other arguments are ``upscale()``'s.
    """
    try:
        options = UpscaleOptions(
            scale=scale,
            runtime=backend,
            variant=quantization,
            model=model,
            tile=tile,
            overlap=overlap,
            self_ensemble=self_ensemble,
            compare=compare,
            overwrite=overwrite,
            max_pixels=max_pixels,
            fmt=fmt,
            quality=quality,
        )
    except MaffsrnError as err:
        raise UpscaleError(str(err)) from None
    return upscale_files(input_path, output, options, on_error)


def upscale_files(input_path, output, options, on_error=None):
    """``upscale_path`` with its options as one ``UpscaleOptions`` (what ``maffsrn-upscale``
    builds from its flags). ``input_path`` empty: the sample photo, into ``out/``."""
    sample = not input_path
    if sample:
        input_path = sample_image_path()
        output = output or os.path.join("out", f"sample_x{options.scale}.png")
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        options = options.replace(compare=True, overwrite=True)
    if not os.path.exists(input_path):
        raise UpscaleError(f"input not found: {input_path}")
    scale, fmt = options.scale, options.fmt
    single = not os.path.isdir(input_path)
    if single:  # an output format that cannot be written is refused before the model loads
        out_path = output_path_for(input_path, output, scale, _is_16bit_color(input_path), fmt)
    ext = os.path.splitext(out_path)[1].lower() if single else (f".{fmt}" if fmt else "")
    if options.quality is not None and ext and ext not in images.LOSSY:
        raise UpscaleError(  # every word is used or refused: a lossless output has no quality
            f"quality={options.quality} applies to .jpg and .webp outputs, not {ext}"
        )
    try:
        engine = make_engine(options)
    except (MaffsrnError, FileNotFoundError) as err:
        raise UpscaleError(str(err)) from None
    if single:
        remove_stale_temporaries(os.path.dirname(os.path.abspath(out_path)), keep=[input_path])
        return upscale_file(input_path, output, engine, options, create_folder=not output)
    out_dir = output or "out"
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UpscaleError(
            f"output={out_dir!r} must be a folder when input_path={input_path!r} is a folder"
        )
    files = sorted(
        f
        for f in os.listdir(input_path)
        if f.lower().endswith(IMAGE_EXTENSIONS) and not OUR_TEMPORARY.match(f)
    )
    remove_stale_temporaries(out_dir, keep=[os.path.join(input_path, f) for f in files])
    if not files:
        raise UpscaleError(f"no images in folder {input_path}")
    files = _plan_folder(input_path, files, out_dir, scale, fmt, options.compare)
    if options.quality is not None and not fmt:  # outputs keep their inputs' formats
        lossy = [
            name
            for name in files
            if os.path.splitext(name)[1].lower() in images.LOSSY
            and not _is_16bit_color(os.path.join(input_path, name))
        ]
        if not lossy:
            raise UpscaleError(
                f"quality={options.quality} applies to .jpg and .webp outputs, and no image of "
                f"{input_path} is written as one (pass fmt='jpg' or fmt='webp')"
            )
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe_writable(out_dir)  # once, not per image
    except OSError as err:
        raise UpscaleError(f"cannot write into output folder {out_dir}: {err}") from None
    written, failed = [], []
    for i, name in enumerate(files, 1):
        print(f"[{i}/{len(files)}] {one_line(name)}", file=sys.stderr, flush=True)
        try:
            written += upscale_file(
                os.path.join(input_path, name),
                out_dir + os.sep,
                engine,
                options,
                label=f"[{i}/{len(files)}]",
            )
        except UpscaleError as err:  # report, go on with the other images
            if on_error is None:
                print(f"error: {one_line(str(err))}", file=sys.stderr)
            else:
                on_error(err)
            failed.append(name)
    if failed:
        raise UpscaleError(f"{len(failed)} of {len(files)} images failed: {', '.join(failed)}")
    return written
