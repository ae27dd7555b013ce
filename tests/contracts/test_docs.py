"""The documentation's relative links lead somewhere: every ``[text](path)`` and
``![image](path)`` in the README, docs/, tflite/, web/ and android/ names a file or folder of
the repository; and the package description (setup.py's long_description, the README) has
only absolute links, which work on a package index page too."""

import ast
import glob
import os
import re
import subprocess
import sys

from conftest import ROOT

# [text](target) and ![alt](target), an optional "title" after the target; the anchor apart
LINK = re.compile(r"\]\(\s*<?([^)#\s>]*)(?:#[^)\s]*)?>?(?:\s+\"[^\"]*\")?\s*\)")
# reference definitions ([name]: target) and HTML attributes (<img src="...">, <a href="...">)
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?([^\s>#]*)", re.M)
ATTRIBUTE = re.compile(r"\b(?:src|href)=[\"']([^\"'#]*)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)#\s>]+)")
REPOSITORY_URL = "https://github.com/maffsrn-tf/maffsrn_tf"


def pages():
    found = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "CHANGELOG.md")]
    for folder in ("docs", "tflite", "web", "android"):
        found += glob.glob(os.path.join(ROOT, folder, "*.md"))
    return found


def relative_targets(text):
    """Every relative link and image target of a markdown text (code left out;
    anchors dropped; a link that is only an anchor left out)."""
    text = CODE.sub("", FENCE.sub("", text))
    for pattern in (LINK, REFERENCE, ATTRIBUTE):
        for match in pattern.finditer(text):
            target = match.group(1)
            if target and not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target):
                yield target


def test_every_relative_link_and_image_resolves():
    assert len(pages()) >= 8
    broken, checked = [], 0
    for page in pages():
        with open(page, encoding="utf-8") as f:
            text = f.read()
        images = set(IMAGE.findall(FENCE.sub("", text)))
        for target in relative_targets(text):
            checked += 1
            path = os.path.normpath(os.path.join(os.path.dirname(page), target))
            inside = path == ROOT or path.startswith(ROOT + os.sep)
            exists = os.path.isfile(path) if target in images else os.path.exists(path)
            if target.startswith("/") or not inside or not exists:
                broken.append(f"{os.path.relpath(page, ROOT)}: {target}")
    assert broken == []
    assert checked >= 30  # the patterns still find the links


def test_link_patterns_find_images_titles_references_and_html():
    text = (
        '![a](docs/x.png "t") [b](tflite/REPORT.md#h) [c](#only) [d](https://x.org/y)\n'
        '[ref]: docs/model.md\n<img src="docs/web_page.png"> `[e](in/code.md)`\n'
        "```\n[f](fenced.md)\n```\n"
    )
    found = list(relative_targets(text))
    assert found == ["docs/x.png", "tflite/REPORT.md", "docs/model.md", "docs/web_page.png"]


def absolute_links():
    """setup.py's ``absolute_links`` (setup.py itself runs ``setup()`` when imported), and
    the ``url`` its ``setup()`` call gives."""
    path = os.path.join(ROOT, "setup.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    keep = [
        node
        for node in tree.body
        if (isinstance(node, ast.Import) and all(a.name in ("re", "posixpath") for a in node.names))
        or (isinstance(node, ast.FunctionDef) and node.name == "absolute_links")
    ]
    assert any(isinstance(node, ast.FunctionDef) for node in keep), "setup.py: absolute_links"
    namespace = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), namespace)
    (call,) = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"
    ]
    keywords = {k.arg: k.value for k in call.keywords}
    url = ast.literal_eval(keywords["url"])
    description = ast.unparse(keywords["long_description"])
    return namespace["absolute_links"], url, description


def test_setup_rewrites_relative_links_for_the_package_index():
    rewrite, url, description = absolute_links()
    assert url == REPOSITORY_URL
    assert description.startswith("absolute_links(") and "README.md" in description
    blob, raw = f"{url}/blob/main/", "https://raw.githubusercontent.com/maffsrn-tf/maffsrn_tf/main/"
    text = (
        "![shot](docs/web_page.png) [card](docs/MODEL_CARD.md) [b](docs/model.md#backends)\n"
        "[![badge](https://x.org/b.svg)](https://x.org/nb) [top](#install) [f](./tflite/)\n"
        "[![local](docs/sample_x2_compare.png)](docs/benchmarks.md) [m](mailto:a@b.c)\n"
        "```bash\npip install x  # [not](a/link.md)\n```\nafter [it](LICENSE)\n"
    )
    assert rewrite(text) == (
        f"![shot]({raw}docs/web_page.png) [card]({blob}docs/MODEL_CARD.md) "
        f"[b]({blob}docs/model.md#backends)\n"
        f"[![badge](https://x.org/b.svg)](https://x.org/nb) [top](#install) "
        f"[f]({url}/tree/main/tflite/)\n"
        f"[![local]({raw}docs/sample_x2_compare.png)]({blob}docs/benchmarks.md) [m](mailto:a@b.c)\n"
        f"```bash\npip install x  # [not](a/link.md)\n```\nafter [it]({blob}LICENSE)\n"
    )


def test_package_description_has_no_relative_link():
    """The README as the index shows it: every link absolute, every repository link to a
    file that exists (``setup.py --long-description`` prints it without building)."""
    run = subprocess.run([sys.executable, "setup.py", "--long-description"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    description = run.stdout
    assert "## Install" in description
    assert list(relative_targets(description)) == []
    prefixes = (f"{REPOSITORY_URL}/blob/main/", f"{REPOSITORY_URL}/tree/main/",
                "https://raw.githubusercontent.com/maffsrn-tf/maffsrn_tf/main/")  # fmt: skip
    ours = 0
    for target in re.findall(r"\]\((https://[^)\s#]+)", description):
        for prefix in prefixes:
            if target.startswith(prefix):
                ours += 1
                assert os.path.exists(os.path.join(ROOT, target[len(prefix) :])), target
    assert ours >= 10


def test_tflite_readme_lists_the_float16_x2_model_s_ops_as_its_report_does():
    """tflite/README.md names the builtin ops of ``maffsrn_x2_float16.tflite``: the same
    set as tflite/REPORT.json's ``ops`` for that file (it had named SLICE, not GATHER)."""
    import json
    import re

    with open(os.path.join(ROOT, "tflite", "REPORT.json")) as f:
        rows = json.load(f)
    ops = next(r["ops"] for r in rows if r["file"] == "maffsrn_x2_float16.tflite")
    with open(os.path.join(ROOT, "tflite", "README.md")) as f:
        text = f.read()
    listed = text[text.index("The float16 x2 model uses") : text.index("the full list per file")]
    assert sorted(set(re.findall(r"`([A-Z0-9_]+)`", listed))) == sorted(set(ops))
