"""Serve the web page and the package's models on 127.0.0.1 (``make web``).

    python web/serve.py [--port 8000]

Serves the repository root (the page at /web/, its LiteRT.js wasm files from
web/node_modules/, the models from maffsrn_tf/weights/) and prints the page's URL.
"""

import argparse
import functools
import http.server
import os
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".tflite": "application/octet-stream",
    }

    def log_message(self, *args):  # quiet: the URL is what the user needs
        pass


def serve(port=0):
    """Start a server thread; returns ``(server, url of the page)``."""
    handler = functools.partial(Handler, directory=ROOT)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/web/index.html"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=8000)
    a = p.parse_args()
    if not os.path.exists(os.path.join(ROOT, "web", "dist", "worker.js")):
        raise SystemExit(
            "error: web/dist/worker.js is missing; run `make web` (npm ci && npm run build)"
        )
    server, url = serve(a.port)
    print(f"MAFFSRN web page: {url}  (Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
