"""Hostile and careless input to the standalone scripts (docs/hostile_inputs.md):
``web/build_site.py --out`` inside what the build reads or through a link spelled ``link/``,
``tools/notebooks.py --repository`` with a bad name, ``tools/stress_set.py``'s values and
folders, ``tools/ship_weights.py``'s run, ``tflite/run_tflite.py`` without its packages or
with a link loop, and ``tools/model_card.py`` run as a command.

Each case checks what a user sees: the exit code, the one ``error:`` line, no traceback, and
that nothing was written or changed. Scripts that write into the repository (build_site,
notebooks) run from a copy of their part of the tree in ``tmp_path``, so that a broken
refusal writes there, never into the checkout.
"""

import hashlib
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from PIL import Image

PYTHON = sys.executable


def _run(args, cwd, **kwargs):
    return subprocess.run(
        [PYTHON, *args], cwd=cwd, capture_output=True, text=True, timeout=240, **kwargs
    )


def _snapshot(folder):
    out = {}
    for where, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(where, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                out[rel] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
            else:
                out[rel] = "/"
    return out


def _one_error(run, code=1):
    """The one ``error:`` line of a refused run (its exit code ``code``, no traceback)."""
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == code, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert run.stdout == "", run.stdout
    return lines[0]


# --- web/build_site.py ---------------------------------------------------------------------


@pytest.fixture
def web_tree(tmp_path):
    """A copy of the script in a tree laid out as the repository's, with stand-ins for
    everything the build reads."""
    root = tmp_path / "repo"
    web = root / "web"
    (web / "src").mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "web", "build_site.py"), web)
    shutil.copy(os.path.join(ROOT, "web", "serve.py"), web)
    shutil.copy(os.path.join(ROOT, "web", "index.html"), web)
    for name in ("app.js", "style.css", "src/worker.js"):
        (web / name).write_text("// " + name)
    (web / "dist").mkdir()
    (web / "dist" / "worker.js").write_text("// worker")
    wasm = web / "node_modules" / "@litertjs" / "core" / "wasm"
    wasm.mkdir(parents=True)
    (wasm / "litert.wasm").write_bytes(b"\0asm")
    (wasm / "litert.js").write_text("// litert")
    (root / "maffsrn_tf" / "model").mkdir(parents=True)
    (root / "maffsrn_tf" / "model" / "tiling.json").write_text("{}")
    (root / "maffsrn_tf" / "weights").mkdir()
    for s in (2, 3, 4):
        for q in ("int8", "float16"):
            (root / "maffsrn_tf" / "weights" / f"maffsrn_x{s}_{q}_128px.tflite").write_bytes(b"m")
    (tmp_path / "work").mkdir()
    return root


@pytest.mark.parametrize(
    "out, how, folder",
    [
        ("web/src/x", "lies inside", "web/src"),
        ("web/dist/x", "lies inside", "web/dist"),
        ("web/src", "is", "web/src"),  # emptied: not refused as a folder of other files
        ("web/node_modules/@litertjs/core/wasm/x", "lies inside", "web/node_modules"),
        ("web/node_modules/new", "lies inside", "web/node_modules"),
        ("maffsrn_tf/weights/x", "lies inside", "maffsrn_tf/weights"),
        ("maffsrn_tf/weights/x/", "lies inside", "maffsrn_tf/weights"),
        ("web/site/../dist/x", "lies inside", "web/dist"),
        ("maffsrn_tf/model/site", "lies inside", "maffsrn_tf/model"),
        ("link/x", "lies inside", "web/dist"),  # through a link to web/dist
        ("srclink", "is", "web/src"),  # a link to it (emptied)
        ("srclink/", "is", "web/src"),
    ],
)
def test_build_site_refuses_an_out_in_what_it_reads(web_tree, out, how, folder):
    """An --out that is or lies inside a folder the build reads is refused, by real path
    (``..``, links, a trailing slash), with one line; nothing is written anywhere."""
    os.symlink(web_tree / "web" / "dist", web_tree / "link")
    os.symlink(web_tree / "web" / "src", web_tree / "srclink")
    if folder == "web/src" and how == "is":  # empty: the repository's check takes no part
        (web_tree / "web" / "src" / "worker.js").unlink()
    before = _snapshot(web_tree.parent)
    run = _run([str(web_tree / "web" / "build_site.py"), "--out", out], web_tree)
    line = _one_error(run)
    assert line == (
        f"error: --out {out} {how} {folder}, a folder the build reads: name a folder outside "
        "it (left out: web/site)"
    ), line
    assert _snapshot(web_tree.parent) == before


