"""What every command line shares: the model flags, ``--version``, one way to fail, a check
that TensorFlow is there before work starts, and quiet TensorFlow logs.

No TensorFlow here: commands validate their arguments before they import it, so a bad
argument costs milliseconds and prints one line.
"""

import atexit
import contextlib
import dataclasses
import importlib.util
import logging
import math
import os
import re
import signal
import stat
import sys
import textwrap
import threading
import warnings

from absl import app, flags

from maffsrn_tf import __version__
from maffsrn_tf.errors import first_line, listed, one_line
from maffsrn_tf.io.atomic import not_a_regular_file
from maffsrn_tf.io.paths import (
    PACKAGE_DIR,
    not_found,
    package_file,
    remove_made_folders,
    same_file_among,
    unreadable_entry,
    within,
)
from maffsrn_tf.model.presets import PRESETS, SCALES, preset_for_scale
from maffsrn_tf.options import flag_name, value_type

TF_LOGS_ENV = "MAFFSRN_TF_LOGS"
TRACEBACK_ENV = "MAFFSRN_TF_TRACEBACK"  # =1: let an unexpected error show its traceback
FLAGS = flags.FLAGS

flags.DEFINE_bool(
    "tf_logs",
    False,
    f"Show TensorFlow's native logging (start-up lines, oneDNN, CUDA); also {TF_LOGS_ENV}=1.",
)
# the flags this module's functions define belong to the command that calls them
flags.disclaim_key_flags()

TENSORFLOW_INSTALL = 'pip install "maffsrn_tf[tensorflow]"'
SEPARATORS = tuple(s for s in (os.sep, os.altsep) if s)  # on Windows both \ and /
_SCALE_WORDS = ", ".join(map(str, SCALES[:-1])) + f" or {SCALES[-1]}"


_DECIMAL = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(
    r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)", re.I
)


class _DecimalParser(flags.IntegerParser):
    """absl's integer flag parser, of decimal ASCII digits only: absl reads 0x40 as 64,
    0o17 as 15, and Python's int takes 1_000 and other scripts' digits."""

    def convert(self, argument):
        if isinstance(argument, str) and not _DECIMAL.fullmatch(argument.strip()):
            raise ValueError(f"{argument!r} is not a whole number in the digits 0-9")
        return super().convert(argument)


class _NumberParser(flags.FloatParser):
    """absl's float flag parser, of ASCII digits only (Python's float takes 1_000.5 and
    other scripts' digits); inf and nan pass, for the flags' own checks to name."""

    def convert(self, argument):
        if isinstance(argument, str) and not _NUMBER.fullmatch(argument.strip()):
            raise ValueError(f"{argument!r} is not a number in the digits 0-9")
        return super().convert(argument)


def define_integer(name, default, text, lower_bound=None, upper_bound=None, **args):
    """``flags.DEFINE_integer`` in decimal ASCII digits (``_DecimalParser``)."""
    parser = _DecimalParser(lower_bound, upper_bound)
    return flags.DEFINE(parser, name, default, text, serializer=flags.ArgumentSerializer(), **args)


def define_float(name, default, text, lower_bound=None, upper_bound=None, **args):
    """``flags.DEFINE_float`` in ASCII digits (``_NumberParser``)."""
    parser = _NumberParser(lower_bound, upper_bound)
    return flags.DEFINE(parser, name, default, text, serializer=flags.ArgumentSerializer(), **args)


def define_model_flags(preset=True, short=False):
    """``--scale`` (and ``--preset``) for a command that runs one model; a command module
    calls it at import. MAFFSRN-L presets ship no weights: a command that needs shipped
    weights says so when one is asked for without a weights file."""
    # a process runs one command, but one that imports several command modules (a test)
    # must not define the flags twice
    if "scale" not in FLAGS:
        define_integer(
            "scale", 2, f"Upscaling factor: {_SCALE_WORDS}.", short_name="s" if short else None
        )
        flags.register_validator(
            "scale", lambda v: v in SCALES, message=f"--scale must be {_SCALE_WORDS}"
        )
    if preset and "preset" not in FLAGS:
        flags.DEFINE_enum(
            "preset",
            None,
            list(PRESETS),
            "Model preset (default: maffsrn_x{scale}, or as stated; the maffsrn_l_* presets "
            "ship no weights).",
            case_sensitive=False,
        )


def preset_of_flags(large=False):
    """--preset, or the preset of --scale (MAFFSRN-L with ``large``); one line when --preset
    and a --scale given with it disagree (--preset alone picks its scale)."""
    if not FLAGS.preset:
        return preset_for_scale(FLAGS.scale, large)
    scale = PRESETS[FLAGS.preset]["scale"]
    if FLAGS["scale"].present and FLAGS.scale != scale:
        fail(
            f"--preset {FLAGS.preset} upscales x{scale}, but --scale {FLAGS.scale}: pass one "
            "of them (--preset alone picks its scale)"
        )
    return FLAGS.preset


