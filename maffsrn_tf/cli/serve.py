"""Upscale images over HTTP (pip install "maffsrn_tf[serve]"): POST an image, get it upscaled.

Usage::

    maffsrn-serve                                     # http://127.0.0.1:8080
    maffsrn-serve --host 0.0.0.0 --port 8080 --workers 4 --queue 16 --timeout 120
    curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' \\
        'http://127.0.0.1:8080/v1/upscale?scale=4' -o photo_x4.jpg

API: POST /v1/upscale?scale=2&quantization=int8 (also outscale, width, height, quality,
background, strip_metadata, self_ensemble; the defaults are upscale()'s: x2, float16): the
body is the image's bytes, the answer the upscaled image's bytes, in the format Accept asks
for, else the input's. GET /v1/models lists the models; GET /healthz reports health.
Refusals are JSON ({"error": ..., "status": ...}): 400 a parameter, 406 Accept, 408 a body
too slow, 413 over --max_body_mb, --max_megapixels or --max_output_megapixels, 415 not an
image (PNG, JPEG, WebP, GIF, BMP, TIFF, AVIF, ICO, TGA, PPM), 413 or 422 an image this
cannot answer in one (its text too large, or several frames), 422 not possible as asked, 503
(with Retry-After) when --uploads bodies are being received or --workers + --queue requests
are in, 504 past --timeout. A request that is not HTTP (a Content-Length that is not a
number) is refused by uvicorn's parser before it reaches the server: a plain-text 400.

The same reading, tiling, metadata and alpha handling as maffsrn-upscale, on the shipped
TFLite models (no TensorFlow). SIGTERM or Ctrl-C: no new connections, the requests in
flight are answered, then the exit status is 0; a second one exits at once (128 + the signal).
docs/serving.md has the rest (a reverse
proxy in front, memory per worker).
"""

import logging
import os
import signal
import sys

from absl import flags

from maffsrn_tf.cli.common import (
    Terminated,
    define_option_flags,
    fail,
    fail_with,
    option_aliases,
    option_values,
    run,
)
from maffsrn_tf.options import flag_name
from maffsrn_tf.serve.options import GROUPS, ServeOptions  # no Starlette at import

FLAGS = flags.FLAGS
OPTIONS = [
    "host",
    "port",
    "max_connections",
    "forwarded_allow_ips",
    "workers",
    "queue",
    "uploads",
    "num_threads",
    "max_body_bytes",
    "max_pixels",
    "max_output_pixels",
    "timeout",
    "access_log",
]
define_option_flags(ServeOptions, OPTIONS)
ALIASES = {**option_aliases(ServeOptions), "max_pixels": "max_megapixels",
           "max_body_bytes": "max_body_mb",
           "max_output_pixels": "max_output_megapixels"}  # fmt: skip


def _help_groups():
    """``--help``'s headings: the options' own groups."""
    import dataclasses

    groups = {}
    for field in dataclasses.fields(ServeOptions):
        if field.name in OPTIONS:
            groups.setdefault(field.metadata["group"], []).append(flag_name(field))
    return {g: groups[g] for g in GROUPS if g in groups}


class _Lines(logging.Formatter):
    """``TIME message`` for access lines, ``TIME warning: message`` above INFO."""

    def format(self, record):
        level = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
        text = f"{self.formatTime(record)} {level}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _log_to_stderr():
    """The server's own lines (access log, errors) on stderr, one per event; uvicorn's in
    the same format, its warnings and errors only (its start and stop notes are ours)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Lines())
    for name, level in (("maffsrn_tf.serve", logging.INFO), ("uvicorn", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


def main(argv):
    if not FLAGS.host.strip():
        fail("--host is empty: name an address (127.0.0.1, 0.0.0.0, ::) or a host name")
    try:
        options = ServeOptions(**option_values(ServeOptions, OPTIONS))
    except ValueError as err:
        fail_with(err, ALIASES)
    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.serve import run_server

    _log_to_stderr()

    def listening(url):
        print(
            f"maffsrn-serve: listening on {url} ({options.workers} workers x "
            f"{options.threads_per_worker} LiteRT threads, queue {options.queue}); "
            f"POST {url}/v1/upscale",
            file=sys.stderr,
            flush=True,
        )

    if hasattr(signal, "SIGHUP"):  # the terminal closed: stop as for SIGTERM (uvicorn's)
        signal.signal(signal.SIGHUP, lambda signum, frame: os.kill(os.getpid(), signal.SIGTERM))
    try:
        run_server(options, on_listening=listening)
    except MaffsrnError as err:
        fail_with(err, ALIASES)
    except (KeyboardInterrupt, Terminated) as err:  # while the models load: nothing served
        signum = signal.SIGINT if isinstance(err, KeyboardInterrupt) else err.signum
        words = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}.get(signum, "hung up")
        print(f"error: {words} while loading the models; nothing was served", file=sys.stderr,
              flush=True)  # fmt: skip
        os._exit(128 + signum)  # no waiting for loads
    print("maffsrn-serve: stopped", file=sys.stderr, flush=True)
    return 0


def cli():
    run(main, groups=_help_groups(), empty=("host",))


if __name__ == "__main__":
    cli()
