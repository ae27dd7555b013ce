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
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import test_hostile
from conftest import ROOT
from PIL import Image
from test_hostile import (
    RUN_TFLITE,
    WEIGHTS,
    Case,
    _make,
    _sigint_as_from_a_terminal,
    animated_gif,
    folder,
    garbage,
    photo,
    signal_while_starting,
    write,
)
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


def transparent_png(path, mode="RGBA"):
    """Black under alpha 0, with an opaque red (grey) block in the middle."""
    im = Image.new(mode, (40, 32), (0,) * len(mode))
    im.paste((200, 30, 30, 255) if mode == "RGBA" else (120, 255), (10, 10, 30, 22))
    im.save(path)


def _flattened_onto_white(name):
    def check(d, err):
        with Image.open(os.path.join(d, name)) as im:
            corner, middle = im.getpixel((0, 0)), im.getpixel((40, 32))
        white = (255, 255, 255) if im.mode == "RGB" else 255
        notice = f"warning: {os.path.splitext(name)[1]} has no transparency: it is flattened"
        return err.count(notice) == 1 and corner == white and middle != white

    return check


def _one_line(d, err):
    """Nothing but the error line (no LiteRT "INFO: Created ... delegate" before it)."""
    return len([line for line in err.splitlines() if line.strip()]) == 1


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
        "run-tflite-overlap-checked-before-the-model-loads",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--tile", "20", "--overlap", "10"],
        _make((photo, "in.png")),
        error="--overlap must be below half the tile (20)",
        check=_one_line,
    ),
    Case(
        "run-tflite-overlap-of-a-fixed-size-model-checked-before-it-loads",
        [RUN_TFLITE, INT8_128, "in.png", "o.png", "--overlap", "64"],
        _make((photo, "in.png", (300, 140))),
        error="--overlap must be below half the tile (128)",
        check=_one_line,
    ),
    Case(
        "run-tflite-tile-for-a-fixed-size-model-before-it-loads",
        [RUN_TFLITE, INT8_128, "in.png", "o.png", "--tile", "64"],
        _make((photo, "in.png")),
        error="takes 128x128 tiles only",
        check=_one_line,
    ),
    Case(
        "run-tflite-transparent-png-into-jpg-is-flattened-onto-white",
        [RUN_TFLITE, FLOAT16, "t.png", "o.jpg"],
        _make((transparent_png, "t.png")),
        code=0,
        outputs=["o.jpg"],
        check=_flattened_onto_white("o.jpg"),
    ),
    Case(
        "run-tflite-transparent-gray-into-bmp-is-flattened-onto-white",
        [RUN_TFLITE, FLOAT16, "t.png", "o.bmp"],
        _make((transparent_png, "t.png", "@LA")),
        code=0,
        outputs=["o.bmp"],
        check=_flattened_onto_white("o.bmp"),
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
    Case(
        "run-tflite-abbreviated-flag",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--til", "0"],
        _make((photo, "in.png")),
        error="error: unknown flag '--til': flags are not abbreviated; write --tile in full "
        "(see --help)",
    ),
    Case(
        "run-tflite-abbreviated-flag-with-its-value",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--til=0"],
        _make((photo, "in.png")),
        error="error: unknown flag '--til': flags are not abbreviated; write --tile in full "
        "(see --help)",
    ),
    Case(
        "run-tflite-abbreviation-of-two-flags",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--over"],
        _make((photo, "in.png")),
        error="error: unknown flag '--over': flags are not abbreviated; write --overlap or "
        "--overwrite in full (see --help)",
    ),
    Case(
        "run-tflite-unknown-flag",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--scale", "2"],
        _make((photo, "in.png")),
        error="error: unknown flag '--scale'; a file whose name starts with - goes after -- "
        "(see --help)",
    ),
    Case(
        "run-tflite-stray-word-is-named",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "o2.png"],
        _make((photo, "in.png")),
        error="error: unrecognized arguments: o2.png; this script takes MODEL INPUT OUTPUT "
        "and flags (see --help)",
    ),
    Case(  # --overlap was ignored
        "run-tflite-overlap-with-tile-0",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--tile", "0", "--overlap", "4"],
        _make((photo, "in.png")),
        error="error: --overlap applies between tiles, and --tile 0 runs the image whole: "
        "leave one out",
    ),
    Case(
        "beam-overlap-with-tile-0",
        [*BEAM_COL, "--tile", "0", "--overlap", "4"],
        _make((folder, "col", ["a.png"])),
        error="error: --overlap applies between tiles, and --tile 0 runs each image whole: "
        "leave one out",
    ),
    Case(  # the picture replaced the model, even by the same path
        "run-tflite-output-is-the-model",
        [RUN_TFLITE, "m.tflite", "in.png", "m.tflite", "--overwrite"],
        _make((photo, "in.png"), (write, "m.tflite", open(FLOAT16, "rb").read())),
        error="error: the output m.tflite is the model m.tflite (or a link to it); choose "
        "another output path",
    ),
    Case(  # argparse printed the help and ended with 0: the other words were not used
        "run-tflite-help-with-other-words",
        [RUN_TFLITE, FLOAT16, "in.png", "o.png", "--help"],
        _make((photo, "in.png")),
        error="error: --help is answered alone: give it without other words (see --help)",
        absent="usage:",
    ),
    Case(
        "run-tflite-empty-output-name",
        [RUN_TFLITE, FLOAT16, "in.png", ""],
        _make((photo, "in.png")),
        error="error: the output name is empty: name the image file to write (.png keeps it "
        "lossless)",
        check=_one_line,
    ),
    Case(
        "run-tflite-empty-input-name",
        [RUN_TFLITE, FLOAT16, "", "o.png"],
        error="error: the input name is empty: name the image file to upscale",
    ),
    Case(
        "run-tflite-empty-model-name",
        [RUN_TFLITE, "", "in.png", "o.png"],
        _make((photo, "in.png")),
        error="error: the model name is empty: name a MAFFSRN .tflite file",
    ),
    # web/build_site.py
    Case(
        "web-build-out-given-twice",
        [BUILD_SITE, "--out", "s2", "--out", "s3"],
        error="--out is given twice: give it once",
    ),
    # flags are written in full (argparse took --ou for --out); every word is used
    Case(
        "web-build-abbreviated-flag",
        [BUILD_SITE, "--ou", "site5"],
        error="error: unknown flag '--ou': flags are not abbreviated; write --out in full "
        "(see --help)",
    ),
    Case(
        "web-build-abbreviated-flag-after-the-full-one",
        [BUILD_SITE, "--out=s2", "--ou=s3"],
        error="error: unknown flag '--ou': flags are not abbreviated; write --out in full "
        "(see --help)",
    ),
    Case(
        "web-build-abbreviation-of-two-flags",
        [BUILD_SITE, "--o", "s2"],
        error="error: unknown flag '--o': flags are not abbreviated; write --out or "
        "--overwrite in full (see --help)",
    ),
    Case(
        "web-build-abbreviated-help",
        [BUILD_SITE, "--he"],
        error="error: unknown flag '--he': flags are not abbreviated; write --help in full "
        "(see --help)",
    ),
    Case(
        "web-build-unknown-flag",
        [BUILD_SITE, "--output", "s2"],
        error="error: unknown flag '--output' (see --help)",
    ),
    Case(
        "web-build-stray-words-are-named",
        [BUILD_SITE, "--out", "s2", "s3", "s4"],
        error="error: unrecognized arguments: s3 s4; this script takes flags only (see --help)",
    ),
    Case(
        "web-build-help-with-other-words",
        [BUILD_SITE, "--out", "s2", "-h"],
        error="error: --help is answered alone: give it without other words (see --help)",
        absent="usage:",
    ),
    Case(
        "web-build-out-inside-a-file",
        [BUILD_SITE, "--out", "afile/site"],
        _make((garbage, "afile")),
        error="is a file, not a folder",
        absent="Traceback",
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


@pytest.mark.parametrize("which", ["input", "model"])
def test_run_tflite_refuses_a_fifo_without_reading_it(tmp_path, which):
    """A FIFO named as the input (or the model) exists: it is not a regular file (reading it
    would block), not "not found". (Outside ``CASES``: their snapshot would read the FIFO.)"""
    photo(str(tmp_path / "in.png"))
    os.mkfifo(tmp_path / "f.png")
    args = [FLOAT16, "f.png"] if which == "input" else ["f.png", "in.png"]
    run = subprocess.run(
        [sys.executable, RUN_TFLITE, *args, "o.png"], cwd=tmp_path, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1 and run.stdout == "", run.stderr
    assert run.stderr.splitlines() == [
        f"error: {which} is not a regular file (a pipe or a device?): f.png"
    ]
    assert sorted(os.listdir(tmp_path)) == ["f.png", "in.png"]


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
    without --overwrite, even listed in a hand-edited marker (a build never wrote those
    names); a file an earlier build wrote and this one does not is dropped."""
    _require_web_build()
    site = tmp_path / "site"
    assert _build(site).returncode == 0
    (site / "CNAME").write_text("maffsrn.example.org\n")
    (site / ".nojekyll").write_text("")
    (site / "extra").mkdir()
    (site / "extra" / "notes.txt").write_text("mine")
    (site / "models" / "old.tflite").write_bytes(b"an earlier build's")
    with open(site / ".maffsrn-site", "a") as f:
        f.write("models/old.tflite\nCNAME\nextra/notes.txt\n")
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


def test_an_out_whose_folder_cannot_be_written_is_one_line(tmp_path):
    """--out in a folder that cannot be made or written (under /proc, read-only): one line
    naming --out's folder, not mkdtemp's traceback."""
    _require_web_build()
    outs = []
    if os.path.isdir("/proc/self"):
        outs.append(("/proc/x/site", "/proc/x"))
    if os.geteuid() != 0:  # root writes in a read-only folder
        (tmp_path / "ro").mkdir(mode=0o555)
        outs.append((str(tmp_path / "ro" / "site"), str(tmp_path / "ro")))
    for out, parent in outs:
        run = _build(out)
        assert run.returncode == 1 and run.stdout == "" and "Traceback" not in run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"error: cannot write in --out's folder {parent} ("
        ), run.stderr
        assert lines[0].endswith(": name a folder you can write to"), run.stderr
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_a_rebuild_keeps_the_modes_of_kept_folders(tmp_path):
    """A kept folder of one's own keeps its mode (0700 stays 0700, a read-only one 0500), and
    so does a build's folder one changed; the new build's other folders are readable by all."""
    _require_web_build()
    site = tmp_path / "site"
    assert _build(site).returncode == 0
    (site / "private").mkdir(mode=0o700)
    (site / "private" / "notes.txt").write_text("mine")
    (site / "frozen").mkdir()
    (site / "frozen" / "a.txt").write_text("a")
    (site / "frozen").chmod(0o500)
    (site / "models").chmod(0o750)
    try:
        run = _build(site)
        assert run.returncode == 0, run.stderr
        modes = {n: (site / n).stat().st_mode & 0o7777 for n in ("private", "frozen", "models")}
        assert modes == {"private": 0o700, "frozen": 0o500, "models": 0o750}
        assert (site / "wasm").stat().st_mode & 0o7777 == 0o755
        assert (site / "private" / "notes.txt").read_text() == "mine"
        assert (site / "frozen" / "a.txt").read_text() == "a"
        assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
    finally:
        (site / "frozen").chmod(0o700)


# a build whose copying stops at the first .wasm until the test signals it (a real build
# takes a fraction of a second): READY tells the test it is there
_SLOW_BUILD = """
import runpy, shutil, sys, time
script, ready = sys.argv[1], sys.argv[2]
copyfile = shutil.copyfile
def slow(src, dst, *args, **kwargs):
    if dst.endswith(".wasm"):
        open(ready, "w").close()
        time.sleep(120)
    return copyfile(src, dst, *args, **kwargs)
shutil.copyfile = slow
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_build_is_one_line_and_removes_the_temporary_folder(tmp_path, signum):
    """Ctrl-C or SIGTERM while the site is copied: one line, 130/143, no ``.tmp-site-*``
    beside --out and no --out; an earlier build there stays as it was."""
    _require_web_build()
    for earlier in (False, True):
        site, ready = tmp_path / "site", tmp_path / "ready"
        if earlier and not site.exists():
            assert _build(site).returncode == 0
        ready.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", _SLOW_BUILD, BUILD_SITE, str(ready), "--out", str(site)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_sigint_as_from_a_terminal,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [n for n in os.listdir(tmp_path) if n.startswith(".tmp-site-p")]
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        words = "interrupted" if signum == signal.SIGINT else "terminated"
        assert proc.returncode == 128 + signum, err
        assert err.splitlines() == [f"error: {words}; no partial site is left behind"], err
        assert out == ""
        assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
        assert site.exists() == earlier
        if earlier:
            assert (site / "index.html").is_file() and (site / "models").is_dir()


def test_a_killed_build_s_temporary_folder_goes_with_the_next_build(tmp_path):
    """A temporary folder names its build's process: once that process is gone, the next
    build removes it; a live build's stays, and so does anything that only looks like one (a
    user's ``.tmp-site-mine``); one named before builds named their process goes once a day
    old."""
    _require_web_build()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    gone = [f".tmp-site-p{dead}-abcd1234", f".tmp-old-site-p{dead}-abcd_234", ".tmp-site-k2j3h4g5"]
    kept = [f".tmp-site-p{os.getpid()}-abcd1234", ".tmp-site-mine", ".tmp-site-a1b2c3d4"]
    for name in gone + kept:
        (tmp_path / name / "wasm").mkdir(parents=True)
        (tmp_path / name / "wasm" / "x.wasm").write_bytes(b"partial")
    (tmp_path / ".tmp-site-p1-x").write_bytes(b"a file of one's own")
    kept.append(".tmp-site-p1-x")
    os.utime(tmp_path / ".tmp-site-k2j3h4g5", (0, 0))  # unnamed, decades old
    run = _build(tmp_path / "site")
    assert run.returncode == 0, run.stderr
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".tmp-")) == sorted(kept)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("script", ["run_tflite", "build_site"])
def test_a_signal_while_a_script_starts_is_one_line(tmp_path, script, signum):
    """Ctrl-C or SIGTERM in the first moments, while the script still imports (NumPy,
    LiteRT): one line and 130/143, not a traceback or a silent death, nothing written."""
    if script == "run_tflite":
        photo(str(tmp_path / "in.png"))
        command = [RUN_TFLITE, FLOAT16, "in.png", "o.png"]
    else:
        command = [BUILD_SITE, "--out", "site"]
    lines = signal_while_starting([sys.executable, *command], tmp_path, signum)
    assert len(lines) == 1, lines
    assert sorted(os.listdir(tmp_path)) == (["in.png"] if script == "run_tflite" else [])