def _fields(cls, names):
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    return [by_name[name] for name in names]


def define_option_flags(cls, names, defaults=None, short=None):
    """One flag per field ``names`` of the options class ``cls`` (``TrainConfig``,
    ``UpscaleOptions``): its name, type, default, help, choices and bounds come from the
    field (``maffsrn_tf.options.option``). ``defaults``: a command's own default for a field
    (``maffsrn-beam``'s threads per worker); ``short``: one-letter names
    (``{"quality": "q"}``). The flags belong to the calling command's
    module (its ``--help`` lists them: this module disclaims the flags it defines)."""
    for field in _fields(cls, names):
        meta, name, kind = field.metadata, flag_name(field), value_type(field)
        default = (defaults or {}).get(field.name, field.default)
        one = {"short_name": (short or {}).get(field.name)}
        per, choices, text = meta["per"], meta["choices"], meta["help"]
        if default != field.default:  # the command's own default: the help's is not it
            text = re.sub(r" ?\(default: [^)]*\)", "", text)
        if per != 1:  # a flag in other units (--max_megapixels for max_pixels)
            define_float(name, default / per, text)
            flags.register_validator(  # finite, and at least 1 in the field's units
                name,
                lambda v, per=per: v is not None and math.isfinite(v) and v * per >= 1,
                message=f"--{name} must be a positive number (finite, at least {1 / per:g})",
            )
        elif kind is str and choices:
            real = [c for c in choices if c != ""]  # "": the flag left out
            # --container MKV: the choice as written (the options object lowers it too)
            flags.DEFINE_enum(name, default or None, real, text, case_sensitive=False, **one)
        elif kind is bool:
            flags.DEFINE_bool(name, default, text, **one)
        elif kind is int:
            define_integer(name, default, text, meta["lower"], meta["upper"], **one)
            if choices:
                flags.register_validator(
                    name,
                    lambda v, c=choices: v is None or v in c,
                    message=f"--{name} must be one of {', '.join(map(str, choices))}",
                )
        elif kind is float:
            define_float(name, default, text, meta["lower"], meta["upper"], **one)
        else:  # str, and paths of open type ("": none)
            flags.DEFINE_string(name, default or "", text, **one)


def option_values(cls, names):
    """``{field: value}`` of the flags ``define_option_flags`` made, in the fields' units
    (a flag left empty is the field's ``None`` or ``""``)."""
    values = {}
    for field in _fields(cls, names):
        value, per = FLAGS[flag_name(field)].value, field.metadata["per"]
        if per != 1:
            value = int(round(value * per))
        elif value in (None, "") and field.default in (None, ""):
            value = field.default
        values[field.name] = value
    return values


def option_aliases(cls):
    """``{name in messages: flag}`` where an options class's flag is named otherwise, for
    ``flag_words`` (``fmt='gif'`` is ``--format gif``)."""
    from maffsrn_tf.options import public_name

    return {
        public_name(f): flag_name(f)
        for f in dataclasses.fields(cls)
        if "help" in f.metadata and public_name(f) != flag_name(f) and f.metadata["per"] == 1
    }


def require_tensorflow(what, any_backend=True):
    """Fail with one line unless the Keras backend ``what`` needs can be imported: TensorFlow
    (Keras' default backend), or the backend ``KERAS_BACKEND`` names (``any_backend``; else
    TensorFlow itself)."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow") if any_backend else "tensorflow"
    if importlib.util.find_spec("keras") is None or backend == "tensorflow":
        if importlib.util.find_spec("tensorflow") is None:
            fail(f"{what} needs TensorFlow: {TENSORFLOW_INSTALL}")
    if importlib.util.find_spec("keras") is None:
        fail(f"{what} needs Keras: {TENSORFLOW_INSTALL}")
    if backend in ("jax", "torch") and importlib.util.find_spec(backend) is None:
        fail(f'{what} with KERAS_BACKEND={backend} needs it: pip install "maffsrn_tf[{backend}]"')


def error_line(message):
    """Print ``error: message`` as one line on stderr."""
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` of the commands: a library's Python warning (Pillow's
    "Corrupt EXIF data") as one ``warning:`` line, not its file, line and source."""
    print(f"warning: {one_line(str(message))}", file=sys.stderr, flush=True)


def fail(message):
    """Print ``error: message`` as one line on stderr and exit with status 1."""
    error_line(message)
    sys.exit(1)


