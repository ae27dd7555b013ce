"""The shared runner (``maffsrn_tf.cli.common``) at the edges a fuzz pass found: a closed or
full standard output, file names that look like a library's ``name=value`` arguments, and
``--help``/``--version`` given with other words. Each is one ``error:`` line (or none), an
exit code that says what happened, and the outputs that could be written, written."""

import os
import signal
import subprocess
import sys

import pytest
from absl import flags
from PIL import Image

from maffsrn_tf.cli import common
from tests.conftest import ROOT, photo

UP = [sys.executable, "-m", "maffsrn_tf.cli.upscale"]
FAST = ["--quantization", "int8"]


def _run(args, cwd, shell_redirect="", **kwargs):
    """``maffsrn-upscale args`` in ``cwd``; ``shell_redirect``: what a shell does to its
    streams first (``>&-`` closes standard output)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [*UP, *args]
    if shell_redirect:
        cmd = ["/bin/sh", "-c", f'exec "$@" {shell_redirect}', "sh", *cmd]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=not kwargs.get("stdout"),
                          text=True, timeout=120, **kwargs)  # fmt: skip


def _image(path):
    Image.fromarray(photo(16, 16)).save(path)


def _listing(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, _, files in os.walk(folder) for f in files)  # fmt: skip


# --- a closed standard output ---------------------------------------------------------------


def test_a_closed_stdout_writes_the_outputs_then_ends_as_a_closed_pipe(tmp_path):
    _image(tmp_path / "a.png")
    run = _run(["a.png", "-o", "out/", *FAST], tmp_path, ">&-")
    assert run.returncode == 141, run.stderr
    assert run.stderr == "error: standard output was closed; finished outputs are kept\n"
    assert _listing(tmp_path / "out") == ["a_x2.png"]
    with Image.open(tmp_path / "out" / "a_x2.png") as im:
        assert im.size == (32, 32)


def test_closed_stdout_and_stderr_still_write_and_exit_non_zero(tmp_path):
    _image(tmp_path / "a.png")
    both = _run(["a.png", "-o", "out/", *FAST], tmp_path, ">&- 2>&-")
    assert both.returncode == 141  # the paths could not be printed
    assert _listing(tmp_path / "out") == ["a_x2.png"]
    refused = _run(["missing.png", "-o", "o2/"], tmp_path, ">&- 2>&-")
    assert refused.returncode == 1 and not os.path.exists(tmp_path / "o2")
    quiet = _run(["a.png", "-o", "o3/", *FAST], tmp_path, "2>&-")  # only stderr closed
    assert quiet.returncode == 0 and quiet.stdout == "o3/a_x2.png\n"
    assert _listing(tmp_path / "o3") == ["a_x2.png"]


def test_version_and_help_into_a_closed_stdout(tmp_path):
    version = _run(["--version"], tmp_path, ">&-")
    assert version.returncode == 141
    assert version.stderr == "error: standard output was closed; the version was not printed\n"
    helped = _run(["--help"], tmp_path, ">&-")  # as into | head: the reader left
    assert helped.returncode == 0 and helped.stderr == ""


# --- a standard output that cannot be written ------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("args", [["a.png", "-o", "o/", *FAST], ["--version"], ["--help"]])
def test_a_full_stdout_is_one_ordinary_line(tmp_path, args):
    _image(tmp_path / "a.png")
    with open("/dev/full", "w") as full:
        run = _run(args, tmp_path, stdout=full, stderr=subprocess.PIPE)
    assert run.returncode == 1
    assert run.stderr == "error: cannot write to standard output: No space left on device\n"
    if args[0] == "a.png":  # the work was done; only its list could not be printed
        assert _listing(tmp_path / "o") == ["a_x2.png"]


# --- file names that look like arguments --------------------------------------------------


def test_file_names_with_name_equals_value_are_left_as_they_are(tmp_path):
    for name in ("overwrite=True.png", "scale=5.png"):
        (tmp_path / name).write_text("junk\n")
    run = _run(["overwrite=True.png", "scale=5.png", "-o", "out/", *FAST], tmp_path)
    assert run.returncode == 1 and run.stdout == ""
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: cannot read overwrite=True.png as an image (UnidentifiedImageError: cannot "
        "identify image file 'overwrite=True.png')",
        "error: cannot read scale=5.png as an image (UnidentifiedImageError: cannot identify "
        "image file 'scale=5.png')",
        "error: 2 of 2 images failed: overwrite=True.png, scale=5.png",
    ], run.stderr
    assert not os.path.exists(tmp_path / "out")


def test_a_folder_run_keeps_such_names_in_its_labels(tmp_path):
    os.makedirs(tmp_path / "in")
    _image(tmp_path / "in" / "scale=5.png")
    (tmp_path / "in" / "overwrite=True.png").write_text("junk\n")
    run = _run(["in", "-o", "out", *FAST], tmp_path)
    assert run.returncode == 1
    assert run.stdout == "out/scale=5_x2.png\n"  # the good one is written and listed
    assert run.stderr.splitlines()[-1] == "error: 1 of 2 images failed: overwrite=True.png"
    assert "--" not in run.stderr, run.stderr
    assert _listing(tmp_path / "out") == ["scale=5_x2.png"]


@pytest.fixture
def upscale_flags(monkeypatch):
    """``flag_words`` over flags like maffsrn-upscale's, in a FlagValues of its own."""
    fv = flags.FlagValues()
    flags.DEFINE_integer("scale", 2, "", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "", flag_values=fv)
    flags.DEFINE_string("format", "", "", flag_values=fv)
    flags.DEFINE_string("background", "auto", "", flag_values=fv)
    flags.DEFINE_integer("tile", None, "", flag_values=fv)
    flags.DEFINE_float("max_megapixels", 200.0, "", flag_values=fv)
    flags.DEFINE_string("output", "", "", flag_values=fv)
    monkeypatch.setattr(common, "FLAGS", fv)
    return {"fmt": "format", "max_pixels": "max_megapixels"}


