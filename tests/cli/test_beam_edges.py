"""``maffsrn-beam`` at the edges a fuzz pass found: a runner that cannot start, two runs into
one output folder at once, reruns (existing outputs, the errors file of an earlier run), empty
values of Beam's pipeline options, a hard link of an input as the errors file, misspelled
flags, and SIGTERM as the run ends. Each is one ``error:`` line (or none) naming the problem
and the fix, an exit code that says what happened, and no file or folder damaged or left
behind."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT

BEAM = [sys.executable, "-m", "maffsrn_tf.cli.beam"]
ENV = dict(os.environ, PYTHONPATH=ROOT)
EXISTS = "(pass --overwrite to replace them, or --skip_existing to leave them)"


def _images(folder, n=3):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        size = 16 + 8 * i
        rgb = rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(folder / f"img{i}.png")


def _beam(args, cwd, **kwargs):
    return subprocess.run([*BEAM, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=300, **kwargs)  # fmt: skip


def _errors(run):
    text = run if isinstance(run, str) else run.stderr
    return [line for line in text.splitlines() if line.startswith("error:")]


def _one_error(run, code=1):
    """The run's one ``error:`` line, after checking it is its only one and no traceback."""
    assert run.returncode == code, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    (line,) = _errors(run)
    return line


def _listing(folder):
    return sorted(os.listdir(folder))


COMMON = ["--input_pattern", "imgs/*", "--tile", "0"]


# 1. a runner that cannot start


def test_a_runner_that_cannot_start_is_one_line_with_beams_reasons_and_leaves_nothing(tmp_path):
    """Dataflow without a project: Beam's reasons are on the lines after its first, and are
    all in the one line; the output folder (and a missing parent) is not left behind."""
    _images(tmp_path / "imgs")
    run = _beam([*COMMON, "--output_dir", "o5", "--runner", "DataflowRunner"], tmp_path)
    line = _one_error(run)
    assert line.startswith(
        "error: the DataflowRunner cannot run the pipeline: Pipeline has validations errors: "
    ), line
    for reason in ("temp_location", "project", "region"):
        assert reason in line, line
    assert _listing(tmp_path) == ["imgs"]
    # a runner that fails once the folders are made: they are removed again
    run = _beam([*COMMON, "--output_dir", "np/o6", "--runner", "PortableRunner"], tmp_path)
    line = _one_error(run)
    assert line.startswith("error: the PortableRunner cannot run the pipeline: "), line
    assert "job_endpoint" in line and "unexpected" not in line
    assert _listing(tmp_path) == ["imgs"]
    # a job server that does not answer: said in seconds (Beam waited 300 s, then a bare
    # "FutureTimeoutError"), before anything is made
    import socket

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    run = _beam([*COMMON, "--output_dir", "o7", "--runner", "PortableRunner", "--job_endpoint",
                 f"127.0.0.1:{port}"], tmp_path)  # fmt: skip
    assert _one_error(run) == (
        f"error: the PortableRunner cannot run the pipeline: its job server at 127.0.0.1:{port} "
        "does not answer (Connection refused): start it"
    )
    assert time.monotonic() - started < 60 and _listing(tmp_path) == ["imgs"]


# 2. two runs at once


