"""A fast PNG encoder (8- and 16-bit): the write at the end of every upscale.

Pillow's encoder runs on one core and picks a filter per row (0.22 s for a 2560x1440 photo
at zlib level 1), and writes 16-bit only for grayscale (pypng, in pure Python, took 1.6 s
for a 2560x1440 16-bit RGB photo; this takes 0.4 s, on two busy cores). Photos compress
about as well with the Sub filter on every row, which needs no other row: the image is cut
into blocks of rows, and each block is filtered and deflated on its own in a thread pool
(NumPy and zlib release the GIL). Each block's deflate output ends on a byte boundary
(``Z_SYNC_FLUSH``), so the blocks join into one zlib stream, as pigz does; its Adler-32 is
combined from the blocks'. Memory beyond the image and the compressed file is a few blocks.
``python benchmarks/png_encode.py`` compares it with Pillow (time and size).

16-bit samples are written big-endian, as PNG stores them; the Sub filter works on bytes
with the previous pixel ``2 * channels`` bytes back (PNG's filters are defined on bytes), so
one filter serves both depths. Metadata chunks, all before the image data: ``gAMA`` and
``cHRM`` (the gamma and chromaticities of the pixel values), ``iCCP`` (an ICC profile) or
``sRGB`` (the pixels are sRGB: written only without a profile, as the PNG specification
asks; ``gAMA`` and ``cHRM`` go with either, and a reader that knows ``iCCP`` or ``sRGB``
takes it over them), ``pHYs`` (the resolution, from dots per inch), ``eXIf`` (EXIF) and
``iTXt`` ``XML:com.adobe.xmp`` (XMP, uncompressed UTF-8). A value a chunk cannot hold (PNG's
four-byte numbers go up to 2**31 - 1) leaves that chunk out.
"""

import io
import math
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

LEVEL = 2  # zlib level: Sub + level 2 is smaller than Pillow's adaptive filters at level 1
# 16-bit: the low bytes are mostly noise that string matching cannot shorten; run-length
# matching only (Z_RLE) deflates a 2560x1440 16-bit RGB photo 2.5 times as fast as level 2,
# 10 % larger (still smaller than pypng's file)
STRATEGY_16 = zlib.Z_RLE
COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, ...)
BLOCK_BYTES = 1 << 22  # raw bytes of rows per block (a block is one IDAT chunk)
XMP_KEYWORD = b"XML:com.adobe.xmp"  # the iTXt keyword of XMP (Adobe's XMP specification)
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ADLER_BASE = 65521
_EXIF_PREFIX = b"Exif\x00\x00"  # JPEG's APP1 prefix, which Pillow's EXIF bytes start with
_METRES_PER_INCH = 0.0254
MAX_VALUE = 2**31 - 1  # PNG's four-byte unsigned integers (the specification's limit)


def _chunk(kind, data):
    """A PNG chunk as pieces to join (no copy of ``data`` here)."""
    crc = zlib.crc32(data, zlib.crc32(kind))
    return [struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)]


def adler32_combine(adler1, adler2, length2):
    """The Adler-32 of ``a + b`` from ``adler32(a)``, ``adler32(b)`` and ``len(b)`` (zlib's
    ``adler32_combine``, which Python's zlib does not expose)."""
    rem = length2 % _ADLER_BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 = (sum1 + (adler2 & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    sum2 = (sum2 + (adler1 >> 16) + (adler2 >> 16) + _ADLER_BASE - rem) % _ADLER_BASE
    return sum1 | (sum2 << 16)


def _row_bytes(array):
    """``H x W x C`` pixels as ``H x (W * C * bytes)`` uint8 PNG samples (16-bit: big-endian)."""
    h = array.shape[0]
    if array.dtype == np.uint16:
        array = array.astype(">u2", copy=False)
    return np.ascontiguousarray(array).view(np.uint8).reshape(h, -1)


def sub_filtered(array):
    """The PNG scanlines of an ``H x W x C`` uint8 or uint16 array with filter type 1 (Sub):
    each byte minus the byte ``bpp`` before it (the same byte of the pixel to its left; bpp
    = C, or 2 * C for 16-bit big-endian samples), modulo 256, after a filter-type byte."""
    c = array.shape[2] * array.dtype.itemsize
    rows = _row_bytes(array)
    h, n = rows.shape
    out = np.empty((h, n + 1), np.uint8)
    out[:, 0] = 1
    out[:, 1 : c + 1] = rows[:, :c]
    np.subtract(rows[:, c:], rows[:, :-c], out=out[:, c + 1 :])
    return out


def _block(array, start, stop, last):
    """Filtered and deflated rows ``start:stop``: (deflate bytes, Adler-32, raw length)."""
    data = sub_filtered(array[start:stop])
    strategy = STRATEGY_16 if array.dtype == np.uint16 else zlib.Z_DEFAULT_STRATEGY
    z = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 8, strategy)  # raw: the blocks are joined
    out = z.compress(data) + z.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return out, zlib.adler32(data), data.nbytes


def _scaled(values):
    """``values`` (numbers) times 100,000 as PNG's four-byte integers (``gAMA``, ``cHRM``),
    or None when one is not a finite number in 0..MAX_VALUE."""
    try:
        scaled = [float(v) * 100_000 for v in values]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) and 0 <= round(v) <= MAX_VALUE for v in scaled):
        return None
    return [round(v) for v in scaled]


