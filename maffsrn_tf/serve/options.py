"""``ServeOptions``: every setting of the HTTP endpoint, its one default, type, check and help.

``maffsrn-serve`` makes its flags from these fields (``cli.common.define_option_flags``);
``create_app`` and ``run_server`` take one checked object. What each request asks for (the
scale, the quantization, ...) is not here: those are ``UpscaleOptions``, read from the
request's query (``service.request_options``), with ``upscale()``'s defaults.
"""

import dataclasses
import ipaddress
import math
import socket

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.options import check_fields, option
from maffsrn_tf.upscaler.engines import MAX_THREADS, default_num_threads

# --help's headings, in order
GROUPS = ("Network", "Workers and queue", "Limits", "Logs")
# the most worker threads (each holds its own engines and one image's buffers)
MAX_WORKERS = 256
# the most requests waiting for a worker
MAX_QUEUE = 100_000
# a day: a longer request is a mistake in the limit, not a request
MAX_TIMEOUT = 86_400.0
# the default limits: an upload of a large photo, and a 16-megapixel input (an x4 result is
# 256 megapixels, 768 MB as 8-bit RGB: the memory each worker may need, docs/serving.md)
DEFAULT_MAX_BODY = 50_000_000
DEFAULT_SERVE_MAX_PIXELS = 16_000_000
# the default output limit: 64 megapixels (x2 of the largest input by default). One request's
# peak is about 45 bytes per output pixel at worst (an outscale resized from the model's
# scale, measured: outscale=16 of 500x500 peaked at 2.88 GB), 7.5 at a model scale: about
# 3 GB per worker at most (docs/serving.md)
DEFAULT_MAX_OUTPUT_PIXELS = 64_000_000
# request bodies read at once by default (each at most max_body_bytes in memory)
DEFAULT_UPLOADS = 16


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """Where ``maffsrn-serve`` listens, how many requests it works on and holds, and what it
    refuses. ``uploads`` request bodies are read at once; a request whose body is all there
    is admitted to the work: ``workers + queue`` at once (waiting for a worker, or being
    upscaled); one more is answered 503 with ``Retry-After``."""

    host: str = option(
        "127.0.0.1",
        "Address to listen on (0.0.0.0 or :: for every interface: put a reverse proxy in "
        "front, docs/serving.md).",
        group=GROUPS[0],
    )
    port: int = option(
        8080, "TCP port (0: any free port; the line printed at start names it).", lower=0,
        upper=65535, group=GROUPS[0],
    )  # fmt: skip
    max_connections: int = option(
        256,
        "Open connections at most (idle keep-alive ones included); past it new requests get "
        "503 from the HTTP server itself.",
        lower=1,
        group=GROUPS[0],
    )
    forwarded_allow_ips: str = option(
        "",
        "IP addresses or networks of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto "
        "are trusted (comma-separated, as 127.0.0.1,10.0.0.0/8; * alone for any; default: "
        "none, the access log shows the peer's address).",
        group=GROUPS[0],
    )
    workers: int = option(
        2,
        "Requests upscaled at once: worker threads, each with its own models loaded once.",
        lower=1,
        upper=MAX_WORKERS,
        group=GROUPS[1],
    )
    queue: int = option(
        8,
        "Requests that may wait for a worker (their body held in memory); past workers + "
        "queue a request gets 503 with Retry-After.",
        lower=0,
        upper=MAX_QUEUE,
        group=GROUPS[1],
    )
    uploads: int = option(
        DEFAULT_UPLOADS,
        "Request bodies read at once (a slow client holds one, not a worker or a place in "
        "the queue); past it a request gets 503 with Retry-After.",
        lower=1,
        upper=MAX_QUEUE,
        group=GROUPS[1],
    )
    num_threads: int | None = option(
        None,
        "LiteRT threads per worker (default: the CPUs this process may use, divided among "
        "the workers, at least 1).",
        lower=1,
        upper=MAX_THREADS,
        group=GROUPS[1],
    )
    max_body_bytes: int = option(
        DEFAULT_MAX_BODY,
        "Refuse larger request bodies (413), by Content-Length before reading, else as read.",
        flag="max_body_mb",
        per=1_000_000,
        group=GROUPS[2],
    )
    max_pixels: int = option(
        DEFAULT_SERVE_MAX_PIXELS,
        "Refuse larger input images (413), from the image's header before decoding.",
        flag="max_megapixels",
        per=1_000_000,
        group=GROUPS[2],
    )
    max_output_pixels: int = option(
        DEFAULT_MAX_OUTPUT_PIXELS,
        "Refuse requests whose result would be larger (413), from the image's header and the "
        "asked scale, outscale, width or height, before decoding.",
        flag="max_output_megapixels",
        per=1_000_000,
        group=GROUPS[2],
    )
    timeout: float = option(
        60.0,
        "Seconds a request may take from its arrival to its answer: a body not read by then "
        "gets 408, a result not ready 504 (the worker stops at its next tile).",
        lower=0.1,
        upper=MAX_TIMEOUT,
        group=GROUPS[2],
    )
    access_log: bool = option(
        True,
        "One line per request on stderr: client, method, path, status, response bytes, seconds.",
        group=GROUPS[3],
    )

    def __post_init__(self):
        if isinstance(self.timeout, int) and not isinstance(self.timeout, bool):
            object.__setattr__(self, "timeout", float(self.timeout))  # timeout=30 is 30.0
        check_fields(self)
        if not self.host.strip():
            raise MaffsrnError("host='' names no address: 127.0.0.1, 0.0.0.0, :: or a name")
        _check_host(self.host)
        # uvicorn trusts any proxy for "*" alone, not " *": the list as uvicorn reads it
        object.__setattr__(self, "forwarded_allow_ips", _check_proxies(self.forwarded_allow_ips))
        if not math.isfinite(self.timeout):
            raise MaffsrnError(f"timeout={self.timeout!r} is not a finite number of seconds")
        if self.max_body_bytes <= 0:
            raise MaffsrnError(f"max_body_bytes={self.max_body_bytes} is not a positive size")
        if self.max_pixels <= 0:
            raise MaffsrnError(f"max_pixels={self.max_pixels} is not a positive number of pixels")
        if self.max_output_pixels <= 0:
            raise MaffsrnError(
                f"max_output_pixels={self.max_output_pixels} is not a positive number of pixels"
            )

    @property
    def capacity(self):
        """Requests admitted at once: ``workers + queue``."""
        return self.workers + self.queue

    @property
    def threads_per_worker(self):
        """LiteRT threads of each worker's engines: ``num_threads``, or the CPUs this process
        may use shared among the workers (at least 1 each)."""
        return self.num_threads or max(1, default_num_threads() // self.workers)

    def replace(self, **changes):
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)