def test_build_site_refuses_an_out_that_contains_what_it_reads(web_tree):
    """An empty --out that holds nothing yet but would be replaced over a read folder: a
    folder whose real path contains maffsrn_tf/model (reached through a link from afar)."""
    shutil.rmtree(web_tree / "maffsrn_tf" / "weights")
    before = _snapshot(web_tree.parent)
    run = _run(
        [str(web_tree / "web" / "build_site.py"), "--out", str(web_tree / "maffsrn_tf")],
        web_tree.parent / "work",
    )
    line = _one_error(run)
    assert "is a folder of this repository that is not an earlier build" in line, line
    assert _snapshot(web_tree.parent) == before


def test_build_site_default_out_in_web_still_builds(web_tree):
    """web/ itself holds the page's files: the default --out web/site, a folder in it, builds."""
    run = _run([str(web_tree / "web" / "build_site.py")], web_tree)
    assert run.returncode == 0, run.stderr
    assert (web_tree / "web" / "site" / "index.html").is_file()
    assert (web_tree / "web" / "site" / "models" / "maffsrn_x2_int8_128px.tflite").is_file()


@pytest.mark.parametrize("spelling", ["sitelink", "sitelink/", "sitelink//"])
def test_build_site_out_link_with_a_trailing_slash_is_written_through(web_tree, spelling):
    """--out link/ is --out link: the folder it names gets the build, the link stays."""
    work = web_tree.parent / "work"
    script = str(web_tree / "web" / "build_site.py")
    assert _run([script, "--out", "real"], work).returncode == 0
    (work / "real" / "CNAME").write_text("mine\n")
    os.symlink("real", work / "sitelink")
    run = _run([script, "--out", spelling], work)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"wrote {spelling}: "), run.stdout
    assert os.readlink(work / "sitelink") == "real"
    assert (work / "real" / "index.html").is_file()
    assert (work / "real" / "CNAME").read_text() == "mine\n"
    assert sorted(os.listdir(work)) == ["real", "sitelink"]


# --- tools/notebooks.py --------------------------------------------------------------------


@pytest.fixture
def notebooks_tree(tmp_path):
    """A copy of the script, the README and the notebooks, laid out as the repository's."""
    (tmp_path / "tools").mkdir()
    (tmp_path / "notebooks").mkdir()
    shutil.copy(os.path.join(ROOT, "tools", "notebooks.py"), tmp_path / "tools")
    shutil.copy(os.path.join(ROOT, "README.md"), tmp_path)
    for name in ("REPOSITORY", "quickstart.ipynb", "train_colab.ipynb", "tflite_export.ipynb"):
        shutil.copy(os.path.join(ROOT, "notebooks", name), tmp_path / "notebooks")
    return tmp_path


@pytest.mark.parametrize("check", [[], ["--check"]])
@pytest.mark.parametrize("name", ["bad name/../x", "me/..", "me", "a/b/c", "-me/x", ""])
def test_notebooks_refuses_a_bad_repository_before_writing(notebooks_tree, name, check):
    """A bad --repository is one line, and nothing is written: the setting stays, and the
    next run still works."""
    before = _snapshot(notebooks_tree)
    run = _run(["tools/notebooks.py", f"--repository={name}", *check], notebooks_tree)
    line = _one_error(run)
    assert line.startswith(f"error: --repository {name!r} is not OWNER/NAME ("), line
    assert line.endswith(": give your fork's OWNER/NAME, e.g. you/maffsrn_tf"), line
    assert _snapshot(notebooks_tree) == before
    again = _run(["tools/notebooks.py", "--check"], notebooks_tree)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_notebooks_check_with_a_repository_writes_nothing(notebooks_tree):
    """--check --repository X reports what setting X would change, and changes nothing."""
    before = _snapshot(notebooks_tree)
    run = _run(["tools/notebooks.py", "--repository", "me/fork", "--check"], notebooks_tree)
    assert run.returncode == 1 and run.stderr == "", run.stderr
    assert run.stdout.splitlines() == [
        f"disagrees with me/fork: {p}"
        for p in ("README.md", "notebooks/quickstart.ipynb", "notebooks/train_colab.ipynb",
                  "notebooks/tflite_export.ipynb", "notebooks/REPOSITORY")
    ]  # fmt: skip
    assert _snapshot(notebooks_tree) == before


