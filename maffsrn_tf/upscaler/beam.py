"""Batch upscaling on Apache Beam: every file a pattern matches, on any runner.

``build_pipeline(pipeline, config)`` adds the transforms; ``run(config, options)`` runs them
and returns the counts. Files are matched and read with Beam's ``fileio``/``FileSystems``
(local, ``gs://``, ``s3://`` with Beam's extras), upscaled by ``RunInference`` with
``MaffsrnModelHandler`` (the shipped model loaded once per worker; the tiling of
``maffsrn-upscale``), and each output is written under the name ``maffsrn-upscale`` gives it,
to a temporary name first and then renamed. A file that fails — not an image, over the pixel
limit, an output written by another run meanwhile, two inputs that would write one output —
becomes one line of the errors file instead of failing the pipeline.

Reruns work as ``maffsrn-upscale``'s: outputs that exist already are refused before any work
(``overwrite=True`` replaces them, ``skip_existing=True`` leaves them and upscales the rest).
The errors file is written at every run, empty when nothing failed, so it always belongs to
the last run; an errors file an earlier run wrote, unchanged since (the SHA-256 of what it
wrote is recorded beside it, ``_record_of``), is replaced by the next run, and any other file
never (``overwrite`` is the outputs'). It is put in place only if it is still the file the run
found (or none): when another run wrote one meanwhile, this run's errors go to a new name
beside it (``NAME-2.txt``), which ``run_pipeline`` returns.
"""

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import sys
import tempfile
import threading
import uuid

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from maffsrn_tf.errors import MaffsrnError, one_line
from maffsrn_tf.io import images
from maffsrn_tf.io.atomic import (
    TEMPORARY_PREFIX,
    OutputExists,
    atomic_output,
    folder_problem,
    link_new_file,
    not_a_regular_file,
    own_prefix,
    probe_writable,
    remove_stale_temporaries,
    temporary_suffix,
)
from maffsrn_tf.io.paths import PACKAGE_DIR, made_folders, package_file, same_file_among, within
from maffsrn_tf.upscaler.files import existing_image_state, output_path_for, outputs_exist
from maffsrn_tf.upscaler.options import BEAM_WORKER_THREADS, UpscaleOptions
from maffsrn_tf.upscaler.video import VIDEO_EXTENSIONS

NAMESPACE = "maffsrn"


@dataclasses.dataclass(frozen=True)
class BeamConfig:
    """What ``maffsrn-beam`` does: the files, where they go, and the ``UpscaleOptions``
    (the shipped TFLite model: ``runtime`` tflite, no ``model``; ``num_threads`` per
    worker, default ``BEAM_WORKER_THREADS``)."""

    input_pattern: str
    output_dir: str
    errors_path: str = ""  # default: errors_path_for(output_dir)
    options: UpscaleOptions = UpscaleOptions(runtime="tflite", num_threads=BEAM_WORKER_THREADS)

    def __post_init__(self):
        for name in ("input_pattern", "output_dir"):
            if not getattr(self, name):
                raise MaffsrnError(f"{name} is empty: {_EMPTY[name]}")
        if not isinstance(self.options, UpscaleOptions):
            raise MaffsrnError(f"options={self.options!r} is not an UpscaleOptions")
        if self.options.model is not None or self.options.runtime == "keras":
            raise MaffsrnError("the Beam pipeline runs the shipped TFLite models only")
        if self.options.num_threads is None:
            options = self.options.replace(num_threads=BEAM_WORKER_THREADS)
            object.__setattr__(self, "options", options)

    @property
    def errors(self):
        return self.errors_path or errors_path_for(self.output_dir)


_EMPTY = {
    "input_pattern": "name the files to upscale, e.g. 'photos/*.jpg'",
    "output_dir": "name the folder the upscaled images go to",
}
# the default errors file inside an output folder that has no name of its own to put one beside
ERRORS_INSIDE = "upscale-errors.txt"


def errors_path_for(output_dir):
    """The default errors file: beside the output folder (``out/`` -> ``out-errors.txt``);
    inside it (``ERRORS_INSIDE``) where the folder's name is ``.`` or ``..`` or it is a
    root (``/``, a bucket ``gs://b``): a name beside those would be hidden, or nowhere."""
    trimmed = output_dir.rstrip("/\\")
    if "://" in output_dir:
        root = "/" not in trimmed.split("://", 1)[1]
    else:
        root = os.path.basename(trimmed) in ("", ".", "..")
    if root:  # "/" -> "/upscale-errors.txt", "." -> "./upscale-errors.txt"
        return f"{trimmed}/{ERRORS_INSIDE}"
    return trimmed + "-errors.txt"


@dataclasses.dataclass
class Decoded:
    """One input on its way: its path, its output's path, its pixels and their metadata."""

    path: str
    target: str
    array: object
    info: dict


class _Failure(str):
    """An inference that failed: its message (routed to the errors file)."""


