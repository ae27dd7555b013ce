"""``maffsrn-serve``'s API against a real server on 127.0.0.1 (one per module): its answers
are ``upscale()``'s arrays and ``maffsrn-upscale``'s bytes, its format follows ``Accept``,
and every bad request gets its status code and a JSON reason while the server goes on."""

import io
import json
import re
import socket
import struct
import zlib

import numpy as np
import pytest
from conftest import photo
from PIL import Image, ImageCms
from serve_process import Server, png_bytes

from maffsrn_tf.io.images import encode_image, read_image
from maffsrn_tf.serve.service import ServeError, output_extension
from maffsrn_tf.upscaler import upscale, upscale_path
from maffsrn_tf.upscaler.arrays import composite


@pytest.fixture(scope="module")
def server():
    server = Server("--workers", "2", "--queue", "4")
    yield server
    assert server.stop() == 0, "\n".join(server.lines[-20:])


def _rgba(h=32, w=32):
    """A photo with a transparent corner and a half-transparent band."""
    rgb = photo(h, w, seed=3)
    alpha = np.full((h, w), 255, np.uint8)
    alpha[: h // 3, : w // 3] = 0
    alpha[h // 2 : h // 2 + 4] = 128
    return np.dstack([rgb, alpha])


@pytest.mark.parametrize(
    "query, keywords",
    [
        ("", {}),
        ("scale=3&quantization=int8", {"scale": 3, "quantization": "int8"}),
        ("outscale=1.5", {"outscale": 1.5}),
    ],
)
def test_answer_is_upscale_of_the_same_image(server, query, keywords):
    array = photo(32, 40)
    status, headers, body = server.post(png_bytes(array), query)
    assert status == 200, body
    assert headers["content-type"] == "image/png"
    got, _ = read_image("response", data=body)
    np.testing.assert_array_equal(got, upscale(array, **keywords))


def test_alpha_and_grey_are_upscaled_as_upscale_does(server):
    rgba, grey = _rgba(), np.ascontiguousarray(photo(32, 32, seed=4)[..., 0])
    for array in (rgba, grey):
        status, _, body = server.post(png_bytes(array))
        assert status == 200, body
        np.testing.assert_array_equal(read_image("r", data=body)[0], upscale(array))
    # a format without alpha: flattened onto the background, as maffsrn-upscale does
    status, headers, body = server.post(png_bytes(rgba), "background=black", accept="image/jpeg")
    assert status == 200 and headers["content-type"] == "image/jpeg", body
    info = read_image("in", data=png_bytes(rgba))[1]
    assert body == encode_image(composite(upscale(rgba), (0, 0, 0)), ".jpg", info)
    # a background given flattens in a format with alpha too (UpscaleOptions' rule)
    status, _, body = server.post(png_bytes(rgba), "background=%23102030")
    assert status == 200, body
    flat = composite(upscale(rgba), (16, 32, 48))
    np.testing.assert_array_equal(read_image("r", data=body)[0], flat)


def _jpeg_with_metadata(path):
    """A JPEG with EXIF (rotated: orientation 6, and a camera), an sRGB profile and DPI."""
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "TestCam"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(photo(24, 40, seed=5)).save(
        path, exif=exif.tobytes(), icc_profile=icc, dpi=(300, 300), quality=92
    )
    return path.read_bytes()


@pytest.mark.parametrize("query", ["", "outscale=2.5&strip_metadata=true&quality=80"])
def test_bytes_are_those_maffsrn_upscale_writes(server, tmp_path, query):
    """One library path: the same reading (orientation applied), size, metadata and JPEG
    encoding as the file the command line writes for the same options."""
    data = _jpeg_with_metadata(tmp_path / "in.jpg")
    keywords = {"outscale": 2.5, "strip_metadata": True, "quality": 80} if query else {}
    (written,) = upscale_path(str(tmp_path / "in.jpg"), str(tmp_path / "out.jpg"), **keywords)
    status, headers, body = server.post(data, query, content_type="image/jpeg")
    assert status == 200, body
    assert headers["content-type"] == "image/jpeg"
    assert body == open(written, "rb").read()
    with Image.open(io.BytesIO(body)) as im:
        assert im.size == ((60, 100) if query else (48, 80))  # upright: 24x40 rotated
        assert (0x010F in im.getexif()) == (not query)
        assert im.info.get("icc_profile")


@pytest.mark.parametrize(
    "accept, media",
    [
        (None, "image/jpeg"),  # the input's format
        ("*/*", "image/jpeg"),
        ("image/*", "image/jpeg"),
        ("image/webp", "image/webp"),
        ("image/png;q=0.5, image/tiff", "image/tiff"),
        ("text/html, image/png;q=0.9, */*;q=0.1", "image/png"),
        ("image/jpeg;q=0, image/*;q=0.5", "image/png"),  # image/* but not JPEG: PNG first
        ("image/jpg", "image/jpeg"),
    ],
)
def test_output_format_follows_accept_then_the_input(server, accept, media):
    data = io.BytesIO()
    Image.fromarray(photo(32, 32)).save(data, format="JPEG")
    status, headers, body = server.post(data.getvalue(), accept=accept)
    assert status == 200, body
    assert headers["content-type"] == media
    assert Image.open(io.BytesIO(body)).get_format_mimetype() == media


@pytest.mark.parametrize(
    "query, status, words",
    [
        ("scale=5", 400, "scale=5 is not one of 2, 3, 4"),
        ("sacle=2", 400, "unknown parameter 'sacle'; the parameters are scale, outscale"),
        ("scale=2&scale=3", 400, "scale is given twice"),
        ("scale=2&outscale=3", 400, "both set the output size"),
        ("scale=two", 400, "scale='two' is not an integer"),
        ("outscale=nan", 400, "outscale='nan' is not a number in ASCII digits"),
        ("outscale=20", 400, "outscale=20.0 is above 16.0"),
        ("quantization=int4", 400, "quantization='int4' is not one of float16, int8"),
        ("strip_metadata=maybe", 400, "is not true or false"),
        ("background=nope", 400, "is not a colour"),
        ("quality=50", 400, "quality=50 applies to lossy outputs"),  # a PNG answer
        ("width=8", 422, "between x1 and x16"),  # smaller than the 32-pixel input
        ("model=/etc/passwd", 400, "unknown parameter 'model'"),
        ("scale=%D9%A3", 400, "scale='\u0663' is not an integer in ASCII digits"),  # Arabic 3
        ("outscale=1_5", 400, "outscale='1_5' is not a number in ASCII digits"),
        ("outscale=%DB%B2", 400, "is not a number"),  # Persian 2
        # a 100 KB name was echoed whole (fuzz pass 22): cut to 100 characters
        ("a" * 5000 + "=1", 400, f"unknown parameter {'a' * 100!r}... (5,000 characters); "),
    ],
)
def test_bad_parameters_get_their_status_and_a_json_reason(server, query, status, words):
    got, headers, body = server.post(png_bytes(photo(32, 32)), query)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    reply = json.loads(body)
    assert reply["status"] == status and words in reply["error"], reply


INT = "is not an integer in ASCII digits: write it in plain digits, like 2"
NUM = "is not a number in ASCII digits: write it in plain digits, like 1.5"
DIGITS = "(no sign, space, underscore, exponent or leading zero)"
SPACE = "(no sign, space, underscore, exponent or leading zero; a + in a query is a space)"


@pytest.mark.parametrize(
    "query, message",
    [
        # a + in a query is a space (scale=+2 is scale=" 2"); %2B is the sign itself
        ("scale=+2", f"scale=' 2' {INT} {SPACE}"),
        ("scale=%202", f"scale=' 2' {INT} {SPACE}"),
        ("scale=2%20", f"scale='2 ' {INT} {SPACE}"),
        ("scale=%2B2", f"scale='+2' {INT} {DIGITS}"),
        ("scale=02", f"scale='02' {INT} {DIGITS}"),
        ("scale=-2", f"scale='-2' {INT} {DIGITS}"),
        ("scale=", f"scale='' {INT} {DIGITS}"),
        ("scale=2.0", f"scale='2.0' {INT} {DIGITS}"),
        ("outscale=1e1", f"outscale='1e1' {NUM} {DIGITS}"),
        ("outscale=.5", f"outscale='.5' {NUM} {DIGITS}"),
        ("outscale=2.", f"outscale='2.' {NUM} {DIGITS}"),
        ("outscale=02.5", f"outscale='02.5' {NUM} {DIGITS}"),
        ("outscale=inf", f"outscale='inf' {NUM} {DIGITS}"),
        ("width=1234567890123456789", "width=123456789012345678... is too large"),
        ("scale=0", "scale=0 is not one of 2, 3, 4"),  # a plain 0 is read, then checked
        ("outscale=0.5", "outscale=0.5 is below 1.0"),
        ("self_ensemble=yes", "self_ensemble='yes' is not true or false: write self_ensemble=true "
         "or self_ensemble=false (in lower case)"),
        ("self_ensemble=TRUE", "self_ensemble='TRUE' is not true or false: write "
         "self_ensemble=true or self_ensemble=false (in lower case)"),
        ("self_ensemble=1", "self_ensemble='1' is not true or false: write self_ensemble=true or "
         "self_ensemble=false (in lower case)"),
        ("strip_metadata=1", "strip_metadata='1' is not true or false: write strip_metadata=true "
         "or strip_metadata=false (in lower case)"),
        ("strip_metadata=%20true", "strip_metadata=' true' is not true or false: write "
         "strip_metadata=true or strip_metadata=false (in lower case)"),
    ],
)  # fmt: skip
def test_query_values_are_read_exactly_as_documented(server, query, message):
    """docs/serving.md: numbers are ASCII digits, booleans true or false; any other spelling
    (a sign, a space, a leading zero, yes, TRUE, 1) is a 400 that says how to write it."""
    status, headers, body = server.post(png_bytes(photo(32, 32)), query)
    assert status == 400, body
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": message, "status": 400}


def test_the_documented_spellings_are_taken(server):
    array = photo(24, 24, seed=6)
    for query, keywords in [
        ("outscale=3.0&self_ensemble=false&strip_metadata=true", {"outscale": 3.0}),
        ("scale=3&quantization=int8", {"scale": 3, "quantization": "int8"}),
    ]:
        status, _, body = server.post(png_bytes(array), query)
        assert status == 200, body
        np.testing.assert_array_equal(read_image("r", data=body)[0], upscale(array, **keywords))


@pytest.mark.parametrize(
    "path, message",
    [
        ("/healthz?x=1", "unknown parameter 'x'; GET /healthz takes no parameters"),
        ("/healthz?x", "unknown parameter 'x'; GET /healthz takes no parameters"),
        ("/v1/models?scale=9", "unknown parameter 'scale'; GET /v1/models takes no parameters"),
    ],
)
def test_the_gets_refuse_query_parameters(server, path, message):
    status, headers, body = server.request("GET", path)
    assert status == 400 and headers["content-type"] == "application/json", body
    assert json.loads(body) == {"error": message, "status": 400}
    assert server.get_json("/healthz")["status"] == "ok"  # without one: answered


def _tiff(image):
    out = io.BytesIO()
    image.save(out, format="TIFF")
    return out.getvalue()


def _float_tiff(value):
    array = np.full((16, 16), 0.5, np.float32)
    array[3, 5] = value
    return _tiff(Image.fromarray(array, "F"))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: _tiff(Image.new("LAB", (16, 16), (50, 0, 0))),
         "the body: mode LAB is not supported: convert it to RGB first"),
        (lambda: _float_tiff(np.nan),
         "the body is a floating-point image with NaN or infinite values"),
        (lambda: _float_tiff(2.5),
         "the body is a floating-point image with values in [0.5, 2.5]; only [0, 1] is read: "
         "rescale it to [0, 1], or save it as an 8- or 16-bit image"),
    ],
)  # fmt: skip
def test_an_image_the_reader_refuses_is_415_with_its_reason_only(server, make, message):
    """The reader's own reason (maffsrn-upscale's), not "cut short or damaged" after it."""
    status, _, body = server.post(make(), content_type="image/tiff")
    assert status == 415, body
    assert json.loads(body) == {"error": message, "status": 415}