def test_two_runs_into_one_folder_never_replace_each_others_errors_file(tmp_path):
    """Each output is written by one run; a run whose errors file was taken meanwhile
    writes its errors beside it, under a new name it reports, and still exits 1."""
    _images(tmp_path / "imgs")
    args = [*BEAM, *COMMON, "--output_dir", "o7"]
    runs = [subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    done = []
    for r in runs:
        out, err = r.communicate(timeout=300)
        done.append((r.returncode, out, err))
    assert _listing(tmp_path / "o7") == ["img0_x2.png", "img1_x2.png", "img2_x2.png"]
    listed = []
    for code, out, err in done:
        assert "Traceback" not in err, err
        errors = _errors(err)
        if code == 0:
            assert errors == [] and "upscaled" in out, err
            continue
        assert code == 1 and len(errors) == 1, err
        if errors[0].startswith("error: output exists: "):  # started after the other ended
            assert errors[0].endswith(EXISTS), errors
            continue
        found = re.match(r"error: (\d) of 3 files failed; listed in (\S+)", errors[0])
        assert found, errors
        failed, where = int(found.group(1)), found.group(2)
        if where != "o7-errors.txt":
            assert errors[0].endswith("(o7-errors.txt was written meanwhile by another run)")
        lines = (tmp_path / where).read_text().splitlines()
        assert len(lines) == failed and all("output exists" in ln for ln in lines), lines
        assert all(ln.endswith("(pass --overwrite to replace it)") for ln in lines), lines
        listed.append(where)
    assert len(set(listed)) == len(listed)  # no run's errors replaced another's
    assert not [n for n in os.listdir(tmp_path / "o7") if n.startswith(".tmp-")]


# 3. reruns


def test_a_rerun_refuses_existing_outputs_and_skip_existing_goes_on(tmp_path):
    """As maffsrn-upscale: existing outputs are refused before any work; --skip_existing
    upscales only what is new; the errors file of the earlier run never blocks a rerun."""
    _images(tmp_path / "imgs", 2)
    first = _beam([*COMMON, "--output_dir", "o5"], tmp_path)
    assert first.returncode == 0 and _errors(first) == [], first.stderr
    assert first.stdout.splitlines()[-1] == "upscaled 2 images into o5"
    assert (tmp_path / "o5-errors.txt").read_text() == ""  # nothing failed
    before = {n: os.stat(tmp_path / "o5" / n).st_mtime_ns for n in _listing(tmp_path / "o5")}

    again = _beam([*COMMON, "--output_dir", "o5"], tmp_path)
    assert _one_error(again) == (
        f"error: output exists: o5/img0_x2.png and 1 other output(s) {EXISTS}"
    )
    assert {n: os.stat(tmp_path / "o5" / n).st_mtime_ns for n in before} == before

    Image.new("RGB", (20, 16), "red").save(tmp_path / "imgs" / "new.png")
    (tmp_path / "imgs" / "junk.png").write_bytes(b"not an image\n")
    more = _beam([*COMMON, "--output_dir", "o5", "--skip_existing"], tmp_path)
    assert _one_error(more) == "error: 1 of 4 files failed; listed in o5-errors.txt"
    assert more.stdout.splitlines()[-1] == (
        "upscaled 1 images into o5 (skipped 2 whose output exists)"
    )
    assert _listing(tmp_path / "o5") == ["img0_x2.png", "img1_x2.png", "new_x2.png"]
    assert {n: os.stat(tmp_path / "o5" / n).st_mtime_ns for n in before} == before
    (line,) = (tmp_path / "o5-errors.txt").read_text().splitlines()
    assert line.startswith("imgs/junk.png: cannot read"), line

    # the junk removed, the run goes on: the earlier run's errors file is replaced
    os.unlink(tmp_path / "imgs" / "junk.png")
    last = _beam([*COMMON, "--output_dir", "o5", "--skip_existing"], tmp_path)
    assert last.returncode == 0 and _errors(last) == [], last.stderr
    assert (tmp_path / "o5-errors.txt").read_text() == ""


def test_an_errors_file_no_run_wrote_is_never_replaced_without_overwrite(tmp_path):
    _images(tmp_path / "imgs", 1)
    (tmp_path / "o-errors.txt").write_text("precious\n")
    run = _beam([*COMMON, "--output_dir", "o", "--skip_existing"], tmp_path)
    assert _one_error(run) == (
        "error: --errors o-errors.txt exists and is no errors file an earlier run wrote (or it "
        "was changed since): it is never replaced; name another file (--errors FILE)"
    )
    assert (tmp_path / "o-errors.txt").read_text() == "precious\n"
    assert _listing(tmp_path) == ["imgs", "o-errors.txt"]
    run = _beam([*COMMON, "--output_dir", "o", "--skip_existing", "--overwrite"], tmp_path)
    assert _one_error(run) == (
        "error: --skip_existing and --overwrite contradict each other: pass one"
    )
    # named through the output folder the run makes (o2/..): checked as what it will name
    run = _beam([*COMMON, "--output_dir", "o2", "--errors", "o2/../o-errors.txt"], tmp_path)
    assert _one_error(run) == (
        "error: --errors o2/../o-errors.txt exists and is no errors file an earlier run wrote "
        "(or it was changed since): it is never replaced; name another file"
    )
    assert _listing(tmp_path) == ["imgs", "o-errors.txt"]


def test_what_counts_as_an_earlier_runs_errors_file(tmp_path):
    """An errors file a run wrote, unchanged since (its record beside it, the SHA-256 of its
    contents); never a file only shaped like one (a captions file whose lines begin with
    the inputs' names and ": ", an empty file someone made), one changed since, nor a link."""
    from maffsrn_tf.upscaler.beam import BeamConfig, _earlier_errors_file, _put_errors

    config = BeamConfig(input_pattern=str(tmp_path / "imgs/*.png"), output_dir="o",
                        errors_path=str(tmp_path / "e.txt"))  # fmt: skip
    e = tmp_path / "e.txt"
    for text in ("imgs/a.png: Grandma at the beach, 1987\n", ""):  # shaped as one: a user's
        e.write_text(text)
        assert _earlier_errors_file(str(e), config) is False, text
    e.unlink()
    for text in ("imgs/a.png: cannot read imgs/a.png as an image (x)\n", ""):
        assert _put_errors(config, text, None) == (str(e), False)
        assert _earlier_errors_file(str(e), config) is True, text
        assert (tmp_path / ".e.txt.maffsrn-beam").is_file()
        earlier = os.lstat(e)
        assert _put_errors(config, "imgs/b.png: x\n", earlier) == (str(e), False)  # replaced
        assert e.read_text() == "imgs/b.png: x\n" and _earlier_errors_file(str(e), config)
        e.unlink()
    _put_errors(config, "imgs/a.png: x\n", None)
    e.write_text("imgs/a.png: x\nmy note\n")  # changed since: the user's now
    assert _earlier_errors_file(str(e), config) is False
    os.symlink(e, tmp_path / "link.txt")
    assert _earlier_errors_file(str(tmp_path / "link.txt"), config) is False
    # the record: a FIFO there is not read (it had blocked the run), a long name's is hashed
    _put_errors(config, "", None) if not e.exists() else None
    e.unlink()
    _put_errors(config, "imgs/a.png: x\n", None)
    record = tmp_path / ".e.txt.maffsrn-beam"
    record.unlink()
    os.mkfifo(record)
    assert _earlier_errors_file(str(e), config) is False
    long = BeamConfig(input_pattern=str(tmp_path / "imgs/*.png"), output_dir="o",
                      errors_path=str(tmp_path / ("e" * 246 + ".txt")))  # fmt: skip
    written, _ = _put_errors(long, "imgs/a.png: x\n", None)
    assert _earlier_errors_file(written, long) is True  # its record written, and found


# 4. empty values of Beam's pipeline options


@pytest.mark.parametrize("words", [["--temp_location="], ["--temp_location", ""]])
def test_an_empty_pipeline_option_is_refused(tmp_path, words):
    _images(tmp_path / "imgs", 1)
    run = _beam([*COMMON, "--output_dir", "o", *words], tmp_path)
    assert _one_error(run) == "error: --temp_location is empty: give it a value, or leave it out"
    assert _listing(tmp_path) == ["imgs"]


# 5. a hard link of an input as the errors file


def test_a_hard_link_of_an_input_is_no_errors_file(tmp_path):
    _images(tmp_path / "imgs", 1)
    os.link(tmp_path / "imgs" / "img0.png", tmp_path / "hl.png")
    data = (tmp_path / "hl.png").read_bytes()
    run = _beam([*COMMON, "--output_dir", "out3", "--errors", "hl.png", "--overwrite"], tmp_path)
    assert _one_error(run) == "error: --errors hl.png is one of the inputs: name another file"
    assert (tmp_path / "hl.png").read_bytes() == data
    assert os.path.samefile(tmp_path / "hl.png", tmp_path / "imgs" / "img0.png")
    assert _listing(tmp_path) == ["hl.png", "imgs"]


# 6. misspelled flags


@pytest.mark.parametrize(
    "word, meant",
    [("--input", "--input_pattern"), ("--out", "--output_dir"), ("--sacle", "--scale"),
     ("--temp_locaton", "--temp_location"), ("--temp", "--temp_location")],
)  # fmt: skip
def test_a_misspelled_flag_suggests_this_commands_flag_first(tmp_path, word, meant):
    _images(tmp_path / "imgs", 1)
    run = _beam([*COMMON, "--output_dir", "o", word, "foo"], tmp_path)
    assert _one_error(run) == (
        f"error: unknown argument {word!r} (did you mean {meant}?): neither a flag of "
        "maffsrn-beam nor one of Beam's pipeline options (see --help)"
    )


# 7. SIGTERM as the run ends


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.3])
def test_sigterm_as_the_run_ends_is_one_line_or_a_normal_exit(tmp_path, delay):
    """Python's shutdown of this process took about a second, with SIGTERM at its default
    action for most of it: a SIGTERM then killed the finished command without a line."""
    _images(tmp_path / "imgs", 1)
    proc = subprocess.Popen([*BEAM, *COMMON, "--output_dir", "o"], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    for line in proc.stdout:
        if line.startswith("upscaled"):
            time.sleep(delay)
            proc.send_signal(signal.SIGTERM)
            break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 143), (proc.returncode, err)  # never killed (-15)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    if proc.returncode == 143:
        assert _errors(err) == [
            "error: terminated; finished outputs are kept, none is half-written"
        ], err
    else:
        assert _errors(err) == [], err
    assert _listing(tmp_path / "o") == ["img0_x2.png"]


