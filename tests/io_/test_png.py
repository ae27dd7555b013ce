"""The fast PNG encoder: the files decode (Pillow, pypng) to the exact pixels (8- and 16-bit),
one stream, with the metadata chunks given."""

import io
import zlib

import numpy as np
import png
import pytest
from PIL import Image, ImageCms

from maffsrn_tf.io import images
from maffsrn_tf.io import png as pngwriter
from maffsrn_tf.io.png import adler32_combine, encode_png, image_data_shortfall, sub_filtered
from maffsrn_tf.model.shipped import sample_photo_path

SHAPES = [(1, 1), (1, 1, 3), (13, 13), (5, 7, 2), (7, 5, 4), (3, 2000, 3), (700, 900, 3)]


def chunks(data):
    """The (kind, payload) chunks of PNG bytes, in order."""
    out, i = [], 8
    while i < len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        out.append((data[i + 4 : i + 8], data[i + 8 : i + 8 + n]))
        i += n + 12
    return out


def idat(data):
    """The joined IDAT payload of PNG bytes."""
    return b"".join(payload for kind, payload in chunks(data) if kind == b"IDAT")


@pytest.mark.parametrize("block", [1, 5000, pngwriter.BLOCK_BYTES])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_decodes_to_the_same_pixels(shape, threads, block, monkeypatch):
    monkeypatch.setattr(pngwriter, "BLOCK_BYTES", block)  # one row per block ... one block
    a = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(a, threads=threads)
    with Image.open(io.BytesIO(data)) as im:
        assert np.array_equal(np.asarray(im).reshape(a.shape), a)
    w, h, rows, meta = png.Reader(bytes=data).read()  # strict: chunk CRCs, the zlib stream
    assert (h, w, meta["bitdepth"]) == (shape[0], shape[1], 8)
    assert np.array_equal(np.vstack(list(rows)).reshape(a.shape), a)
    # one zlib stream (its Adler-32 checked) over the Sub-filtered scanlines
    assert zlib.decompress(idat(data)) == sub_filtered(a.reshape(*shape[:2], -1)).tobytes()


def test_photo_in_blocks_is_one_valid_stream(monkeypatch):
    with Image.open(sample_photo_path()) as im:
        rgb = np.asarray(im.convert("RGB"))
    one = encode_png(rgb, threads=1)
    monkeypatch.setattr(pngwriter, "BLOCK_BYTES", 100_000)  # 66 blocks of 65 rows
    data = encode_png(rgb, threads=2)
    assert zlib.decompress(idat(data)) == sub_filtered(rgb).tobytes()
    with Image.open(io.BytesIO(data)) as im:
        assert np.array_equal(np.asarray(im), rgb)
    assert len(data) < 1.01 * len(one)  # blocks deflated apart cost under 1 % in size


def test_adler32_combine_matches_zlib():
    rng = np.random.default_rng(0)
    for n in [0, 1, 5, 65521, 65522, 300_000]:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        for cut in {0, n // 3, n}:
            a, b = data[:cut], data[cut:]
            assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(data)


def test_icc_profile_kept_and_write_image_uses_it(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    path = images.write_image(str(tmp_path / "a.png"), rgb, {"icc_profile": icc})
    with Image.open(path) as im:
        assert im.info["icc_profile"] == icc
        assert np.array_equal(np.asarray(im), rgb)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((4, 4, 3), np.float32), "uint8 or uint16"),
        (np.zeros((4, 4, 3), np.int16), "uint8 or uint16"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "shape"),
    ],
)
def test_refuses_what_it_cannot_write(array, message):
    with pytest.raises(ValueError, match=message):
        encode_png(array)


# --- 16-bit: big-endian samples, the Sub filter on bytes (bpp = 2 x channels) -----------------