def dots_per_metre(dpi):
    """``pHYs``'s whole dots per metre of ``(x, y)`` dots per inch, or None when a value
    rounds to none or to more than a chunk holds (0 < value <= MAX_VALUE)."""
    try:
        ppm = [int(float(d) / _METRES_PER_INCH + 0.5) for d in dpi]
    except (TypeError, ValueError, OverflowError):  # not numbers, NaN, infinite
        return None
    return ppm if len(ppm) == 2 and all(0 < p <= MAX_VALUE for p in ppm) else None


def _metadata_chunks(icc_profile, exif, xmp, dpi, gamma=None, chromaticity=None, srgb=None):
    """The chunks of the metadata given (each None or empty, or a value a chunk cannot
    hold: left out)."""
    pieces = []
    gamma = _scaled([gamma]) if gamma is not None else None
    if gamma and gamma[0] > 0:  # a gamma of 0 is invalid (PNG specification)
        pieces += _chunk(b"gAMA", struct.pack(">I", gamma[0]))
    chrm = _scaled(chromaticity) if chromaticity is not None else None
    if chrm and len(chrm) == 8:  # white point, red, green, blue: x then y of each
        pieces += _chunk(b"cHRM", struct.pack(">8I", *chrm))
    if icc_profile:
        pieces += _chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile))
    elif srgb is not None and not isinstance(srgb, bool) and srgb in (0, 1, 2, 3):
        pieces += _chunk(b"sRGB", bytes([int(srgb)]))  # its rendering intent
    ppm = dots_per_metre(dpi) if dpi else None
    if ppm:  # unit 1: metres
        pieces += _chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    if exif:
        exif = bytes(exif)
        pieces += _chunk(b"eXIf", exif[6:] if exif.startswith(_EXIF_PREFIX) else exif)
    if xmp:
        text = xmp.encode("utf-8") if isinstance(xmp, str) else bytes(xmp)
        # keyword, NUL, not compressed (0, method 0), no language tag, no translated keyword
        pieces += _chunk(b"iTXt", XMP_KEYWORD + b"\0\0\0\0\0" + text)
    return pieces


def encode_png(
    array, icc_profile=None, threads=2, *, exif=None, xmp=None, dpi=None, gamma=None,
    chromaticity=None, srgb=None, text=None, software=None,
):  # fmt: skip
    """PNG bytes of a uint8 or uint16 ``H x W`` or ``H x W x C`` array (C: 1 grey, 2
    grey+alpha, 3 RGB, 4 RGBA; uint16 is written as 16-bit), with metadata chunks for what
    is given: ``icc_profile`` (bytes: ``iCCP``), ``exif`` (bytes, with or without the
    ``Exif\\0\\0`` prefix: ``eXIf``), ``xmp`` (bytes or str: ``iTXt XML:com.adobe.xmp``),
    ``dpi`` ((x, y) dots per inch: ``pHYs``), ``gamma`` (a number, as Pillow reads ``gAMA``:
    ``gAMA``), ``chromaticity`` (8 numbers, white point, red, green and blue x and y, as
    Pillow reads ``cHRM``: ``cHRM``) and ``srgb`` (a rendering intent, 0-3: ``sRGB``, left
    out with an ICC profile), ``text`` (``{keyword: str}``: ``tEXt``, or ``iTXt`` for text
    beyond Latin-1; a keyword PNG does not allow is left out) and ``software`` (Latin-1:
    ``tEXt Software``, the program that wrote the file); ``threads`` deflate blocks in
    parallel."""
    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"encode_png writes uint8 or uint16 arrays, not {array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in COLOR_TYPES or 0 in array.shape:
        raise ValueError(f"encode_png: expected H x W x (1-4) pixels, got shape {array.shape}")
    h, w, c = array.shape
    depth = 8 * array.dtype.itemsize
    rows = max(1, BLOCK_BYTES // (w * c * array.dtype.itemsize + 1))
    starts = list(range(0, h, rows))
    args = [(array, s, min(s + rows, h), s + rows >= h) for s in starts]
    if len(args) == 1 or threads <= 1:
        blocks = [_block(*a) for a in args]
    else:
        with ThreadPoolExecutor(min(threads, len(args))) as pool:
            blocks = list(pool.map(lambda a: _block(*a), args))
    adler = 1
    for _, block_adler, length in blocks:
        adler = adler32_combine(adler, block_adler, length)
    pieces = [_SIGNATURE]
    pieces += _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, COLOR_TYPES[c], 0, 0, 0))
    pieces += _metadata_chunks(icc_profile, exif, xmp, dpi, gamma, chromaticity, srgb)
    for keyword, value in (text or {}).items():
        pieces += _text_chunk(keyword, value)
    if software:  # keyword, NUL, text (PNG's registered keyword for the writing program)
        pieces += _chunk(b"tEXt", b"Software\0" + software.encode("latin-1"))
    pieces += _chunk(b"IDAT", b"\x78\x5e")  # zlib header: 32K window, "fast" level
    for data, _, _ in blocks:
        pieces += _chunk(b"IDAT", data)
    pieces += _chunk(b"IDAT", struct.pack(">I", adler))
    pieces += _chunk(b"IEND", b"")
    return b"".join(pieces)