@pytest.mark.parametrize(
    "message, words",
    [
        # the library's own mentions: translated
        ("scale=5 is not one of 2, 3, 4", "--scale 5 is not one of 2, 3, 4"),
        ("output exists: o/a.png (pass overwrite=True to replace it)",
         "output exists: o/a.png (pass --overwrite to replace it)"),
        ("x (pass overwrite=True to replace it, or errors=FILE)",
         "x (pass --overwrite to replace it, or errors=FILE)"),
        ("it is flattened onto background=white", "it is flattened onto --background white"),
        ("flattened onto background=#ff0000", "flattened onto --background #ff0000"),
        ("flattened onto background=rgb(9,9,9)", "flattened onto --background rgb(9,9,9)"),
        ("over 200,000,000 pixels (max_pixels)", "over 200,000,000 pixels (--max_megapixels)"),
        ("output='a.png' does not end in .jpg (fmt='jpeg')",
         "--output a.png does not end in .jpg (--format jpeg)"),
        ("overlap=8 is not below half of tile=12", "overlap=8 is not below half of --tile 12"),
        ("a: scale=2.5; then", "a: --scale 2.5; then"),
        # file names, bare or quoted: left alone
        ("cannot read overwrite=True.png as an image", None),
        ("cannot identify image file 'overwrite=True.png'", None),
        ("No such file or directory: 'my scale=5 photo.png'", None),
        ('cannot open "it\'s tile=5 here.png"', None),
        ("2 of 2 images failed: overwrite=True_x2.png, scale=5_x2.png", None),
        ("in/scale=5: bad; ./tile=5 too", None),
        ("cannot read photo(scale).png or a (scale).png", None),
        ("scale=5.png, tile=3.jpg: bad", None),
    ],
)  # fmt: skip
def test_flag_words_translate_mentions_not_file_names(upscale_flags, message, words):
    assert common.flag_words(message, upscale_flags) == (words or message)


# --- --help and --version are answered alone ------------------------------------------------