class _Guarded:
    """A worker process's engine and the lock its threads take in turn: RunInference shares
    one model between a process's threads (``--direct_running_mode multi_threading``), and a
    TFLite interpreter run by two threads at once mixes their tiles."""

    def __init__(self, engine):
        self.engine, self.lock = engine, threading.Lock()


class MaffsrnModelHandler(ModelHandler):
    """``RunInference`` handler: ``Decoded`` in, upscaled array out, one image per batch
    (images differ in size). The model (shipped TFLite, one per worker) is loaded by
    ``load_model``; an image that cannot be upscaled yields a ``_Failure``, not an
    exception."""

    def __init__(self, options):
        super().__init__(max_batch_size=1)
        self._options = options

    def load_model(self):
        from maffsrn_tf.upscaler.engines import make_engine

        return _Guarded(make_engine(self._options.replace(runtime="tflite")))

    def run_inference(self, batch, model, inference_args=None):
        from maffsrn_tf.upscaler.arrays import upscale_with

        for item in batch:
            try:
                with model.lock:  # one interpreter: its tensors are not to be shared
                    out = upscale_with(model.engine, item.array, self._options)
            except MaffsrnError as err:
                out = _Failure(f"{item.path}: {err}")
            yield PredictionResult(item, out)

    def get_num_bytes(self, batch):
        return sum(item.array.nbytes for item in batch)

    def get_metrics_namespace(self):
        return NAMESPACE


