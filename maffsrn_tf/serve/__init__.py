"""The serve wing: MAFFSRN over HTTP (``maffsrn-serve``), on the light install (no TensorFlow).

- ``options``: ``ServeOptions``, every setting of the server (address, workers, queue,
  limits), its one default, type, check and help.
- ``service``: the work of a request without HTTP: its options from the query, the output
  format from ``Accept``, ``upscale_bytes`` (``maffsrn-upscale``'s path for one file, on
  bytes), the errors with their HTTP status (``ServeError``), and the worker pool
  (``Service``: threads, a bounded queue, models loaded once per worker).
- ``app``: the Starlette app, ``create_app(options)``, and its access log.
- ``server``: ``run_server(options)``, uvicorn until SIGTERM/SIGINT, then a clean stop.

Starlette and uvicorn (``pip install "maffsrn_tf[serve]"``) are imported only when an app
is made or served: importing the wing needs neither.

May import: ``maffsrn_tf.errors``, ``maffsrn_tf.io``, ``maffsrn_tf.model``,
``maffsrn_tf.upscaler``.
"""

from maffsrn_tf.serve.app import create_app
from maffsrn_tf.serve.options import ServeOptions
from maffsrn_tf.serve.server import run_server
from maffsrn_tf.serve.service import ServeError, Service, upscale_bytes

__all__ = ["ServeError", "ServeOptions", "Service", "create_app", "run_server", "upscale_bytes"]
