"""Files and folders for ``maffsrn-upscale``: what a run reads and writes, checked before
any work, then done image by image with progress.

A run takes files and folders (several at once, as a shell gives them). A folder gives its
images (every format Pillow reads, by extension) and videos (``upscaler.video``: by
extension, or probed; other files are counted and named once), and with ``recursive`` those
of its subfolders, mirrored under the output folder (links to folders are followed once: a
loop is not walked twice). Outputs are named ``NAME_x2.png``, ``NAME_x3.5.png``
(``outscale``) or ``NAME_1920x1080.png`` (a ``width``/``height`` box), and their folders are
made as needed. Everything that would go wrong for the whole run (an output that is an
input, two inputs writing one output, an output folder that is a file) is refused before a
model is loaded; a file that fails alone is reported and the run goes on.
"""

import dataclasses
import logging
import os
import re
import stat
import sys

import numpy as np
from PIL import Image, ImageDraw

from maffsrn_tf.errors import MaffsrnError, a_or_an, listed, one_line
from maffsrn_tf.io import images
from maffsrn_tf.io.atomic import (
    OUR_TEMPORARY,
    folder_problem,
    not_a_regular_file,
    probe_writable,
    remove_stale_temporaries,
)
from maffsrn_tf.io.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS
from maffsrn_tf.io.paths import (
    PACKAGE_DIR,
    dotdot_after_link,
    made_folders,
    name_too_long,
    not_found,
    package_file,
    unreadable_entry,
    within,
)
from maffsrn_tf.io.progress import is_terminal, progress_bar
from maffsrn_tf.model.shipped import DEFAULT_VARIANT, sample_photo_path
from maffsrn_tf.upscaler.arrays import composite, upscale_with
from maffsrn_tf.upscaler.engines import make_engine
from maffsrn_tf.upscaler.options import UpscaleOptions
from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP, fixed_tile_problem

log = logging.getLogger("maffsrn_tf")


class UpscaleError(MaffsrnError):
    """A problem with the user's request: printed as one line, exit code 1. ``written``:
    the outputs a run finished before it failed (a folder run with failures)."""

    def __init__(self, message, written=()):
        super().__init__(message)
        self.written = list(written)


def sample_image_path():
    """The sample photo shipped in the package (Grace Hopper, public domain)."""
    path = sample_photo_path()
    if not os.path.isfile(path):
        raise UpscaleError(
            f"the sample photo is missing from the install ({path}); pass input_path=IMAGE"
        )
    return path


_SLASHES = (os.sep, "/")  # a trailing slash names a folder (on Windows either slash)


def output_path_for(input_path, output, scale, dtype_16bit_color=False, fmt=""):
    """The output file: ``output`` itself, or ``NAME_x{scale}.EXT`` in it (or in ./out).

    ``scale``: the factor (2), or the name's tag as a string (``x3.5``, ``1920x1080``). EXT
    is ``fmt`` when given, else the input's (PNG for 16-bit colour and odd formats). An
    ``output`` file whose extension is not an image format written here
    (``io.images.OUTPUT_EXTENSIONS``: not ``.ico``, ``.gif``, ``.txt``) is an ``UpscaleError``.
    """
    stem, ext = os.path.splitext(os.path.basename(input_path))
    if fmt:
        ext = "." + fmt
    elif dtype_16bit_color:
        ext = ".png"
    elif ext.lower() not in images.OUTPUT_EXTENSIONS:  # .jfif, .jpe: a JPEG stays one
        ext = _written_as(ext)
    tag = scale if isinstance(scale, str) else f"x{scale}"
    name = f"{stem}_{tag}{ext}"
    if not output:
        return os.path.join("out", name)
    if os.path.isdir(output) or output.endswith(_SLASHES):
        return os.path.join(output, name)
    if fmt and _canonical(os.path.splitext(output)[1]) != _canonical("." + fmt):
        raise UpscaleError(f"output={output!r} does not end in .{fmt} (fmt={fmt!r})")
    try:
        images.check_output_path(output)
    except images.ImageError as err:
        raise UpscaleError(str(err)) from None
    return output


def _written_as(ext):
    """The output extension of an input extension no writer takes: its format's own
    (``.jfif`` and ``.jpe`` are JPEG: ``.jpg``), else ``.png``."""
    kind = Image.registered_extensions().get(ext.lower())
    for out_ext, (out_kind, _) in images.OUTPUT_EXTENSIONS.items():
        if kind == out_kind:
            return out_ext
    return ".png"


def _canonical(ext):
    """An extension as ``--format`` names it (``.jpeg`` is ``.jpg``, ``.tif`` is ``.tiff``)."""
    ext = ext.lower()
    return {".jpeg": ".jpg", ".tif": ".tiff"}.get(ext, ext)


def _tile_progress(label, nested):
    """``progress(done, total)`` for the tiles of one image: a bar on a terminal (below a
    folder run's bar when ``nested``), shown once there is more than one tile."""
    state = {}

    def show(done, total):
        if total <= 1:
            return
        if "bar" not in state:
            state["bar"] = progress_bar(
                total, label, "tile", position=int(nested), leave=not nested
            )
        bar = state["bar"]
        if bar is None:
            return
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return show if is_terminal() else None


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
    for x, text in ((4, f"bicubic {scale}"), (hi.width + 12, f"MAFFSRN {scale}")):
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


def _broken_link(path):
    """The line for an output that is a broken or looping symbolic link (``overwrite``
    replaces the link, never what it names), or None."""
    if os.path.islink(path) and not os.path.exists(path):
        return (
            f"output {path} is a broken or looping link: remove it, or pass overwrite=True to "
            "replace it"
        )
    return None


def _check_output(in_path, out_path, overwrite):
    if _is_the_input(in_path, out_path):  # never, even with overwrite: inputs are not changed
        raise UpscaleError(f"output {out_path} is the input; choose another output")
    if not_a_regular_file(out_path):  # /dev/null, a FIFO: never replaced, even with overwrite
        raise UpscaleError(f"output {out_path} exists and is not a regular file: name another")
    if os.path.lexists(out_path) and not overwrite:
        raise UpscaleError(
            _broken_link(out_path)
            or f"output exists: {out_path} (pass overwrite=True to replace it)"
        )
    directory = os.path.dirname(os.path.abspath(out_path))
    problem = folder_problem(directory)
    if problem:
        raise UpscaleError(f"cannot write into output folder {directory}: {problem}")