def _progress(line):
    """One line on standard output's file descriptor, shared by Beam's local worker processes
    (which replace ``sys.stdout``; the commands send descriptor 2 to /dev/null)."""
    try:
        os.write(1, (line + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def _as_bytes(path):
    return path.encode("utf-8", "surrogateescape")


def _as_text(data):
    return data.decode("utf-8", "surrogateescape")


def _error(message):
    """One line of the errors file (Beam encodes strings as UTF-8: names that are not
    UTF-8 travel escaped)."""
    return beam.pvalue.TaggedOutput("errors", one_line(message))


def _count(name):
    return Metrics.counter(NAMESPACE, name)


class _Plan(beam.DoFn):
    """``(target, path)``: where ``maffsrn-upscale`` would write the file (16-bit colour PNGs
    stay PNG whatever their extension: the header decides)."""

    def __init__(self, config):
        self._config = config

    def process(self, metadata):
        path = metadata.path
        if images.is_resource_fork(_basename(path)):  # check_paths said so
            return
        target = _target_of(path, self._config)
        yield _as_bytes(target), _as_bytes(path)  # any name a file system allows


def _is_png16(path):
    """Whether ``path`` is a 16-bit colour PNG (its header decides, whatever its name)."""
    try:
        if "://" not in path and not os.path.isfile(path):
            raise OSError("not a regular file")  # a FIFO would block the pipeline
        with FileSystems.open(path) as f:
            head = f.read(33)
        return images.is_png16_color(path, head)
    except Exception:  # unreadable: the decode step names the problem
        return False


def _target_of(path, config, sixteen=None):
    """The output ``maffsrn-upscale`` would write for the input ``path``."""
    out_dir, o = config.output_dir.rstrip("/") + "/", config.options
    sixteen = _is_png16(path) if sixteen is None else sixteen
    return output_path_for(path, out_dir, o.scale, sixteen, o.fmt)


class _Decode(beam.DoFn):
    """Read and decode one file; problems go to the ``errors`` output."""

    def __init__(self, config):
        self._config = config

    def process(self, element):
        target, paths = _as_text(element[0]), sorted(_as_text(p) for p in element[1])
        if len(paths) > 1:
            _count("failed").inc(len(paths))
            for path in paths:  # one line per input, as every failed input has
                others = " and ".join(p for p in paths if p != path)
                yield _error(
                    f"{path}: would be written to {target}, as {others} would; rename all but one"
                )
            return
        path, options = paths[0], self._config.options
        try:
            if "://" not in target and not_a_regular_file(target):  # never replaced
                raise MaffsrnError(
                    f"output {target} exists and is not a regular file (a folder, a pipe): "
                    "move it away"
                )
            if not options.overwrite and FileSystems.exists(target):
                state = "whole"  # a remote output: taken for done, as Beam cannot tell
                if options.skip_existing and "://" not in target:  # maffsrn-upscale's rule
                    state, why = existing_image_state(path, target, options)
                    if state == "other":
                        raise MaffsrnError(
                            f"output {target} exists and is not an earlier output of {path} "
                            f"({why}): pass overwrite=True to replace it"
                        )
                if options.skip_existing and state == "whole":  # a rerun goes on from there
                    _count("skipped").inc()
                    return
                if not options.skip_existing:
                    raise MaffsrnError(
                        f"output exists: {target} (pass overwrite=True to replace it)"
                    )
                os.remove(target)  # an earlier output cut short: redone
            if "://" not in path and not os.path.isfile(path):
                raise MaffsrnError("not a regular file (a pipe or a device?)")
            with FileSystems.open(path) as f:
                data = f.read()
            try:
                array, info = images.read_image(path, data, self._config.options.max_pixels)
            except images.ImageError:
                if path.lower().endswith(VIDEO_EXTENSIONS):  # not "cannot identify image"
                    raise MaffsrnError(
                        f"named as a video ({os.path.splitext(path)[1]}): a Beam pipeline "
                        "upscales images only; upscale videos with upscale_path "
                        "(maffsrn-upscale)"
                    ) from None
                raise
        except (MaffsrnError, OSError) as err:
            _count("failed").inc()
            # every line begins with its input (a rerun knows an earlier run's errors file)
            message = str(err) if str(err).startswith(f"{path}: ") else f"{path}: {err}"
            yield _error(message)
            return
        yield Decoded(path, target, array, info)


class _Write(beam.DoFn):
    """Encode and write one result (temporary name, then rename); failures to ``errors``."""

    def __init__(self, config):
        self._config = config

    def process(self, result):
        item, out = result.example, result.inference
        if isinstance(out, _Failure):
            _count("failed").inc()
            yield _error(str(out))
            return
        target = item.target
        directory, name = target.rsplit("/", 1) if "/" in target else ("", target)
        # named for its writer's process: a run killed here leaves one the next run removes
        tmp = f"{directory}/{own_prefix()}{uuid.uuid4().hex[:8]}"
        tmp += temporary_suffix(name)
        try:
            data = images.encode_image(
                out, os.path.splitext(target)[1], item.info, self._config.options.quality
            )
            with FileSystems.create(tmp) as f:
                f.write(data)
            if "://" in target or self._config.options.overwrite:
                FileSystems.rename([tmp], [target])
            else:  # no overwrite, even when another run writes the same output meanwhile
                link_new_file(tmp, target)
        except OutputExists:  # written by another run since this one checked
            FileSystems.delete([tmp])
            if self._config.options.skip_existing:
                _count("skipped").inc()
                return
            _count("failed").inc()
            yield _error(
                f"{item.path}: output exists: {target} (pass overwrite=True to replace it)"
            )
            return
        except Exception as err:  # encoders and file systems raise many types
            try:
                FileSystems.delete([tmp])
            except Exception:
                pass
            _count("failed").inc()
            yield _error(f"{item.path}: cannot write {target} ({err})")
            return
        _count("upscaled").inc()
        _progress(one_line(target))
        yield one_line(target)


def local_pattern(pattern):
    """A local pattern as Beam matches it: ``*.png`` is ``./*.png`` and ``in*/*.png`` is
    ``./in*/*.png`` (Beam lists the folder before the first wildcard, and finds nothing where
    that part names no folder) and ``in//*`` is ``in/*`` (nor for a doubled separator)."""
    if "://" in pattern:
        return pattern
    sep = re.escape(os.sep)
    pattern = re.sub(f"(?<=.){sep}{{2,}}", os.sep, pattern)  # a leading // stays (a UNC root)
    fixed = re.match(r"[^[*?]*", pattern).group(0)  # up to the first wildcard
    return pattern if os.path.dirname(fixed) else os.path.join(".", pattern)


def build_pipeline(pipeline, config, errors_path=None, extra_errors=()):
    """Add the upscaling transforms to ``pipeline``; returns the PCollection of written
    paths (the errors go to ``errors_path``, default ``config.errors``, one line each;
    ``extra_errors``: lines found before the pipeline, e.g. inputs that are broken links)."""
    planned = (
        pipeline
        | "Match" >> fileio.MatchFiles(local_pattern(config.input_pattern))
        | "Plan" >> beam.ParDo(_Plan(config))
        | "OneInputPerOutput" >> beam.GroupByKey()
    )
    decoded = planned | "Decode" >> beam.ParDo(_Decode(config)).with_outputs(
        "errors", main="images"
    )
    upscaled = decoded.images | "Upscale" >> RunInference(MaffsrnModelHandler(config.options))
    written = upscaled | "Write" >> beam.ParDo(_Write(config)).with_outputs(
        "errors", main="written"
    )
    found = pipeline | "ErrorsBefore" >> beam.Create([one_line(e) for e in extra_errors])
    _ = (
        (found, decoded.errors, written.errors)
        | "Errors" >> beam.Flatten()
        | "WriteErrors"
        >> beam.io.WriteToText(errors_path or config.errors, shard_name_template="", num_shards=1)
    )
    return written.written


def unknown_pipeline_args(args):
    """The words of ``args`` that are none of Beam's pipeline options (``--runner``,
    ``--direct_num_workers``, ...), with a close option name for each flag, if any:
    ``[(word, suggestion or None)]``. Beam itself would only log and drop them."""
    import difflib

    from apache_beam.options.pipeline_options import PipelineOptions

    parsers = []  # Beam's own parser of every registered options class

    def refuse(message):
        raise MaffsrnError(f"Beam's pipeline options: {message}")

    def capture(parser):  # a bad value is an error, not argparse's usage and exit 2
        parser.exit_on_error = False
        parser.error = refuse
        parsers.append(parser)

    try:
        PipelineOptions(list(args)).get_all_options(add_extra_args_fn=capture)
        _, unknown = parsers[0].parse_known_args(list(args))
    except argparse.ArgumentError as err:
        refuse(str(err))
    _refuse_twice_given(parsers[0], args)
    known = [o for action in parsers[0]._actions for o in action.option_strings]
    found = []
    for word in unknown:
        name = word.split("=", 1)[0]
        starts = sorted(o for o in known if o.startswith(name) and len(name) > 3)
        close = starts[:1] or difflib.get_close_matches(name, known, n=1)  # --temp: its start
        found.append((word, close[0] if close and word.startswith("--") else None))
    return found


def _refuse_twice_given(parser, args):
    """``MaffsrnError`` for a pipeline option given twice (``--runner A --runner B``: Beam
    would take the last without a word), as the command's own flags are refused, and for
    one given an empty value (``--temp_location=``, an unset ``$VAR``: Beam would take ""
    for a value). Options that collect values (``--experiments``, ``--extra_package``) may
    repeat: only those that store one value (or a switch) are checked for that."""
    single = (argparse._StoreAction, argparse._StoreConstAction, argparse.BooleanOptionalAction)
    seen = {}  # an option's destination: the word that set it
    args = list(args)
    for i, word in enumerate(args):
        if word == "--":
            break
        option, given, value = word.partition("=")
        action = parser._option_string_actions.get(option)
        if action is None:
            continue
        if action.nargs != 0:  # it takes a value: in the word, or the next word
            if not given:
                value = args[i + 1] if i + 1 < len(args) else None
            if value == "":
                raise MaffsrnError(f"{option} is empty: give it a value, or leave it out")
        if not isinstance(action, single):  # one that collects values
            continue
        if action.dest in seen:
            first = seen[action.dest]
            if first == option:
                raise MaffsrnError(f"{option} is given twice: pass it once")
            raise MaffsrnError(f"{first} and {option} set one pipeline option: pass one of them")
        seen[action.dest] = option


def check_paths(config):
    """``(inputs, unreadable, earlier)`` before anything is written: the files the pattern
    matches, an error line for each entry it names that is no file to read (a broken or
    looping symbolic link), and the ``os.lstat`` of an existing errors file this run may
    replace (None if there is none). ``MaffsrnError`` for a pattern that matches nothing, an
    output folder that is the folder the pattern reads or lies inside it (compared by real
    path: a rerun would upscale the outputs), an errors file that is a folder, an input (a
    link to one, hard or symbolic, too), an output, not writable, or an existing file that
    is no earlier run's errors file (without ``overwrite``), or outputs that exist already
    (without ``overwrite`` or ``skip_existing``)."""
    import fnmatch
    import glob

    _check_file_systems(config)
    pattern = local_pattern(config.input_pattern)
    matched = FileSystems.match([pattern])[0].metadata_list
    paths = [m.path for m in matched]
    unreadable = []
    known = {os.path.abspath(p) for p in paths}
    forks = [p for p in paths if images.is_resource_fork(_basename(p))]
    if forks:
        paths = [p for p in paths if p not in forks]
        print(one_line(f"skipping {len(forks)} macOS metadata file(s) (._NAME, e.g. "
                       f"{forks[0]}: a copy's resource fork, not a picture)"),
              file=sys.stderr, flush=True)  # fmt: skip
    if "://" not in pattern:  # entries Beam's match leaves out without a word
        for entry in sorted(glob.glob(pattern, recursive=True)):
            if os.path.abspath(entry) in known:
                continue
            if os.path.islink(entry) and not os.path.exists(entry):
                unreadable.append(f"{entry}: a broken or looping symbolic link, not a file")
            elif os.path.isfile(entry):  # Beam's file system drops a name with a backslash
                unreadable.append(
                    f"{entry}: Beam's file system does not read this name (a backslash in "
                    "it?): rename the file, or upscale it with maffsrn-upscale"
                )
    if not paths and not unreadable:
        raise MaffsrnError(f"input_pattern={config.input_pattern!r} matches no file")
    if "://" in pattern or "://" in config.output_dir:
        probe = config.output_dir.rstrip("/") + f"/photo_x{config.options.scale}.png"
        inside = fnmatch.fnmatch(probe, pattern)
    else:
        out = os.path.realpath(config.output_dir)
        folders = {os.path.dirname(os.path.realpath(p)) for p in paths}
        if any(c in os.path.dirname(pattern) for c in "*?["):  # in*/*.png: not all of .
            if _outputs_match(config, paths, pattern):  # is read, only what matches
                raise MaffsrnError(
                    f"output_dir={config.output_dir!r}: its outputs would match input_pattern="
                    f"{config.input_pattern!r} (a rerun would upscale them): choose an output "
                    "folder the pattern does not reach"
                )
        else:
            folders.add(os.path.realpath(_pattern_root(pattern)))
        inside = any(within(out, f) for f in folders)
    if inside:
        raise MaffsrnError(
            f"output_dir={config.output_dir!r} is the folder input_pattern="
            f"{config.input_pattern!r} reads, or lies inside it: choose an output folder "
            "outside it"
        )
    _check_output_dir(config.output_dir)
    earlier = _check_errors_path(config, paths)
    _check_quality(config, paths)
    _check_existing_outputs(config, paths)
    return paths, unreadable, earlier


# the remote file systems Beam has: the module each needs, and the extra that installs it
REMOTE_FILE_SYSTEMS = {
    "gs": ("google.cloud.storage", "apache-beam[gcp]"),
    "s3": ("boto3", "apache-beam[aws]"),
    "azfs": ("azure.storage.blob", "apache-beam[azure]"),
    "hdfs": ("hdfs", "apache-beam[hadoop]"),
}


def _check_file_systems(config):
    """Every path with a scheme (``gs://``...) names a file system Beam has, whose
    client is installed here: found before the run (Beam finds out at the first file it
    reads or writes, after work began)."""
    import importlib.util

    named = [("input_pattern", config.input_pattern), ("output_dir", config.output_dir)]
    if config.errors_path:
        named.append(("errors_path", config.errors_path))
    for name, path in named:
        if "://" not in path:
            continue
        scheme = path.split("://", 1)[0]
        if scheme not in REMOTE_FILE_SYSTEMS:  # as Beam reads it: S3:// is none
            known = ", ".join(f"{s}://" for s in REMOTE_FILE_SYSTEMS)
            raise MaffsrnError(
                f"{name}={path!r}: Beam has no file system for {scheme}:// paths (it has "
                f"{known}; a local path takes no scheme)"
            )
        module, extra = REMOTE_FILE_SYSTEMS[scheme]
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing or broken
            found = False
        if not found:
            raise MaffsrnError(
                f"{name}={path!r}: Beam reaches {scheme}:// paths through {module}, which is "
                f"not installed: pip install '{extra}'"
            )


def _basename(path):
    """The last part of a local or remote path."""
    return path.rstrip("/").rsplit("/", 1)[-1].rsplit(os.sep, 1)[-1]


def _check_existing_outputs(config, paths):
    """Before any work, as ``maffsrn-upscale`` does: outputs of the run that exist already in
    a local output folder are refused, every one, unless ``overwrite`` (replaced) or
    ``skip_existing`` (left, their inputs not upscaled again). Outputs written meanwhile by
    another run are still each one line of the errors file."""
    o, out_dir = config.options, config.output_dir
    if o.overwrite or o.skip_existing or "://" in out_dir or not os.path.isdir(out_dir):
        return
    found = []
    for path in paths:
        # the name decides unless the header makes it a PNG: read it only for a name taken
        plain, png = _target_of(path, config, False), _target_of(path, config, True)
        if not any(os.path.lexists(t) for t in {plain, png}):
            continue
        target = _target_of(path, config)
        if os.path.lexists(target) and not not_a_regular_file(target):
            found.append(target)
    found.sort()
    if found:
        raise MaffsrnError(outputs_exist(found))


def _outputs_match(config, paths, pattern):
    """Whether an output of this run (or a ``photo_x{scale}.png``) would match a local
    ``pattern`` whose folders hold wildcards, as Beam matches it: a rerun would read it."""
    o = config.options
    names = {os.path.basename(output_path_for(p, "", o.scale, False, o.fmt)) for p in paths}
    names.add(f"photo_x{o.scale}.png")
    return any(_matches(pattern, os.path.join(config.output_dir, n)) for n in names)


def _matches(pattern, path):
    """Whether the local file ``path`` (existing or not) matches ``pattern`` as Beam matches
    it, compared by real paths (a link or ``..`` in either)."""
    from apache_beam.io.filesystem import FileSystem

    root = _pattern_root(pattern)
    real_root = os.path.realpath(root) if root else os.path.realpath(".")
    rest = os.path.relpath(os.path.abspath(pattern), os.path.abspath(root or "."))
    regex = re.compile(FileSystem.translate_pattern(os.path.join(real_root, rest)))
    return bool(regex.match(os.path.realpath(path)))


def _check_quality(config, paths):
    """``quality`` where no output of the run is lossy (``--format png``, or a pattern that
    matches only lossless files): refused, as ``maffsrn-upscale`` refuses it."""
    o = config.options
    if o.quality is None:
        return
    lossy = ", ".join(images.LOSSY)
    if o.fmt:
        if "." + o.fmt not in images.LOSSY:
            raise MaffsrnError(
                f"quality={o.quality} applies to lossy outputs ({lossy}), not fmt={o.fmt!r}"
            )
        return
    exts = {os.path.splitext(output_path_for(p, "", o.scale, False, ""))[1].lower() for p in paths}
    if exts and not exts & set(images.LOSSY):
        raise MaffsrnError(
            f"quality={o.quality} applies to lossy outputs ({lossy}), and no file "
            f"input_pattern={config.input_pattern!r} matches is written as one "
            "(pass fmt='jpg' or fmt='webp')"
        )


def _check_output_dir(output_dir):
    """A local output folder: a folder, or one that can be made (its nearest existing
    parent a writable folder). Nothing is created here."""
    if "://" in output_dir:
        return
    problem = folder_problem(output_dir)
    if problem:
        raise MaffsrnError(f"output_dir={output_dir!r}: {problem}")
    if package_file(output_dir):
        raise MaffsrnError(
            f"output_dir={output_dir!r} lies in the maffsrn_tf package ({PACKAGE_DIR}): its "
            "shipped files are never replaced; write it elsewhere"
        )


def _pattern_root(pattern):
    """The folder a local pattern reads from: its path up to the first glob character."""
    parts = pattern.split(os.sep)
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    return os.sep.join(fixed) or (os.sep if pattern.startswith(os.sep) else ".")


def _check_errors_path(config, inputs):
    errors = config.errors
    if "://" in errors:  # a remote file system: written by Beam, renamed at the end
        return
    what = f"errors_path={errors!r}"
    if errors == "-":  # no standard output here: it had written a file named "-"
        raise MaffsrnError(f"{what} would be a file named '-' (not standard output): name a file")
    if errors.endswith(("/", os.sep)) or os.path.isdir(errors):
        raise MaffsrnError(f"{what} is a folder: name a file (default: OUTPUT_DIR-errors.txt)")
    if package_file(errors):
        raise MaffsrnError(
            f"{what} lies in the maffsrn_tf package ({PACKAGE_DIR}): its shipped files are never "
            "replaced; write it elsewhere"
        )
    real = os.path.realpath(errors)
    local = [p for p in inputs if "://" not in p]
    if real in {os.path.realpath(p) for p in local} or _same_file_as_one_of(errors, local):
        raise MaffsrnError(f"{what} is one of the inputs: name another file")
    out_dir = os.path.realpath(config.output_dir) if "://" not in config.output_dir else None
    if real == out_dir:
        raise MaffsrnError(f"{what} is the output folder: name a file (default beside it)")
    pattern = local_pattern(config.input_pattern)
    if "://" not in pattern and _matches(pattern, errors):  # a rerun would read it as an input
        raise MaffsrnError(
            f"{what} would match input_pattern={config.input_pattern!r} (a rerun would read it "
            "as an image): name a file the pattern does not reach"
        )
    if ".." in errors.replace(os.sep, "/").split("/") and not os.path.lexists(errors):
        missing = _missing_before_dotdot(errors, config.output_dir)
        if missing:  # the system walks the path as written: nodir/.. is no folder
            raise MaffsrnError(
                f"{what}: {missing!r} does not exist, so no path goes through it: name the "
                f"file without it ({os.path.normpath(errors)!r}?)"
            )
        # o/../e.txt before o/ is made: the file it will name once the run made o/
        errors = os.path.normpath(errors)
    earlier = os.lstat(errors) if os.path.lexists(errors) else None
    if earlier and not _earlier_errors_file(errors, config):  # even with overwrite (outputs')
        raise MaffsrnError(
            f"{what} exists and is no errors file an earlier run wrote (or it was changed "
            "since): it is never replaced; name another file"
            + (" (errors=FILE)" if not config.errors_path else "")
        )
    stems = {f"{os.path.splitext(os.path.basename(p))[0]}_x{config.options.scale}" for p in inputs}
    if os.path.dirname(real) == out_dir and os.path.splitext(os.path.basename(real))[0] in stems:
        raise MaffsrnError(f"{what} is the name of an output: name another file")
    if os.path.exists(errors) and not os.path.isfile(errors):
        raise MaffsrnError(f"{what} exists and is not a regular file: name another file")
    directory = os.path.dirname(os.path.abspath(errors))
    if not os.path.isdir(directory):
        if not config.errors_path and not os.path.lexists(directory):
            # the default file, beside an output folder not made yet: its folder is made
            # with the output folder (which _check_output_dir found can be made)
            return earlier
        raise MaffsrnError(f"{what}: its folder does not exist: {directory}")
    try:  # a real probe: permissions, read-only file systems
        probe_writable(directory)
    except OSError as err:
        raise MaffsrnError(f"{what}: its folder is not writable ({err.strerror})") from None
    return earlier


def _missing_before_dotdot(path, output_dir):
    """The first folder ``path`` goes up from (``nodir`` in ``nodir/../e.txt``) that does
    not exist and that the run does not make (the output folder and every folder its name
    goes through, made as ``mkdir -p`` makes them), or None."""

    def parts_of(p):
        return p.replace(os.sep, "/").split("/")

    made = set()
    if "://" not in output_dir:
        out = parts_of(output_dir)
        made = {os.path.abspath("/".join(out[:i]) or "/") for i in range(1, len(out) + 1)}
    parts = parts_of(path)
    for i in range(1, len(parts)):
        if parts[i] != "..":
            continue
        before = "/".join(parts[:i])
        if before and not os.path.isdir(before) and os.path.abspath(before) not in made:
            return before
    return None


def _same_file_as_one_of(path, inputs):
    """Whether ``path`` exists and is one of the files ``inputs`` (local paths) name by
    device and inode: a hard link of an input, which no path comparison finds."""
    return bool(same_file_among(path, inputs))


_EARLIER_ERRORS_LIMIT = 64 * 1024 * 1024  # bytes: a bigger file is not read to find out


def _earlier_errors_file(path, config):
    """Whether the existing file ``path`` is an errors file an earlier run wrote, unchanged
    since, which this run may replace: a regular file (not a link) whose contents are what
    that run recorded beside it (``_record_of``: their SHA-256). Anything else, a notes or
    captions file whose lines look like an errors file's, or an empty file someone made,
    is kept."""
    try:
        if not os.path.isfile(path) or os.path.islink(path):
            return False
        if os.lstat(path).st_size > _EARLIER_ERRORS_LIMIT:
            return False
        record = _record_of(path)
        if not os.path.isfile(record) or os.path.islink(record):  # a FIFO would block
            return False
        with open(record, encoding="ascii") as f:
            recorded = f.read(100).strip()
        return recorded == _digest(path)
    except (OSError, UnicodeDecodeError):
        return False


def _record_of(path):
    """The hidden file beside an errors file that records what a run wrote there."""
    import hashlib

    folder, name = os.path.split(path)
    record = f".{name}.maffsrn-beam"
    if len(os.fsencode(record)) > 200:  # a long name: the record's would be over NAME_MAX
        record = f".{hashlib.sha256(os.fsencode(name)).hexdigest()[:32]}.maffsrn-beam"
    return os.path.join(folder, record)


def _digest(path):
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_ESCAPE = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[ntr])")


def _temporary_beside(path):
    directory, name = path.rsplit("/", 1) if "/" in path else (".", path)
    return f"{directory}/{TEMPORARY_PREFIX}{uuid.uuid4().hex}" + temporary_suffix(name, 46)


_DIRECT = (None, "DirectRunner", "direct", "Direct")


def _runner_name(options):
    """The name of the runner ``options`` pick, for messages."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    name = (options or PipelineOptions()).view_as(StandardOptions).runner
    return str(name) if name else "DirectRunner"


def _unreachable_job_server(options):
    """Why the job server that ``options`` name (a portable runner's ``job_endpoint``,
    ``host:port``) cannot be reached, probed with one connection of a few seconds, or
    ``""`` (none named, or it answers). Beam waits ``job_server_timeout`` (300 s) for it,
    then fails with a bare ``FutureTimeoutError``."""
    import socket

    from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

    endpoint = (options or PipelineOptions()).view_as(PortableOptions).job_endpoint
    if not endpoint or endpoint == "embed" or ":" not in endpoint:
        return ""
    host, _, port = endpoint.rpartition(":")
    if not (port.isascii() and port.isdigit()):
        return f"job_endpoint={endpoint!r} is not HOST:PORT"
    try:
        socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=5).close()
    except OSError as err:
        return f"its job server at {endpoint} does not answer ({err.strerror or err}): start it"
    return ""


def _runner(options):
    """The runner ``options`` name, made here where it is the DirectRunner (the default):
    Beam's FnApiRunner, which the DirectRunner runs this pipeline on anyway. The
    DirectRunner would first try to start a Prism job server, which makes a
    ``/tmp/beam-tempXXXX`` folder and leaves it behind when the start fails (no binary, no
    network), one per run. None: Beam makes the runner the options name."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    name = (options or PipelineOptions()).view_as(StandardOptions).runner
    if name not in _DIRECT:
        return None
    try:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    except ImportError:  # another Beam: its DirectRunner
        return None
    return FnApiRunner()


def _joined(error):
    """A foreign library's message as one line: its lines joined (Beam's "Pipeline has
    validations errors:" gives its reasons on the lines that follow)."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text or type(error).__name__


def _signalled(error):
    """Whether ``error`` wraps Ctrl-C or SIGTERM (a runner that re-raises a worker's
    exception): the command's own handling of those must see it as it is."""
    seen = error
    while seen is not None:
        if any(n in str(seen) for n in ("KeyboardInterrupt", "Terminated")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _put_errors(config, text, earlier):
    """Put the errors ``text`` at ``config.errors`` (local): ``(path written or None,
    taken)``. It replaces the file there where that is still the earlier run's file the
    checks found (``earlier``, its ``os.lstat``); otherwise it is
    put in place only if no file is there (another run may have written one since the
    checks). When one is (``taken``), non-empty errors go to the first free name of
    ``NAME-2.EXT``, ``NAME-3.EXT``, ...; empty ones (nothing failed) are not written."""
    path = config.errors
    replace = _unchanged(path, earlier)
    candidates = [path]
    if text:
        stem, ext = os.path.splitext(path)
        candidates += [f"{stem}-{n}{ext}" for n in range(2, 1000)]
    for i, name in enumerate(candidates):
        try:
            with atomic_output(name, overwrite=replace and i == 0) as out:
                with open(out, "w", encoding="utf-8", errors="surrogateescape") as f:
                    f.write(text)
            with contextlib.suppress(OSError), atomic_output(_record_of(name)) as out:
                with open(out, "w", encoding="ascii") as f:  # what a rerun may replace
                    f.write(_digest(name) + "\n")
            return name, i > 0
        except OutputExists:  # written meanwhile (or a pipe, a folder put there): not ours
            continue
        except OSError as err:
            raise MaffsrnError(
                f"errors_path={name!r}: cannot write it ({err.strerror or err})"
            ) from None
    if not text:
        return None, True
    raise MaffsrnError(
        f"errors_path={path!r} and {len(candidates) - 1} names beside it exist: the errors "
        "could not be written"
    )


def _unchanged(path, earlier):
    """Whether ``path`` is still the file whose ``os.lstat`` was ``earlier``."""
    if earlier is None:
        return False
    try:
        now = os.lstat(path)
    except OSError:
        return False
    same = ("st_dev", "st_ino", "st_size", "st_mtime_ns")
    return all(getattr(now, a) == getattr(earlier, a) for a in same)


def run_pipeline(config, options=None, translate=None):
    """Run the pipeline (``options``: Beam ``PipelineOptions``; default the DirectRunner);
    returns ``{"matched": k, "upscaled": n, "failed": m, "skipped": s, "errors": path,
    "errors_taken": bool}``: ``errors`` is where the errors file was written (None where a
    run without failures found one written meanwhile by another run, and left it);
    ``errors_taken``: ``config.errors`` was written meanwhile by another run, so the
    errors went to another name (``NAME-2.EXT``) or, with none, nowhere. ``translate``:
    applied to each line of the errors file before it is put in place (a command's own
    words for the arguments the messages name). ``MaffsrnError`` for what the checks refuse
    and for a runner that cannot run the pipeline (Beam's reasons in one line); a local
    output folder (and its missing parents) made by a run that writes nothing into it is
    removed again, however the run ends."""
    paths, unreadable, earlier = check_paths(config)
    matched = len(paths) + len(unreadable)
    runner, name = _runner(options), _runner_name(options)
    unreachable = _unreachable_job_server(options)
    if unreachable:
        raise MaffsrnError(f"the {name} cannot run the pipeline: {unreachable}")
    try:  # Beam checks the runner's options here (Dataflow: project, region, temp_location)
        pipeline = beam.Pipeline(runner=runner, options=options)
    except Exception as err:
        raise MaffsrnError(f"the {name} cannot run the pipeline: {_joined(err)}") from None
    print(one_line(f"{matched} files match {config.input_pattern}"), file=sys.stderr, flush=True)
    remote_out = "://" in config.output_dir
    with contextlib.nullcontext() if remote_out else made_folders(config.output_dir):
        if not remote_out:
            os.makedirs(config.output_dir, exist_ok=True)
            remove_stale_temporaries(config.output_dir, keep=paths)
        # the errors are collected under a name of our own (Beam reads an output name as a
        # pattern: [1] in a name would break it) and put in place once the run is done
        remote = "://" in config.errors
        local_tmp = None if remote else tempfile.mkdtemp(prefix="maffsrn-beam-errors-")
        tmp = _temporary_beside(config.errors) if remote else os.path.join(local_tmp, "errors.txt")
        try:  # from here, the temporary folder goes however the run ends (a signal too)
            build_pipeline(pipeline, config, tmp, unreadable)
            try:
                result = pipeline.run()
                result.wait_until_finish()
            except Exception as err:  # a runner that cannot start (no job server, no jar)
                if runner is not None or _signalled(err):
                    raise  # the local run: our own code's failures are bugs, shown as such
                raise MaffsrnError(f"the {name} cannot run the pipeline: {_joined(err)}") from err
            with FileSystems.open(tmp) as f:
                lines = f.read().decode("utf-8").splitlines()
            text = "".join((translate(line) if translate else line) + "\n" for line in lines)
            written, taken = config.errors, False
            if remote:
                with FileSystems.create(tmp) as f:
                    f.write(text.encode("utf-8"))
                if FileSystems.exists(config.errors):
                    FileSystems.delete([config.errors])
                FileSystems.rename([tmp], [config.errors])
            else:
                written, taken = _put_errors(config, text, earlier)
        finally:
            if local_tmp:
                shutil.rmtree(local_tmp, ignore_errors=True)
            else:
                try:
                    if FileSystems.exists(tmp):
                        FileSystems.delete([tmp])
                except Exception:  # best effort: the rename above is what matters
                    pass
    counts = {"matched": matched, "errors": written, "errors_taken": taken}
    for name in ("upscaled", "failed", "skipped"):
        found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(name))
        counts[name] = sum(
            (c.committed if c.committed is not None else c.attempted) or 0
            for c in found["counters"]
        )
    counts["failed"] += len(unreadable)
    return counts
