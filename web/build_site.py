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
contains it, one that contains the sources, nor one that is, holds or lies inside a folder
the build reads (``web/src``, ``web/dist``, ``web/node_modules``, ``maffsrn_tf/weights``,
``maffsrn_tf/model``), compared by real paths whatever the spelling (``..``, links, a
trailing slash). An ``--out`` that is a symbolic link is written through, spelled
``link`` or ``link/``. Over an earlier build, the files no build
wrote (a GitHub Pages ``CNAME``, a ``.nojekyll``) are kept; one that this build would
replace is refused unless ``--overwrite`` is given; kept folders keep their modes. Each
flag is given at most once. Ctrl-C or SIGTERM ends with one line and 130/143, the temporary
folder removed (one a killed build left beside ``--out`` goes with the next build).
"""

import os
import signal


def _stopped_while_starting(signum, frame):
    """Ctrl-C or SIGTERM before the build has begun: one line, nothing written yet."""
    words = "interrupted" if signum == signal.SIGINT else "terminated"
    os.write(2, f"error: {words} while starting; nothing was written\n".encode())
    os._exit(128 + signum)


if __name__ == "__main__":  # from the first moment: not when a test imports this file
    for _signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signal, _stopped_while_starting)

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

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
    build's files): they go into the new build as they are. The marker's list is believed
    only for names a build writes (this build's, or in its folders): a hand-edited marker
    naming ``CNAME`` or ``notes/`` never has them dropped."""
    listed = _earlier_build_files(out)
    kept = []
    for rel in _walk(out):
        ours = rel in written or rel.startswith(BUILD_FOLDERS)
        by_build = rel == MARKER or (ours and (listed is None or rel in listed))
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


# the folders the build reads (web/src: what `npm run build` bundles into web/dist): a site
# written in one, or over one, would change or replace what it is built from. web/ itself
# holds the page's files, not folders: the default --out web/site lies in it
READ_FOLDERS = (
    os.path.join(WEB, "src"),
    os.path.join(WEB, "dist"),
    os.path.join(WEB, "node_modules"),
    WEIGHTS,
    os.path.join(ROOT, "maffsrn_tf", "model"),
)


def _refuse_what_the_build_reads(out, real):
    """``SystemExit`` with one line if ``out`` (``real``: its real path) is, contains or lies
    inside a folder the build reads (``READ_FOLDERS``), compared by real paths."""
    for folder in READ_FOLDERS:
        source = os.path.realpath(folder)
        common = os.path.commonpath([real, source])
        if common not in (real, source):
            continue
        how = "is" if real == source else "contains" if common == real else "lies inside"
        raise SystemExit(
            f"error: --out {out} {how} {os.path.relpath(folder, ROOT)}, a folder the build "
            "reads: name a folder outside it (left out: web/site)"
        )


