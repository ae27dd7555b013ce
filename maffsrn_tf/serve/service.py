"""The work behind ``POST /v1/upscale``, without HTTP: the request's options, the output
format, the upscaling of an image's bytes, and the worker pool that runs it.

``upscale_bytes`` is ``maffsrn-upscale``'s path for one file (``upscaler.files.upscale_file``)
on bytes: the same reader (``io.images.read_image``: EXIF orientation, 16-bit, palettes,
CMYK, the metadata kept), the same checks before the model runs (the output size, what the
output format holds), the same tiling in bounded memory (``upscaler.upscale_with``), alpha
flattened onto ``background`` for a format without it (``upscaler.arrays.composite``), and
the same writer (``io.images.encode_image``). So the bytes a request gets are the bytes
``maffsrn-upscale`` writes for the same file and options.

Every refusal is a ``ServeError`` carrying its HTTP status: 400 (a parameter), 406 (an
``Accept`` that names no format written here), 413 (over a limit), 415 (not an image, or
not one that can be read), 422 (an image that cannot be done as asked), 500 (the server
cannot load a model), 503 (full), 504 (past the deadline).

``Service`` holds the worker threads (the engine work is CPU-bound; LiteRT releases the GIL
while it runs, so threads use the cores and the event loop stays free), the admission count
in front of them (``workers + queue`` requests at once), and each thread's engines, made on
first use and kept.
"""

import concurrent.futures
import io
import logging
import re
import threading
import time

import numpy as np
from PIL import Image

from maffsrn_tf.errors import MaffsrnError, a_or_an, first_line
from maffsrn_tf.io import images
from maffsrn_tf.model.presets import SCALES
from maffsrn_tf.model.shipped import SHIPPED_VARIANTS, tflite_name, tflite_path
from maffsrn_tf.upscaler import UpscaleOptions, make_engine, upscale_with
from maffsrn_tf.upscaler.arrays import composite

log = logging.getLogger("maffsrn_tf.serve")

# what a 503 asks the client to wait, in seconds (Retry-After)
RETRY_AFTER_S = 1
# the query parameters of POST /v1/upscale: UpscaleOptions' public names and their types.
# The other options belong to the server (model files, tiles, threads, the pixel limit) or
# to files on disk (overwrite, recursive, compare).
PARAMETERS = {
    "scale": int,
    "outscale": float,
    "width": int,
    "height": int,
    "quantization": str,
    "self_ensemble": bool,
    "quality": int,
    "background": str,
    "strip_metadata": bool,
}
# what a request past its deadline is told (the app adds the timeout's seconds)
TIMEOUT_MESSAGE = (
    "the image was not upscaled within this server's timeout: send a smaller image, or ask "
    "for less (a lower scale, no self_ensemble)"
)
# a number as a query writes it (docs/serving.md): ASCII digits, no sign, space, exponent or
# leading zero; a decimal point with digits on both sides (float() also takes " 2", "+2",
# "02", other scripts' digits, 1_5, 1e1, nan and inf)
_INTEGER = re.compile(r"0|[1-9][0-9]*")
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")
# the most digits before the point: every parameter's range is far below this
_MAX_DIGITS = 18
# the formats a request's body may be in (Pillow's names; AVIF where this Pillow opens it):
# raster formats only, and never one Pillow hands to another program (io.images'
# PROGRAM_FORMATS, EPS to Ghostscript: the reader's one list, applied in _input_formats and
# by io.images.open_image, which refuses such a body by name)
_RASTER = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "ICO", "TGA", "PPM")
# the 499 of an access line: the client went away before its answer was sent (nginx's code)
CLIENT_GONE = 499
# other names clients give the media types written here (for Accept)
_ALIASES = {"image/jpg": ".jpg", "image/pjpeg": ".jpg", "image/x-png": ".png",
            "image/x-ms-bmp": ".bmp", "image/tif": ".tiff"}  # fmt: skip


