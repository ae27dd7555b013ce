"""Build the web page as one self-contained folder any static host can serve (``make web-dist``).

    python web/build_site.py [--out web/site]

The folder holds the page, its bundled worker, LiteRT.js's wasm files, the six 128-pixel
models the page offers and the tiling numbers it runs them with (``tiling.json``, a copy of
``maffsrn_tf/model/tiling.json``), and refers to nothing outside itself: every path in it is
relative, so it works under any path prefix (``https://USER.github.io/REPO/``). ``_headers``
lists the response headers the page should get, in the format Netlify and Cloudflare Pages
read (GitHub Pages sets its own). Written to a temporary folder beside ``--out``, then renamed
into place. Run ``npm ci && npm run build`` in ``web/`` first (``make web-dist`` does).

``--out`` must be a new or empty folder, or an earlier build (each build is marked by a
``.maffsrn-site`` file); any other folder is refused unless ``--overwrite`` is given, and
never the current folder, one that contains it, or one that contains the sources.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile

WEB = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(WEB)
sys.path.insert(0, WEB)
from serve import HEADERS  # noqa: E402

WASM = os.path.join(WEB, "node_modules", "@litertjs", "core", "wasm")
WEIGHTS = os.path.join(ROOT, "maffsrn_tf", "weights")
MODELS = [f"maffsrn_x{s}_{q}_128px.tflite" for s in (2, 3, 4) for q in ("int8", "float16")]
# the page's <meta> settings, as the site lays the files out
SETTINGS = {"maffsrn-models": "models/", "litert-wasm": "wasm/", "maffsrn-tiling": "tiling.json"}


def _page():
    with open(os.path.join(WEB, "index.html"), encoding="utf-8") as f:
        html = f.read()
    for name, value in SETTINGS.items():
        html, n = re.subn(rf'(<meta name="{name}" content=")[^"]*(">)', rf"\g<1>{value}\g<2>", html)
        if n != 1:
            raise SystemExit(f'error: web/index.html has no <meta name="{name}">')
    return html


MARKER = ".maffsrn-site"


def check_out(out, overwrite=False):
    """``SystemExit`` with one line unless ``out`` may be (re)placed by a build."""
    real = os.path.realpath(out)
    for inside, what in ((os.getcwd(), "the current folder"), (WEB, "the page's sources")):
        if os.path.commonpath([real, os.path.realpath(inside)]) == real:
            raise SystemExit(f"error: --out {out} is {what} or contains it: name a new folder")
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        raise SystemExit(f"error: --out {out} is a file, not a folder: name a new folder")
    names = os.listdir(out)
    in_repository = os.path.commonpath([real, os.path.realpath(ROOT)]) == os.path.realpath(ROOT)
    if names and MARKER not in names and in_repository:  # the sources: even with --overwrite
        raise SystemExit(
            f"error: --out {out} is a folder of this repository that is not an earlier build: "
            "name a new or empty folder"
        )
    if names and MARKER not in names and not overwrite:
        raise SystemExit(
            f"error: --out {out} holds {len(names)} entries that are not an earlier build of "
            "this page: name a new or empty folder, or pass --overwrite to replace it"
        )


def build(out, overwrite=False):
    """Write the site to ``out``; returns the files written (relative paths)."""
    check_out(out, overwrite)
    sources = {
        "index.html": None,
        "app.js": os.path.join(WEB, "app.js"),
        "style.css": os.path.join(WEB, "style.css"),
        "dist/worker.js": os.path.join(WEB, "dist", "worker.js"),
        "tiling.json": os.path.join(ROOT, "maffsrn_tf", "model", "tiling.json"),
    }
    if not os.path.isdir(WASM) or not os.path.isfile(sources["dist/worker.js"]):
        raise SystemExit("error: web/ is not built: run `make web-dist` (npm ci, npm run build)")
    for name in sorted(os.listdir(WASM)):
        if name.endswith((".js", ".wasm")):
            sources[f"wasm/{name}"] = os.path.join(WASM, name)
    for name in MODELS:
        path = os.path.join(WEIGHTS, name)
        if not os.path.isfile(path):
            raise SystemExit(f"error: {path} is missing (make tflite writes it)")
        sources[f"models/{name}"] = path
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-site-", dir=parent)
    try:
        for rel, src in sources.items():
            dst = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if src is None:
                with open(dst, "w", encoding="utf-8") as f:
                    f.write(_page())
            else:
                shutil.copyfile(src, dst)
        with open(os.path.join(tmp, "_headers"), "w", encoding="utf-8") as f:
            f.write("/*\n" + "".join(f"  {k}: {v}\n" for k, v in HEADERS.items()))
        with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as f:
            f.write("written by web/build_site.py: a later build may replace this folder\n")
        os.chmod(tmp, 0o755)
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix=".tmp-old-site-", dir=parent)
            os.rename(out, os.path.join(old, "site"))
            os.rename(tmp, out)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)
    except OSError as err:
        raise SystemExit(f"error: cannot write {out} ({err.strerror}: {err.filename})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted([*sources, "_headers", MARKER])


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 1, as the package's commands do
        raise SystemExit(f"error: {message} (see --help)")


def main():
    p = _Parser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(WEB, "site"))
    p.add_argument(
        "--overwrite", action="store_true", help="replace a folder that is not an earlier build"
    )
    a = p.parse_args()
    files = build(a.out, a.overwrite)
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in files) / 2**20
    print(f"wrote {a.out}: {len(files)} files, {size:.1f} MiB; serve the folder as it is")


if __name__ == "__main__":
    main()