@pytest.mark.parametrize(
    "args, line",
    [
        (["--version", "extra"], "--version takes no other words, got 'extra': run "
         "maffsrn-upscale --version alone"),
        (["a.png", "--version"], "--version takes no other words, got 'a.png': run "
         "maffsrn-upscale --version alone"),
        (["--version", "--scale", "9"], "--version takes no other words, got '--scale' "
         "(and 1 more): run maffsrn-upscale --version alone"),
        (["--version=3"], "--version=3: --version takes no value: write --version alone"),
        (["--help=abc"], "--help=abc: --help takes no value: write --help alone"),
        (["-?=0"], "-?=0: -? takes no value: write -? alone"),
        (["a.png", "--help"], "--help takes no other words, got 'a.png': run "
         "maffsrn-upscale --help alone"),
        (["-?", "-o", "x"], "-? takes no other words, got '-o' (and 1 more): run "
         "maffsrn-upscale -? alone"),
        (["--", "--version"], "input not found: --version"),  # after --: a file's name
    ],
)  # fmt: skip
def test_help_and_version_with_other_words_or_a_value_are_one_line(tmp_path, args, line):
    _image(tmp_path / "a.png")
    run = _run(args, tmp_path)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == f"error: {line}\n"
    assert sorted(os.listdir(tmp_path)) == ["a.png"]


def test_help_and_version_alone_work_as_before(tmp_path):
    helped = _run(["--help"], tmp_path)
    assert helped.returncode == 0 and helped.stderr == "" and "--outscale" in helped.stdout
    for same in (["-?"], ["-h"], ["--help=1"], ["--helpfull"], ["-help=true"]):
        run = _run(same, tmp_path)
        assert (run.returncode, run.stdout, run.stderr) == (0, helped.stdout, ""), same
    version = _run(["--version"], tmp_path)
    assert version.returncode == 0 and version.stderr == ""
    assert version.stdout.startswith("maffsrn-upscale ")
    assert os.listdir(tmp_path) == []


SIGNAL_IN_A_FINALIZER = """
import os, signal, sys, time
from maffsrn_tf.cli.common import run

class Finalized:
    def __del__(self):  # as TensorFlow's clean-up at exit: a signal arrives in a finalizer
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)

KEPT = []

def main(argv):
    if sys.argv[0] == "during":
        Finalized()  # collected at once: the raise inside __del__ is swallowed
        print("work done after the swallowed signal", flush=True)
    else:
        KEPT.append(Finalized())  # collected at the interpreter's exit
    return 0

sys.argv[0] = sys.argv[1]
del sys.argv[1]
run(main)
"""


@pytest.mark.parametrize("when", ["during", "at_exit"])
def test_sigterm_in_a_finalizer_still_ends_as_terminated(tmp_path, when):
    """A SIGTERM that lands in a finalizer (TensorFlow's, while the command ends) raised
    an exception Python only prints as "ignored", and the command exited 0: now it is 143
    and one line, whenever it lands."""
    script = tmp_path / "finalizer_command.py"
    script.write_text(SIGNAL_IN_A_FINALIZER)
    run = subprocess.run([sys.executable, str(script), when], cwd=tmp_path, timeout=60,
                         env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                         text=True)  # fmt: skip
    line = "error: terminated; finished outputs are kept, none is half-written\n"
    if when == "during":  # ended at once, not after the rest of the work
        assert (run.returncode, run.stdout, run.stderr) == (143, "", line)
    else:  # the finished command ends without tearing its objects down (exit_now): the
        # finalizer that would have been sent the signal never runs, and the work is done
        assert (run.returncode, run.stderr) == (0, ""), run


