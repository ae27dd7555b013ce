"""The HTTP API of ``maffsrn-serve``, as a Starlette app: ``create_app(options)``.

- ``POST /v1/upscale?scale=2&quantization=int8&...``: the body is an image file's bytes, the
  answer the upscaled image's bytes, in the format ``Accept`` prefers, else the input's.
  The parameters are ``service.PARAMETERS`` with ``upscale()``'s defaults (x2, float16).
- ``GET /v1/models``: the shipped models a request may ask for (and how many of each the
  workers have loaded), the defaults, the parameters, the formats and the limits.
- ``GET /healthz``: ``{"status": "ok", ...}`` with the workers and what they hold.

The GETs take no query parameters: one given is a 400, as an unknown one of the POST.

A request runs in this order, each step refused cleanly with a JSON body
``{"error": "...", "status": N}``: its headers and query (415 for a body that is not declared
as an image, 413 for a ``Content-Length`` over the limit, 400 for a parameter, 406 for an
``Accept`` naming no format written here), admission (503 with ``Retry-After`` when
``workers + queue`` requests are in already), its body (read as it comes, without holding a
worker: 413 past the limit, 408 when not all there by the deadline, 400 when empty), then a
worker thread (``service.upscale_bytes``; 504 past the deadline). Whatever else goes wrong is
a 500 with the error logged; the server goes on.

One access-log line per request on the ``maffsrn_tf.serve.access`` logger: client, method,
path with query, status, response bytes, seconds.
"""

import asyncio
import contextlib
import logging
import re
import threading
import time

from maffsrn_tf.errors import MaffsrnError, one_line
from maffsrn_tf.serve.service import (
    CLIENT_GONE,
    RETRY_AFTER_S,
    TIMEOUT_MESSAGE,
    Cancelled,
    ServeError,
    Service,
    check_content_length,
    check_content_type,
    check_no_parameters,
    output_extension,
    request_options,
    shown,
)
from maffsrn_tf.version import __version__

SERVE_INSTALL = 'pip install "maffsrn_tf[serve]"'
log = logging.getLogger("maffsrn_tf.serve")
access_log = logging.getLogger("maffsrn_tf.serve.access")
# what a path that is not the API is told
API = "POST /v1/upscale, GET /v1/models, GET /healthz"
# the most characters of a path and query an access line shows
MAX_LOGGED_TARGET = 300
# what an access-log field may hold as it is; anything else is %-escaped (no spaces: one
# field per word, whatever a client sends)
_UNSAFE = re.compile(r"[^A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]")


def require_serving_stack():
    """``MaffsrnError`` with the install line unless Starlette and uvicorn can be imported."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise MaffsrnError(
            f"maffsrn-serve needs Starlette and uvicorn ({err.name} is missing): {SERVE_INSTALL}"
        ) from None


def _field(text, limit=None):
    """``text`` as one access-log field: no spaces or control characters (%-escaped, as in a
    URL), cut to ``limit`` characters (with ``...``)."""
    text = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return text or "-"


class AccessLog:
    """ASGI middleware: one line per HTTP request once it is answered (or its client is
    gone), ``client method path?query status bytes seconds``; each field escaped (no spaces),
    the path and query cut to ``MAX_LOGGED_TARGET`` characters. A client that went away
    before its whole answer was sent is logged ``499`` with the bytes sent (nginx's code),
    ``-`` when the app sent nothing at all."""

    def __init__(self, app, enabled=True):
        self.app, self.enabled = app, enabled

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        sent = {"status": "-", "bytes": 0, "done": False, "gone": False}
        scope["maffsrn.access"] = sent  # the app marks a client it found gone

        async def counted(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
                sent["done"] = not message.get("more_body", False)
            await send(message)

        async def watched():
            message = await receive()
            if message["type"] == "http.disconnect" and not sent["done"]:
                sent["gone"] = True
            return message

        try:
            await self.app(scope, watched, counted)
        finally:
            client = scope.get("client")
            target = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            if scope.get("query_string"):
                target += b"?" + scope["query_string"]
            status, size = sent["status"], sent["bytes"]
            if sent["gone"]:  # whatever the app answered, nobody received it
                status, size = CLIENT_GONE, 0
            access_log.info(
                "%s %s %s %s %d %.3fs",
                _field(str(client[0]) if client else "-"),
                _field(scope["method"]),
                _field(one_line(target.decode("latin-1")), MAX_LOGGED_TARGET),
                status,
                size,
                time.perf_counter() - start,
            )


async def _read_body(request, limit):
    """The body's bytes as they come (the event loop is free meanwhile): ``ServeError`` 413
    once it passes ``limit`` bytes (what came is dropped), 400 when it is empty."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # the rest is not read: the connection is closed after the answer
            raise ServeError(
                413, f"the body is over this server's limit of {limit:,} bytes",
                {"Connection": "close"},
            )  # fmt: skip
        chunks.append(chunk)
    if not size:
        raise ServeError(
            400, "the body is empty: send the image's bytes (Content-Type image/... or "
            "application/octet-stream)",
        )  # fmt: skip
    return b"".join(chunks)


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "s")


