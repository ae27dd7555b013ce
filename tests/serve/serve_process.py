"""A real ``maffsrn-serve`` in a subprocess for the tests, and a plain HTTP client for it.

The server runs as the console script does (``maffsrn_tf.cli.serve.cli``) with TensorFlow
and Keras blocked from import (``sys.modules[...] = None``): every request the tests send
proves the light install serves it. It listens on 127.0.0.1, port 0 (the kernel picks a free
one; the start line names it, so two test runs never race for a port). Its stderr (the start
line, uvicorn's lines, the access log) is collected in ``lines``.
"""

import http.client
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCH = (
    "import sys\n"
    "sys.modules['tensorflow'] = None\n"
    "sys.modules['keras'] = None\n"
    "sys.argv[0] = 'maffsrn-serve'\n"
    "from maffsrn_tf.cli.serve import cli\n"
    "cli()\n"
)
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+) ")


def png_bytes(array):
    """``array`` as the bytes of a PNG file (a request body)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


class Server:
    """``maffsrn-serve --host 127.0.0.1 --port 0 FLAGS...`` until ``stop()``."""

    def __init__(self, *flags, start_timeout=120):
        cmd = [sys.executable, "-c", LAUNCH, "--host", "127.0.0.1", "--port", "0", *flags]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
        )
        self.lines, self.port = [], None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(start_timeout) or self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("maffsrn-serve did not start:\n" + "\n".join(self.lines[-30:]))

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            match = LISTENING.search(line)
            if match and self.port is None:
                self.port = int(match.group(1))
                self._ready.set()
        self._ready.set()  # it ended: whoever waits stops waiting

    def request(self, method, path, body=None, headers=None, timeout=60):
        """``(status, headers, body)`` of one request on a new connection (closed after)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            headers = {name.lower(): value for name, value in response.getheaders()}
            return response.status, headers, response.read()
        finally:
            conn.close()

    def post(self, data, query="", content_type="image/png", accept=None, timeout=60):
        """``POST /v1/upscale?QUERY`` with ``data`` as the body."""
        headers = {"Content-Type": content_type} if content_type else {}
        if accept:
            headers["Accept"] = accept
        path = "/v1/upscale" + (f"?{query}" if query else "")
        return self.request("POST", path, data, headers, timeout)

    def get_json(self, path):
        status, _, body = self.request("GET", path)
        assert status == 200, (status, body)
        return json.loads(body)

    def wait_for_log(self, pattern, timeout=10):
        """The first stderr line matching ``pattern`` (a regex), waiting for it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            time.sleep(0.05)
        raise AssertionError(f"no log line matches {pattern!r}:\n" + "\n".join(self.lines[-20:]))

    def wait_until(self, predicate, timeout=30):
        """Poll ``/healthz`` until ``predicate(health)`` holds; the last health."""
        end = time.monotonic() + timeout
        while True:
            health = self.get_json("/healthz")
            if predicate(health) or time.monotonic() > end:
                return health
            time.sleep(0.05)

    def stop(self, signum=signal.SIGTERM, timeout=60):
        """Send ``signum`` and wait for the exit; its status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self._reader.join(10)
        return code