TEXT_COMPRESSED_FROM = 1024  # bytes: longer text is written compressed (zTXt, iTXt)


def text_keyword_problem(keyword):
    """Why ``keyword`` cannot name a PNG text chunk (PNG allows 1-79 Latin-1 characters,
    printable, with no leading, trailing or double space), or None."""
    try:
        key = keyword.encode("latin-1")
    except (UnicodeEncodeError, AttributeError):
        return "it is not Latin-1 text"
    if not 1 <= len(key) <= 79:
        return f"it is {len(key)} characters long, not 1-79"
    if any(c < 32 or 126 < c < 160 for c in key):
        return "it holds a control character"
    if 160 in key:
        return "it holds a no-break space"
    if "  " in keyword or keyword != keyword.strip():
        return "it has a leading, trailing or double space"
    return None


def _text_chunk(keyword, value):
    """A ``tEXt`` chunk (Latin-1 text), or an ``iTXt`` (UTF-8) for text beyond it or text
    that names its language or translates its keyword (Pillow's ``iTXt`` value: ``lang``,
    ``tkey``); compressed (``zTXt``, a compressed ``iTXt``) beyond ``TEXT_COMPRESSED_FROM``
    bytes; none for a keyword PNG does not allow (``text_keyword_problem``)."""
    if text_keyword_problem(keyword):
        return []
    key = keyword.encode("latin-1")
    lang, tkey = (getattr(value, a, None) or "" for a in ("lang", "tkey"))
    value = str(value)
    try:
        value.encode("latin-1")
        latin = not (lang or tkey)  # tEXt and zTXt hold neither
    except UnicodeEncodeError:
        latin = False
    data = value.encode("latin-1" if latin else "utf-8", "replace")
    compressed = len(data) > TEXT_COMPRESSED_FROM
    if latin:
        if compressed:
            return _chunk(b"zTXt", key + b"\0\0" + zlib.compress(data))
        return _chunk(b"tEXt", key + b"\0" + data)
    names = b"\0".join(str(t).replace("\0", "").encode("utf-8", "replace") for t in (lang, tkey))
    head = key + (b"\0\1\0" if compressed else b"\0\0\0") + names + b"\0"
    return _chunk(b"iTXt", head + (zlib.compress(data) if compressed else data))


def _chunks(f):
    """``(kind, length)`` of each chunk of the PNG file object ``f`` after its signature,
    positioned at the chunk's data; the caller reads what it needs of it (``f`` is moved to
    the next chunk after each)."""
    while True:
        head = f.read(8)
        if len(head) < 8:
            return
        length, kind = struct.unpack(">I4s", head)
        start = f.tell()
        yield kind, length
        if kind == b"IEND":
            return
        f.seek(start + length + 4)


def _text_entry(kind, body):
    """``(keyword, problem)`` of a text chunk (``tEXt``, ``zTXt``, ``iTXt``) from its first
    bytes ``body`` (``text_chunks`` says what ``problem`` holds)."""
    key, nul, rest = body.partition(b"\0")
    problem = None
    if not nul:
        problem = "no NUL ends its keyword"
    elif kind == b"zTXt" and rest[:1] != b"\0":
        problem = f"compression method {rest[:1].hex() or 'missing'} (PNG has 0 only)"
    elif kind == b"iTXt" and (rest[:1] not in (b"\0", b"\1") or rest[1:2] != b"\0"):
        problem = "a compression flag or method PNG does not define"
    return key.decode("latin-1"), problem


_TEXT_KINDS = (b"tEXt", b"zTXt", b"iTXt")
# the first bytes of a text chunk read for its keyword: enough for one longer than the 79
# characters PNG allows, which Pillow reads (the writer says it cannot write it)
_TEXT_HEAD = 4096