def test_notebooks_repository_is_applied_whole(notebooks_tree):
    """A good --repository rewrites every file and the setting, leaving no temporary, each
    file keeping its mode; a --check afterwards agrees."""
    os.chmod(notebooks_tree / "notebooks" / "quickstart.ipynb", 0o640)
    run = _run(["tools/notebooks.py", "--repository", "me/fork"], notebooks_tree)
    assert run.returncode == 0, run.stderr
    assert (notebooks_tree / "notebooks" / "REPOSITORY").read_text() == "me/fork\n"
    assert "github/me/fork/blob/main" in (notebooks_tree / "README.md").read_text()
    assert (notebooks_tree / "notebooks" / "quickstart.ipynb").stat().st_mode & 0o777 == 0o640
    assert not [n for n in os.listdir(notebooks_tree / "notebooks") if n.startswith(".tmp")]
    again = _run(["tools/notebooks.py", "--check"], notebooks_tree)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "args, setting, error",
    [
        (["--check", "--check"], None, "error: --check is given twice: give it once (see --help)"),
        (["extra"], None, "error: unrecognized arguments: extra (see --help)"),
        (["--check"], "bad name\n", "holds 'bad name', not OWNER/NAME"),
        (["--check"], "", "holds '', not OWNER/NAME"),
    ],
)
def test_notebooks_other_bad_input_is_one_line(notebooks_tree, args, setting, error):
    if setting is not None:
        (notebooks_tree / "notebooks" / "REPOSITORY").write_text(setting)
    before = _snapshot(notebooks_tree)
    line = _one_error(_run(["tools/notebooks.py", *args], notebooks_tree))
    assert error in line, line
    assert _snapshot(notebooks_tree) == before


# --- tools/stress_set.py -------------------------------------------------------------------

STRESS_SET = os.path.join(ROOT, "tools", "stress_set.py")
SCALE_RANGE = "the canvas size factor is 0.25 to 4 (1: the evaluation set's size)"


def _stress(args, cwd):
    return _run([STRESS_SET, *args], cwd, env=dict(os.environ, PYTHONPATH=ROOT))


@pytest.mark.parametrize(
    "args, error",
    [
        (["ss2", "--scale", "nan"], f"error: --scale nan: {SCALE_RANGE}"),
        (["ss2", "--scale", "inf"], f"error: --scale inf: {SCALE_RANGE}"),
        (["ss2", "--scale", "1e9"], f"error: --scale 1000000000: {SCALE_RANGE}"),
        (["ss2", "--scale", "4.0000001"], f"error: --scale 4.0000001: {SCALE_RANGE}"),
        (["ss2", "--scale", "0.2"], f"error: --scale 0.2: {SCALE_RANGE}"),
        (["ss2", "--seed", "-1"],
         "error: --seed -1: the seed is 0 or more (0: the evaluation set)"),
        (["notes.txt"], "error: OUT_DIR notes.txt is a file, not a folder: name a folder"),
        ([""], "error: OUT_DIR is empty: name the folder the PNGs go to"),
        (["nowhere/ss"], "error: OUT_DIR nowhere/ss: its folder "),
        (
            ["bench"],
            "error: OUT_DIR bench holds 1 entry that is not the stress set's PNGs (img.png): "
            "name a new or empty folder, or pass --overwrite to write the set beside them",
        ),
        (["ss2", "--seed", "1", "--seed", "2"], "error: --seed is given twice: give it once"),
        (["ss2", "ss3"], "error: unrecognized arguments: ss3 (see --help)"),
    ],
)  # fmt: skip
def test_stress_set_bad_input_is_one_line(tmp_path, args, error):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "img.png").write_bytes(b"a benchmark image")
    before = _snapshot(tmp_path)
    line = _one_error(_stress(args, tmp_path))
    assert line.startswith(error), line
    assert _snapshot(tmp_path) == before


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="writes under /proc")
def test_stress_set_unwritable_out_dir_is_one_line(tmp_path):
    line = _one_error(_stress(["/proc/self/x", "--scale", "0.25"], tmp_path))
    assert line.startswith("error: cannot write OUT_DIR /proc/self/x ("), line
    assert line.endswith("): name a folder you can write to"), line