def _check_host(host):
    """``MaffsrnError`` for a host that the C library reads as an IPv4 address though it is
    not written as one (``0`` is 0.0.0.0, ``127.1`` is 127.0.0.1, ``0x7f.1`` too): every
    interface must be asked for as 0.0.0.0 or ::, not by accident."""
    try:
        ipaddress.ip_address(host.strip().strip("[]"))
        return
    except ValueError:
        pass
    try:
        packed = socket.inet_aton(host.strip())
    except (OSError, UnicodeError, ValueError):
        return  # a host name
    raise MaffsrnError(
        f"host={host!r} is not a dotted IPv4 address (it would mean "
        f"{socket.inet_ntoa(packed)}): write the address in full, 127.0.0.1 for this machine "
        "or 0.0.0.0 for every interface"
    )


def _check_proxies(value):
    """``value`` (``forwarded_allow_ips``) with the spaces around its items dropped;
    ``MaffsrnError`` unless it is empty (no proxy is trusted), ``*`` (any) or comma-separated
    IP addresses and networks. (uvicorn takes any other word, a misspelt address or a network
    with its host bits set, as a name to compare with the peer's address, which never
    matches: the proxy would silently never be trusted.)"""
    if value == "":
        return value
    fix = (
        "write the proxies' IP addresses or networks, comma-separated (127.0.0.1,10.0.0.0/8 "
        "or ::1), or * for any"
    )
    items = [item.strip() for item in value.split(",")]
    if "*" in items and len(items) > 1:
        raise MaffsrnError(
            f"forwarded_allow_ips={value!r}: * means any proxy, so it goes alone; {fix}"
        )
    for item in items:
        if item == "*":
            continue
        if not item:
            raise MaffsrnError(f"forwarded_allow_ips={value!r} holds an empty address; {fix}")
        try:
            if "/" in item:
                ipaddress.ip_network(item)
            else:
                ipaddress.ip_address(item)
        except ValueError as err:
            why = "an IP address or network"
            if "/" in item and "has host bits set" in str(err):
                network = ipaddress.ip_network(item, strict=False)
                why = f"an IP network (its host bits are set: the network is {network})"
            raise MaffsrnError(
                f"forwarded_allow_ips={value!r}: {item!r} is not {why}; {fix}"
            ) from None
    return ",".join(items)
