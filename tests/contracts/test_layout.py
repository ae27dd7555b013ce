"""The package's layout stays as it was laid out: wings that import only what their front
doors allow, no import circles, no private name used across wings, libraries that speak
Python (never a command-line flag) in their errors, one base exception, one training config
that the command line, ``train()``, ``flags.json`` and the model card share."""

import ast
import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

PACKAGE = os.path.join(ROOT, "maffsrn_tf")
# the wings: each folder of the package with an __init__.py (the shipped files are data)
WINGS = sorted(
    name
    for name in os.listdir(PACKAGE)
    if os.path.isfile(os.path.join(PACKAGE, name, "__init__.py"))
)


def _modules():
    """``{node: [paths]}``: each top-level module of the package, each wing as one node."""
    nodes = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            nodes.setdefault(_node(parts), []).append(path)
    return nodes


def _node(parts):
    if len(parts) >= 2 and parts[1] in WINGS:
        return ".".join(parts[:2])
    return ".".join(parts[:2]) if len(parts) >= 2 else parts[0]


def _imports(path):
    """``(line, module, names)`` of each ``maffsrn_tf`` import in a file, inside functions as
    well as at the top (``names``: what a ``from`` import takes from the module)."""
    for stmt in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                yield stmt.lineno, alias.name, []
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            yield stmt.lineno, stmt.module, [a.name for a in stmt.names]


def import_graph():
    """``{node: {imported node: (path, line)}}`` over every import in the package's files."""
    nodes = _modules()
    graph = {}
    for node, paths in nodes.items():
        for path in paths:
            for line, module, names in _imports(path):
                # `from maffsrn_tf import errors` imports the module errors
                for name in [f"{module}.{n}" for n in names] + [module]:
                    parts = name.split(".")
                    if parts[0] != "maffsrn_tf":
                        continue
                    target = _node(parts)
                    if target not in nodes:  # an attribute: the module it lives in
                        target = _node(parts[:-1])
                    if target in nodes and target != node:
                        graph.setdefault(node, {}).setdefault(target, (path, line))
    return graph


def find_cycle(graph):
    """One import cycle as a list of nodes, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph.get(node, {}):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "maffsrn_tf.model" in graph and "maffsrn_tf.cli" in graph  # the graph is real
    cycle = find_cycle(graph) or []
    where = [f"{a} -> {b} ({graph[a][b][0]}:{graph[a][b][1]})" for a, b in zip(cycle, cycle[1:])]
    assert not cycle, "import cycle: " + "; ".join(where)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b": 0}, "b": {"c": 0}, "c": {"a": 0}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 0}, "b": {"c": 0}}) is None


# what every wing may use besides what its docstring lists: the lazy names, the options
# objects' fields, the version, the filter of TensorFlow's and LiteRT's start-up lines
ALWAYS_ALLOWED = {
    "maffsrn_tf.lazy",
    "maffsrn_tf.native_logs",
    "maffsrn_tf.options",
    "maffsrn_tf.version",
}


def allowed_imports(wing):
    """What a wing's front door says it may import: the ``maffsrn_tf.*`` names of the
    ``May import:`` paragraph of its ``__init__`` docstring ("every wing": all of them)."""
    init = os.path.join(PACKAGE, wing, "__init__.py")
    doc = ast.get_docstring(ast.parse(open(init).read())) or ""
    match = re.search(r"^May import: (.*?)(?:\n\n|\Z)", doc, re.M | re.S)
    assert match, f"maffsrn_tf/{wing}/__init__.py: the docstring has no 'May import:' paragraph"
    if match.group(1).strip().rstrip(".") == "every wing":
        return (
            {f"maffsrn_tf.{w}" for w in WINGS}
            | {"maffsrn_tf.errors", "maffsrn_tf"}
            | ALWAYS_ALLOWED
        )
    return set(re.findall(r"``(maffsrn_tf\.\w+)``", match.group(1))) | ALWAYS_ALLOWED


def wing_violations():
    """``wing -> target (path:line)`` for each import a wing's front door does not allow."""
    found = []
    for node, targets in import_graph().items():
        wing = node.split(".")[1] if "." in node else None
        if wing not in WINGS:
            continue
        allowed = allowed_imports(wing)
        for target, (path, line) in sorted(targets.items()):
            if target not in allowed:
                found.append(f"{node} -> {target} ({os.path.relpath(path, ROOT)}:{line})")
    return found


def test_each_wing_imports_only_what_its_front_door_allows():
    assert set(WINGS) >= {"io", "imaging", "model", "pretrained", "data", "train"}
    assert allowed_imports("io") == {"maffsrn_tf.errors"} | ALWAYS_ALLOWED
    assert "maffsrn_tf.upscaler" not in allowed_imports("model")
    assert wing_violations() == []