@pytest.mark.parametrize("errors", ["imgs/errs.txt", "imgs/../imgs/errs.txt"])
def test_an_errors_file_the_pattern_would_read_is_refused(tmp_path, errors):
    """An errors file among the inputs the pattern matches: a rerun would read it as an
    image (and then refuse it as an input); refused before anything runs, however spelled."""
    _images(tmp_path / "imgs")
    run = _beam([*COMMON, "--output_dir", "out", "--errors", errors], tmp_path)
    assert _one_error(run) == (
        f"error: --errors {errors} would match --input_pattern imgs/* (a rerun would read it "
        "as an image): name a file the pattern does not reach"
    )
    assert _listing(tmp_path) == ["imgs"] and len(_listing(tmp_path / "imgs")) == 3


def test_skip_existing_redoes_a_cut_output_and_keeps_what_is_not_one(tmp_path):
    """Beam's reruns follow maffsrn-upscale's rule: an earlier output cut short is redone, a
    file there that is not an earlier output (an empty one) fails that input alone and is
    kept, a whole one is left."""
    _images(tmp_path / "imgs")
    first = _beam([*COMMON, "--output_dir", "out"], tmp_path)
    assert first.returncode == 0, first.stderr
    out = tmp_path / "out"
    whole = (out / "img0_x2.png").read_bytes()
    (out / "img0_x2.png").write_bytes(whole[:100])
    (out / "img1_x2.png").write_bytes(b"")
    kept = (out / "img2_x2.png").stat().st_mtime_ns
    run = _beam([*COMMON, "--output_dir", "out", "--skip_existing"], tmp_path)
    assert _one_error(run) == "error: 1 of 3 files failed; listed in out-errors.txt"
    assert (out / "img0_x2.png").read_bytes() == whole
    assert (out / "img1_x2.png").read_bytes() == b""
    assert (out / "img2_x2.png").stat().st_mtime_ns == kept
    assert (tmp_path / "out-errors.txt").read_text() == (
        "imgs/img1.png: output out/img1_x2.png exists and is not an earlier output of "
        "imgs/img1.png (not an image Pillow reads): pass --overwrite to replace it\n"
    )


def test_a_rerun_replaces_its_errors_file_that_names_a_file_beam_drops(tmp_path):
    """The errors file of a run whose failure is a name Beam's match drops (a backslash)
    is still that run's: a rerun replaces it; the summary lines stay one line each."""
    _images(tmp_path / "imgs", 1)
    (tmp_path / "imgs" / "a\\b.png").write_bytes((tmp_path / "imgs" / "img0.png").read_bytes())
    first = _beam([*COMMON, "--output_dir", "o\nut"], tmp_path)
    assert _one_error(first) == "error: 1 of 2 files failed; listed in o\\nut-errors.txt"
    assert first.stdout.splitlines()[-1] == "upscaled 1 images into o\\nut"
    again = _beam([*COMMON, "--output_dir", "o\nut", "--skip_existing"], tmp_path)
    assert _one_error(again) == "error: 1 of 2 files failed; listed in o\\nut-errors.txt"
    assert (tmp_path / "o\nut-errors.txt").read_text().startswith("imgs/a\\b.png: Beam's")