def test_a_full_stderr_loses_the_messages_not_the_work(tmp_path):
    """``2> /dev/full``: the progress lines cannot be written; the images are upscaled all
    the same (as with a closed stderr), and the exit code tells how it went."""
    for name in ("a.png", "b.png"):
        _image(tmp_path / name)
    with open(os.devnull if not os.path.exists("/dev/full") else "/dev/full", "w") as full:
        run = subprocess.run([*UP, "a.png", "b.png", "-o", "o/", *FAST], cwd=tmp_path,
                             env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                             stderr=full, text=True, timeout=120)  # fmt: skip
    assert (run.returncode, run.stdout.split()) == (0, ["o/a_x2.png", "o/b_x2.png"])


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.1])
def test_sigterm_as_the_last_output_is_printed_is_never_a_silent_kill(tmp_path, delay):
    """A job manager's SIGTERM as the command ends: it exits 0 (done before the signal) or
    143 with the line, never killed without a word while Python tears its modules down."""
    import time

    for i in range(3):
        _image(tmp_path / f"{i}.png")
    proc = subprocess.Popen([*UP, "0.png", "1.png", "2.png", "-o", "o/", *FAST], cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines = [proc.stdout.readline() for _ in range(3)]
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert len(lines) == 3 and "Traceback" not in err
    line = "error: terminated; finished outputs are kept, none is half-written"
    assert proc.returncode == 0 or (proc.returncode, err.splitlines()[-1]) == (143, line), err


HANGING_CLEAN_UP = """
import os, signal, sys, threading, time
from maffsrn_tf.cli import common

common.STOP_GRACE_S = 1.0

def main(argv):
    def worker():  # a library's worker thread, failing once the command is stopped
        while True:
            time.sleep(0.05)
            if common._RECEIVED:
                raise RuntimeError("Worker subprocess exited with return code -15")
    threading.Thread(target=worker, daemon=True).start()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    finally:  # a clean-up that never ends (Beam's, waiting for a worker thread)
        import logging
        logging.getLogger("beam").critical("CRITICAL - Worker stopped")
        time.sleep(30)
    return 0

sys.argv[0] = "hang"
common.run(main)
"""


def test_a_clean_up_that_never_ends_is_ended_after_the_grace_time(tmp_path):
    """A library that waits forever in its clean-up once stopped (Beam's multi-processing
    runner did): the command still ends, STOP_GRACE_S after the signal, with the one line and
    143, and without its worker threads' tracebacks or the library's log records."""
    import time

    script = tmp_path / "hanging_command.py"
    script.write_text(HANGING_CLEAN_UP)
    start = time.monotonic()
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, timeout=60,
                         env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                         text=True)  # fmt: skip
    assert time.monotonic() - start < 20
    assert (run.returncode, run.stderr) == (
        143,
        "error: terminated; finished outputs are kept, none is half-written\n",
    )


