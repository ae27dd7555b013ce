"""Keep the notebooks' GitHub repository in one place: ``notebooks/REPOSITORY``.

Usage::

    python tools/notebooks.py                          # apply notebooks/REPOSITORY everywhere
    python tools/notebooks.py --repository you/maffsrn_tf   # a fork: set it, then apply it

The setting (``owner/name`` on GitHub) builds each notebook's "Open in Colab" badge (in the
notebook and in the README's table) and the ``REPOSITORY = "..."`` default of each
notebook's parameters cell, from which its install line is made
(``maffsrn_tf[tensorflow] @ git+https://github.com/REPOSITORY``). ``--check`` exits 1 when a
file disagrees with the setting (``tests/contracts/test_notebooks.py`` runs it) and writes
nothing, not even ``--repository``'s value (``--check --repository X``: what setting X would
change). The name is checked before anything is written (a bad one changes no file); every
file is replaced whole (a temporary file renamed over it), so a failure leaves each file as
it was or fully rewritten. Each flag is given at most once; an error is one line and exit 1.
"""

import argparse
import json
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTING = os.path.join(ROOT, "notebooks", "REPOSITORY")
NOTEBOOKS = ("quickstart.ipynb", "train_colab.ipynb", "tflite_export.ipynb")
BADGE = re.compile(
    r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/main/notebooks/"
)
PARAMETER = re.compile(r'^REPOSITORY = "[^"]*"', re.M)


def invalid(value):
    """What ``value`` is when it is not an ``OWNER/NAME`` of GitHub (``"not OWNER/NAME
    ..."``), in a few words; ``""`` when it is one."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9_.-]+", value):
        return "not OWNER/NAME (letters, digits and - in OWNER; also _ and . in NAME)"
    if value.split("/")[1] in (".", ".."):
        return "not OWNER/NAME (NAME . or .. names no repository)"
    return ""


def repository():
    """The setting of ``notebooks/REPOSITORY``; ``SystemExit`` with one line if it is
    missing or not ``OWNER/NAME``."""
    try:
        with open(SETTING, encoding="utf-8") as f:
            value = f.read().strip()
    except (OSError, UnicodeDecodeError) as err:
        raise SystemExit(
            f"error: cannot read {SETTING} ({getattr(err, 'strerror', None) or err}): set it "
            "with --repository OWNER/NAME"
        ) from None
    why = invalid(value)
    if why:
        raise SystemExit(
            f"error: {SETTING} holds {value!r}, {why}: set it with --repository OWNER/NAME"
        )
    return value


def write(path, text):
    """Replace ``path`` whole with ``text``: a temporary file beside it (the file's mode),
    renamed over it, so a failure leaves the file as it was."""
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.path.basename(path)}-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except FileNotFoundError:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def rewrite(text, repo):
    """``text`` with every badge URL and the ``REPOSITORY`` parameter set to ``repo``."""
    text = BADGE.sub(f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/", text)
    return PARAMETER.sub(f'REPOSITORY = "{repo}"', text)


def files():
    return [os.path.join(ROOT, "README.md")] + [
        os.path.join(ROOT, "notebooks", name) for name in NOTEBOOKS
    ]


def updates(repo):
    """``{path: new text}`` of the files that disagree with ``repo``; ``SystemExit`` with one
    line if one cannot be read, before anything is written."""
    changed = {}
    for path in files():
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if path.endswith(".ipynb"):
                notebook = json.loads(text)
                for cell in notebook["cells"]:
                    source = "".join(cell["source"])
                    new = rewrite(source, repo)
                    if new != source:
                        cell["source"] = new.splitlines(True)
                new_text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
            else:
                new_text = rewrite(text, repo)
        except OSError as err:
            raise SystemExit(f"error: cannot read {path} ({err.strerror})") from None
        except (ValueError, KeyError, TypeError) as err:  # not JSON, or not a notebook
            raise SystemExit(
                f"error: {path} is not a notebook this script can read ({err}): restore it "
                "(git checkout)"
            ) from None
        if new_text != text:
            changed[path] = new_text
    return changed


def apply(repo, check=False):
    """Rewrite (or, with ``check``, only list) the files that disagree with ``repo``; the
    paths, relative to the repository."""
    changed = updates(repo)
    if not check:
        for path, text in changed.items():
            write(path, text)
    return [os.path.relpath(path, ROOT) for path in changed]


class _Parser(argparse.ArgumentParser):
    """Flags written in full only, each at most once, every word used; an error is one line
    and exit 1 (argparse's own: a usage line too, and exit 2)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):
        raise SystemExit(f"error: {message} (see --help)")

    def parse_args(self, args=None, namespace=None):
        words = sys.argv[1:] if args is None else list(args)
        if len(words) > 1 and any(w in ("-h", "--help") for w in words):
            self.error("--help is answered alone: give it without other words")
        seen = set()
        for word in words:
            flag = word.split("=", 1)[0]
            if flag.startswith("--") and flag in seen:
                self.error(f"{flag} is given twice: give it once")
            seen.add(flag)
        return super().parse_args(args, namespace)


def main(argv=None):
    p = _Parser(description=__doc__.split("\n")[0])
    p.add_argument("--repository", help="OWNER/NAME on GitHub: written to notebooks/REPOSITORY")
    p.add_argument(
        "--check", action="store_true", help="only report files that disagree; write nothing"
    )
    a = p.parse_args(argv)
    if a.repository is not None:
        repo = a.repository.strip()
        why = invalid(repo)
        if why:  # before anything is written
            raise SystemExit(
                f"error: --repository {a.repository!r} is {why}: give your fork's OWNER/NAME, "
                "e.g. you/maffsrn_tf"
            )
    else:
        repo = repository()
    try:
        stale = apply(repo, a.check)
        if a.repository is not None:
            try:
                with open(SETTING, encoding="utf-8") as f:
                    setting_stale = f.read() != repo + "\n"
            except (OSError, UnicodeDecodeError):
                setting_stale = True
            if setting_stale:
                if not a.check:
                    write(SETTING, repo + "\n")
                stale.append(os.path.relpath(SETTING, ROOT))
    except OSError as err:
        raise SystemExit(
            f"error: cannot write {err.filename or 'a file'} ({err.strerror}); the files "
            "written before it are whole, rerun once it can be written"
        ) from None
    for path in stale:
        print(f"{'disagrees with' if a.check else 'rewrote for'} {repo}: {path}")
    if a.check and stale:
        sys.exit(1)


if __name__ == "__main__":
    main()