def test_stress_set_regenerates_its_own_folder_and_overwrites_only_when_asked(tmp_path):
    """A rerun into an earlier output regenerates it (same bytes); a folder of other files
    takes the set only with --overwrite, its own files kept; no temporary is left."""
    run = _stress(["ss", "--scale", "0.25"], tmp_path)
    assert run.returncode == 0, run.stderr
    first = _snapshot(tmp_path / "ss")
    assert len(first) == 10 and len(run.stdout.splitlines()) == 10
    assert _stress(["ss", "--scale", "0.25"], tmp_path).returncode == 0
    assert _snapshot(tmp_path / "ss") == first
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "img.png").write_bytes(b"a benchmark image")
    run = _stress(["bench", "--scale", "0.25", "--overwrite"], tmp_path)
    assert run.returncode == 0, run.stderr
    got = _snapshot(tmp_path / "bench")
    assert (tmp_path / "bench" / "img.png").read_bytes() == b"a benchmark image"
    assert {k: v for k, v in got.items() if k != "img.png"} == first
    assert (tmp_path / "ss" / "00_slide.png").stat().st_mode & 0o777 == 0o666 & ~_umask()
    # a picture of the user's under one of the set's names (another size): not "earlier"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "00_slide.png").write_bytes(
        (tmp_path / "ss" / "01_text_saturated.png").read_bytes()
    )
    mine = _snapshot(tmp_path / "mine")
    line = _one_error(_stress(["mine", "--scale", "0.5"], tmp_path))
    assert line == (
        "error: OUT_DIR mine holds 00_slide.png, which is not this set's earlier image (another "
        "picture or size): name a new or empty folder, or pass --overwrite to replace it"
    )
    assert _snapshot(tmp_path / "mine") == mine


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- tools/ship_weights.py -----------------------------------------------------------------

SHIP = os.path.join(ROOT, "tools", "ship_weights.py")


@pytest.fixture
def runs(tmp_path):
    """runs/final: a run trained without validation (final weights only); runs/empty;
    runs/x2: one of the x2 preset, with validation."""
    final = tmp_path / "runs" / "final"
    final.mkdir(parents=True)
    for name in ("flags.json", "final.json"):
        (final / name).write_text("{}")
    (final / "log.csv").write_text("epoch,sec_per_step\n1,0.1\n")
    (final / "final.weights.h5").write_bytes(b"weights")
    (tmp_path / "runs" / "empty").mkdir()
    (tmp_path / "a_file").write_text("x")
    x2 = tmp_path / "runs" / "x2"  # a run with validation, of the x2 preset
    x2.mkdir()
    (x2 / "flags.json").write_text('{"preset": "maffsrn_x2", "scale": 2}')
    (x2 / "log.csv").write_text("epoch,sec_per_step\n1,0.1\n")
    (x2 / "best.json").write_text('{"epoch": 1}')
    (x2 / "best.weights.h5").write_bytes(b"weights")
    return tmp_path


@pytest.mark.parametrize(
    "args, error",
    [
        (
            ["--run_dir", "runs/final", "--name", "maffsrn_x2"],
            "error: --run_dir runs/final has no best.json (trained without --val_dir/--holdout: "
            "only final weights): this script ships the best weights on validation; train with "
            "--val_dir or --holdout, then ship that run",
        ),
        (
            ["--run_dir", "runs/empty", "--name", "maffsrn_x2"],
            "error: --run_dir runs/empty has no best.json (an unfinished run, or not a "
            "maffsrn-train run)",
        ),
        (
            ["--run_dir", "runs/none", "--name", "maffsrn_x2"],
            "error: --run_dir runs/none not found: name the --model_dir of a finished "
            "maffsrn-train run",
        ),
        (["--run_dir", "a_file", "--name", "maffsrn_x2"],
         "error: --run_dir a_file is not a folder"),
        (
            ["--run_dir", "runs/final", "--name", "maffsrn_x"],
            "error: --name 'maffsrn_x' is not a preset: use one of maffsrn_x2, maffsrn_x3, ",
        ),
        (["--run_dir", "runs/x2", "--name", "maffsrn_x3"],  # a traceback once it loaded
         "error: --run_dir runs/x2 trained maffsrn_x2 (x2, 4 groups), and --name maffsrn_x3 "
         "is x3, 4 groups: name the preset it trained"),
        (["--run_dir", "runs/x2", "--name", "maffsrn_l_x2"],  # a Keras dump once it loaded
         "error: --run_dir runs/x2 trained maffsrn_x2 (x2, 4 groups), and --name maffsrn_l_x2 "
         "is x2, 8 groups: name the preset it trained"),
        (["--run_dir", "runs/x2", "--name", "maffsrn_x2", "--datasets", "runs"],  # KeyError
         "error: --datasets must hold the Set5 and Set14 folders (the model card's columns), "
         "got runs: pass "),
        (["--run_dir", "runs/final"],
         "error: --run_dir and --name are required (or --render_only)"),
        (["--render_only", "--name", "maffsrn_x2"],
         "error: --render_only ships nothing: leave --name out"),
        (["--run_dir", "a", "--run_dir=b", "--name", "maffsrn_x2"],
         "error: --run_dir is given twice"),
        (["--bogus"], "error: Unknown command line flag 'bogus' (see --help)"),
        (
            ["--run_dir", "runs/final", "--name", "maffsrn_x2", "extra"],
            "error: unexpected argument 'extra': this script takes flags only (see --help)",
        ),
    ],
)  # fmt: skip
def test_ship_weights_bad_input_is_one_line(runs, args, error):
    before = _snapshot(runs)
    weights = _snapshot(os.path.join(ROOT, "maffsrn_tf", "weights"))
    line = _one_error(_run([SHIP, *args], runs, env=dict(os.environ, PYTHONPATH=ROOT)))
    assert line.startswith(error), line
    assert _snapshot(runs) == before
    assert _snapshot(os.path.join(ROOT, "maffsrn_tf", "weights")) == weights


