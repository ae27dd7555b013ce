"""Hostile and careless input to ``maffsrn-beam``, ``tflite/run_tflite.py`` and
``web/build_site.py`` (docs/hostile_inputs.md): flags given twice, empty values, quality for
lossless outputs, wildcards in a pattern's folders, images deeper than 8 bits, uint8-I/O
models, and a site folder holding files no build wrote.

The cases run through ``test_hostile``'s checks (exit code, one ``error:`` line, no
traceback, inputs unchanged, nothing partial left); the module is imported, not its test, so
``test_hostile_input`` is not collected twice.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import test_hostile
from conftest import ROOT
from PIL import Image
from test_hostile import RUN_TFLITE, WEIGHTS, Case, _make, animated_gif, folder, photo
from test_hostile_images import gray16_png, rgb16_png

BUILD_SITE = os.path.join(ROOT, "web", "build_site.py")
FLOAT16 = os.path.join(WEIGHTS, "maffsrn_x2_float16.tflite")
INT8_128 = os.path.join(WEIGHTS, "maffsrn_x2_int8_128px.tflite")
UINT8IO = os.path.join(WEIGHTS, "maffsrn_x2_int8_128px_uint8io.tflite")
LOSSY = ".jpg, .jpeg, .webp, .avif"
BEAM_COL = ["beam", "--input_pattern", "col/*", "--output_dir", "o"]


def _size(d, name):
    with Image.open(os.path.join(d, name)) as im:
        return im.size


def _run_tflite_module():
    spec = importlib.util.spec_from_file_location("run_tflite", RUN_TFLITE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _like_the_float_io_model(d, err):
    """The uint8-I/O model's output is the int8 model's (float I/O) within quantization."""
    script = _run_tflite_module()
    with Image.open(os.path.join(d, "in.png")) as im:
        rgb = np.asarray(im.convert("RGB"))
    want = script.upscale_rgb(script.Model(INT8_128), rgb).astype(np.float64)
    with Image.open(os.path.join(d, "o.png")) as im:
        got = np.asarray(im.convert("RGB")).astype(np.float64)
    mse = np.mean((got - want) ** 2)
    return got.shape == want.shape == (64, 80, 3) and 10 * np.log10(255**2 / max(mse, 1e-9)) > 35


CASES = [
    # maffsrn-beam
    Case(
        "beam-quality-with-format-png",
        [*BEAM_COL, "--quality", "50", "--format", "png"],
        _make((folder, "col", ["a.jpg"])),
        error=f"--quality 50 applies to lossy outputs ({LOSSY}), not --format png",
    ),
    Case(
        "beam-quality-for-a-pattern-of-lossless-files",
        [*BEAM_COL, "--quality", "50"],
        _make((folder, "col", ["a.png", "b.bmp"])),
        error="and no file --input_pattern col/* matches is written as one (pass --format jpg",
    ),
    Case(
        "beam-quality-with-a-lossy-file-in-the-pattern",
        [*BEAM_COL, "--quality", "50"],
        _make((folder, "col", ["a.png", "b.jpg"])),
        code=0,
        outputs=["o/a_x2.png", "o/b_x2.jpg"],
    ),
    Case(
        "beam-empty-output-dir",
        ["beam", "--input_pattern", "col/*", "--output_dir="],
        _make((folder, "col", ["a.png"])),
        error="--output_dir is empty: name the folder the upscaled images go to",
    ),
    Case(
        "beam-empty-input-pattern",
        ["beam", "--input_pattern=", "--output_dir", "o"],
        _make((folder, "col", ["a.png"])),
        error="--input_pattern is empty: name the files to upscale",
    ),
    Case(
        "beam-wildcard-in-the-folder-name",
        ["beam", "--input_pattern", "*2/*.png", "--output_dir", "out"],
        _make((folder, "col2", ["a.png"])),
        code=0,
        outputs=["out/a_x2.png"],
    ),
    Case(
        "beam-question-mark-in-the-folder-name",
        ["beam", "--input_pattern", "in?/*.png", "--output_dir", "out"],
        _make((folder, "in1", ["a.png"]), (folder, "in2", ["b.png"])),
        code=0,
        outputs=["out/a_x2.png", "out/b_x2.png"],
    ),
    Case(
        "beam-wildcard-folder-and-a-plain-name",
        ["beam", "--input_pattern", "in*/a.png", "--output_dir", "out"],
        _make((folder, "in1", ["a.png", "b.png"])),
        code=0,
        outputs=["out/a_x2.png"],
        check=lambda d, err: os.listdir(os.path.join(d, "out")) == ["a_x2.png"],
    ),
    Case(
        "beam-outputs-the-wildcard-pattern-would-read",
        ["beam", "--input_pattern", "*2/*.png", "--output_dir", "o2"],
        _make((folder, "col2", ["a.png"])),
        error="--output_dir o2: its outputs would match --input_pattern *2/*.png",
    ),
    Case(
        "beam-output-dir-dot-names-its-errors-file",
        ["beam", "--input_pattern", "col/*", "--output_dir", "."],
        _make((folder, "col", ["a.png"])),
        code=0,
        outputs=["a_x2.png", "upscale-errors.txt"],
        check=lambda d, err: not os.path.exists(os.path.join(d, ".-errors.txt")),
    ),
    # Beam's pipeline options given twice: refused as the command's own flags are
    Case(
        "beam-pipeline-option-given-twice",
        [*BEAM_COL, "--runner", "DirectRunner", "--runner", "DirectRunner"],
        _make((folder, "col", ["a.png"])),
        error="--runner is given twice: pass it once",
    ),
    Case(
        "beam-worker-count-given-twice",
        [*BEAM_COL, "--direct_num_workers", "1", "--direct_num_workers=2"],
        _make((folder, "col", ["a.png"])),
        error="--direct_num_workers is given twice: pass it once",
    ),
    Case(
        "beam-pipeline-switch-and-its-negation",
        [*BEAM_COL, "--save_main_session", "--no_save_main_session"],
        _make((folder, "col", ["a.png"])),
        error="--save_main_session and --no_save_main_session set one pipeline option",
    ),
    Case(
        "beam-list-option-may-repeat",  # --experiments collects: each value is used
        [*BEAM_COL, "--experiments", "a", "--experiments", "b"],
        _make((folder, "col", ["a.png"])),
        code=0,
        outputs=["o/a_x2.png"],
    ),
    Case(
        "beam-output-dir-in-a-missing-folder-is-made",  # as maffsrn-upscale makes it
        ["beam", "--input_pattern", "col/*", "--output_dir", "np1/child"],
        _make((folder, "col", ["a.png"])),
        code=0,
        outputs=["np1/child/a_x2.png", "np1/child-errors.txt"],
    ),
    Case(
        "beam-without-the-apitools-notice",  # --tf_logs: Beam's and TF's own logs show
        [*BEAM_COL, "--tf_logs"],
        _make((folder, "col", ["a.png"])),
        code=0,
        outputs=["o/a_x2.png"],
        check=lambda d, err: "apitools" not in err and "1 files match col/*" in err,
    ),
    # tflite/run_tflite.py
    Case(
        "run-tflite-output-is-a-link-to-the-input-even-with-overwrite",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--overwrite"],
        _make((photo, "in.png"), (os.symlink, "@in.png", "o.png")),
        error="the output o.png is the input in.png (or a link to it)",
        check=lambda d, err: os.readlink(os.path.join(d, "o.png")) == "in.png",
    ),
    Case(
        "run-tflite-output-is-a-hard-link-to-the-input",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--overwrite"],
        _make((photo, "in.png"), (os.link, "in.png", "o.png")),
        error="the output o.png is the input in.png (or a link to it)",
        check=lambda d, err: os.path.samefile(os.path.join(d, "in.png"), os.path.join(d, "o.png")),
    ),
    Case(
        "run-tflite-16-bit-rgb-png-refused-not-truncated",
        [RUN_TFLITE, FLOAT16, "c16.png", "o.png"],
        _make((rgb16_png, "c16.png")),
        error="c16.png is a 16-bit RGB image (16-bit or floating point): this script reads "
        "8-bit images only; maffsrn-upscale reads it",
    ),
    Case(
        "run-tflite-16-bit-gray-into-bmp",
        [RUN_TFLITE, FLOAT16, "g16.png", "o.bmp"],
        _make((gray16_png, "g16.png")),
        error="g16.png is a 16-bit grayscale image (16-bit or floating point)",
    ),
    Case(
        "run-tflite-animated-gif-first-frame",
        [RUN_TFLITE, FLOAT16, "a.gif", "o.png"],
        _make((animated_gif, "a.gif")),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: (
            err.count("warning: a.gif has 3 frames: only the first frame is upscaled") == 1
            and _size(d, "o.png") == (48, 40)
        ),
    ),
    Case(
        "run-tflite-uint8-io-model",
        [RUN_TFLITE, UINT8IO, "in.png", "o.png"],
        _make((photo, "in.png", (40, 32))),
        code=0,
        outputs=["o.png"],
        check=_like_the_float_io_model,
    ),
    Case(
        "run-tflite-tile-0-is-the-whole-image",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--tile", "0"],
        _make((photo, "in.png", (40, 32))),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: _size(d, "o.png") == (80, 64),
    ),
    Case(
        "run-tflite-negative-tile",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--tile", "-1"],
        _make((photo, "in.png")),
        error="--tile must be 0 (the whole image) or at least 13",
    ),
    Case(
        "run-tflite-tile-for-a-fixed-size-model",
        [RUN_TFLITE, INT8_128, "in.png", "o.png", "--tile", "64"],
        _make((photo, "in.png")),
        error="takes 128x128 tiles only; leave --tile out",
    ),
    Case(
        "run-tflite-folder-as-the-input",
        [RUN_TFLITE, FLOAT16, "col", "o.png"],
        _make((folder, "col", ["a.png"])),
        error="input ",  # the folder's full path follows
        absent="not found",
        check=lambda d, err: "is a folder: name a file" in err,
    ),
    Case(
        "run-tflite-flag-given-twice",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--tile", "20", "--tile", "30"],
        _make((photo, "in.png")),
        error="--tile is given twice: give it once",
    ),
    Case(
        "run-tflite-switch-given-twice",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--overwrite", "--overwrite"],
        _make((photo, "in.png")),
        error="--overwrite is given twice: give it once",
    ),
    # web/build_site.py
    Case(
        "web-build-out-given-twice",
        [BUILD_SITE, "--out", "s2", "--out", "s3"],
        error="--out is given twice: give it once",
    ),
    Case(
        "web-build-out-given-twice-abbreviated",
        [BUILD_SITE, "--out=s2", "--ou", "s3"],
        error="--out is given twice: give it once",
    ),
    Case(
        "web-build-empty-out",
        [BUILD_SITE, "--out="],
        error="error: --out is empty: name the folder the site goes to",
        absent="  ",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_tool_input(case, tmp_path):
    test_hostile.test_hostile_input(case, tmp_path)


# --- web/build_site.py over an earlier build ----------------------------------------------


def _require_web_build():
    if not os.path.isfile(os.path.join(ROOT, "web", "dist", "worker.js")):
        pytest.skip("web/ is not built (make web-dist runs npm ci and npm run build)")


def _build(out, *flags):
    return subprocess.run(
        [sys.executable, BUILD_SITE, "--out", str(out), *flags],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_rebuild_keeps_the_files_no_build_wrote(tmp_path):
    """A GitHub Pages ``CNAME``, a ``.nojekyll``, a folder of one's own survive a rebuild
    without --overwrite; a file an earlier build wrote and this one does not is dropped."""
    _require_web_build()
    site = tmp_path / "site"
    assert _build(site).returncode == 0
    (site / "CNAME").write_text("maffsrn.example.org\n")
    (site / ".nojekyll").write_text("")
    (site / "extra").mkdir()
    (site / "extra" / "notes.txt").write_text("mine")
    (site / "models" / "old.tflite").write_bytes(b"an earlier build's")
    with open(site / ".maffsrn-site", "a") as f:
        f.write("models/old.tflite\n")
    run = _build(site)
    assert run.returncode == 0, run.stderr
    assert "kept 3 it did not write (.nojekyll, CNAME, extra/notes.txt)" in run.stdout
    assert (site / "CNAME").read_text() == "maffsrn.example.org\n"
    assert (site / ".nojekyll").exists() and (site / "extra" / "notes.txt").read_text() == "mine"
    assert not (site / "models" / "old.tflite").exists()
    assert (site / "index.html").is_file() and (site / "dist" / "worker.js").is_file()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_a_rebuild_refuses_to_replace_a_file_no_build_wrote(tmp_path):
    """A file this build writes that the earlier build did not (the user's own): refused
    without --overwrite, the folder untouched; replaced with it."""
    _require_web_build()
    site = tmp_path / "site"
    assert _build(site).returncode == 0
    marker = site / ".maffsrn-site"
    marker.write_text("".join(ln + "\n" for ln in marker.read_text().splitlines()
                              if ln != "tiling.json"))  # fmt: skip
    (site / "tiling.json").write_text('{"mine": true}')
    (site / "CNAME").write_text("maffsrn.example.org\n")
    run = _build(site)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip() == (
        f"error: --out {site} holds tiling.json, which no earlier build wrote and this build "
        "would replace: move it away, or pass --overwrite to replace it"
    )
    assert (site / "tiling.json").read_text() == '{"mine": true}'
    run = _build(site, "--overwrite")
    assert run.returncode == 0, run.stderr
    assert (site / "tiling.json").read_text() != '{"mine": true}'
    assert (site / "CNAME").read_text() == "maffsrn.example.org\n"  # still kept


def test_a_rebuild_over_a_marker_without_a_list_keeps_what_builds_never_write(tmp_path):
    """An earlier build whose marker lists no files: the names and folders builds write are
    its, anything else (a CNAME) is kept."""
    _require_web_build()
    site = tmp_path / "site"
    assert _build(site).returncode == 0
    (site / ".maffsrn-site").write_text(
        "written by web/build_site.py: a later build may replace this folder\n"
    )
    (site / "CNAME").write_text("maffsrn.example.org\n")
    (site / "wasm" / "stale.wasm").write_bytes(b"")
    run = _build(site)
    assert run.returncode == 0, run.stderr
    assert (site / "CNAME").read_text() == "maffsrn.example.org\n"
    assert not (site / "wasm" / "stale.wasm").exists()


def test_a_build_keeps_the_out_folder_s_mode(tmp_path):
    """An existing --out (empty, or an earlier build) keeps its permissions: the build
    replaces its contents, not what the user set on the folder."""
    _require_web_build()
    site = tmp_path / "site"
    site.mkdir()
    site.chmod(0o750)
    run = _build(site)
    assert run.returncode == 0, run.stderr
    assert (site.stat().st_mode & 0o7777, (site / "index.html").is_file()) == (0o750, True)
    site.chmod(0o705)
    run = _build(site)  # over the earlier build
    assert run.returncode == 0, run.stderr
    assert site.stat().st_mode & 0o7777 == 0o705


def test_an_out_that_is_a_link_is_written_through(tmp_path):
    """--out a symbolic link: the folder it names gets the build (its mode kept) and the
    link stays a link; a dangling link gets its folder made; a loop is one line."""
    _require_web_build()
    (tmp_path / "real").mkdir()
    (tmp_path / "real").chmod(0o750)
    os.symlink("real", tmp_path / "link")
    for _ in range(2):  # a first build, then one over it
        run = _build(tmp_path / "link")
        assert run.returncode == 0, run.stderr
        assert os.readlink(tmp_path / "link") == "real"
        assert (tmp_path / "real" / "index.html").is_file()
        assert (tmp_path / "real").stat().st_mode & 0o7777 == 0o750
    os.symlink("later", tmp_path / "dangling")
    run = _build(tmp_path / "dangling")
    assert run.returncode == 0, run.stderr
    assert os.readlink(tmp_path / "dangling") == "later"
    assert (tmp_path / "later" / "index.html").is_file()
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    run = _build(tmp_path / "loop1")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip() == (
        f"error: --out {tmp_path / 'loop1'} is a loop of symbolic links: name a folder"
    )
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
