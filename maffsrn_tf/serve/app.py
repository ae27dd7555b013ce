"""The HTTP API of ``maffsrn-serve``, as a Starlette app: ``create_app(options)``.

- ``POST /v1/upscale?scale=2&quantization=int8&...``: the body is an image file's bytes, the
  answer the upscaled image's bytes, in the format ``Accept`` prefers, else the input's.
  The parameters are ``service.PARAMETERS`` with ``upscale()``'s defaults (x2, float16).
- ``GET /v1/models``: the shipped models a request may ask for (and how many of each the
  workers have loaded), the defaults, the parameters, the formats and the limits.
- ``GET /healthz``: ``{"status": "ok", ...}`` with the workers and what they hold.

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
import time

from maffsrn_tf.errors import MaffsrnError, one_line
from maffsrn_tf.serve.service import (
    RETRY_AFTER_S,
    TIMEOUT_MESSAGE,
    ServeError,
    Service,
    check_content_length,
    check_content_type,
    output_extension,
    request_options,
)
from maffsrn_tf.version import __version__

SERVE_INSTALL = 'pip install "maffsrn_tf[serve]"'
log = logging.getLogger("maffsrn_tf.serve")
access_log = logging.getLogger("maffsrn_tf.serve.access")
# what a path that is not the API is told
API = "POST /v1/upscale, GET /v1/models, GET /healthz"


def require_serving_stack():
    """``MaffsrnError`` with the install line unless Starlette and uvicorn can be imported."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise MaffsrnError(
            f"maffsrn-serve needs Starlette and uvicorn ({err.name} is missing): {SERVE_INSTALL}"
        ) from None


class AccessLog:
    """ASGI middleware: one line per HTTP request once it is answered (or its client is
    gone), ``client method path?query status bytes seconds`` (status ``-`` when no answer
    was sent)."""

    def __init__(self, app, enabled=True):
        self.app, self.enabled = app, enabled

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        start, sent = time.perf_counter(), {"status": "-", "bytes": 0}

        async def counted(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            client = scope.get("client")
            target = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            if scope.get("query_string"):
                target += b"?" + scope["query_string"]
            access_log.info(
                "%s %s %s %s %d %.3fs",
                client[0] if client else "-",
                scope["method"],
                one_line(target.decode("latin-1")),
                sent["status"],
                sent["bytes"],
                time.perf_counter() - start,
            )


async def _read_body(request, limit):
    """The body's bytes as they come (the event loop is free meanwhile): ``ServeError`` 413
    once it passes ``limit`` bytes (what came is dropped), 400 when it is empty."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServeError(413, f"the body is over this server's limit of {limit:,} bytes")
        chunks.append(chunk)
    if not size:
        raise ServeError(
            400, "the body is empty: send the image's bytes (Content-Type image/... or "
            "application/octet-stream)",
        )  # fmt: skip
    return b"".join(chunks)


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

    async def upscale(request):
        deadline = time.monotonic() + options.timeout
        headers = request.headers
        try:
            check_content_type(headers.get("content-type"), headers.get("content-encoding"))
            check_content_length(headers.get("content-length"), options.max_body_bytes)
            wanted = request_options(request.query_params.multi_items(), options)
            accept = headers.get("accept")
            output_extension(accept, ".png")  # 406 before the body is read
        except ServeError as err:
            return error(err.status, str(err), err.headers)
        ticket = service.admission.enter()
        if ticket is None:
            return error(
                503, f"the server is busy ({options.workers} requests being upscaled, "
                f"{options.queue} waiting): try again after Retry-After seconds",
                busy,
            )  # fmt: skip
        try:
            body = _read_body(request, options.max_body_bytes)
            data = await asyncio.wait_for(body, max(0.0, deadline - time.monotonic()))
            future = service.submit(ticket, data, wanted, accept, deadline)
        except asyncio.TimeoutError:
            ticket.release()
            return error(  # and the connection is closed (RFC 9110): the client is stuck
                408, f"the body did not arrive within this server's timeout of "
                f"{options.timeout:g} s",
                {"Connection": "close"},
            )  # fmt: skip
        except ServeError as err:
            ticket.release()
            return error(err.status, str(err), err.headers)
        except ClientDisconnect:
            ticket.release()
            return error(400, "the client went away before its body was read")
        except BaseException:
            ticket.release()
            raise
        try:
            remaining = max(0.0, deadline - time.monotonic())
            result = await asyncio.wait_for(asyncio.wrap_future(future), remaining)
        except asyncio.TimeoutError:  # the worker stops at its next tile (the deadline)
            return error(504, f"{TIMEOUT_MESSAGE} ({options.timeout:g} s)")
        except ServeError as err:
            return error(err.status, str(err), err.headers)
        except MemoryError:
            log.error("out of memory upscaling a request: %s", one_line(str(request.url)))
            return error(503, "the server ran out of memory for this image: try again, or "
                         "send a smaller one", busy)  # fmt: skip
        except Exception as err:
            log.exception("unexpected error upscaling a request")
            return error(500, f"internal error ({type(err).__name__}); the server logged it")
        return Response(result.content, media_type=result.media_type, headers={"Vary": "Accept"})

    async def models(request):
        return JSONResponse(service.models())

    async def healthz(request):
        return JSONResponse({"status": "ok", "version": __version__, **service.status()})

    async def http_error(request, exc):
        message = exc.detail
        if exc.status_code == 404:
            message = f"no such path {request.url.path}: the API is {API}"
        elif exc.status_code == 405:
            message = f"{request.method} is not taken by {request.url.path}: the API is {API}"
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
    app = AccessLog(
        Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan),
        enabled=options.access_log,
    )
    app.service = service
    return app
