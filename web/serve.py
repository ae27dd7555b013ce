"""Serve the web page and the package's models on 127.0.0.1 (``make web``).

    python web/serve.py [--port 8000]

Serves only what the page needs — the page (``/web/index.html``, ``app.js``, ``style.css``),
its built worker (``/web/dist/``), LiteRT.js's wasm files, the package's ``.tflite`` models
and its tiling numbers (``/maffsrn_tf/model/tiling.json``) — with the headers a page that runs
WebAssembly should have, and prints the page's URL. Everything else (the repository, ``.git``,
folder listings) is a 404.
"""

import argparse
import functools
import http.server
import os
import posixpath
import sys
import threading
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = "/web/index.html"

# exact files, and folders whose files (of these extensions) are served; nothing else
FILES = {"/web/index.html", "/web/app.js", "/web/style.css", "/maffsrn_tf/model/tiling.json"}
FOLDERS = {
    "/web/dist/": (".js", ".map"),
    "/web/node_modules/@litertjs/core/wasm/": (".js", ".wasm"),
    "/maffsrn_tf/weights/": (".tflite",),
}

# What the page needs: its own scripts and styles, WebAssembly compilation, a Web Worker,
# images the user picks (blob:/data: URLs), fetches of its own models; nothing from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
    "img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def allowed(url_path):
    """Whether ``url_path`` (the request's path, decoded) is one of the served files."""
    path = posixpath.normpath(url_path)
    if path != url_path.rstrip("/") or "\\" in path or "\0" in path:
        return False  # ".." segments, doubled slashes and the like are never served
    if path in FILES:
        return True
    for folder, extensions in FOLDERS.items():
        if path.startswith(folder) and "/" not in path[len(folder) :]:
            return path.endswith(extensions)
    return False


def inside_root(local):
    """Whether the file at ``local`` is, by its real path, one of the served files: a symbolic
    link among them (``web/dist/x.js -> /etc/passwd``, or ``-> ../../.git/config``) is never
    followed out of them."""
    real, root = os.path.realpath(local), os.path.realpath(ROOT)
    if not real.startswith(root.rstrip(os.sep) + os.sep):
        return False
    return allowed("/" + os.path.relpath(real, root).replace(os.sep, "/"))


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".tflite": "application/octet-stream",
    }

    def end_headers(self):
        for name, value in HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def send_head(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if path in ("", "/", "/web", "/web/"):
            self.send_response(302)
            self.send_header("Location", PAGE)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        local = self.translate_path(self.path)
        if not allowed(path) or not os.path.isfile(local) or not inside_root(local):
            self.send_error(404, "Not Found")
            return None
        return super().send_head()

    def list_directory(self, path):  # never list a folder
        self.send_error(404, "Not Found")
        return None

    def log_message(self, *args):  # quiet: the URL is what the user needs
        pass


def serve(port=0):
    """Start a server thread; returns ``(server, url of the page)``. ``OSError`` when the
    port cannot be bound."""
    handler = functools.partial(Handler, directory=ROOT)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}{PAGE}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=8000, help="0: any free port")
    a = p.parse_args()
    if not 0 <= a.port <= 65535:
        sys.exit(f"error: --port must be in 0..65535, got {a.port}")
    if not os.path.exists(os.path.join(ROOT, "web", "dist", "worker.js")):
        sys.exit("error: web/dist/worker.js is missing; run `make web` (npm ci && npm run build)")
    try:
        server, url = serve(a.port)
    except OSError as err:
        sys.exit(
            f"error: cannot serve on 127.0.0.1:{a.port} ({err.strerror}); "
            "pass another --port (0 picks a free one)"
        )
    print(f"MAFFSRN web page: {url}  (Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