def _is_16bit_color(path):
    """Whether the file is a 16-bit colour PNG (its output is PNG whatever its extension)."""
    try:  # only a regular file is read (a FIFO would block the whole run)
        return os.path.isfile(path) and images.is_png16_color(path)
    except OSError:
        return False


def _is_whole(path, size):
    """Whether an existing output is a whole image of ``size`` (width, height): decodable
    to its end (a file cut short by a crash of another tool is not), a PNG ending in its
    ``IEND`` chunk. Only a regular file is read: a FIFO would block."""
    if not os.path.isfile(path):
        return False
    try:
        with images.open_image(path, path) as im:  # never handed to another program
            if im.size != size:
                return False
            im.load()
            png = im.format == "PNG"
        if png:  # the pixels can all be there and the file cut before its IEND chunk
            with open(path, "rb") as f:
                f.seek(-12, os.SEEK_END)
                return f.read() == _PNG_END
        return True
    except Exception:
        return False


_PNG_END = b"\0\0\0\0IEND\xaeB`\x82"  # a PNG's last chunk: IEND, empty, and its CRC


@dataclasses.dataclass
class _Job:
    """One input of a run: where it is read and written, and its name in messages."""

    source: str
    target: str = ""
    label: str = ""
    problem: str = ""  # why this file alone cannot be done (found while planning)
    redo: bool = False  # its existing output is cut short: replaced (skip_existing)
    named: bool = False  # given by name (not found in a folder): never taken for an output
    size: tuple = ()  # (width, height) of the output, when known before the run
    video: bool = False  # a video (``upscaler.video``), not an image