# What a library message names of its arguments, and only that: ``name=value`` and
# ``(name)`` stand as words of the message (after its start, a space or "("; before its end,
# a space, or ,;:) and then one of those), the value quoted or one plain token (a number,
# a word, #rrggbb, rgb(...)). So a file name never is one: not "scale=5.png",
# "scale=5_x2.png", "in/tile=5" nor "a(scale).png", and nothing inside a quoted path
# ('overwrite=True.png', "my scale=5 photo.png") is read.
_VALUE = (
    r"""'[^']*'|"[^"]*"|"""  # quoted: fmt='gif'
    r"""[A-Za-z]+\([^()\s'"]*\)"""  # background=rgb(0,0,0)
    r"|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"  # scale=5, outscale=3.5
    r"|[\w#+-]+"  # overwrite=True, background=#ff0000: no dot, no separator
)
_END = r"(?=[,;:)]*(?:$|\s))"
_MENTION = re.compile(
    rf"(?<![^\s(])(?P<name>[a-z][a-z0-9_]*)=(?P<value>{_VALUE}){_END}"  # scale=5
    rf"|(?<!\S)\((?P<bare>[a-z][a-z0-9_]*)\){_END}"  # (max_pixels)
    r"""|(?<!\w)(?:'.*?'|".*?")(?!\w)"""  # a quoted path: left as it is
)


def _is_long_flag(name):
    """Whether ``name`` is a flag's own name (not a one-letter short name: "(s)" is a plural)."""
    return name in FLAGS and FLAGS[name].name == name


def flag_words(message, aliases=None):
    """A library message in this command's flag words: ``scale=5`` becomes ``--scale 5``,
    ``overwrite=True`` ``--overwrite`` and ``(max_pixels)`` ``(--max_megapixels)``, for each
    argument that is one of the command's flags (the library names Python arguments, the
    command line its flags); ``aliases`` maps an argument to its flag where the names differ
    (``{"fmt": "format"}``). Only a mention that stands as words of the message is read
    (``_MENTION``): a file name such as ``scale=5.png`` or ``'overwrite=True.png'`` stays
    as it is (a bare name with no extension, ``scale=5``, cannot be told from an argument)."""
    aliases = aliases or {}

    def replace(match):
        if match.group("bare"):  # "(max_pixels)": a name without a value
            name = aliases.get(match.group("bare"), match.group("bare"))
            return f"(--{name})" if _is_long_flag(name) else match.group(0)
        if not match.group("name"):  # a quoted path
            return match.group(0)
        name, value = match.group("name"), match.group("value")
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        name = aliases.get(name, name)
        if not _is_long_flag(name):
            return match.group(0)
        if isinstance(FLAGS[name], flags.BooleanFlag):
            return f"--{name}" if value == "True" else f"--no{name}"
        return f"--{name} {value}"

    return _MENTION.sub(replace, message)


def fail_with(error, aliases=None):
    """``fail`` with a library error's message in flag words."""
    fail(flag_words(str(error), aliases))


def require_path(path, what, folder=None):
    """Fail unless ``path`` exists (and is a folder / a file when ``folder`` says so)."""
    if not path:
        fail(f"{what} is required")
    if os.path.lexists(path) and not os.path.exists(path):  # a link loop, a broken link
        fail(f"{what} cannot be opened: {path} is {unreadable_entry(path)}")
    if not os.path.exists(path):
        fail(not_found(what, path, folder))
    if folder is True and not os.path.isdir(path):
        fail(f"{what} must be a folder: {path}")
    if folder is False and os.path.isdir(path):
        fail(f"{what} must be a file, not a folder: {path}")


def check_output_file(path, flag, overwrite=False, inputs=()):
    """Fail, before any work, unless ``path`` can take a new output file: not a folder, in
    a folder that exists, not one of ``inputs`` nor inside one of them (input files and
    folders), and not an existing file unless ``overwrite``."""
    if os.path.isdir(path) or path.endswith(SEPARATORS):  # out/ names a folder on Windows too
        fail(f"{flag} {path} is a folder: name a file")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        part = directory  # the nearest part that exists: a file there is not a folder
        while not os.path.lexists(part) and os.path.dirname(part) != part:
            part = os.path.dirname(part)
        if os.path.lexists(part) and not os.path.isdir(part):
            fail(f"{flag} {path}: {part} is a file, not a folder: name a file in a folder")
        fail(f"{flag} {path}: its folder does not exist: {directory}")
    for given in inputs:
        if within(path, given):
            fail(f"{flag} {path} is (or lies inside) the input {given}: write it elsewhere")
    run = training_run_record(path)
    if run:  # a run's records, weights or backup: what it says and resumes from
        fail(
            f"{flag} {path} is a record of the training run in {run}: it is never replaced, "
            "even with --overwrite; name another file"
        )
    if package_file(path):
        fail(
            f"{flag} {path} lies in the maffsrn_tf package ({PACKAGE_DIR}): its shipped files "
            "are never replaced, even with --overwrite; write it elsewhere"
        )
    linked = _hard_linked_input(path, inputs)
    if linked:  # one file under two names: the output's name is an input's
        fail(f"{flag} {path} is a hard link to the input {linked}: write it elsewhere")
    if not_a_regular_file(path):  # /dev/null, a FIFO: never replaced, even with --overwrite
        fail(f"{flag} {path} exists and is not a regular file: name another file")
    if os.path.lexists(path) and not overwrite:
        fail(f"{flag} {path} exists (pass --overwrite to replace it)")


