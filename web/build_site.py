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
``.maffsrn-site`` file that lists the files it wrote); any other folder is refused unless
``--overwrite`` is given (then it is replaced whole), and never the current folder, one that
contains it, or one that contains the sources. Over an earlier build, the files no build
wrote (a GitHub Pages ``CNAME``, a ``.nojekyll``) are kept; one that this build would
replace is refused unless ``--overwrite`` is given. Each flag is given at most once.
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
MARKER_HEAD = "written by web/build_site.py: a later build may replace this folder"
# what a build wrote before markers listed the files: these names and folders
BUILD_FOLDERS = ("wasm/", "models/", "dist/")


def _walk(folder):
    """Relative paths of the files, links and empty folders (with a trailing /) in ``folder``."""

    def unreadable(err):
        raise SystemExit(f"error: cannot read {err.filename} ({err.strerror}): it would be lost")

    found = []
    for where, dirs, files in os.walk(folder, onerror=unreadable):
        rel = os.path.relpath(where, folder)
        for name in list(dirs):
            if os.path.islink(os.path.join(where, name)):  # a link to a folder: kept as a link
                dirs.remove(name)
                files.append(name)
        found += [os.path.normpath(os.path.join(rel, n)).replace(os.sep, "/") for n in files]
        if not dirs and not files and rel != ".":
            found.append(rel.replace(os.sep, "/") + "/")
    return sorted(found)


def _earlier_build_files(out):
    """The files an earlier build in ``out`` wrote, as its marker lists them (a marker of a
    build that did not list them: the names and folders builds write)."""
    try:
        with open(os.path.join(out, MARKER), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise SystemExit(
            f"error: cannot read {os.path.join(out, MARKER)} ({err.strerror})"
        ) from None
    listed = {line for line in lines[1:] if line.strip()}
    return listed or None


def kept_files(out, written):
    """The entries of an earlier build in ``out`` that no build wrote (``written``: this
    build's files): they go into the new build as they are."""
    listed = _earlier_build_files(out)
    kept = []
    for rel in _walk(out):
        if listed is not None:
            by_build = rel in listed or rel == MARKER
        else:
            by_build = rel in written or rel.startswith(BUILD_FOLDERS)
        if not by_build:
            kept.append(rel)
    return kept


def _parents(rel):
    """``a/b/c`` -> ``a``, ``a/b``."""
    parts = rel.rstrip("/").split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _clashes(kept, written):
    """The kept entries this build would replace: one of its files' names, a file where it
    needs a folder, or an entry inside what it writes as a file."""
    files, folders = set(written), {p for w in written for p in _parents(w)}
    return [
        k
        for k in kept
        if k.rstrip("/") in files
        or (k in folders)  # a file or link (an empty folder ends in /, and is a folder)
        or any(p in files for p in _parents(k))
    ]


def check_out(out, overwrite=False):
    """``SystemExit`` with one line unless ``out`` may be (re)placed by a build."""
    if not out:
        raise SystemExit(
            "error: --out is empty: name the folder the site goes to (left out: web/site)"
        )
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
    """Write the site to ``out``; returns the files written and those kept (relative paths):
    over an earlier build, the entries no build wrote are kept (``kept_files``). An ``out``
    that is a symbolic link is written through: the folder it points to is (re)placed and
    the link stays; an existing folder keeps its mode (permissions)."""
    check_out(out, overwrite)
    if os.path.islink(out):  # the folder it names: the link itself stays as it is
        target = os.path.realpath(out)
        if os.path.islink(target):  # a loop of links: it names no folder
            raise SystemExit(f"error: --out {out} is a loop of symbolic links: name a folder")
        out = target
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
    written = sorted([*sources, "_headers", MARKER])
    kept = []
    if os.path.isfile(os.path.join(out, MARKER)):
        kept = kept_files(out, written)
        clashes = _clashes(kept, written)
        if clashes and not overwrite:
            raise SystemExit(
                f"error: --out {out} holds {', '.join(clashes[:3])}"
                + (f" (and {len(clashes) - 3} more)" if len(clashes) > 3 else "")
                + ", which no earlier build wrote and this build would replace: move "
                + ("it" if len(clashes) == 1 else "them")
                + " away, or pass --overwrite to replace "
                + ("it" if len(clashes) == 1 else "them")
            )
        kept = [k for k in kept if k not in clashes]
        odd = [k for k in kept if not k.endswith("/") and not _plain(os.path.join(out, k))]
        if odd:
            raise SystemExit(
                f"error: --out {out} holds {odd[0]}, which no earlier build wrote and which is "
                "not a file, a link or a folder to keep: move it away"
            )
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
            f.write(MARKER_HEAD + "\n" + "".join(f"{rel}\n" for rel in written if rel != MARKER))
        for rel in kept:  # what the earlier build's folder held that no build wrote
            src, dst = os.path.join(out, rel), os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dst.rstrip("/")), exist_ok=True)
            if rel.endswith("/"):
                os.makedirs(dst, exist_ok=True)
            elif os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy2(src, dst)
        # an existing folder keeps its permissions; a new one is readable by all
        os.chmod(tmp, os.stat(out).st_mode & 0o7777 if os.path.isdir(out) else 0o755)
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
    return written, kept


def _plain(path):
    return os.path.islink(path) or os.path.isfile(path) or os.path.isdir(path)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 1, as the package's commands do
        raise SystemExit(f"error: {message} (see --help)")

    def parse_args(self, args=None, namespace=None):
        namespace = super().parse_args(args, namespace)
        vars(namespace).pop("_given", None)
        return namespace


class _Once(argparse.Action):
    """A flag's value, refused when the flag is given twice (the last would silently win)."""

    def __init__(self, *args, flag=False, **kwargs):
        self.flag = flag
        super().__init__(*args, **({"nargs": 0} if flag else {}), **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        given = vars(namespace).setdefault("_given", set())
        if self.dest in given:
            parser.error(f"{self.option_strings[-1]} is given twice: give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, True if self.flag else values)


def main():
    p = _Parser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(WEB, "site"), action=_Once)
    p.add_argument(
        "--overwrite",
        default=False,
        action=_Once,
        flag=True,
        help="replace a folder that is not an earlier build, or files in one that this build "
        "writes",
    )
    a = p.parse_args()
    files, kept = build(a.out, a.overwrite)
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in files) / 2**20
    more = ""
    if kept:
        names = ", ".join(kept[:3]) + (", ..." if len(kept) > 3 else "")
        more = f"; kept {len(kept)} it did not write ({names})"
    print(f"wrote {a.out}: {len(files)} files, {size:.1f} MiB{more}; serve the folder as it is")


if __name__ == "__main__":
    main()
