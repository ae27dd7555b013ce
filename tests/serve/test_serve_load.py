"""``maffsrn-serve`` under more clients than it holds, and stopped while it works: every
client gets an answer (200, or 503 with Retry-After), none hangs; SIGTERM lets the request
in flight finish, then the process exits 0."""

import io
import json
import signal
import socket
import threading
import time

import numpy as np
import pytest
from conftest import photo
from PIL import Image
from serve_process import Server

from maffsrn_tf.io.images import read_image
from maffsrn_tf.upscaler import upscale


def _png(array):
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def server():
    server = Server("--workers", "1", "--queue", "1", "--timeout", "60")
    yield server
    assert server.stop() == 0, "\n".join(server.lines[-20:])


def test_clients_beyond_the_pool_are_each_answered_200_or_503(server):
    """8 clients at once on 1 worker and 1 place in the queue: each is answered within its
    own timeout, 200 with upscale()'s pixels or 503 with Retry-After and a JSON reason."""
    array = photo(128, 128, seed=2)  # with the self-ensemble: the 8 arrive while it works
    data, clients = _png(array), 8
    start, results = threading.Barrier(clients), [None] * clients

    def client(i):
        start.wait()
        try:
            results[i] = server.post(data, "self_ensemble=1", timeout=60)
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
    assert server.post(_png(photo(32, 32)))[0] == 200  # and it goes on


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0():
    server = Server("--workers", "1", "--queue", "2")
    array = photo(128, 128, seed=6)
    reply = {}

    def client():
        reply["result"] = server.post(_png(array), "self_ensemble=true", timeout=120)

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
        code = server.stop(timeout=60)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
    status, _, body = reply["result"]
    assert status == 200, body
    np.testing.assert_array_equal(read_image("r", data=body)[0], upscale(array, self_ensemble=True))
    assert code == 0, "\n".join(server.lines[-20:])
    assert server.lines[-1] == "maffsrn-serve: stopped", server.lines[-5:]
    assert any("POST /v1/upscale?self_ensemble=true 200 " in line for line in server.lines)
