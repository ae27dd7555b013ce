"""Each limit of ``maffsrn-serve`` refused cleanly, on a real server with small limits: the
body size (by Content-Length, and as a chunked body comes), the input pixels (from the
header, before decoding), and the per-request timeout, both for a client whose body stalls
or trickles (408, without holding a worker) and for work that runs too long (504, the worker
freed at its next tile)."""

import io
import json
import socket
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from conftest import photo
from PIL import Image
from serve_process import Server, png_bytes

TIMEOUT = 1.5  # seconds a request may take on this server


@pytest.fixture(scope="module")
def server():
    flags = ["--workers", "1", "--queue", "1", "--max_body_mb", "0.2", "--max_megapixels", "0.1",
             "--max_output_megapixels", "2", "--uploads", "3",
             "--timeout", str(TIMEOUT)]  # fmt: skip
    server = Server(*flags)
    yield server
    assert server.stop() == 0, "\n".join(server.lines[-20:])


def _error(body):
    return json.loads(body)["error"]


def _fine(server):
    """A small request is served: nothing is left holding the worker or the queue."""
    status, _, body = server.post(png_bytes(photo(32, 32)))
    assert status == 200, body
    assert server.wait_until(lambda h: h["admitted"] == 0)["admitted"] == 0


def test_body_over_the_limit_by_content_length_is_413_unread(server):
    status, _, body = server.post(b"\x89PNG" + bytes(250_000))
    assert status == 413
    assert _error(body) == ("the body is 250,004 bytes, over this server's limit of 200,000 bytes")
    _fine(server)


def test_chunked_body_over_the_limit_is_413_as_it_comes(server):
    """No Content-Length (chunked): counted as it arrives, refused past the limit."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        chunks = iter([bytes(50_000)] * 5)
        headers = {"Content-Type": "image/png", "Transfer-Encoding": "chunked"}
        conn.request("POST", "/v1/upscale", body=chunks, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        status, body = response.status, response.read()
        closing = response.getheader("connection")
    finally:
        conn.close()
    assert status == 413
    assert _error(body) == "the body is over this server's limit of 200,000 bytes"
    assert closing == "close"  # the client stops sending the rest
    _fine(server)


def _png_header_only(width, height):
    """A PNG whose header says ``width`` x ``height`` and that holds no pixels at all (a
    decompression bomb's header: decoding it would be the attack)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_pixels_over_the_limit_are_413_from_the_header(server):
    status, _, body = server.post(png_bytes(np.zeros((400, 400, 3), np.uint8)))
    assert status == 413
    assert _error(body) == (
        "the image is 400x400 = 160,000 pixels, over this server's limit of 100,000 pixels"
    )
    start = time.monotonic()
    status, _, body = server.post(_png_header_only(60_000, 60_000))  # 3.6 gigapixels
    assert status == 413 and "60000x60000 = 3,600,000,000 pixels" in _error(body)
    assert time.monotonic() - start < 1.0  # nothing was decoded
    _fine(server)


@pytest.mark.parametrize(
    "query, size",
    [("outscale=16", "1600x1600 = 2,560,000"), ("width=1500", "1500x1500 = 2,250,000")],
)
def test_results_over_the_output_limit_are_413(server, query, size):
    status, _, body = server.post(png_bytes(photo(100, 100)), query)
    assert status == 413, body
    assert _error(body) == (
        f"the result would be {size} pixels, over this server's limit of 2,000,000 output "
        "pixels: ask for a lower scale, outscale, width or height, or send a smaller image "
        "(the server's max_output_megapixels setting raises the limit)"
    )
    # from the header: a PNG with no pixels at all is refused for its size, not as undecodable
    status, _, body = server.post(_png_header_only(250, 250), "outscale=16")
    assert status == 413 and "4000x4000 = 16,000,000 pixels" in _error(body), body
    _fine(server)


def _stalled_request(port, declared, sent):
    """A socket that sent a POST's headers declaring ``declared`` bytes and ``sent`` of them."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST /v1/upscale HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
            f"Content-Length: {declared}\r\n\r\n")  # fmt: skip
    sock.sendall(head.encode() + b"\x89PNG" + bytes(sent - 4))
    return sock


def _read_all(sock):
    """What the server sends until it closes the connection."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_a_stalled_body_gets_408_without_holding_the_worker(server):
    start = time.monotonic()
    sock = _stalled_request(server.port, 5000, 100)
    try:
        # meanwhile the one worker serves others (the stalled body holds one of 2 places)
        status, _, body = server.post(png_bytes(photo(32, 32)))
        assert status == 200, body
        reply = _read_all(sock)  # the 408, then the server closes the connection
    finally:
        sock.close()
    elapsed = time.monotonic() - start
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert b"connection: close" in reply.lower()
    assert b"the body did not arrive within this server's timeout of 1.5 s" in reply
    assert TIMEOUT - 0.1 < elapsed < TIMEOUT + 5, elapsed
    _fine(server)


def test_slow_uploads_do_not_take_the_work_queue(server):
    """Bodies being received are counted apart (--uploads 3): 2 stalled uploads leave the one
    worker and the one place in the queue free; a 4th upload past the limit is 503, named."""
    stalled = [_stalled_request(server.port, 5000, 10) for _ in range(2)]
    try:
        health = server.wait_until(lambda h: h["receiving"] == 2, timeout=5)
        assert (health["receiving"], health["admitted"], health["waiting"]) == (2, 0, 0), health
        status, _, body = server.post(png_bytes(photo(32, 32)))
        assert status == 200, body
        stalled.append(_stalled_request(server.port, 5000, 10))
        server.wait_until(lambda h: h["receiving"] == 3, timeout=5)
        status, headers, body = server.post(png_bytes(photo(32, 32)))
        assert status == 503 and headers["retry-after"] == "1", body
        assert _error(body) == (
            "the server is receiving 3 request bodies already (its limit, --uploads): try "
            "again after Retry-After seconds"
        )
    finally:
        for sock in stalled:
            sock.close()
    assert server.wait_until(lambda h: h["receiving"] == 0, timeout=5)["receiving"] == 0
    _fine(server)


def test_a_trickling_body_is_cut_off_at_the_deadline_too(server):
    """One byte every 0.2 s keeps the connection busy but not past the request's timeout."""
    sock = _stalled_request(server.port, 5000, 10)
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.2):
            try:
                sock.sendall(b"\x00")
            except OSError:
                return

    feeder = threading.Thread(target=trickle, daemon=True)
    start = time.monotonic()
    feeder.start()
    try:
        reply = _read_all(sock)
    finally:
        stop.set()
        feeder.join(5)
        sock.close()
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert time.monotonic() - start < TIMEOUT + 5
    _fine(server)


def test_a_request_past_the_timeout_is_504_and_frees_its_worker(server):
    """x4 with the self-ensemble on 300x300 takes several seconds, in 4 tiles: the answer
    is 504 at the deadline, and the worker stops at its next tile (the pool is whole again)."""
    data = io.BytesIO()
    Image.fromarray(photo(300, 300)).save(data, format="JPEG")
    start = time.monotonic()
    status, _, body = server.post(
        data.getvalue(), "scale=4&self_ensemble=true", content_type="image/jpeg"
    )
    elapsed = time.monotonic() - start
    assert status == 504, body
    assert "was not upscaled within this server's timeout" in _error(body)
    assert "(1.5 s)" in _error(body)
    assert elapsed < TIMEOUT + 2, elapsed
    health = server.wait_until(lambda h: h["running"] == 0 and h["admitted"] == 0, timeout=60)
    assert health["running"] == 0 and health["admitted"] == 0, health
    _fine(server)