# an EPS file's header (Pillow would open it, and decode it with Ghostscript where installed)
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\nshowpage\n%%EOF\n"


@pytest.mark.parametrize(
    "data, content_type, status, words",
    [
        (b"", "image/png", 400, "the body is empty"),
        (b"\x00garbage" * 50, "image/png", 415, "the body is not an image this server reads (no "
         "format it reads recognizes it: another kind of file, or one cut short); send one of "
         "PNG"),
        (b"GIF89a", "image/gif", 415, "another kind of file, or one cut short"),
        ("truncated", "image/png", 415, "is cut short: its data ends before the picture does"),
        ("truncated", "image/png", 415, "send the whole file"),
        (EPS, "image/x-eps", 415, "the body is PostScript (EPS), which Pillow reads by running "
         "Ghostscript: convert it to PNG first (this server reads PNG, JPEG, WEBP, GIF, BMP, "
         "TIFF"),
        ("png", ";;;", 415, "Content-Type ';;;' names no media type: send Content-Type"),
        ("png", "application/x-www-form-urlencoded", 415, "add -H 'Content-Type: image/jpeg'"),
        ("png", "multipart/form-data; boundary=x", 415, "not a form with a file field"),
        ("png", "text/plain", 415, "Content-Type text/plain is not an image"),
        ("png", "application/json", 415, "is not an image"),
    ],
)  # fmt: skip
def test_malformed_bodies_and_wrong_types_are_refused(server, data, content_type, status, words):
    png = png_bytes(photo(32, 32))
    data = {"png": png, "truncated": png[: len(png) // 2]}.get(data, data)
    got, _, body = server.post(data, content_type=content_type)
    assert got == status, body
    assert words in json.loads(body)["error"]


def _animated_gif():
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def _text_bomb():
    """A small PNG whose one zTXt chunk inflates to 40 MB, over what Pillow is let read."""
    png = png_bytes(photo(16, 16))
    data = b"Comment\0\0" + zlib.compress(b"x" * (40 << 20), 9)
    chunk = struct.pack(">I", len(data)) + b"zTXt" + data
    chunk += struct.pack(">I", zlib.crc32(b"zTXt" + data) & 0xFFFFFFFF)
    at = png.index(b"IDAT") - 4
    return png[:at] + chunk + png[at:]


def test_an_animation_and_a_text_bomb_are_named_not_half_answered(server):
    """An animated GIF had come back as its first frame alone, 200 and no word; a PNG whose
    text inflates past the limit had been "not an image" in Pillow's words: each is its own
    status and the line maffsrn-upscale gives."""
    got, _, body = server.post(_animated_gif(), content_type="image/gif")
    assert got == 422, body
    assert json.loads(body)["error"] == (
        "the body is a GIF of 2 frames (an animation, or pages): this server upscales one "
        "picture; send one frame (maffsrn-upscale reads a file's first frame, with a warning)"
    )
    got, _, body = server.post(_text_bomb())
    assert got == 413, body
    assert json.loads(body)["error"] == (
        "the body: its PNG text chunks decompress to more than this reads (over 1 MB in one, "
        "or 8 MB in all): save it again without its text"
    )


def test_compressed_bodies_are_refused_and_untyped_ones_taken(server):
    png = png_bytes(photo(32, 32))
    headers = {"Content-Type": "image/png", "Content-Encoding": "gzip"}
    status, _, body = server.request("POST", "/v1/upscale", png, headers)
    assert status == 415 and "Content-Encoding gzip is not taken" in json.loads(body)["error"]
    for content_type in (None, "application/octet-stream", "image/x-anything"):
        status, _, body = server.post(png, content_type=content_type)
        assert status == 200, (content_type, body)


def test_accept_that_names_no_written_format_is_406_and_one_unread_400(server):
    status, _, body = server.post(png_bytes(photo(32, 32)), accept="image/gif, text/html")
    assert status == 406
    assert "names no format this server writes; it writes image/png" in json.loads(body)["error"]
    status, _, body = server.post(png_bytes(photo(32, 32)), accept="image/jpeg;q=1.5")
    assert status == 400  # not the input's PNG without a word
    assert json.loads(body)["error"].startswith("Accept: 'image/jpeg;q=1.5' is not a media range")


def _raw(server, request):
    """What the server answers to ``request`` (bytes sent as they are), until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_a_repeated_content_type_is_400(server):
    png = png_bytes(photo(32, 32))
    head = (f"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(png)}\r\n"
            "Connection: close\r\n\r\n")  # fmt: skip
    reply = _raw(server, head.encode() + png)
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:300]
    assert b"Content-Type is given 2 times: send it once" in reply


def test_accept_on_two_lines_is_one_list(server):
    """RFC 9110: field lines of one name are one list. Only the first was read: the answer
    came as the WebP the client ranked lower, and a bad second range went unnoticed."""
    png = png_bytes(photo(16, 16))

    def post(*accepts):
        lines = "".join(f"Accept: {a}\r\n" for a in accepts)
        head = (f"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n{lines}"
                f"Content-Length: {len(png)}\r\nConnection: close\r\n\r\n")  # fmt: skip
        return _raw(server, head.encode() + png)

    reply = post("image/webp;q=0.1", "image/jpeg")
    assert reply.startswith(b"HTTP/1.1 200 ") and b"content-type: image/jpeg" in reply.lower()
    reply = post("image/png", "text/html;q=5")
    assert reply.startswith(b"HTTP/1.1 400 ") and b"'text/html;q=5' is not a media range" in reply


def test_other_paths_and_methods_are_json_errors(server):
    status, _, body = server.request("GET", "/nope")
    assert status == 404 and "the API is POST /v1/upscale" in json.loads(body)["error"]
    # a trailing slash is another path: no redirect to a Location made from the Host header
    for method, path in [("POST", "/v1/upscale/"), ("GET", "/v1/models/"), ("GET", "/healthz/")]:
        headers = {"Host": "evil.example", "Content-Type": "image/png"}
        status, got, body = server.request(method, path, b"x", headers)
        assert status == 404 and "location" not in got, (path, status, got)
        assert json.loads(body)["error"].startswith(f"no such path {path}: the API is")
    status, headers, body = server.request("GET", "/v1/upscale")
    assert status == 405 and headers.get("allow") == "POST", headers
    assert json.loads(body)["status"] == 405
    long = "/" + "a" * 100_000  # echoed cut, as the access log cuts it
    status, _, body = server.request("GET", long)
    assert status == 404 and len(body) < 600, len(body)
    assert json.loads(body)["error"].startswith(f"no such path {long[:200]}...: the API is")


def test_models_lists_the_shipped_ones_loaded_once_per_worker(server):
    for _ in range(4):  # more requests than workers: no engine is made twice in one
        assert server.post(png_bytes(photo(32, 32)))[0] == 200
    listing = server.get_json("/v1/models")
    models = {(m["scale"], m["quantization"]): m for m in listing["models"]}
    assert set(models) == {(s, q) for s in (2, 3, 4) for q in ("float16", "int8")}
    assert [k for k, m in models.items() if m["default"]] == [(2, "float16")]
    assert listing["defaults"] == {"scale": 2, "quantization": "float16"}
    assert models[(2, "float16")]["loaded"] == 2  # each of the 2 workers, at start
    assert models[(2, "float16")]["file"] == "maffsrn_x2_float16.tflite"
    assert models[(4, "int8")]["loaded"] == 0  # never asked for
    assert "image/png" in listing["formats"] and listing["limits"]["max_pixels"] == 16_000_000


def test_health_and_one_access_line_per_request(server):
    health = server.get_json("/healthz")
    assert health["status"] == "ok" and health["workers"] == 2 and health["queue"] == 4
    status, _, body = server.post(png_bytes(photo(20, 24, seed=9)), "scale=4&self_ensemble=true")
    assert status == 200
    line = server.wait_for_log(r"127\.0\.0\.1 POST /v1/upscale\?scale=4&self_ensemble=true 200 ")
    fields = line.string.split()
    assert int(fields[-2]) == len(body)  # the response's bytes
    assert re.fullmatch(r"\d+\.\d{3}s", fields[-1])  # its duration
    server.wait_for_log(r"127\.0\.0\.1 GET /healthz 200 \d+ ")
    assert server.wait_until(lambda h: h["admitted"] == 0)["admitted"] == 0
    assert health["receiving"] == 0 and health["uploads"] == 16


def test_access_lines_cannot_be_forged_and_stay_short(server):
    """X-Forwarded-For is not trusted (no --forwarded_allow_ips): the peer's address shows;
    a long path is cut; every line has its 7 fields."""
    forged = {"X-Forwarded-For": "1.2.3.4 FAKE 200 0 0s"}
    assert server.request("GET", "/healthz?forged=1", headers=forged)[0] == 400  # no parameters
    line = server.wait_for_log(r" GET /healthz\?forged=1 ").string
    assert re.fullmatch(r"\S+ \S+ 127\.0\.0\.1 GET /healthz\?forged=1 400 \d+ \d+\.\d{3}s", line), (
        line
    )
    assert server.request("GET", "/long" + "a" * 5000)[0] == 404
    line = server.wait_for_log(r" GET /longa+\.\.\. 404 ").string
    assert len(line) < 400 and len(line.split()) == 8, line
    # uvicorn's own notes (started, shutting down) are not printed: one format on stderr
    assert not any(line.startswith("INFO:") for line in server.lines), server.lines[:5]


def test_postscript_is_refused_by_its_format_whatever_its_type(server):
    """The reader's one list of formats handed to another program (io.images): an EPS body
    is named as such, whatever Content-Type says, and the server goes on."""
    for content_type in ("image/png", "application/octet-stream", None):
        status, _, body = server.post(EPS, content_type=content_type)
        assert status == 415, body
        error = json.loads(body)["error"]
        assert error.startswith(
            "the body is PostScript (EPS), which Pillow reads by running Ghostscript: convert "
            "it to PNG first (this server reads PNG, JPEG, "
        ), error
    assert server.post(png_bytes(photo(16, 16)))[0] == 200


def _sixteen_bit_png(h=16, w=16):
    array = photo(h, w, seed=11).astype(np.uint16) * 257
    return array, encode_image(array, ".png")


@pytest.mark.parametrize(
    "accept, media",
    [
        ("image/bmp, image/png;q=0.5", "image/png"),  # BMP holds no 16-bit: the next one
        ("image/bmp, image/tiff;q=0.9, image/png;q=0.5", "image/png"),  # TIFF: grey only
        ("image/bmp, image/webp;q=0.5", "image/webp"),  # WebP writes it as 8-bit
        ("image/bmp, */*;q=0.1", "image/png"),  # the input's own among the rest
        ("image/png", "image/png"),
    ],
)
def test_accept_picks_the_best_format_that_holds_the_result(server, accept, media):
    array, data = _sixteen_bit_png()
    status, headers, body = server.post(data, accept=accept)
    assert status == 200, body
    assert headers["content-type"] == media
    got, _ = read_image("response", data=body)
    assert got.shape == (32, 32, 3)
    assert got.dtype == (np.uint16 if media == "image/png" else np.uint8)


@pytest.mark.parametrize(
    "accept, message",
    [
        ("image/bmp", "cannot write response.bmp: .bmp cannot hold a 16-bit RGB image; use .png "
         "(ask for another format with Accept)"),
        ("image/tiff, image/bmp;q=0.5", "cannot write response.tiff: .tiff cannot hold a 16-bit "
         "RGB image; use .png (ask for another format with Accept)"),  # the preferred one's
    ],
)  # fmt: skip
def test_no_acceptable_format_holds_the_result_is_422(server, accept, message):
    status, _, body = server.post(_sixteen_bit_png()[1], accept=accept)
    assert status == 422, body
    assert json.loads(body) == {"error": message, "status": 422}


def _png_with_chunks(array, chunks):
    """PNG bytes of ``array`` with ``(kind, payload)`` chunks before the image data."""
    data = png_bytes(array)
    at = data.index(b"IDAT") - 4
    extra = b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )
    return data[:at] + extra + data[at:]


@pytest.mark.parametrize("accept", ["image/bmp", "image/png", "image/jpeg", "image/tiff"])
def test_a_dpi_the_answer_s_format_cannot_store_is_left_out_not_a_500(server, accept):
    """pHYs of 4294967295 dots per metre (109 million DPI): BMP, PNG and JPEG cannot store it
    (a 500 for BMP before); TIFF can."""
    phys = (b"pHYs", struct.pack(">IIB", 4294967295, 4294967295, 1))
    status, headers, body = server.post(_png_with_chunks(photo(16, 16), [phys]), accept=accept)
    assert status == 200, body
    assert headers["content-type"] == accept
    dpi = read_image("response", data=body)[1]["dpi"]
    # TIFF keeps it (to 1 part in 1e8: libtiff's rationals of 32-bit parts)
    assert dpi == (pytest.approx((109092169.29,) * 2, rel=1e-7) if accept == "image/tiff" else None)


def test_png_gamma_and_chromaticity_are_kept_in_a_png_answer(server):
    chrm = (0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06)
    chunks = [
        (b"gAMA", struct.pack(">I", 100_000)),
        (b"cHRM", struct.pack(">8I", *(round(v * 100_000) for v in chrm))),
    ]
    data = _png_with_chunks(photo(16, 16), chunks)
    for query in ("", "strip_metadata=true"):  # what the pixel values mean: never stripped
        status, _, body = server.post(data, query)
        assert status == 200, body
        with Image.open(io.BytesIO(body)) as im:
            assert im.info["gamma"] == 1.0 and im.info["chromaticity"] == chrm, query


def test_output_extension_takes_the_first_acceptable_format_that_holds_the_result():
    """Ranked by q, then the input's own, then MEDIA_TYPES' order; ``problem`` says which
    cannot hold the result. Without Accept every format is acceptable (RFC 9110)."""

    def no_bmp_tiff(ext):
        return f"no {ext}" if ext in (".bmp", ".tiff") else None

    assert output_extension("image/bmp, image/png;q=0.5", ".png", no_bmp_tiff) == ".png"
    assert output_extension("image/bmp, image/png;q=0.5", ".png") == ".bmp"  # nothing checked
    assert output_extension("image/tiff, image/jpeg;q=0.2", ".png", no_bmp_tiff) == ".jpg"
    assert output_extension(None, ".tiff", no_bmp_tiff) == ".png"  # the input's own cannot
    assert output_extension("*/*", ".bmp", no_bmp_tiff) == ".png"
    assert output_extension("image/*", ".jpg", no_bmp_tiff) == ".jpg"
    with pytest.raises(ServeError) as refused:
        output_extension("image/tiff, image/bmp;q=0.1", ".png", no_bmp_tiff)
    assert refused.value.status == 422
    assert str(refused.value) == "no .tiff (ask for another format with Accept)"
    with pytest.raises(ServeError) as refused:  # none written: 406 before any check
        output_extension("image/gif", ".png", no_bmp_tiff)
    assert refused.value.status == 406