def test_the_wing_rules_catch_a_forbidden_import(tmp_path, monkeypatch):
    """The rule is real: a model module importing the upscaler is reported."""
    bad = os.path.join(PACKAGE, "model", "_layout_probe.py")
    with open(bad, "w") as f:
        f.write("from maffsrn_tf.upscaler import upscale\n")
    try:
        assert wing_violations() == [
            "maffsrn_tf.model -> maffsrn_tf.upscaler (maffsrn_tf/model/_layout_probe.py:1)"
        ]
    finally:
        os.unlink(bad)


def private_imports(paths, own=None):
    """``path:line: module.name`` for each private name (``_name``) imported from a module of
    the package that is not in ``own`` (the importer's own wing)."""
    found = []
    for path in paths:
        for line, module, names in _imports(path):
            parts = module.split(".")
            if parts[0] != "maffsrn_tf" or (own and _node(parts) == own):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            private += [p for p in parts[1:] if p.startswith("_") and not p.startswith("__")]
            found += [f"{os.path.relpath(path, ROOT)}:{line}: {module}.{n}" for n in private]
    return found


def test_no_wing_imports_another_wings_private_names():
    found = []
    for node, paths in _modules().items():
        found += private_imports(paths, own=node)
    assert found == []


def test_nothing_outside_the_package_imports_its_private_names():
    paths = []
    for folder in ("benchmarks", "tools", "tflite", "web"):
        for base, _, files in os.walk(os.path.join(ROOT, folder)):
            if "node_modules" in base:
                continue
            paths += [os.path.join(base, f) for f in files if f.endswith(".py")]
    assert paths and private_imports(paths) == []


FLAG = re.compile(r"--[A-Za-z]")


def flags_in_raises():
    """``path:line: text`` of each string in a ``raise`` outside ``cli/`` that names a flag."""
    found = []
    for node, paths in _modules().items():
        if node == "maffsrn_tf.cli":
            continue
        for path in paths:
            for stmt in ast.walk(ast.parse(open(path).read(), path)):
                if not isinstance(stmt, ast.Raise) or stmt.exc is None:
                    continue
                for const in ast.walk(stmt.exc):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str):
                        if FLAG.search(const.value):
                            found.append(
                                f"{os.path.relpath(path, ROOT)}:{stmt.lineno}: {const.value}"
                            )
    return found


def test_no_raise_outside_cli_names_a_flag():
    assert flags_in_raises() == []


def test_every_library_error_is_a_maffsrn_error():
    from maffsrn_tf import MaffsrnError
    from maffsrn_tf.data.packed import PackError
    from maffsrn_tf.data.sources import DataError
    from maffsrn_tf.io.images import ImageError
    from maffsrn_tf.upscaler import UpscaleError

    assert issubclass(MaffsrnError, ValueError)
    for error in (DataError, ImageError, PackError, UpscaleError):
        assert issubclass(error, MaffsrnError), error


def test_scale_errors_speak_python_and_the_cli_translates(tmp_path):
    from maffsrn_tf import MaffsrnError
    from maffsrn_tf.model.presets import check_scale
    from maffsrn_tf.upscaler import UpscaleOptions

    with pytest.raises(MaffsrnError, match=r"^scale=5 is not one of 2, 3, 4$"):
        UpscaleOptions(scale=5)
    with pytest.raises(MaffsrnError, match=r"scale=True"):
        check_scale(True)
    # the command line says it in its flag words: one line, exit 1, the output untouched
    from PIL import Image

    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    (tmp_path / "a_x2.png").write_bytes(b"mine")
    out = subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.upscale", "--input", "a.png", "--output", "."],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip() == "error: output exists: ./a_x2.png (pass --overwrite to replace it)"
    assert (tmp_path / "a_x2.png").read_bytes() == b"mine"


def test_flag_words_translate_arguments_of_the_command():
    from absl import flags

    from maffsrn_tf.cli.common import flag_words

    fv = flags.FlagValues()
    flags.DEFINE_integer("scale", 2, "", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "", flag_values=fv)
    flags.DEFINE_string("format", "", "", flag_values=fv)
    saved = flags.FLAGS
    import maffsrn_tf.cli.common as common

    common.FLAGS = fv
    try:
        assert flag_words("scale=5 is not one of 2, 3, 4") == "--scale 5 is not one of 2, 3, 4"
        assert flag_words("exists (pass overwrite=True to replace it)") == (
            "exists (pass --overwrite to replace it)"
        )
        assert flag_words("fmt='gif' is not one of png", {"fmt": "format"}) == (
            "--format gif is not one of png"
        )
        assert flag_words("model=PATH stays") == "model=PATH stays"  # not a flag here
    finally:
        common.FLAGS = saved


