"""Keep the notebooks' GitHub repository in one place: ``notebooks/REPOSITORY``.

Usage::

    python tools/notebooks.py                          # apply notebooks/REPOSITORY everywhere
    python tools/notebooks.py --repository you/maffsrn_tf   # a fork: set it, then apply it

The setting (``owner/name`` on GitHub) builds each notebook's "Open in Colab" badge (in the
notebook and in the README's table) and the ``REPOSITORY = "..."`` default of each
notebook's parameters cell, from which its install line is made
(``maffsrn_tf[tensorflow] @ git+https://github.com/REPOSITORY``). ``--check`` exits 1 when a
file disagrees with the setting (``tests/contracts/test_notebooks.py`` runs it).
"""

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTING = os.path.join(ROOT, "notebooks", "REPOSITORY")
NOTEBOOKS = ("quickstart.ipynb", "train_colab.ipynb", "tflite_export.ipynb")
BADGE = re.compile(
    r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/main/notebooks/"
)
PARAMETER = re.compile(r'^REPOSITORY = "[^"]*"', re.M)


def repository():
    with open(SETTING) as f:
        value = f.read().strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+", value):
        raise SystemExit(f"error: {SETTING} holds {value!r}, not OWNER/NAME")
    return value


def rewrite(text, repo):
    """``text`` with every badge URL and the ``REPOSITORY`` parameter set to ``repo``."""
    text = BADGE.sub(f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/", text)
    return PARAMETER.sub(f'REPOSITORY = "{repo}"', text)


def files():
    return [os.path.join(ROOT, "README.md")] + [
        os.path.join(ROOT, "notebooks", name) for name in NOTEBOOKS
    ]


def apply(repo, check=False):
    """Rewrite (or, with ``check``, list) the files that disagree with ``repo``."""
    stale = []
    for path in files():
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
        if new_text != text:
            stale.append(os.path.relpath(path, ROOT))
            if not check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new_text)
    return stale


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repository", help="OWNER/NAME on GitHub: written to notebooks/REPOSITORY")
    p.add_argument("--check", action="store_true", help="only report files that disagree")
    a = p.parse_args()
    if a.repository:
        with open(SETTING, "w") as f:
            f.write(a.repository.strip() + "\n")
    repo = repository()
    stale = apply(repo, a.check)
    for path in stale:
        print(f"{'disagrees with' if a.check else 'rewrote for'} {repo}: {path}")
    if a.check and stale:
        sys.exit(1)


if __name__ == "__main__":
    main()