async def _disconnected(receive):
    """Returns once the client is gone (``http.disconnect`` on the ASGI receive channel,
    the body being read already)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def create_app(options, service=None):
    """The ASGI app of ``maffsrn-serve`` for ``options`` (a ``ServeOptions``): Starlette's
    routes (the module's API) inside the access log. ``service``: the worker pool
    (``Service``; default: a new one, its models loaded on first use). The app's
    ``service`` attribute is it; the app's shutdown (its lifespan's end) closes it.
    ``MaffsrnError`` with the install line when Starlette is missing."""
    require_serving_stack()
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    service = service or Service(options)
    busy = {"Retry-After": str(RETRY_AFTER_S)}

    def error(status, message, headers=None):
        body = {"error": message, "status": status}
        return JSONResponse(body, status_code=status, headers=headers)

    def busy_error():
        status = service.status()
        running, waiting = status["running"], status["waiting"]
        return error(
            503, f"the server is busy ({_count(running, 'request')} being upscaled, "
            f"{waiting} waiting): try again after Retry-After seconds",
            busy,
        )  # fmt: skip

    async def upscale(request):
        deadline = time.monotonic() + options.timeout
        headers = request.headers
        try:
            types = headers.getlist("content-type")
            if len(types) > 1:
                raise ServeError(
                    400, f"Content-Type is given {len(types)} times: send it once (image/png, "
                    "image/jpeg, ... or application/octet-stream)",
                )  # fmt: skip
            check_content_type(headers.get("content-type"), headers.get("content-encoding"))
            check_content_length(headers.get("content-length"), options.max_body_bytes)
            wanted = request_options(request.query_params.multi_items(), options)
            # Accept given on several lines is one list (RFC 9110): all of it is read
            accept = ", ".join(headers.getlist("accept")) or None
            output_extension(accept, ".png")  # 406 before the body is read
        except ServeError as err:
            return error(err.status, str(err), err.headers)
        if service.admission.full():  # no body read for work that cannot be taken
            return busy_error()
        upload = service.uploads.enter()
        if upload is None:
            return error(
                503, f"the server is receiving {options.uploads} request bodies already (its "
                "limit, --uploads): try again after Retry-After seconds",
                busy,
            )  # fmt: skip
        try:
            body = _read_body(request, options.max_body_bytes)
            data = await asyncio.wait_for(body, max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            return error(  # and the connection is closed (RFC 9110): the client is stuck
                408, f"the body did not arrive within this server's timeout of "
                f"{options.timeout:g} s (--timeout): send it faster, or a smaller image",
                {"Connection": "close"},
            )  # fmt: skip
        except ServeError as err:
            return error(err.status, str(err), err.headers)
        except ClientDisconnect:
            request.scope["maffsrn.access"]["gone"] = True
            return error(400, "the client went away before its body was read")
        finally:
            upload.release()
        ticket = service.admission.enter()
        if ticket is None:
            return busy_error()
        cancelled = threading.Event()
        try:
            future = service.submit(ticket, data, wanted, accept, deadline, cancelled)
        except ServeError as err:
            return error(err.status, str(err), err.headers)
        except BaseException:
            ticket.release()
            raise
        work = asyncio.wrap_future(future)
        gone = asyncio.ensure_future(_disconnected(request.receive))
        try:
            remaining = max(0.0, deadline - time.monotonic())
            await asyncio.wait({work, gone}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        finally:  # an answer that nobody waits for any more: stopped at its next tile
            gone.cancel()
            if not work.done():
                cancelled.set()
                future.cancel()  # still queued: dropped
                work.cancel()
        if not future.done() or future.cancelled():
            if gone.done() and not gone.cancelled():
                request.scope["maffsrn.access"]["gone"] = True
                return error(CLIENT_GONE, "the client went away before its answer")
            return error(504, f"{TIMEOUT_MESSAGE} ({options.timeout:g} s)")
        try:
            result = future.result()
        except ServeError as err:
            return error(err.status, str(err), err.headers)
        except Cancelled:
            return error(CLIENT_GONE, "the client went away before its answer")
        except MemoryError:
            log.error("out of memory upscaling a request: %s", one_line(str(request.url)))
            return error(503, "the server ran out of memory for this image: try again, or "
                         "send a smaller one", busy)  # fmt: skip
        except Exception as err:
            log.exception("unexpected error upscaling a request")
            return error(500, f"internal error ({type(err).__name__}); the server logged it")
        return Response(result.content, media_type=result.media_type, headers={"Vary": "Accept"})

    def no_parameters(request, what):
        """The error of a GET (``what``) given query parameters (it takes none), else None."""
        try:
            check_no_parameters(request.query_params.multi_items(), what)
        except ServeError as err:
            return error(err.status, str(err), err.headers)
        return None

    async def models(request):
        return no_parameters(request, "GET /v1/models") or JSONResponse(service.models())

    async def healthz(request):
        refused = no_parameters(request, "GET /healthz")
        return refused or JSONResponse({"status": "ok", "version": __version__, **service.status()})

    async def http_error(request, exc):
        message = exc.detail
        if exc.status_code == 404:
            message = f"no such path {shown(request.url.path)}: the API is {API}"
        elif exc.status_code == 405:
            message = (
                f"{request.method} is not taken by {shown(request.url.path)}: the API is {API}"
            )
        return error(exc.status_code, message, getattr(exc, "headers", None))

    async def internal_error(request, exc):
        log.error("unexpected %s: %s", type(exc).__name__, one_line(str(exc)))
        return error(500, f"internal error ({type(exc).__name__}); the server logged it")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:  # after the in-flight requests: the workers end with nothing to do
            await asyncio.get_running_loop().run_in_executor(None, service.close)

    routes = [
        Route("/v1/upscale", upscale, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    handlers = {HTTPException: http_error, Exception: internal_error}
    starlette = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    starlette.router.redirect_slashes = False  # /v1/upscale/ is a 404, not a redirect to Host
    app = AccessLog(starlette, enabled=options.access_log)
    app.service = service
    return app