def test_train_flags_are_made_from_train_config():
    from absl import flags

    import maffsrn_tf.cli.train  # noqa: F401 (defines the flags)
    from maffsrn_tf.train.config import TrainConfig, defaults

    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert len(names) >= 28
    for name in names:
        assert name in flags.FLAGS, f"--{name} missing"
        if name not in ("preset", "scale"):
            assert flags.FLAGS[name].default == defaults()[name], name
            help_text = dataclasses.fields(TrainConfig)[names.index(name)].metadata["help"]
            assert flags.FLAGS[name].help.endswith(help_text), name


def test_train_config_checks_its_fields_and_reads_old_flags_json(tmp_path):
    from maffsrn_tf import MaffsrnError
    from maffsrn_tf.train.config import TrainConfig

    with pytest.raises(MaffsrnError, match="^batch_size=0 is below 1$"):
        TrainConfig(batch_size=0)
    with pytest.raises(MaffsrnError, match="optimizer='sgd' is not one of adamp, adam"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(MaffsrnError, match="preset='maffsrn_x4' upscales x4, not scale=2"):
        TrainConfig(preset="maffsrn_x4")
    # a flags.json of 0.1.0 (data_dir null for TFDS runs): loads; asdict round-trips
    old = {"preset": "maffsrn_x3", "scale": 3, "data_source": "tfds", "data_dir": None,
           "epochs": 5, "learning_rate": 1e-3, "verbose": 2}  # fmt: skip
    config = TrainConfig.from_dict(old)
    assert (config.scale, config.epochs, config.data_dir, config.batch_size) == (3, 5, "", 16)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.asdict()))) == config
    with pytest.raises(MaffsrnError, match="unknown training options: colour"):
        TrainConfig.from_dict({"colour": 1})


def test_model_card_reads_train_config_defaults():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        from model_card import command_line
    finally:
        sys.path.pop(0)
    line = command_line({"scale": 2, "batch_size": 16, "seed": 3, "epochs": 10})
    assert line == "maffsrn-train --scale 2 --seed 3 --epochs 10"


def test_every_command_prints_library_errors_in_its_flag_words():
    """A library error reaches the user through ``fail_with`` (``flag_words``), never as
    ``fail(str(err))``, which would show Python argument names instead of flags."""
    raw = []
    for path in _modules()["maffsrn_tf.cli"]:
        for call in ast.walk(ast.parse(open(path).read(), path)):
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "fail"):
                continue
            for arg in call.args:
                if isinstance(arg, ast.Call) and getattr(arg.func, "id", "") == "str":
                    raw.append(f"{os.path.relpath(path, ROOT)}:{call.lineno}")
    assert raw == []


def test_no_public_name_of_a_wing_is_also_one_of_its_modules():
    """``from maffsrn_tf.export import verify`` must give the function whichever modules
    were imported before: a module of the same name would replace it on the package."""
    import importlib

    for wing in WINGS:
        package = importlib.import_module(f"maffsrn_tf.{wing}")
        modules = {n[:-3] for n in os.listdir(os.path.join(PACKAGE, wing)) if n.endswith(".py")}
        clash = modules & set(getattr(package, "__all__", ()))
        assert not clash, f"maffsrn_tf.{wing}: {sorted(clash)}"


def _package_sources():
    for paths in _modules().values():
        for path in paths:
            yield path, open(path, encoding="utf-8").read()


def test_the_upscaling_defaults_are_written_once():
    """The pixel limit, the shipped model's default and the output formats each have one
    home; everything else refers to it (UpscaleOptions, the flags, the Beam config)."""
    spelled = {
        "200-megapixel limit": re.compile(r"\b200_000_000\b|\b2e8\b|\b200\.0\b"),
        "default variant": re.compile(r"DEFAULT_VARIANT = |=\s*\"float16\",?\s*$", re.M),
        "output formats": re.compile(
            r"^OUTPUT_FORMATS = |\(\"png\", \"jpg\", \"webp\"|\[\"png\", \"jpg\"", re.M
        ),
    }
    for what, pattern in spelled.items():
        found = [
            f"{os.path.relpath(path, ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
            for path, text in _package_sources()
            for m in pattern.finditer(text)
        ]
        assert len(found) == 1, (what, found)


def test_no_function_assigns_a_module_level_setting():
    """Process-wide state no call changes: no ``global`` statement in the package, and no
    assignment to an attribute of an imported module (``images.MAX_PIXELS = ...``,
    ``Image.MAX_IMAGE_PIXELS = ...``) inside a function."""
    found = []
    for path, text in _package_sources():
        tree = ast.parse(text, path)
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Global):
                    found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}: global")
                targets = node.targets if isinstance(node, ast.Assign) else []
                for target in targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                        if target.value.id[0].isupper() or target.value.id in ("images",):
                            found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    assert found == []