def text_chunks(path=None, data=None):
    """``(keyword, problem)`` of each of a PNG's text chunks (``tEXt``, ``zTXt``, ``iTXt``)
    in the file's order, repeats too (Pillow's ``text`` keeps a keyword's last value only):
    ``problem`` says why the chunk holds no text to read (no NUL after its keyword, a
    compression method or flag PNG does not define, for which Pillow gives an empty value
    without a word), else None. The file at ``path``, or ``data`` (its bytes); only chunk
    headers and the first bytes of text chunks are read (``_TEXT_HEAD``). ``[]`` for what
    is not a PNG."""
    found = []
    with open(path, "rb") if data is None else io.BytesIO(data) as f:
        if f.read(8) != _SIGNATURE:
            return found
        for kind, length in _chunks(f):
            if kind in _TEXT_KINDS:
                found.append(_text_entry(kind, f.read(min(length, _TEXT_HEAD))))
    return found


def text_keywords(path=None, data=None):
    """The keywords of a PNG's text chunks in the file's order (``text_chunks``)."""
    return [keyword for keyword, _ in text_chunks(path, data)]


def damaged_chunk(path=None, data=None):
    """The first chunk of a PNG whose CRC does not match its bytes, as ``(kind, index)``
    (``index``: its place among the file's chunks, from 1), or None (every CRC right, or
    not a PNG). Pillow refuses such a file as "cannot identify image file"."""
    with open(path, "rb") if data is None else io.BytesIO(data) as f:
        if f.read(8) != _SIGNATURE:
            return None
        for index, (kind, length) in enumerate(_chunks(f), 1):
            crc = zlib.crc32(kind)
            left = length
            while left:
                piece = f.read(min(left, 1 << 20))
                if not piece:
                    return None  # cut short: the decoder says so itself
                crc, left = zlib.crc32(piece, crc), left - len(piece)
            stored = f.read(4)
            if len(stored) == 4 and struct.unpack(">I", stored)[0] != crc & 0xFFFFFFFF:
                return kind.decode("latin-1"), index
    return None


# Adam7: each pass's (first row, first column, row step, column step)
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
          (1, 0, 2, 1))  # fmt: skip
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


def _raw_size(width, height, depth, colour_type, interlaced):
    """The bytes of filtered rows a PNG's header declares: a filter byte and the packed
    samples of each row (of each Adam7 pass's rows, for an interlaced one)."""
    bits = depth * _CHANNELS.get(colour_type, 4)

    def rows(w, h):
        return h * (1 + (w * bits + 7) // 8) if w and h else 0

    if not interlaced:
        return rows(width, height)
    return sum(
        rows((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for y, x, dy, dx in _ADAM7
    )


def image_data_shortfall(path=None, data=None, step=1 << 20):
    """``(have, want)`` when a PNG's image data (its ``IDAT`` chunks, inflated) ends before
    the rows its header declares, else None (complete, not a PNG, or damaged in a way its
    decoder reports itself). Pillow fills such missing rows with black and says nothing
    when the compressed stream itself ends cleanly (a file cut and re-deflated, a broken
    encoder). The file at ``path``, or ``data`` (its bytes); inflated ``step`` bytes at a
    time (memory stays small)."""
    return survey(path, data, step)[0]


def survey(path=None, data=None, step=1 << 20):
    """``(shortfall, texts)`` of a PNG in one walk over its chunks, what ``read_image``
    checks of every PNG it reads: ``image_data_shortfall``'s answer and ``text_chunks``'
    list. ``(None, [])`` for what is not a PNG."""
    texts = []
    with open(path, "rb") if data is None else io.BytesIO(data) as f:
        if f.read(8) != _SIGNATURE:
            return None, texts
        inflate, have, want, state = zlib.decompressobj(), 0, None, "before"
        for kind, length in _chunks(f):
            if kind in _TEXT_KINDS:
                texts.append(_text_entry(kind, f.read(min(length, _TEXT_HEAD))))
            elif kind == b"IDAT" and state != "after":
                state, rest = "in", f.read(length)
                try:
                    while rest and not inflate.eof:
                        have += len(inflate.decompress(rest, step))
                        rest = inflate.unconsumed_tail
                except zlib.error:  # damaged: the decoder says so itself
                    state, want = "after", None
            elif state == "in":  # the image data is one run of IDAT chunks
                state = "after"
            elif kind == b"IHDR" and length >= 13 and state == "before":
                w, h, depth, colour, _, _, interlaced = struct.unpack(">IIBBBBB", f.read(13))
                want = _raw_size(w, h, depth, colour, interlaced)
    short = (have, want) if want is not None and have < want else None
    return short, texts