def _walk(folder, recursive, exclude):
    """``(images, others, broken)``: the image and video files of ``folder`` (relative
    paths, sorted; a file of another extension is a video when PyAV opens it as one), the
    other files, and the entries of other extensions that cannot be opened with why
    (``"notes (a link loop)"``);
    with ``recursive`` its subfolders' too (each real folder once, ``exclude``'s real paths
    left out: the output folder inside the input). An entry whose path is longer than the
    system allows is an ``UpscaleError``: what lies under it could not be read."""
    from maffsrn_tf.upscaler.video import VIDEO_EXTENSIONS, is_video

    found, others, broken, seen = [], [], [], set()

    def visit(path, rel):
        try:
            key = os.stat(path)
        except OSError:
            return
        if (key.st_dev, key.st_ino) in seen or os.path.realpath(path) in exclude:
            return
        seen.add((key.st_dev, key.st_ino))
        try:
            entries = sorted(os.listdir(path))
        except OSError as err:
            raise UpscaleError(f"cannot list folder {path}: {err.strerror}") from None
        for name in entries:
            full, sub = os.path.join(path, name), os.path.join(rel, name) if rel else name
            if OUR_TEMPORARY.match(name):
                continue
            try:  # one stat an entry: what it is, or (failing) why it cannot be opened
                mode = os.stat(full).st_mode
            except OSError:
                mode = None
            if mode is not None and stat.S_ISDIR(mode):
                if recursive:
                    visit(full, sub)
                continue
            if images.is_resource_fork(name):
                apple.append(sub)
                continue
            image = name.lower().endswith(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
            if not image and name.startswith("."):
                continue
            # an image's name: it fails alone, as it is read
            why = "" if mode is not None else unreadable_entry(full)
            if why.startswith("its path is longer"):
                shown = full if len(full) <= 160 else f"{full[:100]}...{full[-50:]}"
                raise UpscaleError(
                    f"cannot read {shown}: {why}; upscale the folder that holds it on its own"
                )
            if why and not image:
                broken.append(f"{sub} ({why})")
            elif image:
                found.append(sub)
            else:
                (found if is_video(full) else others).append(sub)

    apple = []
    visit(folder, "")
    if apple:
        log.warning("skipping %d macOS metadata file%s (._NAME, e.g. %s: a copy's resource "
                    "fork, not a picture)", len(apple), "s" if len(apple) > 1 else "",
                    one_line(os.path.join(folder, apple[0])))  # fmt: skip
    return found, others, broken


def _name(options, path):
    """The output's name tag for ``path`` (``x2``, ``x3.5``, ``1920x1080``) and the output
    size (width, height) when it is known from the header (else ``()``)."""
    if not options.sized or options.outscale is not None:
        if not options.sized:
            return f"x{options.scale}", ()
        return options.name_factor(1, 1), ()
    size = _planned_size(options, path)
    return f"{size[0]}x{size[1]}", size


def _planned_size(options, path):
    """The (width, height) ``options`` give the image at ``path``, from its header."""
    h, w = images.image_size(path)
    _, out_h, out_w = options.plan(h, w)
    return (out_w, out_h)


def _plan(inputs, output, options, video_options=None):
    """The jobs of a run, checked: ``(jobs, single)``; ``single``: one file given, whose
    ``output`` may name the output file itself. Videos are written as ``video_options``
    say (``upscaler.video.VideoOptions``)."""
    from maffsrn_tf.upscaler import video

    video_options = video_options or video.VideoOptions()
    for path in inputs:
        if not os.path.lexists(path):
            raise UpscaleError(not_found("input", path))
        if not os.path.exists(path):
            raise UpscaleError(f"input cannot be opened: {path} is {unreadable_entry(path)}")
    if options.recursive and not any(os.path.isdir(p) for p in inputs):
        raise UpscaleError("recursive=True walks folders, and every input is a file")
    single = len(inputs) == 1 and not os.path.isdir(inputs[0])
    if package_file(output or "out"):  # its sample photo is what a run without input reads
        raise UpscaleError(
            f"output={output or 'out'!r} lies in the maffsrn_tf package ({PACKAGE_DIR}): its "
            "shipped files are never replaced, even with overwrite=True; write it elsewhere"
        )
    if not single:
        _check_output_folder(output, inputs)
    out_real = os.path.realpath(output) if output else os.path.realpath("out")
    jobs, others, broken, fmt = [], [], [], options.fmt
    for given in inputs:
        if not os.path.isdir(given):
            jobs.append(_Job(given, label=given, named=True))
            continue
        inside = options.recursive and out_real != os.path.realpath(given)
        if inside and within(out_real, given):
            log.warning(
                "not reading the output folder %s inside %s", one_line(output), one_line(given)
            )
        found, rest, unread = _walk(given, options.recursive, {out_real} if inside else ())
        others += [os.path.join(given, r) for r in rest]
        broken += [os.path.join(given, r) for r in unread]
        if not found:
            if len(inputs) == 1:
                raise UpscaleError(f"no images or videos in folder {given}")
            log.warning("no images or videos in folder %s", one_line(given))
        for rel in found:
            target = os.path.join(output or "out", os.path.dirname(rel), "")
            jobs.append(_Job(os.path.join(given, rel), target, rel))
    jobs = _once_each(jobs)
    heif = [o for o in others if o.lower().endswith(images.HEIF_EXTENSIONS)]
    if heif:  # iPhone photos: named, with what to do
        others = [o for o in others if o not in heif]
        log.warning("skipping %d HEIC/HEIF photo%s (e.g. %s): %s", len(heif),
                    "s" if len(heif) > 1 else "", one_line(heif[0]), images.HEIF_FIX)  # fmt: skip
    if others:
        names = ", ".join(one_line(o) for o in others[:5])
        more = " ..." if len(others) > 5 else ""
        named = ", ".join(video.VIDEO_EXTENSIONS)
        what = "without an image extension, nor videos" if video.have_av() else (
            f"without an image extension (a video named otherwise than {named} is found with "
            f"PyAV: {video.VIDEO_INSTALL})")  # fmt: skip
        log.warning("skipping %d file(s) %s: %s%s", len(others), what, names, more)
    if broken:
        names = ", ".join(one_line(b) for b in broken[:5]) + (" ..." if len(broken) > 5 else "")
        log.warning("skipping %d entr%s that cannot be opened: %s", len(broken),
                    "y" if len(broken) == 1 else "ies", names)  # fmt: skip
    for job in jobs:  # an image extension is an image; another is probed
        job.video = not job.source.lower().endswith(IMAGE_EXTENSIONS) and video.is_video(job.source)
    _check_video_run(jobs, options, video_options, single)
    for job in jobs:
        if job.problem:  # a video without PyAV
            continue
        where = job.target or (output if single else os.path.join(output or "out", ""))
        try:
            if job.video:  # a box's tag needs the frames' size
                box = options.sized and options.outscale is None
                tag = video.name_tag(options, video.probe(job.source, whole=False) if box else None)
                job.target = video.output_path(job.source, where, tag, video_options.container)
            else:
                tag, job.size = _name(options, job.source)
                sixteen = _is_16bit_color(job.source)
                job.target = output_path_for(job.source, where, tag, sixteen, fmt)
            if os.path.isdir(job.target):
                raise UpscaleError(
                    f"output {job.target} is a folder: move it, or choose another output"
                )
            written = [job.target]
            if options.compare and not job.video:
                written.append(os.path.splitext(job.target)[0] + "_compare.png")
            for path in written:
                long = name_too_long(path)
                if long:
                    raise UpscaleError(f"output {path}: {long}; rename the input")
        except (images.ImageError, MaffsrnError) as err:
            if single:
                raise UpscaleError(str(err)) from None
            job.problem = str(err)
            job.target = ""
    return _drop_earlier_outputs(jobs, options), single


def _once_each(jobs):
    """The jobs of different files: a file given twice (``a.png a.png``, ``a.png ./a.png``,
    a link to it, or a shell glob that overlaps a folder) is done once, and said."""
    seen, kept, links = {}, [], []
    for job in jobs:
        key = os.path.realpath(job.source)
        if key in seen and job.named:  # named on the command line too: an input, whatever
            seen[key].named = True  # its name (never taken for an earlier output)
        if key not in seen:
            seen[key] = job
            kept.append(job)
        elif os.path.abspath(job.source) == os.path.abspath(seen[key].source):
            links.append(one_line(job.source))
        else:
            links.append(f"{one_line(job.label)} (the same file as {one_line(seen[key].label)})")
    if links:  # every word is used: a second mention of one file is said, not dropped
        more = " ..." if len(links) > 5 else ""
        log.warning("upscaling once each file given twice: %s%s", ", ".join(links[:5]), more)
    return kept


def _check_video_run(jobs, options, video_options, single):
    """Before any work: the videos of a run need PyAV; options of one kind of input in a run
    with none of that kind are refused (every word is used); in a run of both kinds, the
    image-only options apply to the images (``_image_only_notice``)."""
    from maffsrn_tf.upscaler import video

    videos = [job for job in jobs if job.video]
    if not videos:
        given = [f"{f.name}={getattr(video_options, f.name)!r}"
                 for f in dataclasses.fields(video_options)
                 if getattr(video_options, f.name) not in ("", None)]  # fmt: skip
        if given:
            raise UpscaleError(f"{given[0]} applies to videos, and this run has none")
        return
    if not video.have_av():
        install = f"videos are read and written with PyAV: {video.VIDEO_INSTALL}"
        for job in videos:  # a picture named as a video: said so, as PyAV would find
            kind = _image_kind(job.source)
            if kind:
                job.problem = (
                    f"{job.source} is {a_or_an(kind)} image, not a video: give it an image "
                    "extension to upscale it as an image"
                )
                if single:
                    raise UpscaleError(job.problem)
                job.target = ""
        videos = [job for job in videos if not job.problem]
        if not videos:
            return
        if single or len(videos) == len(jobs):
            names = ", ".join(one_line(j.label) for j in videos[:3]) + " ..." * (len(videos) > 3)
            what = names if single else f"{len(videos)} video(s) ({names})"
            raise UpscaleError(f"{what}: {install}")
        for job in videos:  # the images of the run are done; each video fails alone
            job.problem = f"{job.source}: {install}"
            job.target = ""
        return
    if len(videos) == len(jobs):  # quality: _check_quality says it
        if options.fmt:
            raise UpscaleError(
                f"fmt={options.fmt!r} is an image format; a video keeps its container "
                "(container='mkv' changes it)"
            )
        if options.compare:
            raise UpscaleError("compare=True writes image comparisons; videos get none")


def _image_kind(path):
    """The format Pillow reads ``path`` as (``PNG``), or ``""`` for what it does not read."""
    try:
        with images.open_image(path, path) as im:
            return im.format or ""
    except Exception:  # Pillow raises many kinds for what is not an image
        return ""


def _image_only_notice(jobs, options):
    """In a run of images and videos, a notice that the image-only options (format,
    quality, comparisons) apply to the images; said once every check has passed (not before
    a refusal)."""
    image_only = [f"the format ({options.fmt})"] if options.fmt else []
    image_only += [f"the quality ({options.quality})"] if options.quality is not None else []
    image_only += ["the comparisons"] if options.compare else []
    if image_only and any(j.video for j in jobs) and not all(j.video for j in jobs):
        log.warning("for the images of this run only: %s; videos keep their container and "
                    "crf", ", ".join(image_only))  # fmt: skip


# an earlier output's name: NAME_x2, NAME_x3.5 or NAME_1920x1080 (and _compare)
_EARLIER = re.compile(r"^(.+)_(?:x(\d+(?:\.\d+)?)|(\d+)x(\d+))(_compare)?$")


def _check_output_folder(output, inputs):
    out_dir = output or "out"
    problem = folder_problem(out_dir)
    if problem and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UpscaleError(
            f"output={out_dir!r} must be a folder when there are several inputs or a folder "
            f"(input_path={inputs[0]!r})"
        )
    if problem:
        raise UpscaleError(f"cannot write into output folder {out_dir}: {problem}")
    ext = os.path.splitext(out_dir)[1].lower()  # new.png/ (a trailing slash) is a folder
    if not os.path.exists(out_dir) and ext in images.OUTPUT_EXTENSIONS:
        raise UpscaleError(
            f"output={out_dir!r} looks like a file name, but several files are written: name "
            f"a folder (end it in /: {out_dir}/)"
        )


def _drop_earlier_outputs(jobs, options):
    """Two inputs that would write one output (``a.jpg`` and ``a.png``) are an
    ``UpscaleError``; inputs that are outputs of an earlier run (``a_x2.png`` beside
    ``a.jpg`` when the output folder is the input folder) are left out, with one notice.
    With ``overwrite``, such a file that does not carry the mark of our outputs
    (``images.written_here``: PNG and JPEG carry it) is not replaced: its input fails,
    naming it."""
    targets, compares = {}, set()
    for job in jobs:
        if not job.target:
            continue
        targets.setdefault(os.path.realpath(job.target), []).append(job)
        if options.compare:
            extra = os.path.realpath(os.path.splitext(job.target)[0] + "_compare.png")
            targets.setdefault(extra, []).append(job)
            compares.add(extra)
    earlier = [job for job in jobs if os.path.realpath(job.source) in targets]
    earlier = [
        job for job in earlier if all(j is not job for j in targets[os.path.realpath(job.source)])
    ]
    for job in earlier:  # a file named on the command line is an input, whatever its name
        if job.named:
            writer = targets[os.path.realpath(job.source)][0]
            raise UpscaleError(
                f"the output of {one_line(writer.label)} would replace the input "
                f"{one_line(job.label)}: write the outputs elsewhere"
            )
    pictures = []  # a user's picture that only has an output's name: an input
    for job in list(earlier):
        real = os.path.realpath(job.source)
        writer = targets[real][0]
        have, want = _earlier_sizes(job, writer, options, real in compares)
        if have != want:
            earlier.remove(job)
            pictures.append(job)
            writer.problem = (
                f"{writer.source}: its output would replace {job.source}, an image of "
                f"{have[0]}x{have[1]} that is not its earlier output ({want[0]}x{want[1]}): "
                "write the outputs elsewhere, or rename that image"
            )
            writer.target = ""
        elif options.overwrite and (ours := images.written_here(job.source)) is not True:
            # its name and size, but not our mark: a picture of the user's is never replaced;
            # nor one of a format that carries no mark (WebP, TIFF, AVIF, BMP): it may be one
            writer.problem = (
                f"{writer.source}: its output would replace {job.source}, which has that "
                + (
                    "output's name and size but was not written by maffsrn_tf (a picture of "
                    "yours?): rename it, or delete it if it is an earlier output"
                    if ours is False
                    else "output's name and size, in a format that does not say what wrote "
                    "it (only PNG and JPEG outputs carry maffsrn_tf's mark): delete it if it "
                    "is an earlier output, or rename it"
                )
            )
            writer.target = ""
    # outputs of runs at other sizes, beside their input in a folder written into
    out_dirs = {os.path.dirname(t) for t in targets}
    stems = {(os.path.dirname(os.path.realpath(j.source)),
              os.path.splitext(os.path.basename(j.source))[0]): j for j in jobs}  # fmt: skip
    for job in jobs:
        folder = os.path.dirname(os.path.realpath(job.source))
        match = _EARLIER.match(os.path.splitext(os.path.basename(job.source))[0])
        source = stems.get((folder, match.group(1))) if match else None
        if source is not None and not job.named and folder in out_dirs:
            if job not in earlier and job not in pictures and _sized_as_named(job, source, match):
                earlier.append(job)
    if earlier:
        names = ", ".join(one_line(j.label) for j in earlier[:5])
        more = " ..." if len(earlier) > 5 else ""
        log.warning("skipping %d earlier output(s) of this command: %s%s", len(earlier),
                    names, more)  # fmt: skip
    for target, sources in targets.items():
        sources = [s for s in sources if s not in earlier]
        if len(sources) > 1:
            raise UpscaleError(
                f"{listed([one_line(os.fsdecode(s.source)) for s in sources])} would "
                f"{'both' if len(sources) == 2 else 'all'} be written to "
                f"{os.path.relpath(target)}; rename one, or upscale them into separate folders"
            )
    kept = [job for job in jobs if job not in earlier]
    folders = {}  # the folders the outputs go into, and a job that writes into each
    for job in kept:
        folder = os.path.dirname(os.path.realpath(job.target)) if job.target else ""
        while folder and folder not in folders and folder != os.path.dirname(folder):
            folders[folder] = job
            folder = os.path.dirname(folder)
    for target, sources in targets.items():  # a file where another output needs a folder
        if target in folders and any(s in kept for s in sources):
            raise UpscaleError(
                f"the output of {one_line(sources[0].label)} would be written to "
                f"{os.path.relpath(target)}, the folder {one_line(folders[target].label)}'s "
                "output goes into; rename one, or upscale them into separate folders"
            )
    return kept


def _skip_existing(jobs, options):
    """With ``skip_existing``: the jobs whose output is not there yet, whole. An earlier
    output cut short (its header says the size this run writes, its data ends early) is done
    again, with a notice; a file there that is not an earlier output of this input (another
    picture, another size, not an image) fails that input alone: it is never replaced
    without ``overwrite``."""
    if not options.skip_existing:
        return jobs
    todo, done = [], 0
    for job in jobs:
        if job.target and not_a_regular_file(job.target):  # a FIFO: never read (it blocks);
            todo.append(job)  # refused as without skip_existing
            continue
        if job.target and _broken_link(job.target):
            job.problem = _broken_link(job.target)
            todo.append(job)
            continue
        if job.target and os.path.exists(job.target):
            if job.video:
                from maffsrn_tf.upscaler.video import existing_state

                state, why = existing_state(job.source, job.target, options)
            else:
                state, why = _existing_state(job, options)
            comparison = os.path.splitext(job.target)[0] + "_compare.png"
            if state == "whole" and options.compare and not job.video:
                if not os.path.lexists(comparison):  # the run that wrote it stopped there
                    state = "no comparison"
            if state == "whole":
                done += 1
                continue
            if state == "no comparison":  # never replaced without overwrite: said, alone
                job.problem = (
                    f"output {job.target} exists without its comparison: pass overwrite=True "
                    "to write both again, or leave out compare"
                )
            elif state == "cut short":
                log.warning("redoing %s: the existing output is cut short", one_line(job.target))
                job.redo = True
            else:
                job.problem = (
                    f"output {job.target} exists and is not an earlier output of "
                    f"{job.source} ({why}): pass overwrite=True to replace it"
                )
        todo.append(job)
    if done:
        log.warning("skipping %d input(s) whose output exists (skip_existing)", done)
    return todo


def _existing_state(job, options):
    """``existing_image_state`` of a job (its output size known from planning, or read)."""
    return existing_image_state(job.source, job.target, options, job.size)


def existing_image_state(source, target, options, size=()):
    """``(state, why)`` of the image at ``target`` for ``skip_existing``: ``"whole"``,
    ``"cut short"`` (the size ``options`` give ``source`` in its header, its data ending
    early: redone) or ``"other"`` (never replaced without ``overwrite``). Maffsrn-upscale's
    and Beam's rule."""
    size = size or _expected_size(source, options)
    try:  # the header's size (our outputs are stored upright: orientation 1)
        with images.open_image(target, target) as im:
            w, h = im.size
    except Exception:  # Pillow raises many kinds for what is not an image
        return "other", "not an image Pillow reads"
    if not size:
        return "other", f"an image of {w}x{h}; this input's output size is unknown"
    if (w, h) != tuple(size):
        return "other", f"an image of {w}x{h}, not {size[0]}x{size[1]}"
    return ("whole", "") if _is_whole(target, size) else ("cut short", "")


def _sized_as_named(job, source, match):
    """Whether ``job``'s image has the size its name says it was made at from ``source``
    (``logo_x3.png``: three times ``logo.png``'s sides; ``logo_512x512.png``: 512x512;
    ``_compare``: bicubic | 8 px | output): else a picture of the user's with such a name,
    an input. Videos, and a file whose size cannot be read, go by the name."""
    if job.video or source.video:
        return True
    try:
        h, w = images.image_size(source.source)
        with images.open_image(job.source, job.source) as im:
            have = im.size
    except Exception:  # not readable here: read (and reported) as an input otherwise
        return True
    factor, width, height, compare = match.group(2, 3, 4, 5)
    if factor:
        want = (round(float(factor) * w), round(float(factor) * h))
    else:
        want = (int(width), int(height))
    if compare:
        want = (2 * want[0] + 8, want[1])
    return have == want


def _earlier_sizes(job, writer, options, compare):
    """``(have, want)``: the (width, height) of ``job``'s file, which has the name of
    ``writer``'s output (or comparison), and the size this run gives that output; equal
    where they cannot be told (videos, an unknown plan), so the name decides."""
    if job.video or writer.video:
        return (), ()
    want = writer.size or _expected_size(writer.source, options)
    if not want:
        return (), ()
    if compare:  # bicubic | 8 px | MAFFSRN (``comparison``)
        want = (2 * want[0] + 8, want[1])
    try:
        h, w = images.image_size(job.source)
    except images.ImageError:
        return (0, 0), want
    return (w, h), want


def _not_an_earlier_sample_output(job, options):
    """What lies at the sample run's outputs (``job``) that is no earlier sample run's
    (which it rewrites: nothing, or images of the sizes it writes, the output and its
    comparison, bicubic | 8 px | output, that do not say another program wrote them,
    ``images.written_here``): the first such path, or ``""``. A picture of the user's own
    ``sample.png`` upscaled into ``out/`` is another size, and is not replaced."""
    size = _expected_size(job.source, options)
    comparison = os.path.splitext(job.target)[0] + "_compare.png"
    wanted = [(job.target, size)]
    if options.compare:
        wanted.append((comparison, (2 * size[0] + 8, size[1]) if size else ()))
    for path, want in wanted:
        if not os.path.lexists(path):
            continue
        if not want or not_a_regular_file(path) or os.path.islink(path):
            return path
        if existing_image_state(job.source, path, options, want)[0] == "other":
            return path  # another size, or not an image: a file of the user's
        if images.written_here(path) is False:  # a PNG/JPEG another program wrote
            return path
    return ""


def _check_existing(jobs, options):
    """Before any work: outputs of the run that exist already are refused unless
    ``overwrite`` (``skip_existing`` has left them out), every one, not file by file."""
    if options.overwrite:
        return
    found = []
    for job in jobs:
        if job.target and not job.problem:
            paths = [] if job.redo else [job.target]  # redo: cut short, replaced
            if options.compare and not job.video:  # a comparison is not redone: checked
                paths.append(os.path.splitext(job.target)[0] + "_compare.png")
            found += [p for p in paths if os.path.lexists(p) and not not_a_regular_file(p)]
    for path in found:
        if _broken_link(path):
            raise UpscaleError(_broken_link(path))
    if found:
        raise UpscaleError(outputs_exist(found))


def outputs_exist(found):
    """The line for outputs that exist already (``found``: their paths, the first named),
    with the two ways on: maffsrn-upscale's and Beam's."""
    more = f" and {len(found) - 1} other output(s)" if len(found) > 1 else ""
    them = "them" if more else "it"
    return (
        f"output exists: {found[0]}{more} (pass overwrite=True to replace {them}, or "
        f"skip_existing=True to leave {them})"
    )


def _expected_size(source, options):
    """``_planned_size`` of the input ``source``, or ``()`` where it cannot be told."""
    try:
        return _planned_size(options, source)
    except MaffsrnError:
        return ()


class _Engines:
    """The engine of each model scale a run needs, made once (a ``width``/``height`` run may
    need several)."""

    def __init__(self, options):
        self.options, self.made = options, {}

    def __call__(self, scale):
        if scale not in self.made:
            try:
                engine = make_engine(self.options, scale=scale)
            except (MaffsrnError, FileNotFoundError) as err:
                raise UpscaleError(str(err)) from None
            tile, fixed = self.options.tile, engine.fixed_size
            if fixed and tile is not None and tile != fixed[0]:  # once, not at each image
                raise UpscaleError(fixed_tile_problem(tile, fixed[0]))
            self.made[scale] = engine
        return self.made[scale]


def upscale_file(
    in_path,
    out_path,
    engine,
    options,
    label="",
    notes=None,
    nested=False,
    redo=False,
    exact=False,
    progress=True,
):
    """Upscale one file into ``out_path`` (a file, or a folder ending in a separator);
    returns the paths written. ``engine``: an engine, or a function of the model scale
    that returns one. ``notes``: a set of the notices already given in this run.
    ``redo``: replace an existing output (one cut short, found by ``skip_existing``).
    ``exact``: ``out_path`` is the output file, as planned (never a folder to write into).
    ``progress``: a bar for the tiles of a large image, on a terminal."""
    overwrite = options.overwrite or redo
    try:
        array, info = images.read_image(in_path, max_pixels=options.max_pixels)
    except images.ImageError as err:
        raise UpscaleError(_video_named_as_image(in_path) or str(err)) from None
    h, w = array.shape[:2]
    try:
        scale, out_h, out_w = options.plan(h, w)
        tag = options.name_factor(h, w)
    except MaffsrnError as err:
        raise UpscaleError(f"{in_path}: {err}") from None
    if not exact:
        out_path = output_path_for(
            in_path, out_path, tag, array.dtype == np.uint16 and array.ndim == 3, options.fmt
        )
    no_alpha = _flattened(out_path, array)  # a format without alpha: flattened, with a notice
    flatten = no_alpha or (options.flattens_everywhere and _has_alpha(array))
    if notes is not None and _has_alpha(array):
        notes.add("transparent")  # background= found something to flatten
    try:  # a format that cannot hold the result (a side too long): refused before the model
        everywhere = options.flattens_everywhere and _has_alpha(array)  # (a format without
        # alpha flattens it: the check knows, and suggests formats by what each would get)
        images.check_output_path(out_path, array[..., :-1] if everywhere else array, out_h / h,
                                 flattens=True)  # fmt: skip
    except images.ImageError as err:
        raise UpscaleError(str(err)) from None
    compare_path = os.path.splitext(out_path)[0] + "_compare.png"
    targets = [out_path, compare_path] if options.compare else [out_path]
    for path in targets:
        _check_output(in_path, path, overwrite)
    if isinstance(engine, _Engines):
        engine = engine(scale)
    try:
        show = _tile_progress(label, nested) if progress else None
        result = upscale_with(engine, array, options, progress=show)
    except MaffsrnError as err:
        raise UpscaleError(f"{in_path}: {err}") from None
    if flatten:
        result = composite(result, options.background_rgb)
    ext = os.path.splitext(out_path)[1]
    if no_alpha:
        _note(notes, "flatten", f"{ext} has no transparency: it is flattened onto "
              f"background={options.background}")  # fmt: skip
    if array.dtype == np.uint16 and "as 8-bit" in images.OUTPUT_EXTENSIONS[ext.lower()][1]:
        _note(notes, f"8-bit {ext.lower()}", f"{ext} holds 8 bits a sample: 16-bit images are "
              "written as 8-bit (.png keeps 16)")  # fmt: skip
    try:  # the output's folder is made once there is something to write
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    except OSError as err:
        raise UpscaleError(f"cannot make the folder of {out_path}: {err.strerror}") from None
    if options.strip_metadata and info:
        info = images.without_metadata(info)
    dropped = images.metadata_dropped(ext, info)
    if dropped:  # the format cannot hold them: said once a run for each format
        _note(notes, f"metadata {ext.lower()}", f"{ext} cannot hold the input's "
              f"{listed(dropped)}: left out (.png keeps them)")  # fmt: skip
    try:
        written = [images.write_image(out_path, result, info, overwrite, options.quality)]
        if options.compare:
            compared = comparison(array, result, tag)
            written.append(images.write_image(compare_path, compared, None, overwrite))
    except images.ImageError as err:
        raise UpscaleError(str(err)) from None
    return written


def _video_named_as_image(path):
    """The message for a video with an image's extension (``clip.png``), else ``""``: it
    is read as the image its name says, and said so when it is not one. Without PyAV, a
    file of another name that is no image may be a video: the line names the install."""
    from maffsrn_tf.upscaler.video import VIDEO_INSTALL, have_av, is_video

    if not have_av():  # a file named otherwise than an image may be a video FFmpeg reads
        if os.fsdecode(path).lower().endswith(IMAGE_EXTENSIONS) or not os.path.isfile(path):
            return ""
        return (
            f"{path} is not an image Pillow reads; if it is a video, videos are read with "
            f"PyAV: {VIDEO_INSTALL}"
        )
    if not is_video(path, probe=True):
        return ""
    return f"{path} is a video, not an image: give it a video extension (.mp4, .mkv)"


def _has_alpha(array):
    return array.ndim == 3 and array.shape[-1] in (2, 4)


def _flattened(out_path, array):
    """Whether an image with alpha goes into a format without it (composited)."""
    held = images.OUTPUT_EXTENSIONS.get(os.path.splitext(out_path)[1].lower(), ("", set()))[1]
    return _has_alpha(array) and "alpha" not in held


def _nothing_to_flatten(jobs, options, notes):
    """A notice when ``background`` was given and no image of the run had transparency:
    the colour changed nothing (a word of the command line that did nothing is said)."""
    if options.flattens_everywhere and "transparent" not in notes and jobs:
        what = "image or video" if any(job.video for job in jobs) else "image"
        log.warning("background=%s changed nothing: no %s of this run has transparency",
                    options.background, what)  # fmt: skip


def _note(notes, key, message):
    """``message`` on the package's logger, once per run (``notes``)."""
    if notes is None or key not in notes:
        log.warning("%s", message)
        if notes is not None:
            notes.add(key)


def upscale_path(
    input_path,
    output,
    scale=None,
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
    progress=False,
    **more,
):
    """Upscale files and folders; returns the paths written.

    ``input_path``: a file, a folder, or a list of them (None: the sample photo). A run
    goes on past a file that fails (``on_error(error)`` is called; by default the error is
    logged on the ``maffsrn_tf`` logger), and raises ``UpscaleError`` listing the failures
    at the end (its ``written``: what was finished). ``progress``: a bar on a terminal, else
    one line per image on stderr; nothing by default. ``fmt``: an output format
    (default: the input's); ``quality``: 1-100 for lossy formats; ``max_pixels``: larger
    inputs are refused. ``more``: the other ``UpscaleOptions`` (``outscale``, ``width``,
    ``height``, ``recursive``, ``skip_existing``, ``background``, ``strip_metadata``,
    ``num_threads``); the rest are ``upscale()``'s. Videos among the inputs are upscaled
    frame by frame (``upscaler.video``), written as ``VideoOptions``' keywords say
    (``codec``, ``crf``, ``pix_fmt``, ``container``).
    """
    from maffsrn_tf.upscaler.video import VIDEO_KEYWORDS, VideoOptions

    video_keywords = {k: more.pop(k) for k in VIDEO_KEYWORDS if k in more}
    try:
        video = VideoOptions.from_keywords(**video_keywords)
        options = UpscaleOptions.from_keywords(
            scale=scale,
            backend=backend,
            quantization=quantization,
            model=model,
            tile=tile,
            overlap=overlap,
            self_ensemble=self_ensemble,
            compare=compare,
            overwrite=overwrite,
            max_pixels=max_pixels,
            fmt=fmt,
            quality=quality,
            **more,
        )
    except MaffsrnError as err:
        raise UpscaleError(str(err)) from None
    return upscale_files(input_path, output, options, on_error, progress, video)


def upscale_files(
    inputs, output, options, on_error=None, progress=False, video=None, on_written=None
):
    """``upscale_path`` with its options as one ``UpscaleOptions`` (what ``maffsrn-upscale``
    builds from its flags), and those of videos as one ``VideoOptions`` (``video``).
    ``on_written(path)``: called as each output is in place (a run stopped midway has
    announced every file it finished).
    ``inputs``: a path or a list; None: the sample photo, into ``out/``; an empty list or
    path is an ``UpscaleError`` (a glob that matched nothing must not upscale the sample).
    ``output``: a file or folder; None: ``out/``; an empty path is an ``UpscaleError``."""
    sample = inputs is None
    one = isinstance(inputs, (str, bytes, os.PathLike))
    inputs = [] if sample else [inputs] if one else inputs
    given_output = output
    try:  # bytes name as the file system has them (a name that is not UTF-8)
        inputs = [os.fsdecode(p) for p in inputs]
        output = os.fsdecode(output) if output is not None else ""
    except TypeError as err:
        raise UpscaleError(f"inputs and output are paths ({err})") from None
    if not isinstance(options, UpscaleOptions):
        raise UpscaleError(
            f"options must be an UpscaleOptions (UpscaleOptions(scale=2, ...)), not "
            f"{type(options).__name__}; or call upscale_path with keyword arguments"
        )
    from maffsrn_tf.upscaler.video import VideoOptions

    if video is not None and not isinstance(video, VideoOptions):
        raise UpscaleError(f"video must be a VideoOptions or None, not {type(video).__name__}")
    if on_error is not None and not callable(on_error):
        raise UpscaleError(f"on_error must be a function of the error, not {on_error!r}")
    if not (isinstance(progress, bool) or callable(progress)):
        raise UpscaleError(f"progress must be True, False or a function, not {progress!r}")
    if not sample and (not inputs or inputs == [""]):  # "": a glob that matched nothing
        raise UpscaleError("no inputs: pass image files or folders (None: the sample photo)")
    if output == "" and given_output is not None:  # an unset variable: not ./out
        raise UpscaleError("output is an empty path: name a file or folder (None: ./out)")
    if "" in inputs:  # an unset variable in a list of paths
        raise UpscaleError(f"input {inputs.index('') + 1} of {len(inputs)} is an empty path")
    linked = dotdot_after_link(output) if output else ""
    if linked:  # the system reads lnk/.. as the link's parent, the name as this folder
        raise UpscaleError(
            f"output={output!r}: '..' after the link {linked} names another folder to the "
            "system than to the eye; write the output without it"
        )
    rewrite = False
    if sample:  # the sample photo; its default output is rewritten at each run
        inputs = [sample_image_path()]
        # into ./out or a folder named (out/ as out): sample_x2.png, rewritten at each run
        if not output or output.endswith(("/", os.sep)) or os.path.isdir(output):
            folder = output or "out"
            tag = options.name_factor(1, 1) if not options.width and not options.height else ""
            ext = f".{options.fmt.lower()}" if options.fmt else ".png"  # fmt='jpg': .jpg
            output = os.path.join(folder, f"sample_{tag}{ext}") if tag else folder + os.sep
            rewrite = not options.skip_existing  # skip_existing: kept, as for any output
    jobs, single = _plan(inputs, output, options, video)
    inside = [j.target for j in jobs if j.target and package_file(j.target)]
    if inside:  # a folder of the output reached through a link (recursive=True)
        raise UpscaleError(
            f"output {inside[0]} lies in the maffsrn_tf package ({PACKAGE_DIR}) (through a "
            "link in the output folder?): its shipped files are never replaced, even with "
            "overwrite=True; write it elsewhere"
        )
    if rewrite:  # the earlier sample run's outputs are rewritten; a file of the user's not
        theirs = [p for p in (_not_an_earlier_sample_output(j, options) for j in jobs) if p]
        if not theirs:
            options = options.replace(overwrite=True)
        elif not options.overwrite:  # named: the one that is not the sample run's
            raise UpscaleError(f"output exists: {theirs[0]} (pass overwrite=True to replace it)")
    _check_quality(jobs, options)
    _image_only_notice(jobs, options)
    runnable = [job for job in jobs if not job.problem]
    engines = _Engines(options)
    if runnable:  # the model, checked before any work (a missing file, a wrong scale)
        first = runnable[0]
        if options.sized and options.outscale is None:
            engines(_planned_scale(first, options))
        else:
            engines(options.plan(16, 16)[0])
    for folder in {os.path.dirname(os.path.abspath(j.target)) for j in runnable}:
        if os.path.isdir(folder):
            remove_stale_temporaries(folder, keep=[j.source for j in jobs])
    jobs = _skip_existing(jobs, options)
    if not single:  # a single file's is checked with its other output checks
        _check_existing(jobs, options)
    if single:
        job = jobs[0] if jobs else None
        if job is None:
            return []
        if job.problem:  # found while planning (skip_existing: a file that is not ours)
            raise UpscaleError(job.problem)
        notes = set()
        with made_folders(os.path.dirname(os.path.abspath(job.target))):  # left empty: gone
            written = _upscale_job(job, engines, options, video, redo=job.redo, exact=True,
                                   progress=progress, notes=notes)  # fmt: skip
        for path in written if on_written else ():
            on_written(path)
        _nothing_to_flatten(jobs, options, notes)
        return written
    with made_folders(output or "out") as made:  # every image failed, or Ctrl-C: gone
        if made:
            try:
                os.makedirs(output or "out", exist_ok=True)
                probe_writable(output or "out")
            except OSError as err:
                raise UpscaleError(f"cannot write into output folder {output}: {err}") from None
        return _run(jobs, engines, options, on_error, progress, video, on_written)


def _upscale_job(job, engines, options, video, **how):
    """``upscale_file``, or ``upscaler.video.upscale_video_file`` for a video."""
    if job.video:
        from maffsrn_tf.upscaler.video import upscale_video_file

        return upscale_video_file(job.source, job.target, engines, options, video, **how)
    return upscale_file(job.source, job.target, engines, options, **how)


def _planned_scale(job, options):
    try:
        if job.video:
            from maffsrn_tf.upscaler.video import frame_options, probe

            info = probe(job.source, whole=False)
            h, w = info.height, info.width
            return frame_options(options, info).plan(h, w)[0]
        h, w = images.image_size(job.source)
        return options.plan(h, w)[0]
    except MaffsrnError:
        return options.plan(16, 16)[0] if options.outscale else 4


def _check_quality(jobs, options):
    """``quality`` with no lossy output in the run: refused (every word is used)."""
    if options.quality is None:
        return
    exts = {os.path.splitext(j.target)[1].lower() for j in jobs if j.target and not j.video}
    if not exts and any(j.video for j in jobs):
        raise UpscaleError(
            f"quality={options.quality} applies to lossy images ({', '.join(images.LOSSY)}); "
            "a video's quality is set by its constant rate factor (crf)"
        )
    if exts and not exts & set(images.LOSSY):
        if len(jobs) == 1:
            ext = exts.pop()
            raise UpscaleError(
                f"quality={options.quality} applies to lossy outputs ({', '.join(images.LOSSY)}), "
                f"not {ext}"
            )
        raise UpscaleError(
            f"quality={options.quality} applies to lossy outputs ({', '.join(images.LOSSY)}), "
            "and no image of this run is written as one (pass fmt='jpg' or fmt='webp')"
        )
    lossless = sorted(exts - set(images.LOSSY))
    if lossless:  # a mixed run: said, as the image-only options of a run with videos are
        log.warning(
            "quality=%s applies to the %s outputs of this run only; %s outputs are lossless",
            options.quality,
            ", ".join(sorted(exts & set(images.LOSSY))),
            ", ".join(lossless),
        )


def _run(jobs, engines, options, on_error, progress, video=None, on_written=None):
    """Each job in turn, with progress; a failure is reported and the run goes on."""
    written, failed, notes = [], [], set()
    bar = progress_bar(len(jobs), "upscaling", "image") if progress and len(jobs) > 1 else None
    try:
        for i, job in enumerate(jobs, 1):
            if bar is None and progress:
                print(f"[{i}/{len(jobs)}] {one_line(job.label)}", file=sys.stderr, flush=True)
            elif bar is not None:
                bar.set_postfix_str(one_line(os.path.basename(job.label))[:40])
            try:
                if job.problem:
                    raise UpscaleError(job.problem)
                done = _upscale_job(
                    job, engines, options, video, label=f"[{i}/{len(jobs)}]",
                    notes=notes, nested=bar is not None, redo=job.redo, exact=True,
                    progress=progress,
                )  # fmt: skip
                written += done
                for path in done if on_written else ():
                    on_written(path)
            except UpscaleError as err:  # report, go on with the other images
                if on_error is None:
                    log.error("%s", one_line(str(err)))
                else:
                    on_error(err)
                failed.append(job.label)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if written:
        _nothing_to_flatten(jobs, options, notes)
    if failed:
        names = ", ".join(one_line(f) for f in failed)
        kind = "files" if any(job.video for job in jobs) else "images"
        raise UpscaleError(f"{len(failed)} of {len(jobs)} {kind} failed: {names}", written)
    return written