def test_16_bit_sub_filter_known_answer():
    """Two 16-bit RGB pixels: big-endian bytes, each minus the byte 6 before it (mod 256)."""
    a = np.array([[[0x0102, 0x0304, 0x0506], [0x0101, 0x0300, 0xFFFF]]], np.uint16)
    expected = [1, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x00, 0xFF, 0x00, 0xFC, 0xFA, 0xF9]
    assert sub_filtered(a).tolist() == [expected]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_decodes_to_the_exact_values_over_several_blocks(channels, threads, monkeypatch):
    monkeypatch.setattr(pngwriter, "BLOCK_BYTES", 3000)  # 37 rows of 41 pixels: 4-13 blocks
    shape = (37, 41) if channels == 1 else (37, 41, channels)
    a = np.random.default_rng(channels).integers(0, 65536, shape, dtype=np.uint16)
    a.flat[:6] = [0, 65535, 255, 256, 0xFF00, 0x00FF]  # byte order shows in these
    data = encode_png(a, threads=threads)
    w, h, rows, meta = png.Reader(bytes=data).read()  # strict: CRCs, one zlib stream
    assert (h, w, meta["bitdepth"], meta["planes"]) == (37, 41, 16, channels)
    assert (meta["greyscale"], meta["alpha"]) == (channels <= 2, channels in (2, 4))
    assert np.array_equal(np.vstack(list(rows)).astype(np.uint16).reshape(shape), a)
    if channels == 1:  # Pillow reads 16-bit grey (its colour 16-bit is cut to 8 bits)
        with Image.open(io.BytesIO(data)) as im:
            assert im.mode == "I;16"
            assert np.array_equal(np.asarray(im), a)
    pixels = a.reshape(37, 41, channels)
    blocks = [p for kind, p in chunks(data) if kind == b"IDAT"][1:-1]  # less header, Adler-32
    per_block = 3000 // (41 * channels * 2 + 1)
    assert len(blocks) == -(-37 // per_block) > 1
    assert zlib.decompress(idat(data)) == sub_filtered(pixels).tobytes()
    stream = idat(data)
    assert int.from_bytes(stream[-4:], "big") == zlib.adler32(sub_filtered(pixels).tobytes())


def test_16_bit_is_big_endian_in_the_file():
    data = encode_png(np.array([[0x1234]], np.uint16))
    ihdr = chunks(data)[0][1]
    assert ihdr[8:10] == bytes([16, 0])  # bit depth 16, colour type 0 (grey)
    assert zlib.decompress(idat(data)) == bytes([1, 0x12, 0x34])


def test_metadata_chunks_before_the_image_data():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/">caf\u00e9</x:xmpmeta>'
    rgb = np.random.default_rng(1).integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    data = encode_png(rgb, icc, exif=exif.tobytes(), xmp=xmp, dpi=(300, 72))
    kinds = [kind for kind, _ in chunks(data)]
    assert kinds[:5] == [b"IHDR", b"iCCP", b"pHYs", b"eXIf", b"iTXt"] and kinds[5] == b"IDAT"
    found = dict(chunks(data))
    assert found[b"pHYs"] == (11811).to_bytes(4, "big") + (2835).to_bytes(4, "big") + b"\x01"
    assert found[b"eXIf"] == exif.tobytes()[6:]  # the TIFF data, no "Exif\0\0"
    assert found[b"iTXt"] == b"XML:com.adobe.xmp\0\0\0\0\0" + xmp.encode("utf-8")
    png.Reader(bytes=data).read()  # CRCs
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert im.info["icc_profile"] == icc
        assert im.getexif()[0x010F] == "Maker"
        assert im.info["xmp"] == xmp.encode("utf-8")
        assert [round(v, 2) for v in im.info["dpi"]] == [300.0, 72.01]  # whole dots per metre
    # the same bytes whether EXIF comes with Pillow's "Exif\0\0" prefix or without it
    assert encode_png(rgb, exif=exif.tobytes()) == encode_png(rgb, exif=exif.tobytes()[6:])
    assert [k for k, _ in chunks(encode_png(rgb))] == [b"IHDR"] + [b"IDAT"] * 3 + [b"IEND"]


def test_gamma_chromaticity_and_srgb_chunks_before_the_image_data():
    rgb = np.random.default_rng(2).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    chrm = (0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06)
    data = encode_png(rgb, gamma=1.0, chromaticity=chrm, srgb=1, dpi=(300, 300))
    assert [k for k, _ in chunks(data)][:5] == [b"IHDR", b"gAMA", b"cHRM", b"sRGB", b"pHYs"]
    found = dict(chunks(data))
    assert found[b"gAMA"] == (100_000).to_bytes(4, "big")
    assert found[b"cHRM"] == b"".join(round(v * 100_000).to_bytes(4, "big") for v in chrm)
    assert found[b"sRGB"] == b"\x01"
    png.Reader(bytes=data).read()  # CRCs
    with Image.open(io.BytesIO(data)) as im:
        assert (im.info["gamma"], im.info["chromaticity"], im.info["srgb"]) == (1.0, chrm, 1)
    # with an ICC profile: gAMA and cHRM stay (a reader takes iCCP over them), no sRGB
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode_png(rgb, icc, gamma=1.0, chromaticity=chrm, srgb=1)
    assert [k for k, _ in chunks(data)][:4] == [b"IHDR", b"gAMA", b"cHRM", b"iCCP"]
    assert b"sRGB" not in dict(chunks(data))


@pytest.mark.parametrize(
    "dpi",
    [(1.1e8, 1.1e8), (300, 1e300), (0.001, 0.001), (float("nan"), 300), (float("inf"),) * 2,
     (0, 0), (-300, -300), (300,), "300"],
    ids=str,
)  # fmt: skip
def test_a_dpi_phys_cannot_hold_is_left_out(dpi):
    """pHYs holds whole dots per metre from 1 to 2**31 - 1: anything else, no chunk (and no
    OverflowError)."""
    data = encode_png(np.zeros((2, 2, 3), np.uint8), dpi=dpi)
    assert b"pHYs" not in dict(chunks(data))
    assert pngwriter.dots_per_metre(dpi) is None


def test_dots_per_metre_at_phys_limits():
    assert pngwriter.dots_per_metre((300, 72)) == [11811, 2835]
    top = (2**31 - 1) * 0.0254  # the most pHYs holds
    assert pngwriter.dots_per_metre((top, 0.0254)) == [2**31 - 1, 1]
    assert pngwriter.dots_per_metre((top + 0.0254, 300)) is None


def test_image_data_shortfall_counts_the_rows_the_header_declares():
    """Complete PNGs of every layout pypng writes (bit depths 1-16, grey to RGBA, Adam7
    interlaced, sizes smaller than a pass) have no shortfall; one whose complete zlib
    stream holds only some rows (Pillow decodes the rest black, without an error) has."""
    for w, h in ((53, 37), (1, 1), (3, 9), (9, 2)):
        for depth, planes, grey, alpha in ((8, 3, False, False), (16, 4, False, True),
                                           (1, 1, True, False), (4, 2, True, True)):  # fmt: skip
            rows = np.random.default_rng(0).integers(0, 2**depth, (h, w * planes)).tolist()
            for interlace in (False, True):
                out = io.BytesIO()
                png.Writer(w, h, greyscale=grey, alpha=alpha, bitdepth=depth,
                           interlace=interlace).write(out, rows)  # fmt: skip
                assert image_data_shortfall(data=out.getvalue()) is None, (w, h, depth)
    whole = encode_png(np.zeros((10, 7, 3), np.uint8))  # several IDAT chunks: one stream
    assert image_data_shortfall(data=whole) is None
    out = io.BytesIO()
    png.Writer(7, 10, greyscale=False).write(out, np.zeros((10, 21), int).tolist())
    data = out.getvalue()
    start, end = data.index(b"IDAT"), data.index(b"IEND")
    body = zlib.compress(zlib.decompress(data[start + 4 : end - 8])[: 4 * 22])  # 4 rows
    short = data[: start - 4] + len(body).to_bytes(4, "big") + b"IDAT" + body + b"\0" * 4
    assert image_data_shortfall(data=short + data[end - 4 :]) == (4 * 22, 10 * 22)
    with Image.open(io.BytesIO(short + data[end - 4 :])) as im:
        im.load()  # Pillow: no error (the rows after are black)
    assert image_data_shortfall(data=b"not a png") is None


def test_survey_answers_shortfall_and_text_in_one_walk():
    """``survey`` (what ``read_image`` checks of each PNG) gives the same shortfall as
    ``image_data_shortfall`` and the same text chunks as ``text_chunks``, those before and
    after the image data alike, damaged ones named."""
    out = io.BytesIO()
    png.Writer(5, 6, greyscale=False).write(out, np.zeros((6, 15), int).tolist())
    whole = out.getvalue()  # one IDAT chunk
    start, end = whole.index(b"IDAT") - 4, whole.index(b"IEND") - 4

    def chunk(kind, body):
        return b"".join(pngwriter._chunk(kind, body))

    before = chunk(b"tEXt", b"Title\0a")
    after = chunk(b"zTXt", b"Comment\0\x07xx") + chunk(b"tEXt", b"Bare")
    data = whole[:start] + before + whole[start:end] + after + whole[end:]
    assert pngwriter.survey(data=data) == (None, pngwriter.text_chunks(data=data))
    assert pngwriter.text_chunks(data=data) == [
        ("Title", None),
        ("Comment", "compression method 07 (PNG has 0 only)"),
        ("Bare", "no NUL ends its keyword"),
    ]
    body = zlib.compress(zlib.decompress(whole[start + 8 : end - 4])[:16])  # 1 of 6 rows
    cut = whole[:start] + len(body).to_bytes(4, "big") + b"IDAT" + body + b"\0" * 4
    assert pngwriter.survey(data=cut + after + whole[end:])[0] == (16, 6 * 16)
    assert pngwriter.survey(data=b"not a png") == (None, [])


def test_a_keyword_over_79_characters_is_read_whole():
    """A 100-character keyword (which Pillow reads) was cut at 84 bytes and reported as
    "no NUL ends its keyword", then warned about again by the writer (fuzz pass 21): it is
    read whole, without a problem; the writer alone says PNG does not allow it."""
    out = io.BytesIO()
    png.Writer(2, 2, greyscale=True).write(out, [[0, 0], [0, 0]])
    data = out.getvalue()
    at = data.index(b"IDAT") - 4
    long_text = b"".join(pngwriter._chunk(b"tEXt", b"K" * 100 + b"\0v"))
    assert pngwriter.text_chunks(data=data[:at] + long_text + data[at:]) == [("K" * 100, None)]
    assert pngwriter.text_keyword_problem("K" * 100) == "it is 100 characters long, not 1-79"