def test_a_stopped_run_still_lists_what_it_wrote_on_stdout(tmp_path):
    """SIGTERM mid-run into a pipe: the paths of the outputs finished before it are on
    stdout (a script learns what was written), one per output file there."""
    (tmp_path / "in").mkdir()
    for i in range(8):
        Image.fromarray(photo(96, 96, i)).save(tmp_path / "in" / f"{i}.png")
    proc = subprocess.Popen([*UP, "in", "-o", "o/", *FAST, "--self_ensemble"], cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    for line in proc.stderr:
        if line.startswith("[4/8]"):
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143
    written = sorted(f"o/{n}" for n in os.listdir(tmp_path / "o"))
    assert written and sorted(out.split()) == written


def test_damaged_exif_is_one_warning_line_naming_the_file(tmp_path):
    """Pillow warns about corrupt EXIF with a bare Python warning (no file named, shown
    once a process): a command shows one ``warning:`` line naming the file instead."""
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 40
    Image.fromarray(photo(20, 24)).save(tmp_path / "g.jpg", exif=exif)
    run = _run(["g.jpg", "-o", "o/", *FAST], tmp_path)
    assert (run.returncode, run.stdout) == (0, "o/g_x2.jpg\n"), run.stderr
    lines = run.stderr.splitlines()
    assert lines == [
        "warning: g.jpg: its EXIF is damaged (a directory of it runs past its end); it is left out"
    ], run.stderr


def test_number_flags_take_ascii_digits_only(tmp_path):
    """absl had read --width 0x40 as 64 (0o17 as 15), and Python's int and float take 1_000
    and other scripts' digits (٤٠): a number flag takes the digits 0-9 (inf and nan reach
    the flags' own checks, which name them)."""
    values = flags.FlagValues()
    common.define_integer("count", 1, "a count", 0, flag_values=values)
    common.define_float("factor", 1.0, "a factor", flag_values=values)
    values(["prog", "--count", " +12", "--factor", "-2.5e1"])
    assert (values.count, values.factor) == (12, -25.0)
    for flag, word in (("count", "0x40"), ("count", "0o17"), ("count", "1_000"),
                       ("count", "٤٠"), ("count", "1.0"), ("factor", "0x2"),
                       ("factor", "1_0.5"), ("factor", "٢")):  # fmt: skip
        with pytest.raises(flags.IllegalFlagValueError, match=f"'{word}' is not a "):
            values(["prog", f"--{flag}", word])
    values(["prog", "--factor", "nan"])
    _image(tmp_path / "a.png")
    run = _run(["a.png", "-o", "b.png", "--width", "0x40", *FAST], tmp_path)
    assert run.returncode == 1 and run.stderr.strip().splitlines()[-1] == (
        "error: --width takes a whole number in the digits 0-9, not '0x40' (see --help)"
    )
    assert _listing(tmp_path) == ["a.png"]


def test_an_output_never_replaces_a_shipped_file_or_a_runs_backup(tmp_path, capsys):
    """pack --overwrite had replaced the shipped maffsrn_x2.npz (every Keras upscale then
    failed), and evaluate --json a run's backup record (its resume then failed): every
    command's output file check refuses both, even with --overwrite."""
    from maffsrn_tf.model.shipped import weights_path

    (tmp_path / "run" / "backup").mkdir(parents=True)
    (tmp_path / "run" / "flags.json").write_text("{}")
    record = tmp_path / "run" / "backup" / "training_metadata.json"
    record.write_text('{"epoch": 1}')
    for path, said in ((weights_path("maffsrn_x2"), "lies in the maffsrn_tf package ("),
                       (str(record), f"is a record of the training run in {tmp_path / 'run'}: "
                        "it is never replaced, even with --overwrite")):  # fmt: skip
        with pytest.raises(SystemExit):
            common.check_output_file(path, "--output", overwrite=True)
        assert said in capsys.readouterr().err
    assert record.read_text() == '{"epoch": 1}'


def test_an_output_under_a_file_is_named_as_such(tmp_path, capsys):
    """``--json afile/x.json`` said "its folder does not exist" of a path that exists, a
    file (fuzz pass 22)."""
    (tmp_path / "afile").write_text("mine")
    for path in (tmp_path / "afile" / "x.json", tmp_path / "afile" / "deeper" / "x.json"):
        with pytest.raises(SystemExit):
            common.check_output_file(str(path), "--json")
        assert capsys.readouterr().err == (
            f"error: --json {path}: {tmp_path / 'afile'} is a file, not a folder: name a file "
            "in a folder\n"
        )
    with pytest.raises(SystemExit):
        common.check_output_file(str(tmp_path / "nod" / "x.json"), "--json")
    assert "its folder does not exist" in capsys.readouterr().err
    assert (tmp_path / "afile").read_text() == "mine"


def test_required_flags_left_out_are_one_line():
    """absl joins one line per required flag left out; the error line showed them with a
    literal \\n between (fuzz pass 23): now one sentence naming them."""
    from absl.flags import IllegalFlagValueError

    text = "\n".join(
        f"flag --{name}=None: Flag --{name} must have a value other than None."
        for name in ("input_pattern", "output_dir")
    )
    assert common._flag_error(IllegalFlagValueError(text)) == (
        "--input_pattern and --output_dir are required"
    )
    one = "flag --output_dir=None: Flag --output_dir must have a value other than None."
    assert common._flag_error(IllegalFlagValueError(one)) == "--output_dir is required"


def test_a_command_run_from_a_deleted_folder_is_one_line(tmp_path):
    """From a folder deleted meanwhile, maffsrn-upscale ended in "unexpected
    FileNotFoundError" at the first relative path (fuzz pass 23)."""
    from conftest import ROOT

    script = f'cd "{tmp_path}/gone" && rmdir ../gone && exec "{sys.executable}" -m ' + (
        "maffsrn_tf.cli.upscale in.png --quantization int8"
    )
    (tmp_path / "gone").mkdir()
    run = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=ROOT))  # fmt: skip
    assert (run.returncode, run.stdout) == (1, ""), run.stderr
    assert run.stderr == (
        "error: the current folder no longer exists (deleted?): cd to a folder that exists\n"
    )