# what a training run (maffsrn-train's model_dir, holding flags.json) records about itself
RUN_RECORDS = ("flags.json", "workdir.json", "data.json", "final.json", "best.json")


def training_run_record(path):
    """The folder of the training run whose record ``path`` would replace (its name one of
    ``RUN_RECORDS``, in a folder holding ``flags.json``; or another of its files, its
    weights and its ``backup/``: ``training_run_file``), or None: never an output."""
    folder, name = os.path.split(path)
    if name in RUN_RECORDS and os.path.isfile(os.path.join(folder, "flags.json")):
        return folder or "."
    return training_run_file(path)


def training_run_file(path):
    """The folder of the training run (a folder holding ``flags.json``) whose own file
    ``path`` is (its weights, records, backup: ``train.config.RUN_OUTPUTS``), or None. A
    file there replaced by another command would no longer be what the run's records say
    (``best.json``'s PSNR, a resume from ``backup/``)."""
    from maffsrn_tf.train.config import written_by_run

    folder = os.path.dirname(os.path.abspath(path))
    for run in (folder, os.path.dirname(folder)):  # the run's folder, or its backup/
        if os.path.isfile(os.path.join(run, "flags.json")) and written_by_run(path, run):
            return run
    return None


def _hard_linked_input(path, inputs):
    """The input file (one of ``inputs``, or a file directly in one of those folders) that
    ``path`` is a hard link to, or ``""``. Only a file with more than one link is looked
    for, so a run's check stays a ``stat``."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
        return ""
    for given in inputs:
        if not given:
            continue
        candidates = [given]
        if os.path.isdir(given):
            try:
                candidates = [os.path.join(given, n) for n in sorted(os.listdir(given))]
            except OSError:
                continue
        found = same_file_among(path, candidates)
        if found:
            return found
    return ""


def scales_list(values, flag="--scales"):
    """A list flag of scales as integers, each 2, 3 or 4."""
    try:
        scales = [int(v) for v in values]
    except ValueError:
        fail(f"{flag} takes 2, 3 and/or 4, comma-separated; got {','.join(values)}")
    bad = [s for s in scales if s not in SCALES]
    if bad or not scales:
        fail(f"{flag} takes 2, 3 and/or 4, comma-separated; got {','.join(values)}")
    return scales


def quiet_native_logs():
    """Send file descriptor 2 (where TensorFlow's C++ code logs) to /dev/null, and Python's
    ``sys.stderr`` to a copy of the real stderr: our messages, warnings and progress bars
    still show, the native start-up lines do not."""
    sys.stderr.flush()
    real = os.dup(2)
    sys.stderr = os.fdopen(real, "w", buffering=1, errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _show_package_warnings()


class _LevelFormatter(logging.Formatter):
    """``warning: ...``, in the command's flag words (``background=white`` is
    ``--background white``)."""

    def format(self, record):
        return f"{record.levelname.lower()}: {flag_words(one_line(record.getMessage()))}"


def _show_package_warnings():
    """Our own warnings (e.g. a training image skipped for being smaller than a patch) as
    ``warning: ...`` lines on the real stderr. absl's handler, created at import, still
    writes to the silenced descriptor: without this they would vanish with TensorFlow's."""
    package = logging.getLogger("maffsrn_tf")
    for old in [h for h in package.handlers if isinstance(h.formatter, _LevelFormatter)]:
        package.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelFormatter())
    handler.setLevel(logging.WARNING)
    package.addHandler(handler)
    package.propagate = False


def _last_words(message, code):
    """One ``error:`` line and exit ``code``, even when standard output is a closed pipe.
    What the command printed before (the outputs it finished) is flushed first: a script
    reading standard output learns what was written even when the run was stopped."""
    try:
        sys.stdout.flush()
    except Exception:  # a closed pipe, a full disk: nothing more can reach it
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail
    except (AttributeError, OSError, ValueError):  # no sys.stdout, or not a file's
        pass
    try:
        error_line(message)
    except OSError:
        pass
    with contextlib.suppress(Exception):  # no finally block runs after this: a folder the
        remove_made_folders()  # run made and left empty goes now
    os._exit(code)  # no atexit handlers: TensorFlow's can hang or print after an interrupt


def _is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _stand_in_for_closed_streams():
    """A standard stream closed by the shell (``>&-``, ``2>&-``, ``<&-``; Python's
    ``sys.stdout`` or ``sys.stderr`` is then None) gets a stand-in, so that the command runs
    and ends as it would otherwise, and no file it opens takes descriptor 0, 1 or 2:

    - standard output: a pipe nobody reads. Work runs until the command prints (the
      upscaler prints each output as it is written), which fails as into a closed pipe:
      one line, exit code 141, finished outputs kept (``--help`` ends with 0).
    - standard error: /dev/null. The messages are lost; the exit code still tells.
    - standard input: /dev/null (no command reads it).
    """
    closed = [fd for fd in (0, 1, 2) if not _is_open(fd)]
    for fd in closed:  # lowest first: each open takes the lowest free descriptor
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    if sys.stdout is None:
        read, write = os.pipe()
        os.close(read)
        if 1 in closed:
            os.dup2(write, 1)
            os.close(write)
            write = 1
        sys.stdout = os.fdopen(write, "w", errors="surrogateescape")
    if sys.stderr is None:
        fd = 2 if 2 in closed else os.open(os.devnull, os.O_WRONLY)
        sys.stderr = os.fdopen(fd, "w", buffering=1, errors="backslashreplace")


