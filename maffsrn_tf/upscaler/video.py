"""Videos: upscaled frame by frame, as ``maffsrn-upscale clip.mp4`` and ``upscale_video()``
do them.

PyAV (FFmpeg) decodes and encodes them: the ``[video]`` extra (``pip install
"maffsrn_tf[video]"``); without it a video is refused in one line before any work. Each
decoded frame goes through the engine, tiling and quantization of an image
(``arrays.upscale_with`` with the run's ``UpscaleOptions``) and on to the encoder, one frame
at a time, so memory does not grow with the length: the only queue is the encoder's own
look-ahead (tens of frames for libx264).

Kept from the input: each frame's time stamp (a variable frame rate too, to the output
container's precision) and the stream's frame rate; the rotation (display matrix, or an old
``rotate`` tag); the pixel aspect ratio (where the codec or container can say it: H.264/H.265,
MP4/MOV; elsewhere a notice); the colour matrix, range, primaries and transfer tags
(an untagged input is converted, and its output tagged, as players read it: BT.709 from 720
lines up, BT.601 below); a bit depth above 8 (10-bit in, 10-bit out where the encoder takes
it); every audio stream, its packets copied as they are (remuxed, never re-encoded); and the
file's and streams' tags (``strip_metadata`` drops them, the languages stay). Not copied, with
a notice: subtitle, data and attachment streams. Transparency is flattened onto
``background``. An odd output side that the pixel format cannot hold (4:2:0 needs even
sides) is padded by one repeated row or column, with a notice.

Refused before the model runs, in one line each: a file that is not a video, has no video
stream, or is cut short (fewer packets than its header declares, a last packet cut, or
video or audio ending before its declared duration); a container that cannot hold the
video codec or an audio codec (the audio is copied, not converted: the message names a
container that holds it); an encoder this PyAV build lacks (the message lists those it
has); a pixel format the encoder does not take.

The output goes to a temporary file beside the target, renamed when complete (``io.atomic``):
an error, Ctrl-C or SIGTERM leaves no partial output, an existing output is replaced only with
``overwrite``, and the input is never written over.
"""

import contextlib
import dataclasses
import fractions
import io
import logging
import os
import struct
import sys
import time

import numpy as np

from maffsrn_tf.errors import MaffsrnError, a_or_an, first_line, one_line
from maffsrn_tf.io.atomic import OutputExists, atomic_output
from maffsrn_tf.io.images import IMAGE_EXTENSIONS
from maffsrn_tf.io.progress import progress_bar
from maffsrn_tf.options import check_fields, option, public_name
from maffsrn_tf.upscaler.arrays import composite, upscale_with
from maffsrn_tf.upscaler.files import (
    UpscaleError,
    _check_output,
    _note,
    upscale_files,
)
from maffsrn_tf.upscaler.options import UpscaleOptions
from maffsrn_tf.upscaler.sizing import MAX_OUTSCALE, factor_name, fit_size

log = logging.getLogger("maffsrn_tf")

# what a video file is called; a file of another extension that is not an image is probed
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")
# the FFmpeg muxer of each container written here (.m4v is MPEG-4 too)
MUXERS = {"mp4": "mp4", "m4v": "mp4", "mkv": "matroska", "mov": "mov", "webm": "webm",
          "avi": "avi"}  # fmt: skip
VIDEO_INSTALL = 'pip install "maffsrn_tf[video]"'
DEFAULT_CODEC = "libx264"
# encoders with a constant-quality factor, and its range
CRF_RANGES = {"libx264": (0, 51), "libx264rgb": (0, 51), "libx265": (0, 51),
              "libvpx-vp9": (0, 63), "libvpx": (4, 63), "libsvtav1": (0, 63),
              "libaom-av1": (0, 63)}  # fmt: skip
DEFAULT_CRF = 18
# FFmpeg's MPEG-video encoders have no crf: they write at a fixed quantizer, the best of
# their 1-31 scale that all take (2), not at FFmpeg's default 200 kbit/s, whose rate control
# lowers the quality frame by frame (tests/upscaler/test_video.py measures it)
QSCALE_ENCODERS = ("mjpeg", "mpeg1video", "mpeg2video", "mpeg4", "msmpeg4", "msmpeg4v2",
                   "h261", "h263", "h263p", "flv", "wmv1", "wmv2", "rv10", "rv20", "amv",
                   "speedhq")  # fmt: skip
_QP2LAMBDA = 118  # FFmpeg's FF_QP2LAMBDA: global_quality is a quantizer times this
# the pixel format of a lossless encoder by default: the model's RGB exactly (8-bit, >8-bit)
LOSSLESS_RGB = {"ffv1": ("bgr0", "gbrp16le")}
# containers whose index goes to the front once written (plays while it downloads)
FASTSTART = ("mp4", "mov")
# where a pixel aspect is stored: these encoders' bitstreams, these containers' headers
# (PyAV sets no Matroska/WebM display size: other codecs there come out with square pixels)
ASPECT_CODECS = ("libx264", "libx264rgb", "libx265")
ASPECT_MUXERS = ("mp4", "mov")
# containers of a constant frame rate and no reordered frames: time stamps in whole frames
# (a gap's slots repeat the last frame), B-frames off
CONSTANT_RATE = ("avi",)
# the longest gap in the time stamps filled so (longer: refused, not minutes of copies)
MAX_GAP_S = 600
# a line of progress in logs at most this often
LOG_SECONDS = 10.0
# hardware encoders need their device: not offered in the list of encoders
_HARDWARE = ("_nvenc", "_qsv", "_amf", "_vaapi", "_v4l2m2m", "_videotoolbox", "_mf",
             "_vulkan", "_omx", "_mediacodec", "_cuvid", "_d3d12va")  # fmt: skip
# AVColorSpace -> swscale's matrix (unknown ones: BT.601, swscale's default)
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
_FULL_RANGE = ("mjpeg", "ljpeg")
_BT709, _BT601, _SPC_BT709, _SPC_SMPTE170M, _RANGE_MPEG = 1, 5, 1, 6, 1
# tags a muxer writes itself (copying them would state the input's values)
_OWN_TAGS = ("encoder", "duration", "major_brand", "minor_version", "compatible_brands",
             "rotate", "_statistics", "number_of_", "bps", "handler_name", "vendor_id",
             "alpha_mode")  # fmt: skip
# containers that cannot say a display rotation (or mirror): refused for a turned video
NO_ROTATION = ("avi",)