def check_out(out, overwrite=False):
    """``SystemExit`` with one line unless ``out`` may be (re)placed by a build."""
    if not out:
        raise SystemExit(
            "error: --out is empty: name the folder the site goes to (left out: web/site)"
        )
    parent = os.path.dirname(os.path.abspath(out))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise SystemExit(f"error: --out's folder {parent} is a file, not a folder: name a folder")
    real = os.path.realpath(out)  # whatever the spelling: .., links, a trailing slash
    for inside, what in ((os.getcwd(), "the current folder"), (WEB, "the page's sources")):
        if os.path.commonpath([real, os.path.realpath(inside)]) == real:
            raise SystemExit(f"error: --out {out} is {what} or contains it: name a new folder")
    names = []
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise SystemExit(f"error: --out {out} is a file, not a folder: name a new folder")
        names = os.listdir(out)
    in_repository = os.path.commonpath([real, os.path.realpath(ROOT)]) == os.path.realpath(ROOT)
    if names and MARKER not in names and in_repository:  # the sources: even with --overwrite
        raise SystemExit(
            f"error: --out {out} is a folder of this repository that is not an earlier build: "
            "name a new or empty folder"
        )
    _refuse_what_the_build_reads(out, real)
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
    link = out.rstrip("/" + os.sep) or out  # link/ names the folder too: written through alike
    if os.path.islink(link):  # the folder it names: the link itself stays as it is
        target = os.path.realpath(link)
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
    try:
        os.makedirs(parent, exist_ok=True)
        remove_stale_temporaries(parent)
        tmp = tempfile.mkdtemp(prefix=f"{TEMPORARY}p{os.getpid()}-", dir=parent)
    except OSError as err:
        raise SystemExit(
            f"error: cannot write in --out's folder {parent} ({err.strerror}): name a folder "
            "you can write to"
        ) from None
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
        if os.path.isdir(out):  # a folder the earlier build had keeps its mode
            _keep_folder_modes(out, tmp)
        # an existing folder keeps its permissions; a new one is readable by all
        os.chmod(tmp, os.stat(out).st_mode & 0o7777 if os.path.isdir(out) else 0o755)
        with _signals_held():  # the swap is not cut in two by Ctrl-C or SIGTERM
            if os.path.exists(out):
                old = tempfile.mkdtemp(prefix=f"{OLD_TEMPORARY}p{os.getpid()}-", dir=parent)
                os.rename(out, os.path.join(old, "site"))
                try:
                    os.rename(tmp, out)
                except OSError:
                    os.rename(os.path.join(old, "site"), out)  # the earlier build goes back
                    raise
                _remove(old)
            else:
                os.rename(tmp, out)
    except OSError as err:
        raise SystemExit(f"error: cannot write {out} ({err.strerror}: {err.filename})") from None
    finally:
        with _signals_held():
            _remove(tmp)
    return written, kept


TEMPORARY, OLD_TEMPORARY = ".tmp-site-", ".tmp-old-site-"
# a build's temporary folders name its process: .tmp-site-p1234-k3j4h5g6
_OURS = re.compile(r"^\.tmp-(?:old-)?site-p(\d+)-[a-z0-9_]{8}$")
# those of builds before the process was named: removed once a day old
_OURS_UNNAMED = re.compile(r"^\.tmp-(?:old-)?site-[a-z0-9_]{8}$")
STALE_SECONDS = 24 * 3600


def _gone(pid):
    """Whether no process ``pid`` runs (one of another user's is there: not gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_stale_temporaries(parent):
    """Remove the temporary folders killed builds left in ``parent``: only folders named as
    a build names them, of a process that is gone (or, unnamed, a day old). The names removed."""
    removed = []
    for name in sorted(os.listdir(parent)):
        path = os.path.join(parent, name)
        ours = _OURS.match(name)
        try:
            if os.path.islink(path) or not os.path.isdir(path):
                continue
            if ours:
                stale = int(ours.group(1)) != os.getpid() and _gone(int(ours.group(1)))
            else:
                stale = bool(_OURS_UNNAMED.match(name)) and (
                    time.time() - os.path.getmtime(path) > STALE_SECONDS
                )
        except OSError:
            continue
        if stale:
            _remove(path)
            removed.append(name)
    return removed


def _remove(path):
    """Remove the folder ``path`` and all in it, folders without write permission included
    (a kept folder of mode 0500); what cannot be removed stays, silently."""
    if not os.path.isdir(path) or os.path.islink(path):
        return

    def writable(folder):
        try:
            if not os.path.islink(folder):
                os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) | 0o700)
        except OSError:
            pass

    writable(path)
    for where, dirs, _ in os.walk(path):  # top down: each folder opened before it is walked
        for name in dirs:
            writable(os.path.join(where, name))
    shutil.rmtree(path, ignore_errors=True)


def _keep_folder_modes(out, tmp):
    """Give each folder in ``tmp`` that ``out`` also has (not a link) ``out``'s folder's
    mode: a kept ``private/`` of mode 0700 stays 0700. Deepest first, so that a folder
    without write or search permission does not stop the ones inside it."""
    folders = [os.path.relpath(os.path.join(w, d), tmp) for w, ds, _ in os.walk(tmp) for d in ds]
    for rel in sorted(folders, key=lambda r: -r.count(os.sep)):
        src = os.path.join(out, rel)
        if os.path.isdir(src) and not os.path.islink(src):
            os.chmod(os.path.join(tmp, rel), stat.S_IMODE(os.stat(src).st_mode))


class _signals_held:
    """Ctrl-C and SIGTERM wait (blocked) for the block's end, then act."""

    HELD = {signal.SIGINT, signal.SIGTERM}

    def __enter__(self):
        self.before = signal.pthread_sigmask(signal.SIG_BLOCK, self.HELD)

    def __exit__(self, *exc):
        signal.pthread_sigmask(signal.SIG_SETMASK, self.before)