class _Stream:
    """A standard stream whose write errors follow a policy: on standard output (``>
    /dev/full``) the error is remembered and raised, so that it ends as one line of its
    own, not as an unexpected error (``error``); on standard error (``2> /dev/full``,
    ``keep_going``) it is dropped: a message that cannot be shown must not stop the work,
    as with a closed stderr; the exit code tells."""

    def __init__(self, stream, keep_going=False):
        self._stream = stream
        self._keep_going = keep_going
        self.error = None

    def _call(self, method, *args, dropped=None):
        try:
            return getattr(self._stream, method)(*args)
        except OSError as err:
            if self._keep_going:
                return dropped
            self.error = err
            raise

    def write(self, text):
        return self._call("write", text, dropped=len(text))

    def writelines(self, lines):
        return self._call("writelines", lines)

    def flush(self):
        return self._call("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _stdout_error(error):
    """The standard output's write error that ``error`` is or wraps, else None."""
    failed = getattr(sys.stdout, "error", None)
    seen = error
    while seen is not None and failed is not None:
        if seen is failed:
            return failed
        seen = seen.__cause__ or seen.__context__
    return None


def _cannot_write(error):
    """The line for an error writing to standard output (not a closed pipe)."""
    return f"cannot write to standard output: {error.strerror or error}"


class Terminated(BaseException):
    """SIGTERM (or SIGHUP: the terminal or ssh session closed), raised where the command
    is, so that what it was writing is cleaned up as for Ctrl-C (``atomic_output`` removes
    its temporary) before the one-line exit. ``signum``: the signal."""

    def __init__(self, signum=signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum


# the signals that stop a command with one line and 128 + the signal's number
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + (
    (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
)


_RECEIVED = []  # the signals this command was sent, in case a raise was swallowed


# how long a stopped command may take to clean up (temporaries, Beam's workers) before it
# ends anyway: a library that waits forever in its clean-up must not keep it running
STOP_GRACE_S = 10.0


def _stopping(signum):
    """The bookkeeping of Ctrl-C or SIGTERM: the first starts the clean-up, with nothing but
    the one last line shown from then on (a worker thread's error, a library's log records)
    and ``STOP_GRACE_S`` for it; a second ends the command at once."""
    if _RECEIVED:
        _last_words(_stopped_line(signum), 128 + signum)
    _RECEIVED.append(signum)
    threading.excepthook = lambda args: None  # Beam's workers, killed by the same signal
    logging.disable(logging.CRITICAL)
    timer = threading.Timer(STOP_GRACE_S, _last_words, (_stopped_line(signum), 128 + signum))
    timer.daemon = True
    timer.start()


def _interrupt(signum, frame):
    _stopping(signum)
    raise KeyboardInterrupt


def _terminate(signum, frame):
    _stopping(signum)
    raise Terminated(signum)


def _stopped_line(signum):
    words = {signal.SIGINT: "interrupted", getattr(signal, "SIGHUP", None): "hung up"}.get(
        signum, "terminated"
    )
    return f"{words}; finished outputs are kept, none is half-written"


def _unraisable(hook):
    """``sys.unraisablehook`` that ends the command at once when Ctrl-C or SIGTERM was
    raised where Python cannot raise (a finalizer, a gc callback: TensorFlow runs many),
    instead of printing it as "Exception ignored" and going on; else ``hook``."""

    def unraisable(info):
        if isinstance(info.exc_value, KeyboardInterrupt):
            _last_words(_stopped_line(signal.SIGINT), 128 + signal.SIGINT)
        if isinstance(info.exc_value, Terminated):
            signum = info.exc_value.signum
            _last_words(_stopped_line(signum), 128 + signum)
        hook(info)

    return unraisable


def stop_after_work(signum, frame):
    """Ctrl-C or SIGTERM once the command's work is done (TensorFlow's clean-up at exit): an
    exception raised there would be printed as "ignored" and the exit code would be 0."""
    _last_words(_stopped_line(signum), 128 + signum)


def _signal_in(error):
    """``KeyboardInterrupt`` or ``Terminated`` if ``error`` wraps one (as cause, context, or
    by name in its message, as Beam's runners re-raise a worker's exception), else None."""
    seen = error
    while seen is not None:
        for kind in (KeyboardInterrupt, Terminated):
            if isinstance(seen, kind) or kind.__name__ in str(seen).split(" [while")[0]:
                return kind
        seen = seen.__cause__ or seen.__context__
    return None


def plain_text(doc):
    """A docstring as a terminal shows it: no reST markup (````x```` is x, a ``::`` block
    opener a ``:``)."""
    doc = re.sub(r"``([^`]+)``", r"\1", doc)
    return re.sub(r"::$", ":", doc, flags=re.M)


def _flag_line(flag):
    """One flag of ``--help``: its names, what it takes, its help and its default."""
    names = (f"-{flag.short_name}, " if flag.short_name else "") + f"--{flag.name}"
    if isinstance(flag, flags.BooleanFlag):
        names = names.replace(f"--{flag.name}", f"--[no]{flag.name}")
    elif isinstance(flag.parser, flags.EnumParser):
        names += " " + "|".join(flag.parser.enum_values)
    elif isinstance(flag, flags.MultiFlag):
        names += " PATH ..."
    else:
        names += " " + {"int": "N", "float": "X"}.get(flag.parser.flag_type(), "VALUE")
    text = re.sub(r"^<[^>]*>: ", "", flag.help)  # absl's list of choices: on the name line
    shown = flag.default_as_str
    if shown not in (None, "", "''", "'false'", '""', "[]") and "default" not in text:
        text += f" (default: {shown.strip(chr(39))})"
    body = textwrap.fill(text, 88, initial_indent="      ", subsequent_indent="      ")
    return f"  {names}\n{body}"


def _print_help(module, groups=None):
    """The command's docstring, then its flags under headings by meaning (``groups``:
    ``{heading: [flag names]}``; the command's other flags under "Options"), then the flags
    every command shares."""
    print(plain_text((sys.modules[module].__doc__ or "").strip()) + "\n")
    by_module = FLAGS.flags_by_module_dict()
    own = [f for name in by_module if name in (module, "__main__", sys.argv[0])
           for f in by_module[name]]  # fmt: skip
    own = {f.name: f for f in own}
    listed = {n for names in (groups or {}).values() for n in names}
    sections = [(h, [own[n] for n in names if n in own]) for h, names in (groups or {}).items()]
    rest = [f for name, f in sorted(own.items()) if name not in listed]
    if rest:
        sections.append(("Options" if not groups else "Other options", rest))
    sections.append(("Every command", sorted(by_module.get(__name__, []), key=lambda f: f.name)))
    for heading, members in sections:
        if members:
            print(f"{heading}:")
            print("\n".join(_flag_line(f) for f in members) + "\n")
    print("  --help, --version\n      This help; the version.")


def _refuse_twice_given(argv):
    """A flag given twice (the last would silently win) is an error; list flags
    (``--input`` of maffsrn-upscale) may repeat. absl's own flags (``--flagfile``, which
    hides flags from this check, ``--run_with_profiling --profile_file``, which wrote over
    any file, ``--only_check_args``, ``--run_with_pdb``, the logging flags) are refused:
    they are not this command's."""
    seen = set()
    for word in argv[1:]:
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            continue
        name = word.lstrip("-").split("=", 1)[0]
        if name == "flagfile":  # absl reads it before any flag: not a flag of FLAGS
            fail("--flagfile is absl's, not this command's: it is not taken")
        if name not in FLAGS and name.startswith("no") and name[2:] in FLAGS:
            name = name[2:]
        if name not in FLAGS:
            continue
        defined_by = FLAGS.find_module_defining_flag(FLAGS[name].name) or ""
        if defined_by.startswith("absl.") and not FLAGS[name].name.startswith("help"):
            fail(f"--{FLAGS[name].name} is absl's, not this command's: it is not taken")
        if isinstance(FLAGS[name], flags.MultiFlag):
            continue
        name = FLAGS[name].name  # a short name is its flag
        if name in seen:
            fail(f"--{name} is given twice: pass it once")
        seen.add(name)


def _flag_error(err):
    """absl's message for a value of the wrong kind, in the command's words."""
    text = str(err)
    missing = re.findall(r"Flag --(\w+) must have a value other than None", text)
    if missing:  # required flags left out: absl joins one line per flag
        names = [f"--{name}" for name in missing]
        return f"{listed(names)} {'is' if len(names) == 1 else 'are'} required"
    match = re.match(r"flag --(\w+)=(.*?): (.*)$", text, re.S)
    if not match:
        return text
    name, value, why = match.groups()
    kinds = (
        ("invalid literal for int()", "an integer"),
        ("is not a whole number in the digits 0-9", "a whole number in the digits 0-9"),
        ("is not a number in the digits 0-9", "a number in the digits 0-9"),
        ("could not convert string to float", "a number"),
        ("Non-boolean argument", "no value (--NAME or --noNAME; =true/=false also work)"),
    )
    for clue, kind in kinds:
        if clue in why:
            return f"--{name} takes {kind.replace('NAME', name)}, not {value!r}"
    return text


def _refuse_empty_values(taken):
    """A string flag given with an empty value (``--weights=``, an unset ``$W`` in
    ``--weights=$W``) would silently mean "none" or "the default": one line, unless the
    command takes or refuses that flag's empty value itself (``taken``)."""
    for name, flag in FLAGS._flags().items():
        if name != flag.name or name in taken or not flag.present:
            continue
        if isinstance(flag, flags.MultiFlag) or type(flag.parser) is not flags.ArgumentParser:
            continue  # lists, enums, numbers: their own parsers refuse ""
        if (FLAGS.find_module_defining_flag(name) or "").startswith("absl."):
            continue
        if flag.value == "":
            fix = "give it a value" + (
                ", or leave the flag out" if flag.default is not None else ""
            )
            fail(f"--{name} is empty: {fix}")


_HELP_WORDS = ("-h", "-?", "--?", "--help", "-help", "--helpshort", "-helpshort", "--helpfull",
               "-helpfull")  # fmt: skip
_VERSION_WORDS = ("--version", "-version")


def _help_or_version(argv, word, program, module, groups):
    """Answer ``word`` (``--help``, ``-?``, ``--version``; ``=1`` or ``=true`` may follow),
    the help or version asked on ``argv``, and exit 0. With another value or another word
    (``--version extra``, ``a.png --version``), which would be ignored, one line and exit 1.
    Into a closed pipe, ``--help`` ends quietly with 0 (``| head``: the reader has what it
    wanted), ``--version`` as every command's closed output, 141; into a standard output
    that cannot be written, one line and 1."""
    flag, given, value = word.partition("=")
    if given and value.lower() not in ("1", "true", "t"):  # absl's true values
        fail(f"{word}: {flag} takes no value: write {flag} alone")
    rest = list(argv[1:])
    rest.remove(word)
    if rest:
        more = f" (and {len(rest) - 1} more)" if len(rest) > 1 else ""
        fail(f"{flag} takes no other words, got {rest[0]!r}{more}: run {program} {flag} alone")
    try:
        if flag in _HELP_WORDS:
            _print_help(module, groups)
        else:
            print(f"{program} {__version__}")
        sys.stdout.flush()
    except BrokenPipeError:
        if flag in _VERSION_WORDS:
            _last_words("standard output was closed; the version was not printed", 141)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # --help | head
    except OSError as err:
        _last_words(_cannot_write(err), 1)
    sys.exit(0)


def run(main, pass_through=False, positional=None, groups=None, empty=None):
    """``app.run(main)`` with a ``--help`` that lists the command's flags (whether run as a
    console script or with ``python -m``), ``--version``, one-line flag errors, and
    TensorFlow's native logging off unless ``--tf_logs``.

    Whatever happens is one line on stderr: Ctrl-C ends with exit code 130 and SIGTERM with
    143 (outputs already finished stay; none is half-written), a closed standard output
    (``| head -1``, or ``>&-``: the run stops at the line it cannot print) with 141, a
    standard output that cannot be written (``> /dev/full``) with 1, and an unexpected
    exception with 1 (``MAFFSRN_TF_TRACEBACK=1`` shows its traceback). A closed standard
    error (``2>&-``) loses the line, not the exit code.
    ``--help`` and ``--version`` (``-h``, ``-?``, ``--helpfull``) are answered alone: with a
    value other than a true one (``--help=1`` is ``--help``) or another word, one line.
    A word that is not a flag is an error (a file named without ``--input``, the rest of a
    shell-expanded glob), unless the command takes words (``positional``: what they are, for
    messages; they reach ``main``'s ``argv``). ``pass_through``: flags the command does not
    define reach ``main``'s ``argv`` (Beam's pipeline options, which the command checks)
    instead. ``groups``: ``--help``'s headings, ``{heading: [flag names]}``. ``empty``: the
    string flags whose empty value the command takes (``--report ''``: no report) or refuses
    in its own words; any other string flag given empty is refused (None: no such check)."""

    _stand_in_for_closed_streams()
    try:
        os.getcwd()
    except FileNotFoundError:  # relative paths would fail deep inside, "unexpected"
        fail("the current folder no longer exists (deleted?): cd to a folder that exists")
    program = os.path.basename(sys.argv[0])
    if program.endswith(".py"):  # python -m maffsrn_tf.cli.NAME: the console script's name
        program = "maffsrn-" + program[: -len(".py")].replace("_", "-")

    def parse(argv):
        words = argv[1 : argv.index("--")] if "--" in argv else argv[1:]
        for word in words:  # absl's help flags that are not this command's --help
            name = word.lstrip("-").split("=")[0] if word.startswith("-") else ""
            if name == "helpxml" or name in ("nohelp", "nohelpshort", "nohelpfull", "nohelpxml"):
                fail(f"--{name} is absl's, not this command's: it is not taken (--help: the help)")
        asked = [w for w in words if w.split("=")[0] in (*_HELP_WORDS, *_VERSION_WORDS)]
        if asked:
            _help_or_version(argv, asked[0], program, main.__module__, groups)
        if any(a.split("=")[0] in ("--undefok", "-undefok") for a in argv[1:]):
            fail("--undefok is not taken: every word of the command line is used or refused")
        _refuse_twice_given(argv)
        try:
            rest = FLAGS(argv, known_only=pass_through)
        except flags.UnrecognizedFlagError as err:
            if not positional:
                fail(f"{_flag_error(err)} (see --help)")
            word = next((w for w in argv[1:] if w.lstrip("-").split("=")[0] == err.flagname),
                        f"--{err.flagname}")  # fmt: skip
            fail(
                f"unknown flag {word!r} (see --help; a {positional} whose name starts with - "
                "goes after --)"
            )
        except flags.Error as err:
            fail(f"{_flag_error(err)} (see --help)")
        except ValueError as err:  # absl's "--noX=1 does not take an argument"
            word = str(err).split(" ")[0]
            name = word.split("=")[0].lstrip("-")[2:]
            fail(f"{word}: --no{name} takes no value: write --no{name}, or --{name}=false")
        if empty is not None:
            _refuse_empty_values(set(empty))
        if not pass_through and not positional and len(rest) > 1:  # every word is used
            more = f" (and {len(rest) - 2} more)" if len(rest) > 2 else ""
            fail(f"unexpected argument {rest[1]!r}{more}: {program} takes flags only (see --help)")
        if positional:  # a word that looks like a flag but is none: a typo, not a file
            flag_like = [w for w in rest[1:] if w.startswith("-") and w != "-"]
            if flag_like and "--" not in argv:
                fail(
                    f"unknown flag {flag_like[0]!r} (see --help; a {positional} whose name "
                    f"starts with - goes after --)"
                )
        return rest

    def wrapped(argv):
        # any name a file system allows: printed paths keep their bytes, messages escape them
        for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors=errors)
        if not FLAGS.tf_logs and os.environ.get(TF_LOGS_ENV, "") in ("", "0"):
            quiet_native_logs()
        if not isinstance(sys.stdout, _Stream):  # its write errors: one line of their own
            sys.stdout = _Stream(sys.stdout)
        if not isinstance(sys.stderr, _Stream):  # 2>/dev/full: messages lost, work done
            sys.stderr = _Stream(sys.stderr, keep_going=True)
        warnings.showwarning = _warning_line
        try:
            # the command's handlers replace those of its start (maffsrn_tf.cli)
            signal.signal(signal.SIGINT, _interrupt)
            for signum in STOP_SIGNALS[1:]:  # SIGTERM, SIGHUP
                signal.signal(signum, _terminate)
            sys.unraisablehook = _unraisable(sys.unraisablehook)
            code = main(argv)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's shutdown
            if _RECEIVED:  # raised where it was swallowed (a finalizer's "Exception ignored")
                _last_words(_stopped_line(_RECEIVED[0]), 128 + _RECEIVED[0])
            for signum in STOP_SIGNALS:
                signal.signal(signum, stop_after_work)
            return code
        except KeyboardInterrupt:
            _last_words(_stopped_line(signal.SIGINT), 130)
        except Terminated as stop:
            _last_words(_stopped_line(stop.signum), 128 + stop.signum)
        except BrokenPipeError:
            _last_words("standard output was closed; finished outputs are kept", 141)
        except Exception as err:
            failed = _stdout_error(err)  # > /dev/full: an ordinary failure, not a bug
            if failed is not None:
                _last_words(_cannot_write(failed), 1)
            if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
                raise
            cause = _signal_in(err)  # a library (Beam) that wrapped Ctrl-C or SIGTERM
            if cause is not None:
                words = "interrupted" if cause is KeyboardInterrupt else "terminated"
                code = 130 if cause is KeyboardInterrupt else 143
                _last_words(f"{words}; finished outputs are kept, none is half-written", code)
            text = first_line(err, 300)
            _last_words(
                f"unexpected {type(err).__name__}: {text} (rerun with {TRACEBACK_ENV}=1 for "
                "the traceback, and please report it)",
                1,
            )

    try:
        app.run(wrapped, flags_parser=parse)
    except SystemExit as done:
        exit_now(done.code)


def exit_now(code):
    """End the finished command with ``code`` (a ``SystemExit``'s) once its threads and exit
    handlers are done, without Python's own teardown of its modules. That teardown takes
    up to a second after TensorFlow, Beam or LiteRT ran, and early in it Python gives
    SIGTERM back its default action: a SIGTERM then (a job manager's, "very near the end")
    killed the command without a line, or, raised while objects were torn down, printed a
    traceback and left exit code 0. Here Ctrl-C or SIGTERM till the end is one line and
    130/143 (``stop_after_work``)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, stop_after_work)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): printed, as Python does
        error_line(str(code))
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:  # as Python's exit: wait for the threads, run their exit hooks
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(code)