@dataclasses.dataclass(frozen=True)
class VideoOptions:
    """How videos are written: the encoder, its quality, the pixel format and the container.

    The defaults: H.264 (libx264) at constant quality 18 in 4:2:0 (``yuv420p``, what every
    player plays; 10-bit 4:2:0 for a 10-bit input), VP9 in ``.webm``, and the input's
    container. ``ffv1`` is lossless (in ``.mkv``): it stores the model's RGB exactly.
    """

    codec: str = option(
        "",
        f"Video encoder, e.g. libx264, libx265, libvpx-vp9, libsvtav1, ffv1 (lossless, in .mkv) "
        f"(default: {DEFAULT_CODEC}; libvpx-vp9 in .webm).",
        group="Video",
    )
    crf: int | None = option(
        None,
        f"Constant quality of libx264/libx265 (0-51) and libvpx-vp9/libsvtav1 (0-63): lower "
        f"is better and larger (default: {DEFAULT_CRF}).",
        lower=0,
        upper=63,
        group="Video",
    )
    pix_fmt: str = option(
        "",
        "Pixel format of the encoded video (default: yuv420p, yuv420p10le for a 10-bit input; "
        "ffv1: bgr0, the exact RGB). yuv444p keeps odd sizes and full colour resolution.",
        group="Video",
    )
    container: str = option(
        "",
        "Container of video outputs (default: the input's, or the output name's).",
        choices=("", *MUXERS),
        group="Video",
    )

    def __post_init__(self):
        for name in ("codec", "pix_fmt", "container"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, value.strip().lower().lstrip("."))
        check_fields(self)

    @classmethod
    def from_keywords(cls, **keywords):
        """Options from the names users pass; an unknown name is a ``MaffsrnError``."""
        names = {public_name(f) for f in dataclasses.fields(cls)}
        unknown = sorted(set(keywords) - names)
        if unknown:
            raise MaffsrnError(
                f"unknown option {unknown[0]!r}; the video options are {', '.join(sorted(names))}"
            )
        empty = [k for k, v in keywords.items() if isinstance(v, str) and not v.strip()]
        if empty:  # an unset variable: not "the default" without a word
            raise MaffsrnError(f"{empty[0]}={keywords[empty[0]]!r} is empty: leave it out for "
                               "the default")  # fmt: skip
        return cls(**keywords)


VIDEO_KEYWORDS = tuple(public_name(f) for f in dataclasses.fields(VideoOptions))


def import_av():
    """PyAV, or an ``UpscaleError`` saying how to install it."""
    try:
        import av
    except ImportError:
        raise UpscaleError(f"videos are read and written with PyAV: {VIDEO_INSTALL}") from None
    return av


def have_av():
    """Whether PyAV can be imported (without importing it twice)."""
    if "av" in sys.modules:
        return sys.modules["av"] is not None
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def is_video(path, probe=True):
    """Whether ``path`` is a video: by its extension (``VIDEO_EXTENSIONS``), else (``probe``,
    and PyAV installed) a regular file FFmpeg opens as a demuxer of moving pictures with a
    video stream (``.ts``, ``.mts``, ``.flv``, ``.3gp``, a name without extension...)."""
    ext = os.path.splitext(path)[1].lower()
    if ext in VIDEO_EXTENSIONS:
        return True
    if not probe or not os.path.isfile(path) or not have_av():
        return False
    av = import_av()
    try:
        with av.open(path, metadata_errors="replace") as container:
            name = container.format.name
            if _still(name) or (name == "mjpeg" and ext not in (".mjpeg", ".mjpg")):
                return False  # mjpeg: FFmpeg finds the JPEG pages of a PDF, say, as frames
            return any(_is_moving(s) and s.frames != 1 for s in container.streams.video)
    except (av.FFmpegError, OSError, ValueError, UnicodeError):
        return False


def _still(demuxer):
    """Whether FFmpeg's ``demuxer`` reads still images or text (the tty demuxer takes .txt),
    not videos: a PNG named ``.mp4`` is one (``png_pipe``), an icon (``ico``) too."""
    stills = ("tty", "image2", "gif", "apng", "webp_pipe", "ico")
    return demuxer in stills or demuxer.endswith("_pipe")


