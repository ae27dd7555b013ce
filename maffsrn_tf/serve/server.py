"""Running the app on uvicorn: ``run_server(options)`` listens, serves until SIGTERM or
SIGINT, then stops cleanly.

One process, one event loop, ``workers`` threads (``service.Service``): the event loop reads
bodies and writes answers, the threads upscale. uvicorn's own worker processes are not used:
each would load its own models and hold its own queue.

Stopping (SIGTERM, as from a process manager, or Ctrl-C): the socket stops taking
connections, idle keep-alive connections are closed, each request in flight is answered
(at most ``timeout`` seconds, as every request, plus ``GRACE_S``), then the workers end and
``run_server`` returns. A second SIGINT or SIGTERM while it stops ends the process at once
(``os._exit``: exit status 128 + the signal's number, the requests in flight dropped).
"""

import errno
import os
import signal
import socket
import sys
import threading

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.serve.app import create_app, require_serving_stack
from maffsrn_tf.serve.service import Service

# seconds a stop waits for the requests in flight beyond the request timeout
GRACE_S = 5.0
# connections the kernel holds for the server before it accepts them
BACKLOG = 2048
# how uvicorn speaks HTTP/1.1: h11 (its pure-Python parser, always installed with it), so
# the behaviour does not depend on whether httptools happens to be installed
HTTP_PROTOCOL = "h11"


def bind_socket(host, port):
    """A listening TCP socket on ``host`` (a name, an IPv4 or IPv6 address) and ``port`` (0:
    a free one); ``MaffsrnError`` when the address cannot be had (in use, not this host's)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as err:
        raise MaffsrnError(f"host={host!r} cannot be listened on ({err})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRNOTAVAIL:
            raise MaffsrnError(
                f"cannot listen on {host}:{port} ({err.strerror or err}): {host} is not an "
                "address of this machine; use 127.0.0.1, 0.0.0.0 (every interface) or one of "
                "its own addresses"
            ) from None
        raise MaffsrnError(
            f"cannot listen on {host}:{port} ({err.strerror or err}); pick another port "
            "(port=0: any free one)"
        ) from None
    return sock


def url_of(sock):
    """``http://HOST:PORT`` of a listening socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_server(options, service=None, on_listening=None):
    """Serve ``create_app(options)`` on uvicorn until SIGTERM or SIGINT; returns the number
    of the signal that stopped it (None if stopped otherwise).

    The socket is bound first, then the models of ``upscale()``'s default (x2 float16) are
    loaded in every worker (``Service.warm``: a broken install fails here), then
    ``on_listening(url)`` is called (connections made before wait in the backlog). Errors before
    serving are ``MaffsrnError``s (Starlette or uvicorn missing, an address in use).
    While it serves, SIGTERM and SIGINT stop it cleanly (the module says how); the process's
    own handlers are back when it returns.
    """
    require_serving_stack()
    import uvicorn

    sock = bind_socket(options.host, options.port)  # first: an address in use fails at once
    service = service or Service(options)
    try:
        service.warm()
    except BaseException:  # Ctrl-C included: no waiting for the other workers' loads
        service.abort()
        sock.close()
        raise
    app = create_app(options, service)
    config = uvicorn.Config(
        app,
        http=HTTP_PROTOCOL,
        loop="asyncio",
        lifespan="on",
        access_log=False,  # ours: with the response's bytes and time (app.AccessLog)
        log_config=None,  # uvicorn's loggers as the caller set them (cli.serve: ours)
        # X-Forwarded-For trusted only from the proxies named (none by default)
        proxy_headers=bool(options.forwarded_allow_ips),
        forwarded_allow_ips=options.forwarded_allow_ips or None,
        limit_concurrency=options.max_connections,
        backlog=BACKLOG,
        timeout_graceful_shutdown=options.timeout + GRACE_S,
    )
    server = _server_class()(config)
    stopped = []
    previous = _record_signals(stopped)
    try:
        if on_listening is not None:
            on_listening(url_of(sock))
        server.run(sockets=[sock])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()
        service.close()  # already closed by the app's shutdown, unless it never started
    return stopped[0] if stopped else None


def _exit_now(signum):
    """The second signal: one line, then the process ends without waiting for anything."""
    name = signal.Signals(signum).name
    try:
        sys.stderr.write(
            f"maffsrn-serve: {name} again while stopping: exiting now, the requests in "
            "flight are dropped\n"
        )
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(128 + signum)


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but a second SIGINT or SIGTERM ends the process at once
        (uvicorn's own force exit still waits for the worker threads and the app's
        shutdown, and cancels the requests' tasks, which log a traceback)."""

        def handle_exit(self, sig, frame):
            if self.should_exit and sig in (signal.SIGINT, signal.SIGTERM):
                _exit_now(sig)
            super().handle_exit(sig, frame)

    return Server


def _record_signals(stopped):
    """While uvicorn serves, it handles SIGTERM and SIGINT itself (a clean stop); when it
    is done it raises the signal again for the handler it found, which would end the
    process with that signal. This sets handlers that note the signal instead; returns the
    handlers they replace (none outside the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def note(signum, frame):
        stopped.append(signum)

    return {sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT)}