class _Terminated(BaseException):
    """SIGTERM, raised where the build is, so that its temporary folder is removed."""


def _terminate(signum, frame):
    raise _Terminated()


def _plain(path):
    return os.path.islink(path) or os.path.isfile(path) or os.path.isdir(path)


class _Parser(argparse.ArgumentParser):
    """Flags written in full only (``--ou`` is not ``--out``), and every word used: what is
    left over is one line naming it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):  # one line and exit 1, as the package's commands do
        raise SystemExit(f"error: {message} (see --help)")

    def parse_args(self, args=None, namespace=None):
        words = sys.argv[1:] if args is None else list(args)
        flags = words[: words.index("--")] if "--" in words else words
        if len(words) > 1 and any(w in ("-h", "--help") for w in flags):
            self.error("--help is answered alone: give it without other words")
        namespace, rest = self.parse_known_args(args, namespace)
        if rest:
            self.error(_leftover(self, rest))
        vars(namespace).pop("_given", None)
        return namespace


def _leftover(parser, words):
    """What a parser says of ``words`` it did not take: the first word that looks like a
    flag (with the flag it abbreviates, which is not taken), else the first word."""
    flag = next((w for w in words if w.startswith("-") and w not in ("-", "--")), None)
    if flag is None:
        return f"unrecognized arguments: {' '.join(words)}; this script takes flags only"
    name = flag.split("=", 1)[0]
    full = sorted(
        o for o in parser._option_string_actions if o.startswith("--") and o.startswith(name)
    )
    if name.startswith("--") and full:
        return (
            f"unknown flag {name!r}: flags are not abbreviated; write {' or '.join(full)} in full"
        )
    return f"unknown flag {name!r}"


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


def _last_words(words, code):
    """One line and ``code``: no partial site is left (a build that was already in place
    when the signal came stays)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _signals_held.HELD)  # no second one mid-line
    print(f"error: {words}; no partial site is left behind", file=sys.stderr)
    sys.stderr.flush()
    os._exit(code)


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
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the build cleans up, then ends
    signal.signal(signal.SIGTERM, _terminate)
    try:
        files, kept = build(a.out, a.overwrite)
        size = sum(os.path.getsize(os.path.join(a.out, f)) for f in files) / 2**20
    except KeyboardInterrupt:
        _last_words("interrupted", 130)
    except _Terminated:
        _last_words("terminated", 143)
    except OSError as err:  # one not foreseen: still one line
        raise SystemExit(
            f"error: cannot write {a.out} ({err.strerror or err}: {err.filename})"
        ) from None
    more = ""
    if kept:
        names = ", ".join(kept[:3]) + (", ..." if len(kept) > 3 else "")
        more = f"; kept {len(kept)} it did not write ({names})"
    print(f"wrote {a.out}: {len(files)} files, {size:.1f} MiB{more}; serve the folder as it is")


if __name__ == "__main__":
    main()