def _is_moving(stream):
    """Whether a video stream is moving pictures (not a cover picture or a still image)."""
    from av.stream import Disposition

    return not (stream.disposition & (Disposition.attached_pic | Disposition.still_image))


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` found: the video stream's frames, their size and kind, and the rest."""

    width: int
    height: int
    frames: int  # video packets: the frames to do (progress)
    rate: fractions.Fraction | None
    pix_fmt: str
    depth: int  # bits per sample
    alpha: bool
    matrix: list | None  # the display matrix (9 ints), None: none, or the identity
    rotation: int  # counter-clockwise degrees players turn the frames (-90, 0, 90, 180)
    interlaced: bool
    sar: fractions.Fraction | None  # the pixel aspect (width / height of a pixel), if not 1
    colorspace: int  # AVColorSpace, AVColorRange, AVColorPrimaries, AVColorTransferCharacteristic
    color_range: int
    color_primaries: int
    color_trc: int
    audio: tuple  # codec names of the audio streams
    dropped: tuple  # kinds of the streams not copied
    video_end: fractions.Fraction | None = None  # seconds: the end of its last frame shown
    audio_end: fractions.Fraction | None = None  # seconds: the end of its shortest audio

    @property
    def quarter_turn(self):
        """Whether players show the frames turned by 90 degrees (width and height swap)."""
        return abs(self.rotation) % 180 == 90


def probe(path, max_pixels=None, whole=True):
    """``VideoInfo`` of the video at ``path``, read to its end (``whole``; else up to its
    first frame) without decoding past the first frame; ``UpscaleError`` for a file that is
    not a video, has no video stream, cannot be decoded, is cut short (``whole``), or has
    frames over ``max_pixels``."""
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO: opening it blocks
        raise UpscaleError(f"input is not a regular file (a pipe or a device?): {path}")
    av = import_av()
    try:
        container = av.open(path, metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError) as err:
        raise UpscaleError(f"{path} is not a video that can be read ({_why(err)})") from None
    with container:
        if _still(container.format.name):  # never a one-frame "video" of a picture
            kind = container.format.name.removesuffix("_pipe").upper()
            raise UpscaleError(
                f"{path} is {a_or_an(kind)} image, not a video: give it an image extension to "
                "upscale it as an image"
            )
        stream = _video_stream(container, path)
        decode = _decoder(av, stream)
        audio = list(container.streams.audio)
        first, packets, stored, times, corrupt = None, 0, 0, [], False
        ends = {s.index: None for s in audio}
        starts = {s.index: 0 for s in audio}  # an AAC priming packet starts before 0
        timed, durations = False, set()
        try:
            for packet in container.demux(stream, *audio):
                if packet.size == 0:
                    if first is None and packet.stream is stream:  # the flush packet
                        first = next(iter(decode(packet)), None)
                    continue
                corrupt = packet.is_corrupt  # the last one cut: the file ends inside it
                if packet.stream is not stream:
                    if packet.pts is not None:
                        e = (packet.pts + (packet.duration or 0)) * packet.time_base
                        index = packet.stream.index
                        starts[index] = min(starts[index], packet.pts * packet.time_base)
                        old = ends[packet.stream.index]
                        ends[packet.stream.index] = e if old is None else max(old, e)
                    continue
                if first is None:
                    first = next(iter(decode(packet)), None)
                stored += 1
                if packet.is_discard:  # dropped by an edit list: never shown
                    continue
                packets += 1
                if packet.pts is not None:
                    timed = True
                    times.append(packet.pts)
                    durations.add(packet.duration or 0)
                if first is not None and not whole:
                    break
        except (av.FFmpegError, ValueError) as err:
            raise UpscaleError(f"{path} cannot be read to its end ({_why(err)})") from None
        if corrupt and whole:
            raise UpscaleError(
                f"{path} is cut short: its last packet is incomplete (an unfinished copy or "
                "download?)"
            )
        if first is None:
            raise UpscaleError(f"{path}: no frame of its video could be decoded")
        # a raw stream (no time stamps): FFmpeg's average rate is a guess of 25
        rate = (stream.average_rate if timed else None) or stream.guessed_rate
        rate = rate or stream.average_rate
        end = _shown_end(times, durations)
        end = None if end is None else end * stream.time_base
        if whole:
            if container.format.name == "avi" and times:  # its header counts frame slots,
                # and an empty chunk (a slot repeating the frame before) is no packet
                stored = max(stored, max(times) - min(times) + 1)
            _check_whole(path, stream, stored, end, rate)
            if "matroska" in container.format.name and (cut := _matroska_cut(path)):
                raise UpscaleError(  # where no time says it (a cut among B-frames)
                    f"{path} is cut short: it ends at {cut[0]:,} of its {cut[1]:,} bytes "
                    "(an unfinished copy or download?)"
                )
            for s in audio:
                _check_audio(path, s, ends[s.index], starts[s.index])
        if max_pixels is not None and first.width * first.height > max_pixels:
            raise UpscaleError(
                f"{path}: its {first.width}x{first.height} frames are over the limit of "
                f"{max_pixels:,} pixels (max_pixels)"
            )
        fmt = first.format
        matrix = _display_matrix(first)
        return VideoInfo(
            width=first.width,
            height=first.height,
            frames=packets,
            rate=rate,
            pix_fmt=fmt.name,
            depth=max(c.bits for c in fmt.components) if fmt.components else 8,
            alpha=any(c.is_alpha for c in fmt.components),
            matrix=matrix,
            rotation=first.rotation if matrix else _tag_rotation(stream),
            interlaced=bool(first.interlaced_frame),
            sar=_pixel_aspect(stream),
            colorspace=first.colorspace,
            color_range=first.color_range,
            color_primaries=first.color_primaries,
            color_trc=first.color_trc,
            audio=tuple(s.codec_context.name for s in audio),
            video_end=end,
            audio_end=min((e for e in ends.values() if e is not None), default=None),
            dropped=tuple(
                s.type
                for s in container.streams
                if s.type not in ("video", "audio") or (s.type == "video" and s is not stream)
            ),
        )


def _why(err):
    """A PyAV error as a short reason: FFmpeg's words, without the errno and path."""
    text = getattr(err, "strerror", None) or first_line(err)
    return first_line(text, 120)


def _video_stream(container, path):
    """The first video stream that is not a cover picture, or ``UpscaleError``."""
    moving = [s for s in container.streams.video if _is_moving(s)]
    if not moving:
        kinds = sorted({s.type for s in container.streams if s.type != "video"})
        if container.streams.video:  # cover pictures (attached) or still images only
            kinds.append("only a cover picture")
        raise UpscaleError(
            f"{path} has no video stream (it holds {', '.join(kinds) or 'no streams'}): "
            "nothing to upscale"
        )
    stream = moving[0]
    stream.thread_type = "AUTO"
    return stream


def _decoder(av, stream):
    """``decode(packet)`` for ``stream``: its own decoder, or, for VP9 with transparency
    (WebM's ``ALPHA_MODE`` tag 1), libvpx-vp9, which reads the alpha FFmpeg's own vp9 decoder
    drops (frames in ``yuva420p``)."""
    alpha = any(k.lower() == "alpha_mode" and str(v).strip() == "1"
                for k, v in stream.metadata.items())  # fmt: skip
    if stream.codec_context.name == "vp9" and alpha:
        try:
            context = av.CodecContext.create("libvpx-vp9", "r")
        except (av.FFmpegError, ValueError):  # a build without libvpx: opaque, as FFmpeg's
            return stream.decode
        context.thread_type = "AUTO"
        return context.decode
    return stream.decode


def _pixel_aspect(stream):
    """The stream's pixel aspect ratio (container or bitstream), None when square."""
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return sar if sar and sar != 1 else None


def _declared_seconds(stream):
    """The video stream's duration as its container declares it (seconds), or None."""
    if stream.duration:
        return stream.duration * stream.time_base
    tag = next((v for k, v in stream.metadata.items() if k.upper() == "DURATION"), None)
    if tag:  # Matroska: HH:MM:SS.nnnnnnnnn
        try:
            h, m, s = tag.split(":")
            return fractions.Fraction(int(h) * 3600 + int(m) * 60) + fractions.Fraction(s)
        except ValueError:
            return None
    return None


def _shown_end(times, durations):
    """Where the frames end (the stream's time base; ``times``: the packets' time stamps):
    after the largest time stamp. (A file cut among reordered B-frames still holds its last
    frame shown: ``_matroska_cut`` finds it by its size; MP4, MOV and AVI count frames.)"""
    if not times:
        return None
    shown = sorted(times)
    gaps = sorted(b - a for a, b in zip(shown, shown[1:]) if b > a)
    usual = gaps[len(gaps) // 2] if gaps else 1
    return shown[-1] + (max(durations) or usual)


def _ebml_number(data, at, element_id=False):
    """``(value, next offset)`` of the EBML variable-size number at ``data[at:]`` (an element
    ID keeps its length marker; a size of all ones, unknown, is None); ``(None, None)`` for
    bytes that are not one."""
    if at >= len(data) or data[at] == 0:
        return None, None
    length = 8 - data[at].bit_length() + 1
    if at + length > len(data):
        return None, None
    value = int.from_bytes(data[at : at + length], "big")
    if element_id:
        return value, at + length
    value &= (1 << (7 * length)) - 1
    return (None if value == (1 << (7 * length)) - 1 else value), at + length


def _matroska_cut(path):
    """``(file size, size its Segment declares)`` when a Matroska/WebM file ends before its
    Segment does (copied or downloaded in part: cut at a packet boundary, no packet shows
    it), else None (whole, or written live with its size unknown)."""
    with open(path, "rb") as f:
        head = f.read(4096)
        size = os.fstat(f.fileno()).st_size
    element, at = _ebml_number(head, 0, element_id=True)
    if element != 0x1A45DFA3:  # the EBML header
        return None
    length, at = _ebml_number(head, at)
    if length is None:
        return None
    element, at = _ebml_number(head, at + length, element_id=True)
    if element != 0x18538067:  # the Segment
        return None
    length, at = _ebml_number(head, at)
    if length is None or at + length <= size:
        return None
    return size, at + length


def _check_whole(path, stream, stored, end, rate):
    """``UpscaleError`` when the stream has fewer packets than its header counts, or ends
    more than half a frame (or 50 ms, its rate unknown) before its declared duration: a file
    cut short."""
    if stream.frames and stored < stream.frames:
        raise UpscaleError(
            f"{path} is cut short: {stored} of its {stream.frames} frames are there "
            "(an unfinished copy or download?)"
        )
    declared = _declared_seconds(stream)
    if declared is None or end is None:
        return
    # a Matroska DURATION tag is where the stream ends, a header's duration how long it is
    start = (stream.start_time or 0) * stream.time_base if stream.duration else 0
    slack = fractions.Fraction(1, 2) / rate if rate else fractions.Fraction(1, 20)
    if end - start < declared - slack:
        raise UpscaleError(
            f"{path} is cut short: its frames end at {float(end - start):.2f} s of "
            f"{float(declared):.2f} s (an unfinished copy or download?)"
        )


def _check_audio(path, stream, end, first=0):
    """``UpscaleError`` when an audio stream ends more than 0.1 s before its declared
    duration: a file cut short. ``first``: where its first packet starts (a Matroska
    ``DURATION`` tag counts from there: an AAC priming packet before 0 is 128 ms at 8 kHz)."""
    declared = _declared_seconds(stream)
    if declared is None or end is None:
        return
    start = (stream.start_time or 0) * stream.time_base if stream.duration else min(first, 0)
    if end - start < declared - fractions.Fraction(1, 10):
        raise UpscaleError(
            f"{path} is cut short: its audio ends at {float(end - start):.2f} s of "
            f"{float(declared):.2f} s (an unfinished copy or download?)"
        )


def _display_matrix(frame):
    """The frame's display matrix (9 ints, FFmpeg's layout), or None when it is shown as
    stored (no matrix, or the identity)."""
    for data in _side_data(frame):
        raw = bytes(data)
        if data.type.name == "DISPLAYMATRIX" and len(raw) == 36:
            matrix = list(struct.unpack("=9i", raw))
            return None if matrix == _IDENTITY else matrix
    return None


def _side_data(frame):
    """The frame's side data entries, whichever PyAV: 18.1.1 iterates a frame's side data
    as a mapping (its types, each a key), earlier versions as the entries themselves."""
    container = frame.side_data
    return [item if hasattr(item, "buffer_size") or not hasattr(item, "name")
            else container[item] for item in container]  # fmt: skip


_IDENTITY = [1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30]


def _tag_rotation(stream):
    """Counter-clockwise degrees of an old ``rotate`` tag (clockwise degrees), or 0."""
    tag = (stream.metadata.get("rotate") or "").strip()
    if not (tag.isascii() and tag.lstrip("-").isdigit()):  # int() fails on "²", reads "١"
        return 0
    degrees = -int(tag) % 360
    return degrees - 360 if degrees > 180 else degrees


def _stored_box(options, info):
    """The ``width``/``height`` box (the displayed size) as ``(width, height)`` of the
    stored frames: its sides swapped for a video players turn by 90 degrees."""
    if info.quarter_turn:
        return options.height, options.width
    return options.width, options.height


def frame_options(options, info):
    """``options`` for the stored frames of a video (``info``: its ``VideoInfo``): a
    ``width``/``height`` box is the displayed size, so its sides swap for a video players
    turn by 90 degrees, and for pixels that are not square (``info.sar``: shown ``sar``
    times as wide as stored) the factor is fitted on the displayed frame and applied to the
    stored one (the output keeps the pixel aspect). ``MaffsrnError`` for a box outside x1
    to x16 of the displayed frame."""
    if not (options.sized and options.outscale is None):
        return options
    width, height = _stored_box(options, info)
    if not info.sar:
        return options.replace(width=width, height=height)
    shown_w = info.width * info.sar
    _, _, factor = fit_size(info.height, shown_w, width, height)
    if factor < 1 - 1e-9 or factor > MAX_OUTSCALE:
        box = " x ".join(
            f"{n}={getattr(options, n)}" for n in ("width", "height") if getattr(options, n)
        )
        raise MaffsrnError(
            f"{box} asks for x{float(factor):.4g} of a {round(shown_w)}x{info.height} frame "
            f"(as shown: its pixels are {info.sar.numerator}:{info.sar.denominator} wide); "
            f"it must be between x1 and x{MAX_OUTSCALE:g}"
        )
    return options.replace(width=None, height=None, outscale=max(1.0, float(factor)))


def name_tag(options, info=None):
    """What the output's name says: ``x2``, ``x3.5``, or the displayed ``WxH`` of a box
    (``info``: the video's ``VideoInfo``, needed for a box only; ``MaffsrnError`` for a box
    out of range, as ``frame_options``)."""
    if not options.sized:
        return f"x{options.scale}"
    if options.outscale is not None:
        return f"x{factor_name(options.outscale)}"
    frame_options(options, info).plan(info.height, info.width)  # its range, checked
    width, height = _stored_box(options, info)
    out_h, out_w, _ = fit_size(info.height, info.width * (info.sar or 1), width, height)
    return f"{out_h}x{out_w}" if info.quarter_turn else f"{out_w}x{out_h}"


def output_path(in_path, output, tag, container=""):
    """The video output file: ``output`` itself (one input), or ``NAME_{tag}.EXT`` in it (or
    in ./out). EXT: ``container``, else the input's (``.mkv`` for a container not written
    here, as ``.ts``). An ``output`` file name must end in a container written here."""
    stem, ext = os.path.splitext(os.path.basename(in_path))
    ext = ext.lower().lstrip(".")
    name = f"{stem}_{tag}.{container or (ext if ext in MUXERS else 'mkv')}"
    if not output:
        return os.path.join("out", name)
    if os.path.isdir(output) or output.endswith(os.sep):
        return os.path.join(output, name)
    given = os.path.splitext(output)[1].lower().lstrip(".")
    if given not in MUXERS:
        raise UpscaleError(
            f"output={output!r} is not a video file name: end it in "
            f"{', '.join('.' + m for m in MUXERS)}"
        )
    if container and given != container:
        raise UpscaleError(
            f"output={output!r} does not end in .{container} (container={container!r})"
        )
    return output


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How one video is written: encoder, options, formats, padding and colour."""

    codec: str
    codec_options: dict
    container: str  # the extension (mp4, mkv, ...)
    muxer: str
    pix_fmt: str
    width: int  # encoded size (padded to what the pixel format needs)
    height: int
    pad: tuple  # (rows, columns) repeated at the bottom and right
    array_format: str  # what frames are decoded to (rgb24, rgb48le; rgba, rgba64le: flattened)
    result_format: str  # what upscaled frames are (rgb24, rgb48le)
    sws_matrix: int  # swscale's YUV matrix, both ways
    tag_matrix: int  # the AVColorSpace the output says
    source_range: int  # AVColorRange the input's samples are read in (limited unless full)
    color_range: int  # AVColorRange the output's samples are written in, and say


def video_encoders(av):
    """The video encoders of this PyAV build (hardware ones, which need their device, left
    out), sorted."""
    names = set()
    for name in av.codecs_available:
        try:
            codec = av.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            continue
        if codec.type == "video" and not codec.name.endswith(_HARDWARE):
            names.add(codec.name)
    return sorted(names)


def _crf_encoders():
    """The encoders of ``CRF_RANGES`` this PyAV build has."""
    av = import_av()
    return [n for n in sorted(CRF_RANGES) if n in av.codecs_available]


def _encoder(av, video, container):
    """The encoder ``video.codec`` names (default: libx264; libvpx-vp9 for .webm)."""
    name = video.codec or ("libvpx-vp9" if container == "webm" else DEFAULT_CODEC)
    try:
        codec = av.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        raise UpscaleError(
            f"codec={name!r}: this PyAV build has no such video encoder; it has "
            f"{', '.join(video_encoders(av))}"
        ) from None
    if codec.type != "video":
        raise UpscaleError(f"codec={name!r} is an {codec.type} encoder; name a video encoder")
    if codec.name.endswith(_HARDWARE):  # it opens only with its device and driver
        raise UpscaleError(
            f"codec={name!r} is a hardware encoder, which this command does not drive; name a "
            f"software one: {', '.join(video_encoders(av))}"
        )
    return codec


def _pixel_format(codec, video, info):
    """``(pix_fmt, note)``: ``video.pix_fmt`` if the encoder takes it, else the default
    (``VideoOptions``); ``note``: why the bit depth goes down, or ""."""
    formats = [f.name for f in (codec.video_formats or [])]
    if video.pix_fmt:
        if formats and video.pix_fmt not in formats:
            raise UpscaleError(
                f"pix_fmt={video.pix_fmt!r} is not one {codec.name} takes: {', '.join(formats)}"
            )
        return video.pix_fmt, ""
    if codec.name in LOSSLESS_RGB:
        return LOSSLESS_RGB[codec.name][info.depth > 8], ""
    wanted = "yuv420p10le" if info.depth > 8 else "yuv420p"
    if not formats or wanted in formats:
        return wanted, ""
    if "yuv420p" in formats:
        return (
            "yuv420p",
            f"{codec.name} writes 8-bit here: the {info.depth}-bit video is stored in 8",
        )
    return formats[0], ""


def _crf_options(codec, video):
    """The encoder's private options for ``video.crf`` (default ``DEFAULT_CRF`` where the
    encoder has a constant-quality factor); ``UpscaleError`` for a crf it has no use for."""
    if codec.name not in CRF_RANGES:
        if video.crf is not None:
            why = "it is lossless" if codec.lossless and not codec.lossy else "it has none"
            raise UpscaleError(
                f"crf={video.crf} sets the quality of {', '.join(_crf_encoders())}; "
                f"{codec.name} takes no crf ({why})"
            )
        if codec.name in QSCALE_ENCODERS:
            return {"flags": "+qscale", "global_quality": str(2 * _QP2LAMBDA)}
        return {}
    low, high = CRF_RANGES[codec.name]
    crf = DEFAULT_CRF if video.crf is None else video.crf
    if not low <= crf <= high:
        raise UpscaleError(f"crf={crf} is outside {codec.name}'s range, {low}-{high}")
    return {"crf": str(crf)}


def _plan(av, info, codec, video, container, out_w, out_h):
    pix_fmt, note = _pixel_format(codec, video, info)
    fmt = av.VideoFormat(pix_fmt, 1024, 1024)
    step_w = 1 if fmt.is_rgb else 1024 // max(1, fmt.chroma_width())
    step_h = 1 if fmt.is_rgb else 1024 // max(1, fmt.chroma_height())
    pad = (-out_h % step_h, -out_w % step_w)
    deep = info.depth > 8
    full_in = info.color_range == 2 or info.pix_fmt.startswith("yuvj")  # yuvj*: JPEG, full
    if info.colorspace in _SWS_MATRIX:
        sws, tag = _SWS_MATRIX[info.colorspace], info.colorspace
    else:  # untagged: as players read it
        sws = _BT709 if info.height >= 720 else _BT601
        tag = _SPC_BT709 if sws == _BT709 else _SPC_SMPTE170M
    plan = _Plan(
        codec=codec.name,
        codec_options=_crf_options(codec, video),
        container=container,
        muxer=MUXERS[container],
        pix_fmt=pix_fmt,
        width=out_w + pad[1],
        height=out_h + pad[0],
        pad=pad,
        array_format=("rgba64le" if deep else "rgba")
        if info.alpha
        else ("rgb48le" if deep else "rgb24"),  # fmt: skip
        result_format="rgb48le" if deep else "rgb24",
        sws_matrix=sws,
        tag_matrix=tag,
        source_range=2 if full_in else _RANGE_MPEG,
        # MJPEG is full range (FFmpeg refuses a limited-range yuv420p for it)
        color_range=2 if full_in or codec.name in _FULL_RANGE else _RANGE_MPEG,
    )
    return plan, note


def _check_streams(av, in_path, out_path, plan, container):
    """``UpscaleError`` before any work when the output container cannot hold the video
    codec or one of the input's audio codecs (audio is copied, never converted), or the
    encoder does not open with the plan's size and pixel format."""
    ext = os.path.splitext(out_path)[1].lower()
    other = "libvpx-vp9" if container == "webm" else "libx264"
    with av.open(io.BytesIO(), "w", format=plan.muxer) as scratch:
        try:
            stream = scratch.add_stream(plan.codec, rate=25, options=plan.codec_options)
        except ValueError:
            mkv = "" if container == "mkv" else " or container (container='mkv' holds most codecs)"
            raise UpscaleError(
                f"{out_path}: {ext} cannot hold {plan.codec} video; choose another codec "
                f"(codec={other!r}){mkv}"
            ) from None
        stream.width, stream.height, stream.pix_fmt = plan.width, plan.height, plan.pix_fmt
        stream.codec_context.color_range = plan.color_range
        try:
            scratch.start_encoding()
        except (av.FFmpegError, ValueError) as err:
            raise UpscaleError(
                f"{out_path}: {plan.codec} cannot write {plan.pix_fmt} video into {ext} "
                f"({_why(err)}); choose another codec (codec={other!r}) or pix_fmt"
            ) from None
    with av.open(in_path, metadata_errors="replace") as inp:
        for index, stream in enumerate(inp.streams.audio):
            if not _holds_audio(av, in_path, index, plan.muxer):
                raise UpscaleError(
                    f"{in_path}: its {stream.codec_context.name} audio cannot go into "
                    f"{ext} as it is (audio is copied, not re-encoded); write the video as "
                    ".mkv, which holds it (container='mkv', or an output name in .mkv)"
                )


def _holds_audio(av, in_path, index, muxer):
    """Whether ``muxer`` takes the ``index``-th audio stream of ``in_path`` as it is: a
    header, its first packet and a trailer written to memory (some muxers refuse a codec
    only there: opus or flac in .mov, pcm in .mp4)."""
    with av.open(in_path, metadata_errors="replace") as inp:
        stream = inp.streams.audio[index]
        scratch = av.open(io.BytesIO(), "w", format=muxer)
        try:
            copy = scratch.add_stream_from_template(stream)
            scratch.start_encoding()
            for packet in inp.demux(stream):
                if packet.size:
                    packet.stream = copy
                    scratch.mux(packet)
                    break
            scratch.close()
        except (av.FFmpegError, ValueError):
            with contextlib.suppress(Exception):
                scratch.close()
            return False
    return True


def _tags(tags, strip):
    """Tags worth copying: not those a muxer writes itself; with ``strip``, only languages."""
    if strip:
        return {k: v for k, v in tags.items() if k.lower() == "language"}
    return {k: v for k, v in tags.items() if not k.lower().startswith(_OWN_TAGS)}


class _Meter:
    """Frames done, the rate and the time left: a tqdm bar on a terminal, else (``lines``) a
    line on stderr every ``LOG_SECONDS`` and one at the end; or the caller's
    ``progress(done, total)``."""

    def __init__(self, progress, total, label, nested):
        self.total, self.label, self.start = total, label, time.monotonic()
        self.callback = progress if callable(progress) else None
        self.bar, self.lines, self.shown = None, False, self.start
        if progress is True:
            self.bar = progress_bar(total, label, "frame", position=int(nested), leave=not nested)
            self.lines = self.bar is None

    def update(self, done):
        if self.callback is not None:
            self.callback(done, self.total)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        elif self.lines and time.monotonic() - self.shown >= LOG_SECONDS:
            self.shown = time.monotonic()
            fps = done / max(self.shown - self.start, 1e-9)
            left = max(self.total - done, 0) / fps if fps else 0
            print(f"{self.label}: {done}/{self.total} frames, {fps:.2f} frames/s, ETA "
                  f"{_clock(left)}", file=sys.stderr, flush=True)  # fmt: skip

    def close(self, done, finished):
        if self.bar is not None:
            self.bar.close()
        elif self.lines and finished:
            took = time.monotonic() - self.start
            rate = done / max(took, 1e-9)
            line = f"{self.label}: {done} frames in {_clock(took)} ({rate:.2f} frames/s)"
            print(line, file=sys.stderr, flush=True)


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def upscale_video_file(
    in_path,
    out_path,
    engine,
    options,
    video=None,
    label="",
    notes=None,
    nested=False,
    redo=False,
    exact=False,
    progress=False,
):
    """Upscale the video ``in_path`` into ``out_path`` (a file, or a folder ending in a
    separator; ``exact``: the output file, as planned); returns ``[path written]``.

    ``engine``: an engine, or a function of the model scale that returns one. ``video``: a
    ``VideoOptions``. ``notes``: the run's notices given once (an encoder's). ``redo``: replace an
    existing output (one cut short). ``progress``: True for frames, rate and ETA (a bar on a
    terminal, else a line on stderr every ``LOG_SECONDS``), or ``progress(done, total)``.
    """
    video = video or VideoOptions()
    av = import_av()
    info = probe(in_path, options.max_pixels)
    if info.alpha and notes is not None:
        notes.add("transparent")  # background= has something to flatten
    sized = frame_options(options, info)
    try:
        scale, out_h, out_w = sized.plan(info.height, info.width)
        tag = name_tag(options, info)
    except MaffsrnError as err:  # the sizes are a frame's, not an image's
        size = f"{info.width}x{info.height}"
        message = str(err).replace(f"{size} image", f"{size} frame")
        raise UpscaleError(f"{in_path}: {message}") from None
    _check_tiles(in_path, options, info)
    if not exact:
        out_path = output_path(in_path, out_path, tag, video.container)
    overwrite = options.overwrite or redo
    _check_output(in_path, out_path, overwrite)
    container = os.path.splitext(out_path)[1].lower().lstrip(".")
    if container not in MUXERS:
        raise UpscaleError(f"output {out_path} is not a video file name: end it in .mkv or .mp4")
    if container in NO_ROTATION and (info.matrix or info.rotation):
        turn = f"turned by {abs(info.rotation)} degrees" if info.rotation else "mirrored"
        raise UpscaleError(
            f"{in_path} is shown {turn}, which .{container} cannot say (it would play "
            "sideways or mirrored): write it as .mp4 or .mkv (container='mp4')"
        )
    codec = _encoder(av, video, container)
    plan, depth_note = _plan(av, info, codec, video, container, out_w, out_h)
    _check_streams(av, in_path, out_path, plan, container)
    for note in _notices(info, plan, options, out_w, out_h):
        log.warning("%s: %s", one_line(in_path), note)
    if depth_note:  # the encoder's, not the file's: once a run
        _note(notes, depth_note, depth_note)
    if not hasattr(engine, "scale"):
        engine = engine(scale)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    except OSError as err:
        raise UpscaleError(f"cannot make the folder of {out_path}: {err.strerror}") from None
    name = one_line(os.path.basename(in_path))
    meter = _Meter(progress, info.frames, f"{label} {name}" if label else name, nested)
    done, finished = [0], False
    try:
        with atomic_output(out_path, overwrite) as tmp:
            _transcode(av, in_path, tmp, info, plan, engine, sized, options, meter, done)
        finished = True
    except OutputExists:
        raise UpscaleError(  # checked before the work: another run wrote it meanwhile
            f"output exists: {out_path} was written by another run meanwhile; it is left as it is"
        ) from None
    except av.FFmpegError as err:
        raise UpscaleError(f"{in_path}: writing {out_path} failed ({_why(err)})") from None
    except UpscaleError:
        raise
    except MaffsrnError as err:  # the model's or the tiling's, found at the first frame
        raise UpscaleError(f"{in_path}: {err}") from None
    except OSError as err:
        raise UpscaleError(f"cannot write {out_path}: {err.strerror or err}") from None
    finally:
        meter.close(done[0], finished)
    return [out_path]


def _check_tiles(in_path, options, info):
    """``UpscaleError`` before the model loads for a ``tile`` the frames cannot be cut into
    with ``overlap`` (the check tiling makes at the first frame)."""
    tile = options.tile
    if tile and max(info.height, info.width) > tile and 2 * options.overlap >= tile:
        raise UpscaleError(f"{in_path}: overlap={options.overlap} is not below half of tile={tile}")


# the muxers that write chapters (FFmpeg's Matroska and MP4 family)
CHAPTER_MUXERS = ("matroska", "webm", "mp4", "mov")


def _copy_chapters(inp, out, in_path):
    """The input's chapters (their times and titles) into the output, before its header is
    written; a container that cannot hold them is said, not silent."""
    chapters = inp.chapters() if hasattr(inp, "chapters") else []
    if not chapters:
        return
    if out.format.name not in CHAPTER_MUXERS:  # its muxer takes them and writes nothing
        log.warning("%s: its %d chapters are not kept: .%s has no chapters (.mkv and .mp4 keep "
                    "them)", one_line(in_path), len(chapters), out.format.extensions and
                    sorted(out.format.extensions)[0] or out.format.name)  # fmt: skip
        return
    try:
        out.set_chapters(chapters)
    except Exception as err:  # a muxer without chapters (AVI), an older PyAV
        log.warning("%s: its %d chapters are not kept (%s)", one_line(in_path), len(chapters),
                    first_line(err, 100) or type(err).__name__)  # fmt: skip


def _notices(info, plan, options, out_w, out_h):
    """What is worth a notice about this video."""
    if plan.pad != (0, 0):
        yield (
            f"{plan.pix_fmt} needs even sides: the {out_w}x{out_h} frames are padded to "
            f"{plan.width}x{plan.height} (the last row/column repeated); pix_fmt='yuv444p' "
            "keeps the size"
        )
    if info.alpha:
        yield f"its transparency is flattened onto background={options.background}"
    if info.sar and plan.codec not in ASPECT_CODECS and plan.muxer not in ASPECT_MUXERS:
        yield (
            f"its pixels are {info.sar.numerator}:{info.sar.denominator} wide, which "
            f"{plan.codec} in .{plan.container} cannot say here: the output's are square "
            "(H.264/H.265, or .mp4/.mov, keep it)"
        )
    if info.audio_end is not None and info.video_end is not None:
        short = info.video_end - info.audio_end
        if short > max(1 / info.rate if info.rate else 0, fractions.Fraction(1, 10)):
            yield f"its audio ends {float(short):.2f} s before its video (copied as it is)"
    if info.interlaced:
        yield "it is interlaced: its frames are upscaled as they are (deinterlace it first)"
    if info.dropped:
        kinds = ", ".join(sorted(set(info.dropped)))
        yield f"{len(info.dropped)} stream(s) not copied ({kinds}): only video and audio are"


def _transcode(av, in_path, tmp, info, plan, engine, sized, options, meter, done):
    """Decode, upscale and encode ``in_path``'s frames into ``tmp`` one at a time, copying
    its audio packets in between; ``done[0]``: the frames written so far."""
    with av.open(in_path, metadata_errors="replace") as inp:
        vin = _video_stream(inp, in_path)
        decode = _decoder(av, vin)
        audio = list(inp.streams.audio)
        options_out = {"movflags": "+faststart"} if plan.muxer in FASTSTART else {}
        rate = info.rate or fractions.Fraction(25)
        constant = plan.muxer in CONSTANT_RATE
        time_base = 1 / rate if constant else vin.time_base
        out = av.open(tmp, "w", format=plan.muxer, container_options=options_out)
        try:
            vout, copies = _output_streams(out, inp, vin, audio, info, plan, options, time_base)
            _copy_chapters(inp, out, in_path)
            out.start_encoding()  # the encoder opens here: its errors come before any work
            last, step, result = None, max(1, round(1 / (rate * time_base))), None
            shifts = {}  # constant rate: each audio stream's start moved to 0 (_audio_at_0)
            for packet in inp.demux(vin, *audio):
                if packet.stream.type == "audio":
                    if packet.size and (not constant or _audio_at_0(packet, shifts)):
                        packet.stream = copies[packet.stream.index]
                        out.mux(packet)
                    continue
                for frame in _decode(av, decode, packet, in_path, done[0]):
                    if (frame.width, frame.height) != (info.width, info.height):
                        raise UpscaleError(
                            f"{in_path}: frame {done[0] + 1} is {frame.width}x{frame.height}, "
                            f"the first {info.width}x{info.height}: a video that changes size "
                            "is not supported"
                        )
                    if frame.pts is None:  # no time stamp: one frame after the last
                        pts = 0 if last is None else last + step
                    else:
                        pts = round(frame.pts * vin.time_base / time_base)
                    if constant and last is not None and pts <= last:  # two in one slot
                        raise UpscaleError(
                            f"{in_path}: frame {done[0] + 1} falls in the slot of the frame "
                            f"before it at .{plan.muxer}'s constant rate of "
                            f"{float(rate):.4g} frames/s (its frames are not evenly timed): "
                            "write it as .mp4 or .mkv, which keep each frame's time"
                        )
                    if last is not None and pts <= last:  # a repeated time stamp
                        pts = last + 1
                    if constant and last is not None and pts - last > MAX_GAP_S * rate:
                        raise UpscaleError(
                            f"{in_path}: its time stamps jump by {_seconds(pts - last, rate)} "
                            f"after frame {done[0]}; .{plan.muxer} holds a constant frame "
                            "rate (a gap is filled with copies of the last frame): write it "
                            "as .mp4 or .mkv"
                        )
                    if constant and last is not None and pts > last + 1:  # a gap: its
                        # slots repeat the last frame (as ffmpeg -vsync cfr does); empty
                        # slots made FFmpeg's AVI reader misplace the H.264 frames after them
                        for slot in range(last + 1, pts):
                            out.mux(vout.encode(_encoded(av, result, plan, slot, time_base)))
                    last = pts
                    result = upscale_with(engine, _rgb(frame, plan, options), sized)
                    out.mux(vout.encode(_encoded(av, result, plan, pts, time_base)))
                    done[0] += 1
                    meter.update(done[0])
            out.mux(vout.encode(None))
        except BaseException:  # the first error is the one to tell (the file goes anyway)
            with contextlib.suppress(Exception):
                out.close()
            raise
        out.close()  # the trailer (and the index moved to the front)


def _audio_at_0(packet, shifts):
    """For a container that cannot start before 0 (AVI): whether to copy an audio packet,
    its time moved so that its stream starts at 0. A priming packet wholly before 0 (AAC's
    1024 samples, which players drop) is left out, and one that starts before 0 moves its
    stream by the few samples it starts early: FFmpeg's own shift had moved the video a
    whole frame slot later (a slot left empty, the frames out of sync by 77 ms at 10
    frames/s). ``shifts``: each stream's move, set by its first packet copied."""
    index = packet.stream.index
    if packet.pts is None:
        return True
    if index not in shifts:
        if packet.pts + (packet.duration or 0) <= 0:
            return False  # only samples before 0
        shifts[index] = max(0, -packet.pts)
    if shifts[index]:
        packet.pts += shifts[index]
        if packet.dts is not None:
            packet.dts += shifts[index]
    return True


def _seconds(slots, rate):
    """``slots`` frames at ``rate`` as people read a duration: ``1:02:03``."""
    whole = int(slots / rate)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _decode(av, decode, packet, in_path, done):
    try:
        return decode(packet)
    except (av.FFmpegError, ValueError) as err:
        raise UpscaleError(f"{in_path}: frame {done + 1} cannot be decoded ({_why(err)})") from None


def _rgb(frame, plan, options):
    """The frame as the model takes it: RGB (8- or 16-bit), transparency flattened."""
    convert = {} if frame.format.is_rgb else {
        "src_colorspace": plan.sws_matrix, "src_color_range": plan.source_range}  # fmt: skip
    array = frame.to_ndarray(format=plan.array_format, **convert)
    if array.shape[-1] == 4:
        array = composite(array, options.background_rgb)
    return array


def _encoded(av, result, plan, pts, time_base):
    """An upscaled frame as the encoder takes it: padded, in its pixel format and matrix."""
    if plan.pad != (0, 0):
        result = np.pad(result, ((0, plan.pad[0]), (0, plan.pad[1]), (0, 0)), mode="edge")
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(result), format=plan.result_format)
    if av.VideoFormat(plan.pix_fmt).is_rgb:
        frame = frame.reformat(format=plan.pix_fmt)
    else:
        frame = frame.reformat(
            format=plan.pix_fmt, dst_colorspace=plan.sws_matrix, dst_color_range=plan.color_range
        )
    frame.pts, frame.time_base = pts, time_base
    return frame


def _output_streams(out, inp, vin, audio, info, plan, options, time_base):
    """The output's video stream (size, rate, time base, colour tags, pixel aspect, display
    matrix, tags) and a copy of each audio stream: ``(video, {input index: copy})``."""
    rate = info.rate or fractions.Fraction(25)
    vout = out.add_stream(plan.codec, rate=rate, options=plan.codec_options)
    vout.width, vout.height, vout.pix_fmt = plan.width, plan.height, plan.pix_fmt
    context = vout.codec_context
    context.time_base = time_base
    vout.time_base = time_base
    if plan.muxer in CONSTANT_RATE:
        context.max_b_frames = 0
    if not _is_rgb_format(plan.pix_fmt):
        context.colorspace = plan.tag_matrix
        context.color_range = plan.color_range
    context.color_primaries = info.color_primaries
    context.color_trc = info.color_trc
    if info.sar:
        context.sample_aspect_ratio = info.sar
    if info.matrix:
        vout.set_display_matrix(info.matrix)
    elif info.rotation:
        vout.set_display_rotation(info.rotation)
    strip = options.strip_metadata
    out.metadata.update(_tags(inp.metadata, strip))
    vout.metadata.update(_tags(vin.metadata, strip))
    copies = {}
    for stream in audio:
        copy = out.add_stream_from_template(stream)
        copy.metadata.update(_tags(stream.metadata, strip))
        copies[stream.index] = copy
    return vout, copies


def _is_rgb_format(pix_fmt):
    import av

    return av.VideoFormat(pix_fmt).is_rgb


def existing_state(source, target, options):
    """``(state, why)`` of the file at ``target`` for ``skip_existing``: ``"whole"`` (a
    video of the size ``options`` give ``source``'s frames, read to its end, with as many
    frames; in AVI at least as many: a gap's slots repeat a frame), ``"cut short"`` (that
    size, ending early when read: redone) or ``"other"`` (not a video that opens, another
    size, a whole video of other frames, the input itself: never replaced without
    ``overwrite``). An MP4 cut before its index cannot be opened: "other"."""
    from maffsrn_tf.upscaler.files import _is_the_input

    if _is_the_input(source, target):
        return "other", "it is the input itself"
    try:
        first = probe(target, whole=False)
        info = probe(source, whole=False)
    except MaffsrnError:
        return "other", "not a video that can be read"
    _, out_h, out_w = frame_options(options, info).plan(info.height, info.width)
    sizes = {(first.width, first.height), (first.height, first.width)}
    if not any(abs(w - out_w) <= 1 and abs(h - out_h) <= 1 for w, h in sizes):  # odd: padded
        return "other", f"a video of {first.width}x{first.height}, not {out_w}x{out_h}"
    try:
        have = probe(target).frames
    except MaffsrnError:  # read to its end, it ends early: an unfinished copy
        return "cut short", ""
    want = probe(source).frames
    constant = os.path.splitext(target)[1].lower().lstrip(".") in CONSTANT_RATE
    if have == want or (constant and have > want):  # AVI: a gap's slots repeat a frame
        return "whole", ""
    return "other", f"a whole video of {have} frames, not {want}"


def upscale_video(input_path, output=None, progress=False, **options):
    """Upscale one video; returns the path written (None when ``skip_existing`` found it
    done).

    ``output``: the output file, or a folder (default: ``out/NAME_x2.EXT``, the input's
    container). ``options``: ``upscale_path``'s (``scale``, ``outscale``, ``width``,
    ``height``, ``quantization``, ``backend``, ``model``, ``tile``, ``overlap``,
    ``num_threads``, ``self_ensemble``, ``overwrite``, ``skip_existing``, ``strip_metadata``,
    ``background``, ``max_pixels``) and ``VideoOptions``' (``codec``, ``crf``, ``pix_fmt``,
    ``container``). ``progress``: True for frames, rate and ETA on stderr, or a function of
    ``(done, total)`` called after each frame. Every error is an ``UpscaleError``.
    """
    if not isinstance(progress, bool) and not callable(progress):
        raise UpscaleError(
            f"progress={progress!r}: pass True, False or a function of (done, total)"
        )
    names = {public_name(f) for f in dataclasses.fields(UpscaleOptions)} | set(VIDEO_KEYWORDS)
    unknown = sorted(set(options) - names)
    if unknown:
        raise UpscaleError(
            f"unknown option {unknown[0]!r}; the options are {', '.join(sorted(names))}"
        )
    video_keywords = {k: options.pop(k) for k in VIDEO_KEYWORDS if k in options}
    try:
        upscale_options = UpscaleOptions.from_keywords(**options)
        video = VideoOptions.from_keywords(**video_keywords)
        path = os.fsdecode(input_path)  # bytes: a name as the file system has it
    except MaffsrnError as err:
        raise UpscaleError(str(err)) from None
    except TypeError as err:
        raise UpscaleError(f"input_path is a path ({err})") from None
    if os.path.isdir(path) or path.lower().endswith(IMAGE_EXTENSIONS):
        raise UpscaleError(f"{path} is not a video (upscale_path takes images and folders)")
    if os.path.exists(path) and not is_video(path):
        probe(path, whole=False)  # the reason: not readable, no video stream
        raise UpscaleError(f"{path} is not a video")
    written = upscale_files([path], output, upscale_options, progress=progress, video=video)
    return written[0] if written else None
