"""Throughput, latency and memory of ``maffsrn-serve`` under N clients x M requests on loopback.

Starts the server (``python -m maffsrn_tf.cli.serve --host 127.0.0.1 --port 0``, so no port
is fought over) and waits for its start line; then N client threads each send M requests,
``POST /v1/upscale`` of one SIZE x SIZE photo-like PNG (x2, the defaults), on one keep-alive
connection per client (http.client). Bounded in count (N x M requests) and in time
(``--max_seconds``: no request is started after it, and the table says how many were sent).

Latency is from the request's first byte to the last of its answer, over the 200s. An
answer other than 200 or 503 (the server is full; none is expected while N is at most
workers + queue) or a failed connection is an error: the script exits 1 after the table.

Memory: the server process's resident set (psutil), sampled every 20 ms. "RSS warm" is the
peak up to the first 10 % of answers (models loaded, buffers made), "RSS peak" the peak of
the whole run, "last 25 %" the peak over the last quarter of the answers: equal to the warm
peak within noise means memory stays flat with the number of requests.

    python benchmarks/serve_load.py --clients 4 --requests 25 --size 64
"""

import argparse
import http.client
import io
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
from PIL import Image

from maffsrn_tf.export.report import cpu_name

MIB = 2**20


def photo(size, seed=0):
    """A smooth random RGB PNG of ``size`` x ``size`` (a photo compresses like it)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(1, size // 4),) * 2 + (3,), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(small).resize((size, size), Image.BICUBIC).save(out, format="PNG")
    return out.getvalue()


class Server:
    """``maffsrn-serve`` in a subprocess; ``port`` once it listens."""

    def __init__(self, flags):
        cmd = [sys.executable, "-m", "maffsrn_tf.cli.serve", "--host", "127.0.0.1", "--port",
               "0", *flags]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        self.port, self.tail = None, []
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.tail = (self.tail + [line.rstrip()])[-20:]
                match = re.search(r"listening on http://127\.0\.0\.1:(\d+) ", line)
                if match:
                    self.port = int(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(120) or self.port is None:
            self.proc.kill()
            sys.exit("maffsrn-serve did not start:\n" + "\n".join(self.tail))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


class Memory:
    """The server's RSS, sampled every 20 ms in a thread, with the answers count at each."""

    def __init__(self, pid, answered):
        self.process, self.answered, self.samples = psutil.Process(pid), answered, []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while not self.done.wait(0.02):
            try:
                self.samples.append((len(self.answered), self.process.memory_info().rss))
            except psutil.Error:
                return

    def stop(self):
        self.done.set()
        self.thread.join()

    def peak(self, lo=0.0, hi=1.0, total=None):
        """The peak RSS while the answers counted were between ``lo`` and ``hi`` of ``total``
        (all samples without ``total``)."""
        inside = [rss for n, rss in self.samples if total is None or lo * total <= n <= hi * total]
        return max(inside) if inside else 0


def client(port, body, count, deadline, answered, errors, lock):
    """``count`` requests on one keep-alive connection (one reconnection on a dropped one)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "image/png"}
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        for attempt in (0, 1):
            start = time.perf_counter()
            try:
                conn.request("POST", "/v1/upscale", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException) as err:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                if attempt:
                    with lock:
                        errors.append(f"{type(err).__name__}: {err}")
                continue
            with lock:
                answered.append((response.status, time.perf_counter() - start, len(data)))
                if response.status not in (200, 503):
                    errors.append(f"{response.status}: {data[:200]!r}")
            break
    conn.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=4, help="concurrent clients (N)")
    p.add_argument("--requests", type=int, default=25, help="requests per client (M)")
    p.add_argument("--size", type=int, default=64, help="the input's side in pixels")
    p.add_argument("--max_seconds", type=float, default=300.0, help="no request starts after")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--queue", type=int, default=8)
    p.add_argument("--num_threads", type=int, default=0, help="LiteRT threads per worker")
    a = p.parse_args()
    flags = ["--workers", str(a.workers), "--queue", str(a.queue)]
    if a.num_threads:
        flags += ["--num_threads", str(a.num_threads)]
    server = Server(flags)
    body, answered, errors, lock = photo(a.size), [], [], threading.Lock()
    memory = Memory(server.proc.pid, answered)
    rss_start = psutil.Process(server.proc.pid).memory_info().rss
    deadline = time.monotonic() + a.max_seconds
    start = time.perf_counter()
    threads = [
        threading.Thread(
            target=client, args=(server.port, body, a.requests, deadline, answered, errors, lock)
        )
        for _ in range(a.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    memory.stop()
    code = server.stop()
    if code != 0:
        errors.append(f"the server exited with {code}: " + " | ".join(server.tail[-3:]))
    ok = sorted(t for status, t, _ in answered if status == 200)
    total = len(answered)
    busy = sum(1 for status, _, _ in answered if status == 503)

    def percentile(q):
        return 1000 * ok[min(len(ok) - 1, int(round(q * (len(ok) - 1))))] if ok else float("nan")

    print(f"maffsrn-serve, {a.workers} workers, queue {a.queue}, on {cpu_name()}; "
          f"{a.size}x{a.size} PNG in, x2 float16 ({len(body):,} bytes in)")  # fmt: skip
    print()
    print("| clients x requests | sent | 200 | 503 | errors | seconds | requests/s | p50 ms "
          "| p99 ms | RSS start | RSS warm | RSS peak | RSS last 25 % |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {a.clients} x {a.requests} | {total} | {len(ok)} | {busy} | {len(errors)} "
        f"| {seconds:.1f} | {len(ok) / seconds:.1f} | {percentile(0.5):.0f} "
        f"| {percentile(0.99):.0f} | {rss_start / MIB:.0f} MiB "
        f"| {memory.peak(0, 0.1, total) / MIB:.0f} MiB | {memory.peak() / MIB:.0f} MiB "
        f"| {memory.peak(0.75, 1.0, total) / MIB:.0f} MiB |"
    )
    for error in errors[:10]:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