class ServeError(MaffsrnError):
    """A request refused: ``status`` is its HTTP status code and the message says why and
    what to send instead; ``headers``: more response headers (``Retry-After``)."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


def _media_types():
    """``{extension: media type}`` of the output formats this Pillow writes
    (``io.images.OUTPUT_FORMATS``, each by its first extension; AVIF only where Pillow was
    built with it)."""
    Image.init()
    found = {}
    for name in images.OUTPUT_FORMATS:
        ext = "." + name
        try:
            images.check_output_path("response" + ext)
        except images.ImageError:
            continue
        found[ext] = Image.MIME.get(images.OUTPUT_EXTENSIONS[ext][0], f"image/{name}")
    return found


MEDIA_TYPES = _media_types()


def _input_formats():
    Image.init()
    return images.readable_formats(name for name in _RASTER if name in Image.OPEN)


INPUT_FORMATS = _input_formats()
# what a 415 names
_READ_NAMES = ", ".join(dict.fromkeys("JPEG" if f == "MPO" else f for f in INPUT_FORMATS))


class Cancelled(Exception):
    """The work of a request stopped: its client went away, or it was dropped."""


def _value(name, text, kind):
    """A query value as its parameter's type, written exactly as docs/serving.md says:
    numbers in ASCII digits (``2``, ``1.5``), booleans ``true`` or ``false``; ``ServeError``
    400 for anything else (``+2``, `` 2``, ``02``, ``yes``, ``TRUE``)."""
    if kind in (int, float):
        if not (_INTEGER if kind is int else _DECIMAL).fullmatch(text):
            what, example = ("an integer", "2") if kind is int else ("a number", "1.5")
            space = "; a + in a query is a space" if " " in text else ""
            raise ServeError(
                400, f"{name}={text!r} is not {what} in ASCII digits: write it in plain "
                f"digits, like {example} (no sign, space, underscore, exponent or leading "
                f"zero{space})",
            )  # fmt: skip
        if len(text.partition(".")[0]) > _MAX_DIGITS:
            raise ServeError(400, f"{name}={text[:_MAX_DIGITS]}... is too large")
        return kind(text)
    if kind is bool:
        if text in ("true", "false"):
            return text == "true"
        raise ServeError(400, f"{name}={text!r} is not true or false: write {name}=true or "
                         f"{name}=false (in lower case)")  # fmt: skip
    return text


def _shown(name, limit=100):
    """``name`` quoted for an answer, cut to ``limit`` characters: an answer never echoes a
    100 KB query back."""
    return repr(name) if len(name) <= limit else f"{name[:limit]!r}... ({len(name):,} characters)"


def check_no_parameters(items, what):
    """``ServeError`` 400 for any query parameter of a request that takes none (``what``:
    ``GET /healthz``), as for an unknown one of ``POST /v1/upscale``."""
    names = [name for name, _ in items]
    if names:
        raise ServeError(400, f"unknown parameter {_shown(names[0])}; {what} takes no parameters")


def request_options(items, serve_options):
    """The ``UpscaleOptions`` of a request's query, ``items`` its ``(name, value)`` pairs:
    ``upscale()``'s defaults (x2, float16) for what it leaves out, the server's pixel limit
    and threads per worker. ``ServeError`` 400 for an unknown or repeated parameter, a value
    of the wrong type, or one ``UpscaleOptions`` refuses (``scale=5``, ``scale`` with
    ``outscale``), with its message."""
    given = {}
    for name, text in items:
        if name not in PARAMETERS:
            raise ServeError(
                400, f"unknown parameter {_shown(name)}; the parameters are {', '.join(PARAMETERS)}"
            )
        if name in given:
            raise ServeError(400, f"{name} is given twice: pass it once")
        given[name] = _value(name, text, PARAMETERS[name])
    try:
        return UpscaleOptions.from_keywords(
            **given,
            max_pixels=serve_options.max_pixels,
            num_threads=serve_options.threads_per_worker,
        )
    except MaffsrnError as err:
        raise ServeError(400, str(err)) from None


def check_content_type(content_type, content_encoding=None):
    """``ServeError`` 415 unless the body is declared as image bytes: ``image/*``,
    ``application/octet-stream`` or no type at all (the bytes say which format they are).
    A form (``curl --data-binary`` sends ``application/x-www-form-urlencoded`` unless told
    otherwise), text or JSON is refused with what to send instead; so is a compressed body
    (``Content-Encoding``: images are compressed already)."""
    if content_encoding and content_encoding.strip().lower() not in ("", "identity"):
        raise ServeError(
            415, f"Content-Encoding {content_encoding.strip()} is not taken: send the image's "
            "bytes as they are (image formats are compressed already)",
        )  # fmt: skip
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        raise ServeError(
            415, f"Content-Type {content_type.strip()!r} names no media type: send "
            "Content-Type image/png, image/jpeg (any image/*) or application/octet-stream, "
            "or none",
        )  # fmt: skip
    if media.startswith("image/") or media == "application/octet-stream":
        return
    hint = ""
    if media == "multipart/form-data":
        hint = "; the body is the image itself, not a form with a file field"
    elif media == "application/x-www-form-urlencoded":
        hint = "; curl --data-binary sends this type unless told: add -H 'Content-Type: image/jpeg'"
    raise ServeError(
        415, f"Content-Type {media} is not an image: send the image's bytes with Content-Type "
        f"image/png, image/jpeg (any image/*) or application/octet-stream{hint}",
    )  # fmt: skip


def check_content_length(value, limit):
    """``ServeError`` 413 when a ``Content-Length`` header says the body is over ``limit``
    bytes (refused before a byte of it is read)."""
    if (
        value is not None
        and value.strip().isascii()
        and value.strip().isdigit()
        and int(value) > limit
    ):
        raise ServeError(
            413, f"the body is {int(value):,} bytes, over this server's limit of {limit:,} "
            "bytes", {"Connection": "close"},
        )  # fmt: skip


_Q_VALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")  # RFC 9110's qvalue
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _ranges(accept):
    """``[(type, subtype, q)]`` of an ``Accept`` header (empty list elements are none, as
    RFC 9110 says). A range that cannot be read (``image/jpeg;q=1.5``, ``text``) is
    ``ServeError`` 400 naming it: left out, the client would get a format it did not ask
    for without a word."""
    found = []
    for part in accept.split(","):
        if not part.strip():
            continue
        fields = [f.strip() for f in part.split(";")]
        kind, _, sub = fields[0].lower().partition("/")
        bad = not _TOKEN.match(kind) or not _TOKEN.match(sub) or (kind == "*" and sub != "*")
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                bad = bad or not _Q_VALUE.match(value.strip())
                q = float(value) if not bad else q
        if bad:
            raise ServeError(
                400, f"Accept: {shown(part.strip())!r} is not a media range with a q from 0 to "
                "1 (image/png, image/*;q=0.5): fix it, or leave Accept out for the input's "
                "format",
            )  # fmt: skip
        found.append((kind, sub, q))
    return found


def _quality(ext, ranges):
    """The ``q`` that ``ranges`` give the format of ``ext``: that of the most specific range
    that matches its media type (``image/png`` over ``image/*`` over ``*/*``); 0 if none."""
    names = [MEDIA_TYPES[ext]] + [alias for alias, e in _ALIASES.items() if e == ext]
    best, level = 0.0, -1
    for media in names:
        kind, sub = media.split("/")
        for r_kind, r_sub, q in ranges:
            if (r_kind, r_sub) == (kind, sub):
                this = 2
            elif (r_kind, r_sub) == (kind, "*"):
                this = 1
            elif (r_kind, r_sub) == ("*", "*"):
                this = 0
            else:
                continue
            if this > level or (this == level and q > best):
                best, level = q, this
    return best


def output_extension(accept, default, problem=None):
    """The output format for an ``Accept`` header: the format it prefers (highest ``q``)
    among those written here, the input's own (``default``, an extension) on a tie or
    without a header (``*/*``, ``image/*``), then the others in ``MEDIA_TYPES``' order.
    ``ServeError`` 406 when it accepts none. ``problem(ext)``: why the format of ``ext``
    cannot hold the result (None when it can): the first acceptable format, in that order,
    that holds it is chosen (``Accept: image/bmp, image/png;q=0.5`` is PNG for a 16-bit
    image); ``ServeError`` 422 with the preferred one's reason when none does."""
    ranges = _ranges(accept) if accept else []
    order = [default] + [ext for ext in MEDIA_TYPES if ext != default]
    if ranges:
        rated = sorted((-_quality(ext, ranges), i, ext) for i, ext in enumerate(order))
        order = [ext for minus_q, _, ext in rated if minus_q < 0]
        if not order:
            raise ServeError(
                406, f"Accept: {shown(accept)} names no format this server writes; it writes "
                f"{', '.join(MEDIA_TYPES.values())}",
            )  # fmt: skip
    if problem is None:
        return order[0]
    reasons = []
    for ext in order:
        reason = problem(ext)
        if reason is None:
            return ext
        reasons.append(reason)
    raise ServeError(422, f"{reasons[0]} (ask for another format with Accept)")


def input_extension(info, array):
    """The output format when the request names none: the input's own (``read_image``'s
    ``info["format"]``), PNG for 16-bit colour and for formats not written here (GIF, ICO),
    as ``maffsrn-upscale`` names its outputs."""
    if array.dtype == np.uint16 and array.ndim == 3:
        return ".png"
    fmt = {"MPO": "JPEG"}.get(info.get("format"), info.get("format"))  # a multi-picture JPEG
    for ext in MEDIA_TYPES:
        if images.OUTPUT_EXTENSIONS[ext][0] == fmt:
            return ext
    return ".png"


def check_header(data, max_pixels):
    """``(width, height)`` from the image's header, before anything is decoded:
    ``ServeError`` 415 when the bytes are no image in ``INPUT_FORMATS``, 413 when its pixels
    are over ``max_pixels`` (a decompression bomb is refused without decoding it) or its PNG
    text over what may be read, 422 for an image of several frames (an animated GIF or PNG,
    a TIFF of pages: one picture comes back)."""
    try:
        with images.open_image(io.BytesIO(data), "the body", INPUT_FORMATS) as im:
            width, height = im.size
            frames = getattr(im, "n_frames", 1) if im.format != "MPO" else 1  # MPO: a photo
            fmt = im.format
    except images.TextTooLarge as err:  # a text bomb: an image, over what text may take
        raise ServeError(413, str(err)) from None
    except images.ImageError as err:  # a format handed to another program (EPS), named
        raise ServeError(415, f"{err} (this server reads {_READ_NAMES})") from None
    except Image.UnidentifiedImageError:  # Pillow's "cannot identify image file"
        raise ServeError(
            415, f"the body is not an image this server reads (no format it reads "
            f"recognizes it: another kind of file, or one cut short); send one of {_READ_NAMES}",
        ) from None  # fmt: skip
    except Exception as err:
        why = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "the body", first_line(err))
        raise ServeError(
            415, f"the body is not an image this server reads ({type(err).__name__}: {why}); "
            f"send one of {_READ_NAMES}",
        ) from None  # fmt: skip
    if frames > 1:  # the result would be its first frame alone, without a word
        raise ServeError(
            422, f"the body is {a_or_an(fmt)} of {frames} frames (an animation, or pages): this "
            "server upscales one picture; send one frame (maffsrn-upscale reads a file's "
            "first frame, with a warning)",
        )  # fmt: skip
    if width * height > max_pixels:
        raise ServeError(
            413, f"the image is {width}x{height} = {width * height:,} pixels, over this "
            f"server's limit of {max_pixels:,} pixels",
        )  # fmt: skip
    return width, height


def check_output_size(options, height, width, max_output_pixels):
    """``ServeError`` 413 when the result ``options`` ask for of a ``width x height`` image
    is over ``max_output_pixels``; 422 when they cannot be done on it (``options.plan``)."""
    try:
        _, out_h, out_w = options.plan(height, width)
    except MaffsrnError as err:
        raise ServeError(422, str(err)) from None
    if out_w * out_h > max_output_pixels:
        raise ServeError(
            413, f"the result would be {out_w}x{out_h} = {out_w * out_h:,} pixels, over this "
            f"server's limit of {max_output_pixels:,} output pixels: ask for a lower scale, "
            "outscale, width or height, or send a smaller image (the server's "
            "max_output_megapixels setting raises the limit)",
        )  # fmt: skip


class Upscaled:
    """A result: ``content`` (the image file's bytes), its ``media_type`` and ``extension``,
    and its ``size`` (width, height)."""

    def __init__(self, content, media_type, extension, size):
        self.content, self.media_type = content, media_type
        self.extension, self.size = extension, size


def _stop_if(deadline, cancelled=None):
    if cancelled is not None and cancelled.is_set():
        raise Cancelled("the request was cancelled")
    if deadline is not None and time.monotonic() > deadline:
        raise ServeError(504, TIMEOUT_MESSAGE)


def upscale_bytes(
    data, options, accept=None, engine_for=None, deadline=None, max_output_pixels=None,
    cancelled=None,
):  # fmt: skip
    """The bytes of an image file upscaled as ``options`` (an ``UpscaleOptions``) say, in
    the format ``accept`` (an ``Accept`` header) prefers, else the input's: an ``Upscaled``.

    ``engine_for(options, scale)``: the engine of a model scale (default: ``make_engine``
    each call). ``deadline``: a ``time.monotonic()`` after which the work stops, at the next
    tile (``ServeError`` 504). ``max_output_pixels``: larger results are refused (413) from
    the header, before decoding. ``cancelled``: a ``threading.Event``; once set, the work
    stops at the next tile (``Cancelled``). Refusals are ``ServeError``s (the module says
    which status).
    """
    if not data:
        raise ServeError(400, "the body is empty: send the image's bytes")
    _stop_if(deadline, cancelled)  # expired or abandoned while queued: not decoded
    width, height = check_header(data, options.max_pixels)
    if max_output_pixels is not None:  # from the header (EXIF orientation applied below)
        check_output_size(options, height, width, max_output_pixels)
    try:
        array, info = images.read_image(
            "the body", data=data, max_pixels=options.max_pixels, formats=INPUT_FORMATS
        )
    except images.TextTooLarge as err:  # text after the pixels is read with them
        raise ServeError(413, str(err)) from None
    except images.ImageError as err:
        raise ServeError(415, _unreadable(err)) from None
    h, w = array.shape[:2]
    if max_output_pixels is not None and (h, w) != (height, width):  # turned upright
        check_output_size(options, h, w, max_output_pixels)
    try:
        scale, out_h, out_w = options.plan(h, w)
    except MaffsrnError as err:
        raise ServeError(422, str(err)) from None
    # the format Accept prefers among those that hold the result: chosen (or refused, 422)
    # before the model runs
    ext = output_extension(
        accept, input_extension(info, array),
        lambda e, a=array: _output_problem(e, a, options, out_h / h),
    )  # fmt: skip
    if options.quality is not None and ext not in images.LOSSY:
        raise ServeError(
            400, f"quality={options.quality} applies to lossy outputs (JPEG, WebP, AVIF), not "
            f"{MEDIA_TYPES[ext]}: ask for one with Accept, or leave quality out",
        )  # fmt: skip
    flatten = _flattens(ext, array, options)
    if array.dtype == np.uint16 and "as 8-bit" in images.OUTPUT_EXTENSIONS[ext][1]:
        log.warning("a 16-bit image is answered as %s, which holds 8 bits a sample (PNG keeps "
                    "16)", MEDIA_TYPES[ext])  # fmt: skip
    _stop_if(deadline, cancelled)
    engine = (engine_for or _make_engine)(options, scale)
    watched = deadline is not None or cancelled is not None
    check = (lambda done, total: _stop_if(deadline, cancelled)) if watched else None
    try:
        result = upscale_with(engine, array, options, progress=check)
    except (ServeError, Cancelled):
        raise
    except MaffsrnError as err:
        raise ServeError(422, str(err)) from None
    del array
    if flatten:
        result = composite(result, options.background_rgb)
    if options.strip_metadata:
        info = images.without_metadata(info)
    _stop_if(deadline, cancelled)  # nobody waits for it any more: no encoding
    content = images.encode_image(result, ext, info, options.quality)
    return Upscaled(content, MEDIA_TYPES[ext], ext, (out_w, out_h))


def _flattens(ext, array, options):
    """Whether transparency is flattened onto the background in the format of ``ext``: a
    background given flattens every output (``UpscaleOptions.flattens_everywhere``), else
    only a format without alpha."""
    alpha = array.ndim == 3 and array.shape[-1] in (2, 4)
    held = images.OUTPUT_EXTENSIONS[ext][1]
    return alpha and (options.flattens_everywhere or "alpha" not in held)


def _output_problem(ext, array, options, scale):
    """Why the format of ``ext`` cannot hold ``array`` upscaled ``scale`` times (its
    dtype, channels once flattened, size: ``io.images.check_output_path``), or None."""
    stored = array[..., :-1] if _flattens(ext, array, options) else array
    try:
        images.check_output_path("response" + ext, stored, scale)
    except images.ImageError as err:
        return str(err)
    return None


def _unreadable(err):
    """What a 415 says of an image ``read_image`` refused (an ``ImageError``): its own words
    when it names what it will not read (a CIELAB image, a float image with NaN or values
    outside [0, 1]); for a decoder's failure (``cannot read ... as an image``), that the file
    is cut short or damaged, and what to send."""
    text = str(err)
    if text.endswith("; use the whole file"):  # cut short (read_image says so)
        return text.removesuffix("use the whole file") + "send the whole file"
    if not text.startswith("cannot read "):
        return text
    hint = "send the whole file" if "truncated" in text else "send another image"
    return (
        f"{text}: the image is cut short or damaged, or of a kind this server does not "
        f"decode; {hint} ({_READ_NAMES})"
    )


def _make_engine(options, scale):
    try:
        return make_engine(options, scale=scale)
    except (MaffsrnError, FileNotFoundError) as err:
        raise ServeError(
            500, f"the server cannot load the x{scale} {options.variant} model ({first_line(err)})"
        ) from None


class Engines:
    """Each worker thread's engines, made on first use and kept: one per (quantization,
    model scale) per thread (a LiteRT interpreter serves one thread), so a model is loaded
    once per worker. ``loaded()``: how many of each are made."""

    def __init__(self):
        self._local = threading.local()
        self._lock = threading.Lock()
        self._made = {}

    def __call__(self, options, scale):
        made = getattr(self._local, "engines", None)
        if made is None:
            made = self._local.engines = {}
        key = (options.variant, scale)
        if key not in made:
            made[key] = _make_engine(options, scale)
            with self._lock:
                self._made[key] = self._made.get(key, 0) + 1
        return made[key]

    def loaded(self):
        """``{(quantization, scale): engines made}`` over all threads."""
        with self._lock:
            return dict(self._made)


class Ticket:
    """One admitted request's place; ``release()`` gives it back (once, from any thread)."""

    def __init__(self, admission):
        self._admission, self._held = admission, True

    def release(self):
        with self._admission.lock:
            if self._held:
                self._held = False
                self._admission.count -= 1


class Admission:
    """A count of requests let in, at most ``capacity`` (those reading their body, or those
    waiting or being upscaled); ``enter()`` gives a ``Ticket``, or None when full."""

    def __init__(self, capacity):
        self.capacity, self.count, self.lock = capacity, 0, threading.Lock()

    def enter(self):
        with self.lock:
            if self.count >= self.capacity:
                return None
            self.count += 1
        return Ticket(self)

    def full(self):
        with self.lock:
            return self.count >= self.capacity


class Service:
    """The worker pool of the endpoint: ``workers`` threads (``ServeOptions``), the admission
    count of ``workers + queue`` in front of them (requests whose body is all there), the
    count of bodies being received (``uploads``), and each thread's engines."""

    def __init__(self, options):
        self.options = options
        self.admission = Admission(options.capacity)
        self.uploads = Admission(options.uploads)
        self._barrier = None
        self.engines = Engines()
        self.executor = concurrent.futures.ThreadPoolExecutor(
            options.workers, thread_name_prefix="maffsrn-serve-worker"
        )
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._running = 0

    def warm(self, timeout=300.0):
        """Load ``upscale()``'s default model (x2 float16) in every worker thread: the first
        requests do not wait for it, and an install that cannot load it fails here, before
        the server listens (``ServeError``)."""
        default = UpscaleOptions(num_threads=self.options.threads_per_worker)
        barrier = self._barrier = threading.Barrier(self.options.workers)

        def load():  # each waits for the others: one load per thread
            try:
                self.engines(default, default.scale)
            except BaseException:
                barrier.abort()
                raise
            barrier.wait(timeout)

        futures = [self.executor.submit(load) for _ in range(self.options.workers)]
        errors = [f.exception() for f in futures]
        real = [e for e in errors if e and not isinstance(e, threading.BrokenBarrierError)]
        if real:
            raise real[0]
        if any(errors):
            raise next(e for e in errors if e)

    def submit(self, ticket, data, options, accept, deadline, cancelled=None):
        """Upscale in a worker thread (``upscale_bytes``, with the server's output limit): a
        ``concurrent.futures.Future`` of an ``Upscaled``. ``ticket`` is released when the work
        ends, or is cancelled before it starts; ``cancelled`` (a ``threading.Event``) stops it
        at its next tile; ``ServeError`` 503 once the pool is shut down."""
        try:
            future = self.executor.submit(self._work, data, options, accept, deadline, cancelled)
        except RuntimeError:  # shut down: the server is stopping
            ticket.release()
            raise ServeError(
                503, "the server is shutting down", {"Retry-After": str(RETRY_AFTER_S)}
            ) from None
        future.add_done_callback(lambda _: ticket.release())
        return future

    def _work(self, data, options, accept, deadline, cancelled):
        _stop_if(deadline, cancelled)  # dropped before it counts as running
        with self._lock:
            self._running += 1
        try:
            limit = self.options.max_output_pixels
            return upscale_bytes(data, options, accept, self.engines, deadline, limit, cancelled)
        finally:
            with self._lock:
                self._running -= 1

    def status(self):
        """What ``/healthz`` reports: the pool's size and what it holds now."""
        with self._lock:
            running = self._running
        admitted = self.admission.count
        return {
            "workers": self.options.workers,
            "queue": self.options.queue,
            "admitted": admitted,
            "uploads": self.options.uploads,
            "receiving": self.uploads.count,
            "running": running,
            "waiting": max(0, admitted - running),
            "uptime_s": round(time.monotonic() - self.started, 1),
        }

    def models(self):
        """The shipped models a request may ask for, with how many engines of each the
        workers have loaded, ``upscale()``'s defaults, the parameters and the formats."""
        loaded, default = self.engines.loaded(), UpscaleOptions()
        listed = []
        for scale in SCALES:
            for variant in SHIPPED_VARIANTS:
                try:
                    tflite_path(scale, variant)
                except MaffsrnError:  # not in this install
                    continue
                listed.append({
                    "scale": scale,
                    "quantization": variant,
                    "file": tflite_name(scale, variant),
                    "default": (scale, variant) == (default.scale, default.variant),
                    "loaded": loaded.get((variant, scale), 0),
                })  # fmt: skip
        return {
            "models": listed,
            "defaults": {"scale": default.scale, "quantization": default.variant},
            "parameters": list(PARAMETERS),
            "formats": list(MEDIA_TYPES.values()),
            "limits": {
                "max_body_bytes": self.options.max_body_bytes,
                "max_pixels": self.options.max_pixels,
                "max_output_pixels": self.options.max_output_pixels,
                "formats_read": list(INPUT_FORMATS),
                "timeout_s": self.options.timeout,
            },
        }

    def close(self):
        """Stop the workers: what is waiting is dropped, what runs is finished (a request
        past its deadline stops at its next tile)."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    def abort(self):
        """Stop without waiting (an interrupted start): the warm-up's barrier is broken, what
        waits is dropped, and the threads end once their model is loaded."""
        if self._barrier is not None:
            self._barrier.abort()
        self.executor.shutdown(wait=False, cancel_futures=True)


def shown(value, limit=200):
    """A client's value as echoed in an error: at most ``limit`` characters."""
    return value if len(value) <= limit else value[:limit] + "..."
