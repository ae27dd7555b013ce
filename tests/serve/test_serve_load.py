"""``maffsrn-serve`` under more clients than it holds, and stopped while it works: every
client gets an answer (200, or 503 with Retry-After), none hangs; SIGTERM lets the request
in flight finish, then the process exits 0."""

import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import photo
from PIL import Image
from serve_process import LAUNCH, ROOT, Server, png_bytes

from maffsrn_tf.io.images import read_image
from maffsrn_tf.upscaler import upscale


@pytest.fixture(scope="module")
def server():
    server = Server("--workers", "1", "--queue", "1", "--timeout", "60")
    yield server
    assert server.stop() == 0, "\n".join(server.lines[-20:])


def test_clients_beyond_the_pool_are_each_answered_200_or_503(server):
    """8 clients at once on 1 worker and 1 place in the queue: each is answered within its
    own timeout, 200 with upscale()'s pixels or 503 with Retry-After and a JSON reason."""
    array = photo(128, 128, seed=2)  # with the self-ensemble: the 8 arrive while it works
    data, clients = png_bytes(array), 8
    start, results = threading.Barrier(clients), [None] * clients

    def client(i):
        start.wait()
        try:
            results[i] = server.post(data, "self_ensemble=true", timeout=60)
        except Exception as err:  # a hang (timeout) or a reset: recorded, the test fails
            results[i] = err

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    assert all(isinstance(r, tuple) for r in results), results
    statuses = sorted(status for status, _, _ in results)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    expected = upscale(array, self_ensemble=True)
    for status, headers, body in results:
        if status == 200:
            np.testing.assert_array_equal(read_image("r", data=body)[0], expected)
        else:
            assert headers["retry-after"] == "1"
            assert "the server is busy" in json.loads(body)["error"]
    health = server.wait_until(lambda h: h["admitted"] == 0)
    assert health["admitted"] == 0 and health["running"] == 0, health
    assert server.post(png_bytes(photo(32, 32)))[0] == 200  # and it goes on


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0():
    server = Server("--workers", "1", "--queue", "2")
    array = photo(128, 128, seed=6)
    reply = {}

    def client():
        reply["result"] = server.post(png_bytes(array), "self_ensemble=true", timeout=120)

    thread = threading.Thread(target=client)
    try:
        thread.start()
        health = server.wait_until(lambda h: h["running"] == 1)
        assert health["running"] == 1, health
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):  # no new connections once stopping
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        thread.join(120)
        code = server.proc.wait(60)  # a second SIGTERM would exit at once
        server._reader.join(10)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
    status, _, body = reply["result"]
    assert status == 200, body
    np.testing.assert_array_equal(read_image("r", data=body)[0], upscale(array, self_ensemble=True))
    assert code == 0, "\n".join(server.lines[-20:])
    assert server.lines[-1] == "maffsrn-serve: stopped", server.lines[-5:]
    assert any("POST /v1/upscale?self_ensemble=true 200 " in line for line in server.lines)


def _jpeg(array):
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="JPEG")
    return out.getvalue()


def _sent(port, query, data):
    """A socket that sent a whole POST of ``data``; its answer is never read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST /v1/upscale?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")  # fmt: skip
    sock.sendall(head.encode() + data)
    return sock


def test_a_client_that_goes_away_frees_its_worker_and_its_place(server):
    """x4 with the self-ensemble on 300x300 is 4 tiles of seconds each: once its client is
    gone the worker stops at its next tile, the request queued behind it is dropped before
    it is decoded, and both are logged 499 with no bytes."""
    data = _jpeg(photo(300, 300, seed=8))
    running = _sent(server.port, "scale=4&self_ensemble=true", data)
    try:
        assert server.wait_until(lambda h: h["running"] == 1, timeout=10)["running"] == 1
        queued = _sent(server.port, "self_ensemble=true&scale=4", data)  # its own log line
        assert server.wait_until(lambda h: h["admitted"] == 2, timeout=10)["admitted"] == 2
        queued.close()
        server.wait_for_log(r"POST /v1/upscale\?self_ensemble=true&scale=4 499 0 ")
        assert server.get_json("/healthz")["admitted"] == 1  # dropped from the queue
        start = time.monotonic()
    finally:
        running.close()
    health = server.wait_until(lambda h: h["running"] == 0 and h["admitted"] == 0, timeout=30)
    assert health["running"] == 0 and health["admitted"] == 0, health
    freed = time.monotonic() - start
    server.wait_for_log(r"POST /v1/upscale\?scale=4&self_ensemble=true 499 0 ")
    # the whole request takes over 4 tiles: the worker is free within about one
    assert freed < 6, freed
    assert not any("Traceback" in line for line in server.lines)


def test_a_second_sigint_exits_at_once_without_a_traceback():
    server = Server("--workers", "1", "--queue", "2")
    reply = {}

    def client():
        try:
            reply["result"] = server.post(_jpeg(photo(300, 300)), "scale=4&self_ensemble=true",
                                          content_type="image/jpeg", timeout=60)  # fmt: skip
        except Exception as err:  # the connection is dropped: expected
            reply["result"] = err

    thread = threading.Thread(target=client)
    try:
        thread.start()
        assert server.wait_until(lambda h: h["running"] == 1)["running"] == 1
        server.proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        start = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        code = server.proc.wait(10)
        elapsed = time.monotonic() - start
        thread.join(30)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
    server._reader.join(10)
    assert code == 130 and elapsed < 3, (code, elapsed, server.lines[-5:])
    assert server.lines[-1] == (
        "maffsrn-serve: SIGINT again while stopping: exiting now, the requests in flight are "
        "dropped"
    ), server.lines[-5:]
    assert not any("Traceback" in line or "Error" in line for line in server.lines)


# the warm-up made slow: each worker's model load takes 2 s and says when it starts
SLOW_WARM = (
    "import sys, time\n"
    "import maffsrn_tf.serve.service as service\n"
    "made = service._make_engine\n"
    "def slow(options, scale):\n"
    "    print('loading a model', file=sys.stderr, flush=True)\n"
    "    time.sleep(2)\n"
    "    return made(options, scale)\n"
    "service._make_engine = slow\n"
)


def test_ctrl_c_while_the_models_load_exits_at_once():
    cmd = [sys.executable, "-c", SLOW_WARM + LAUNCH, "--host", "127.0.0.1", "--port", "0",
           "--workers", "6"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stderr.readline().strip() == "loading a model"
        time.sleep(0.2)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(15)
        elapsed = time.monotonic() - start
        rest = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 130, rest
    assert "error: interrupted while loading the models; nothing was served" in rest, rest
    assert "half-written" not in rest and "Traceback" not in rest, rest
    assert elapsed < 3, elapsed