# --- tflite/run_tflite.py ------------------------------------------------------------------

RUN_TFLITE = os.path.join(ROOT, "tflite", "run_tflite.py")
FLOAT16 = os.path.join(ROOT, "maffsrn_tf", "weights", "maffsrn_x2_float16.tflite")
INSTALL = (
    "this script needs ai-edge-litert, NumPy and Pillow: pip install ai-edge-litert numpy pillow"
)
# runs the script as __main__ with the top-level package argv[1] missing
_WITHOUT = """
import runpy, sys
blocked = sys.argv.pop(1)
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize(
    "module, pip", [("ai_edge_litert", "ai-edge-litert"), ("numpy", "numpy"), ("PIL", "pillow")]
)
def test_run_tflite_without_its_packages_is_one_line(tmp_path, module, pip):
    """Without ai-edge-litert (NumPy, Pillow): --help still answers; a run is one line naming
    the pip command, before anything is read or written."""
    (tmp_path / "in.png").write_bytes(b"not read")
    run = _run(["-c", _WITHOUT, module, RUN_TFLITE, FLOAT16, "in.png", "o.png"], tmp_path)
    assert _one_error(run) == f"error: {pip} is not installed: {INSTALL}"
    assert sorted(os.listdir(tmp_path)) == ["in.png"]
    run = _run(["-c", _WITHOUT, module, RUN_TFLITE, "--help"], tmp_path)
    assert run.returncode == 0 and run.stdout.startswith("usage: run_tflite.py"), run.stderr
    assert run.stderr == ""


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda d: (os.symlink("b.png", d / "a.png"), os.symlink("a.png", d / "b.png")),
         "error: input cannot be opened: a.png is a link loop"),
        (lambda d: os.symlink("gone.png", d / "a.png"),
         "error: input cannot be opened: a.png is a broken link to gone.png"),
    ],
)  # fmt: skip
def test_run_tflite_names_a_link_that_names_no_file(tmp_path, make, error):
    pytest.importorskip("ai_edge_litert")
    make(tmp_path)
    before = _snapshot(tmp_path)
    assert _one_error(_run([RUN_TFLITE, FLOAT16, "a.png", "o.png"], tmp_path)) == error
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "args, error",
    [
        (["in.png", "-o5.png"],
         "error: unknown flag '-o5.png'; a file whose name starts with - goes after -- "
         "(see --help)"),
        (["in.png", "--tile", "-1"],  # a negative number is a value: the output is missing
         "error: the following arguments are required: output (see --help)"),
    ],
)  # fmt: skip
def test_run_tflite_a_file_taken_for_a_flag_gets_the_hint(tmp_path, args, error):
    pytest.importorskip("ai_edge_litert")
    (tmp_path / "in.png").write_bytes(b"not read")
    assert _one_error(_run([RUN_TFLITE, FLOAT16, *args], tmp_path)) == error
    assert sorted(os.listdir(tmp_path)) == ["in.png"]


# --- tools/model_card.py -------------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["--bogus", "extra"], ["--help"]])
def test_model_card_run_as_a_command_says_it_is_a_library(tmp_path, args):
    run = _run([os.path.join(ROOT, "tools", "model_card.py"), *args], tmp_path)
    assert _one_error(run, code=2) == (
        "error: tools/model_card.py is a library of tools/ship_weights.py, not a command: run "
        "python tools/ship_weights.py --render_only to rewrite docs/MODEL_CARD.md"
    )
    assert os.listdir(tmp_path) == []


def test_run_tflite_counts_the_output_s_rows_not_the_padding(tmp_path):
    """A 1x1 image is padded to the model's least input: the progress counts the 2 rows
    written (it had said 26/26; 256/256 with a 128 px model)."""
    pytest.importorskip("ai_edge_litert")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(tmp_path / "one.png")
    run = _run([RUN_TFLITE, FLOAT16, "one.png", "r.png"], tmp_path)
    assert run.returncode == 0, run.stderr
    progress = [p for p in run.stderr.replace("\r", "\n").splitlines() if p.startswith("rows")]
    assert progress == ["rows 2/2"], run.stderr
    assert Image.open(tmp_path / "r.png").size == (2, 2)


def _png(width, height, have_rows):
    """A colour PNG of ``width`` x ``height`` declared, whose one complete zlib stream holds
    only ``have_rows`` rows (as a file cut and re-deflated)."""
    import struct
    import zlib

    def chunk(kind, body):
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress((b"\0" + b"\x80" * 3 * width) * have_rows)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_run_tflite_refuses_missing_rows_and_a_huge_header_from_the_file(tmp_path):
    """A PNG whose image data ends cleanly before its last row came out half black with
    exit 0; a 10000x10000 header printed Pillow's DecompressionBombWarning and ground on
    (fuzz pass 23). Both are one line now, as maffsrn-upscale says them."""
    pytest.importorskip("ai_edge_litert")
    (tmp_path / "short.png").write_bytes(_png(40, 40, 20))
    (tmp_path / "big.png").write_bytes(_png(20000, 20000, 1))
    before = _snapshot(tmp_path)
    assert _one_error(_run([RUN_TFLITE, FLOAT16, "short.png", "o.png"], tmp_path)) == (
        "error: short.png is cut short or damaged: its image data holds 2,420 of the 4,840 "
        "bytes its header declares (the rows after are missing)"
    )
    assert _one_error(_run([RUN_TFLITE, FLOAT16, "big.png", "o.png"], tmp_path)) == (
        "error: big.png is 20000x20000, over this script's 200 megapixels: maffsrn-upscale "
        "--max_megapixels reads larger images"
    )
    assert _snapshot(tmp_path) == before


def test_run_tflite_stops_on_sighup_with_one_line(tmp_path):
    """SIGHUP (the terminal closed) killed it without a word; it is 129 and one line, and
    nothing is written, as for SIGTERM (fuzz pass 23)."""
    import signal
    import time

    pytest.importorskip("ai_edge_litert")
    Image.new("RGB", (1200, 800), (90, 120, 200)).save(tmp_path / "in.png")
    proc = subprocess.Popen([PYTHON, RUN_TFLITE, FLOAT16, "in.png", "o.png", "--tile", "64"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    time.sleep(3)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 129, err
    assert err.splitlines()[-1] == "error: terminated; no output was written"  # own line
    assert sorted(os.listdir(tmp_path)) == ["in.png"]


def test_ship_weights_without_matplotlib_is_one_line_before_writing(tmp_path):
    """On the light install ``--render_only`` rewrote docs/MODEL_CARD.md, then failed with
    a ModuleNotFoundError traceback at the plots (fuzz pass 23)."""
    docs = _snapshot(os.path.join(ROOT, "docs"))
    path = os.pathsep.join((ROOT, os.path.dirname(SHIP)))  # run_path adds not its folder
    run = _run(["-c", _WITHOUT, "matplotlib", SHIP, "--render_only"], tmp_path,
               env=dict(os.environ, PYTHONPATH=path))  # fmt: skip
    assert _one_error(run) == (
        "error: the training plots need matplotlib, which this install lacks: "
        'pip install "maffsrn_tf[dev]"'
    )
    assert _snapshot(os.path.join(ROOT, "docs")) == docs
