"""The documentation's relative links lead somewhere: every ``[text](path)`` in the README,
docs/, tflite/, web/ and android/ names a file or folder of the repository."""

import glob
import os
import re

from conftest import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_resolves():
    pages = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "CHANGELOG.md")]
    for folder in ("docs", "tflite", "web", "android"):
        pages += glob.glob(os.path.join(ROOT, folder, "*.md"))
    assert len(pages) >= 8
    broken = []
    for page in pages:
        with open(page, encoding="utf-8") as f:
            text = f.read()
        for match in LINK.finditer(text):
            target = match.group(1)
            if "://" in target or target.startswith("mailto:"):
                continue
            if not os.path.exists(os.path.join(os.path.dirname(page), target)):
                broken.append(f"{os.path.relpath(page, ROOT)}: {target}")
    assert broken == []
