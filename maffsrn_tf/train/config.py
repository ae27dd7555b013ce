"""``TrainConfig``: every option of a training run, its one default and what it does.

``maffsrn-train``'s flags are made from these fields (``maffsrn_tf.cli.train``), ``train()``
takes a config, ``MODEL_DIR/flags.json`` is its ``asdict`` and the model card's recorded
commands leave out the options that keep these defaults (``tools/model_card.py``). Defaults
are the paper's recipe: DIV2K, L1, AdamP at 2e-4 halved every 200 epochs of 1000 iterations.
"""

import dataclasses
import json
import os
from dataclasses import dataclass

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.io.atomic import folder_problem
from maffsrn_tf.io.paths import default_cache_root, within
from maffsrn_tf.model.presets import (
    MIN_INPUT_SIZE,
    PRESETS,
    SCALES,
    check_scale,
    preset_config,
)
from maffsrn_tf.options import check_fields
from maffsrn_tf.options import defaults as field_defaults
from maffsrn_tf.options import option as _opt

DATA_SOURCES = ("folder", "div2k", "tfds", "packed")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
# What a rerun of a run (a ``model_dir`` with a ``flags.json``) may change: how long and how
# it runs, not what it trains. ``epochs`` is raised to train on; the others are where and how
# the same steps run. Every other option must be the one ``flags.json`` records, or the
# record of how the checkpoint was trained would lie.
RESUME_MAY_CHANGE = (
    "epochs",
    "verbose",
    "backup_every_steps",
    "strategy",
    "tpu",
    "jit_compile",
    "cache_dir",
    "model_dir",
)
# options that name files or folders: the same path spelled otherwise is the same option
PATH_OPTIONS = ("data_dir", "cache_dir", "val_dir", "holdout", "init_weights", "model_dir")
# what a run writes in its model_dir (files, and folders with all they hold): never an input
RUN_OUTPUTS = (
    "flags.json",
    "workdir.json",
    "data.json",
    "final.weights.h5",
    "final.json",
    "best.weights.h5",
    "best.keras",
    "best.json",
    "log.csv",
    "backup",
    "tensorboard",
    "workers",
)
# model_dir/workdir.json: the working folder that the relative paths of flags.json are
# relative to (flags.json keeps the paths as given: the model card shows its command)
WORKDIR_RECORD = "workdir.json"
# model_dir/data.json: the files the run trains and validates on, as they were when it began
# (``record_data``); a rerun on other data is refused (``check_data``)
DATA_RECORD = "data.json"
DATA_ROLES = ("training", "validation")
# what a run writes under its cache_dir (maffsrn_tf.data.sources.training_store)
CACHE_FOLDERS = ("lr", "decoded")


@dataclass
class TrainConfig:
    """One training run (``maffsrn_tf.train.trainer.train``). ``preset`` decides the model (and so
    the scale); ``scale`` is recorded beside it."""

    preset: str = _opt("maffsrn_x2", "Model preset.", choices=tuple(PRESETS))
    scale: int = _opt(2, "Upscaling factor of the preset.", choices=SCALES)
    data_source: str = _opt(
        "folder",
        "folder: HR images (LR by imresize, cached); div2k: DIV2K folder layout; tfds: "
        "TensorFlow Datasets div2k/bicubic_x{scale}; packed: a maffsrn-pack file (any Keras "
        "backend, e.g. KERAS_BACKEND=jax without TensorFlow).",
        choices=DATA_SOURCES,
    )
    data_dir: str = _opt("", "Image folder, DIV2K root, TFDS data_dir, or pack file.")
    cache_dir: str = _opt(
        "",
        "Cache root: LR images made for a folder source (lr/) and the decoded training images "
        "that patches are read from (decoded/); default ~/.cache/maffsrn_tf (its size for DIV2K: "
        "docs/training.md).",
    )
    val_dir: str = _opt(
        "",
        "Folder of HR validation images (no validation without it or holdout: the run ends "
        "with final.weights.h5, no best.*).",
    )
    holdout: str = _opt(
        "",
        "File listing images of the data folder (folder source), one name a line, held out "
        "of training and used for validation instead of a validation folder, e.g. "
        "splits/sr291_val.txt in a clone.",
    )
    patch_size: int = _opt(
        48, f"LR patch size (at least {MIN_INPUT_SIZE}, the model's smallest input).",
        lower=MIN_INPUT_SIZE,
    )  # fmt: skip
    batch_size: int = _opt(16, "Global batch size (split over replicas).", lower=1)
    epochs: int = _opt(1000, "Epochs.", lower=1)
    steps_per_epoch: int = _opt(1000, "Iterations per epoch (the official code: 1000).", lower=1)
    optimizer: str = _opt("adamp", "Optimizer.", choices=("adamp", "adam"))
    loss: str = _opt(
        "l1", "Loss: l1 (the paper), l2 (e.g. a short fine-tune at the end).", choices=("l1", "l2")
    )
    ema_momentum: float = _opt(
        0.0,
        "Keep an exponential moving average of the weights with this momentum (e.g. 0.999; "
        "0: off); validation, best and final weights are then the average's.",
        lower=0.0,
        upper=0.9999,
    )
    learning_rate: float = _opt(2e-4, "Initial learning rate.", lower=0.0)
    decay_epochs: int = _opt(
        200, "Multiply the learning rate by the decay factor every this many epochs.", lower=1
    )
    decay_factor: float = _opt(
        0.5,
        "Learning-rate decay factor: the rate is multiplied by it at each decay (at most 1: a "
        "larger factor would grow the rate).",
        lower=0.0,
        upper=1.0,
    )
    max_decays: int | None = _opt(
        None, "Stop decaying after this many decays (official script: 1).", lower=0
    )
    model_dir: str = _opt("runs/maffsrn", "Output directory (checkpoints, logs).")
    strategy: str = _opt("auto", "tf.distribute strategy.", choices=STRATEGIES)
    tpu: str = _opt("", "TPU address for the tpu strategy (empty on Colab).")
    init_weights: str = _opt(
        "",
        "Initialize from these weights: a file (.weights.h5/.npz/.keras of another run) or the "
        "shipped weights of a preset by name (e.g. maffsrn_x2, fine-tuned on your images).",
    )
    init_skip_tail: bool | None = _opt(
        None,
        "Leave the tail freshly initialized (default: when the initial weights, judged by "
        "their contents, are of another scale).",
    )
    seed: int = _opt(0, "Random seed (weights, patches, augmentation).", lower=0, upper=2**32 - 1)
    mixed_precision: bool = _opt(False, "mixed_float16 (GPUs).")
    jit_compile: bool = _opt(False, "XLA-compile the train step.")
    backup_every_steps: int = _opt(0, "Also back up every N steps (0: each epoch).", lower=0)
    verbose: int = _opt(
        1,
        "Keras progress: 0 silent, 1 progress bar (one line/epoch where the output is not a "
        "terminal), 2 one line/epoch.",
        choices=(0, 1, 2),
    )

    def __post_init__(self):
        self.validate()

    def validate(self):
        """``MaffsrnError`` naming the first field outside its choices or bounds, or a preset
        whose scale is not ``scale``."""
        check_fields(self)
        check_scale(self.scale)
        preset_scale = preset_config(self.preset)["scale"]
        if preset_scale != self.scale:
            raise MaffsrnError(
                f"preset={self.preset!r} upscales x{preset_scale}, not scale={self.scale}"
            )
        if self.holdout and self.val_dir:
            raise MaffsrnError("holdout and val_dir both choose the validation images: pass one")
        if self.holdout and self.data_source != "folder":  # it failed late, naming the data
            raise MaffsrnError(
                f"holdout lists images of a data folder (data_source='folder'), not of "
                f"data_source={self.data_source!r}: leave it out, or pass val_dir=DIR"
            )
        if self.cache_dir and self.data_source == "packed":  # it was ignored
            raise MaffsrnError(
                f"cache_dir={self.cache_dir!r} holds what a folder, div2k or tfds source is "
                "decoded into; a pack (data_source='packed') is read as it is: leave it out"
            )

    @classmethod
    def from_dict(cls, values):
        """A config from a dict such as an older ``flags.json`` (missing keys: defaults;
        unknown keys: ``MaffsrnError``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise MaffsrnError(f"unknown training options: {', '.join(unknown)}")
        values = dict(values)
        defaults = field_defaults(cls)
        for name, value in list(values.items()):  # flags.json of runs that left a flag unset
            if value is None and defaults[name] is not None:
                values[name] = defaults[name]
        return cls(**values)

    def asdict(self):
        return dataclasses.asdict(self)


def defaults():
    """``{option: default}`` of every field."""
    return field_defaults(TrainConfig)


def _same_path(new, old, workdir=None, name=""):
    """Whether ``new`` (relative to this process's working folder) and ``old`` (recorded,
    relative to ``workdir``; None: unknown, taken as this one) name the same file or folder.
    Equal strings are not enough: ``data`` from another folder is other data. An
    ``init_weights`` given by preset name (no such file) is the same name."""
    if not new or not old:
        return new == old
    old_path = os.path.join(workdir, old) if workdir else old
    if name == "init_weights" and new == old and not os.path.lexists(new):
        return not os.path.lexists(old_path)  # a shipped preset by name, both times
    return os.path.realpath(new) == os.path.realpath(old_path)


def recorded_workdir(model_dir, recorded_model_dir, given_model_dir):
    """The working folder the run in ``model_dir`` was started from: what its
    ``workdir.json`` records; for a run from before that record, the folder that the
    recorded relative ``model_dir`` lies in, when it names the folder given now; else None
    (unknown)."""
    try:
        with open(os.path.join(model_dir, WORKDIR_RECORD), encoding="utf-8") as f:
            workdir = json.load(f).get("workdir")
        if isinstance(workdir, str) and os.path.isabs(workdir):
            return workdir
    except (OSError, ValueError, AttributeError):
        pass
    if recorded_model_dir and not os.path.isabs(recorded_model_dir):
        given = os.path.abspath(given_model_dir)
        tail = os.path.normpath(recorded_model_dir)
        if tail != os.curdir and not tail.startswith(os.pardir):
            if given == tail or given.endswith(os.sep + tail):
                return given[: len(given) - len(tail)].rstrip(os.sep) or os.sep
    return None


def written_by_run(path, model_dir):
    """Whether ``path`` (a file, through links too) is one that a run in ``model_dir``
    writes (``RUN_OUTPUTS``): it would be replaced."""
    folder = os.path.realpath(model_dir)
    absolute = os.path.abspath(path)
    spellings = {
        os.path.realpath(path),
        os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute)),
    }
    for spelled in spellings:
        rel = os.path.relpath(spelled, folder)
        if rel.split(os.sep)[0] in RUN_OUTPUTS:
            return True
    for name in RUN_OUTPUTS:  # a hard link of one of them
        output = os.path.join(model_dir, name)
        try:
            if os.path.isfile(output) and os.path.samefile(output, path):
                return True
        except OSError:
            pass
    return False


def _inside(path, folder):
    """Whether ``path`` is ``folder`` or lies inside it (real paths, links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _shown(name, value):
    """``name=value`` as messages name an option (``name unset`` for None or "")."""
    if value is None or value == "":
        return f"{name} unset"
    return f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"


def _recorded(value):
    return "unset" if value is None or value == "" else str(value)


class RunConflict(MaffsrnError):
    """A rerun of a run (``model_dir``) with options other than those its ``flags.json``
    records. ``differences``: ``(option, value asked, value recorded)`` of each;
    ``resolved``: ``{option: (real path asked, real path recorded)}`` of the path options
    among them that name a path both times (a spelling alike can name another folder: the
    same relative path from another working folder, a link that points elsewhere)."""

    def __init__(self, model_dir, differences, resolved=None):
        self.model_dir, self.differences = model_dir, list(differences)
        self.resolved = dict(resolved or {})
        listed = "; ".join(
            f"{_shown(name, new)} (recorded: {_recorded(old)}){_now_was(self.resolved, name)}"
            for name, new, old in differences
        )
        may = ", ".join(RESUME_MAY_CHANGE[:-1])
        super().__init__(
            f"model_dir={model_dir!r} holds a run trained with other options: {listed}. Rerun "
            f"it with the options of its flags.json (only {may} may change: a larger epochs "
            "trains on), or pass model_dir=DIR elsewhere for a new run"
        )


def _now_was(resolved, name):
    """`` is now /real/asked, was /real/recorded`` for a path option of ``resolved``, else
    ``""``."""
    if name not in resolved:
        return ""
    now, was = resolved[name]
    return f" is now {now}, was {was}"


def recorded_config(model_dir):
    """The ``TrainConfig`` a run's ``model_dir/flags.json`` records, or None if it has none."""
    path = os.path.join(model_dir, "flags.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
        if not isinstance(values, dict):
            raise ValueError("not a JSON object")
        return TrainConfig.from_dict(values)
    except (OSError, ValueError, TypeError) as err:  # MaffsrnError is a ValueError
        raise MaffsrnError(
            f"{path} is not a readable record of a run ({err}); move it away, or pass another "
            "model_dir=DIR"
        ) from None


def finished_epochs(model_dir):
    """The epochs of the run ``model_dir`` finished (its ``final.json``), or 0."""
    try:
        with open(os.path.join(model_dir, "final.json"), encoding="utf-8") as f:
            return int(json.load(f)["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def training_folder(config):
    """The folder of the HR images ``config`` trains on, or None where it is no folder of
    images (a TFDS ``data_dir``, a pack): ``data_dir`` of a folder source, its
    ``DIV2K_train_HR`` of a DIV2K one."""
    if not config.data_dir or config.data_source in ("tfds", "packed"):
        return None
    if config.data_source == "div2k":
        return os.path.join(config.data_dir, "DIV2K_train_HR")
    return config.data_dir


def check_inputs(config):
    """``MaffsrnError`` when ``config`` would validate on its training images (``val_dir``
    is the folder it trains on) or write its cache among input images (``cache_dir`` is, or
    lies inside, ``data_dir`` or ``val_dir``); paths compared as real paths, links
    followed. Nothing is read or written."""
    train = training_folder(config)
    real = os.path.realpath(train) if train else None
    if config.val_dir and real and os.path.realpath(config.val_dir) == real:
        if config.data_source == "folder":
            same = f"data_dir={config.data_dir!r}"
            other = (
                ", or holdout=FILE listing images of the data folder to hold out of training "
                "and validate on"
            )
        else:
            same, other = f"the training folder of data_dir={config.data_dir!r}", ""
        if os.path.normpath(config.val_dir) != os.path.normpath(train):
            same += f" (both {real})"
        raise MaffsrnError(
            f"val_dir={config.val_dir!r} is {same}: validating on the training images would "
            f"pick best.weights.h5 by images it trains on; pass val_dir=DIR of other "
            f"images{other}"
        )
    if config.cache_dir:
        for name in ("data_dir", "val_dir"):
            folder = getattr(config, name)
            if folder and within(config.cache_dir, folder):
                raise MaffsrnError(
                    f"cache_dir={config.cache_dir!r} is (or lies inside) {name}={folder!r}: "
                    "the LR and decoded images it caches (lr/, decoded/) would be written "
                    "among its images; pass cache_dir=DIR outside it"
                )


def _check_cache(config):
    """``MaffsrnError`` unless ``cache_dir`` (when given: never with a pack, which the
    config refuses) and its ``lr/`` and ``decoded/`` are, or can be made, folders this
    process can write. Nothing is created."""
    if not config.cache_dir:  # the default cache folder (HOME a file, read-only: named)
        if config.data_source == "packed":  # a pack caches nothing
            return
        root = default_cache_root()
        problem = folder_problem(root)
        if problem:
            raise MaffsrnError(
                f"the cache folder {root} (the default) is not a folder this process can "
                f"write: {problem}; pass cache_dir=DIR"
            )
        return
    for name in ("", *CACHE_FOLDERS):
        path = os.path.join(config.cache_dir, name) if name else config.cache_dir
        problem = folder_problem(path)
        if problem:
            what = f"cannot hold the cache: {path} is not" if name else "is not"
            raise MaffsrnError(
                f"cache_dir={config.cache_dir!r} {what} a folder this process can write: "
                f"{problem}; pass cache_dir=DIR elsewhere"
            )


def run_holding(path):
    """The folder of a training run (holding ``flags.json`` and ``workdir.json``, which
    every run writes first) that ``path`` is or lies in, else None (an empty ``path`` too)."""
    if not path:
        return None
    folder = os.path.abspath(path)
    while True:
        if all(os.path.isfile(os.path.join(folder, n)) for n in ("flags.json", WORKDIR_RECORD)):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def check_run(config, model_dir=None):
    """What a run of ``config`` would do in ``model_dir`` (default ``config.model_dir``),
    checked before anything is written.

    ``MaffsrnError`` when ``model_dir`` is (or lies inside) ``data_dir`` or ``val_dir``, is
    ``cache_dir`` or one of them lies inside the other, when ``check_inputs`` refuses
    ``val_dir`` or ``cache_dir``, when ``cache_dir`` cannot be written (a file, a read-only
    or pseudo file system), or when ``model_dir`` holds a run (``flags.json``) whose options
    differ from ``config``'s other than ``RESUME_MAY_CHANGE`` (a ``RunConflict`` naming
    each; ``flags.json`` is left as it is), or when that run would train on other data than
    it began with (``check_data``: its ``data.json``), or when it holds no run but files a
    run writes (``RUN_OUTPUTS``: a new run would replace them). Returns a line saying so
    when that run already finished ``config.epochs`` epochs (nothing to train), else None: a
    new run, or one to resume.
    """
    model_dir = model_dir or config.model_dir
    if config.strategy == "multi_worker" and not os.environ.get("TF_CONFIG"):
        raise MaffsrnError(  # it failed at the first step's summary, the run folder made
            "strategy='multi_worker' runs one process per worker of a cluster that the "
            "TF_CONFIG environment variable describes, and it is not set: set it in each "
            "worker, or use strategy='mirrored' (the devices of this machine)"
        )
    init = config.init_weights
    if init and os.path.lexists(init) and written_by_run(init, config.model_dir):
        raise MaffsrnError(
            f"init_weights={init!r} is a file this run writes in model_dir="
            f"{config.model_dir!r}: training would replace it; copy it elsewhere and pass "
            "that, or pass model_dir=DIR elsewhere for the new run"
        )
    for name in ("data_dir", "val_dir"):
        folder = getattr(config, name)
        if folder and _inside(model_dir, folder):
            raise MaffsrnError(
                f"model_dir={model_dir!r} is (or lies inside) {name}={folder!r}: the run's "
                "checkpoints and logs would mix with its images; pass model_dir=DIR outside it"
            )
    cache = config.cache_dir or default_cache_root()
    if config.data_source != "packed" and (_inside(model_dir, cache) or _inside(cache, model_dir)):
        named = f"cache_dir={cache!r}" if config.cache_dir else f"the cache folder {cache}"
        raise MaffsrnError(
            f"model_dir={model_dir!r} and {named} are one folder, or one lies inside the "
            "other: clearing the cache would delete the run (or the run's files would mix "
            "with the cache); pass them apart"
        )
    run = run_holding(config.cache_dir) if config.data_source != "packed" else None
    if run:  # another run's folder: its files and the cache would mix
        raise MaffsrnError(
            f"cache_dir={config.cache_dir!r} is (or lies inside) the training run in {run!r} "
            "(its flags.json): the cache would mix with that run's files; pass cache_dir=DIR "
            "elsewhere"
        )
    check_inputs(config)
    recorded = recorded_config(model_dir)
    if recorded is None:  # a new run: it must not replace (or append to) another's files
        theirs = [n for n in RUN_OUTPUTS  # workers/: made by this run's other workers
                  if n != "workers" and os.path.lexists(os.path.join(model_dir, n))]  # fmt: skip
        if theirs:
            raise MaffsrnError(
                f"model_dir={model_dir!r} holds {', '.join(theirs)} but no flags.json: files "
                "no run recorded, which a new run would replace or append to; pass "
                "model_dir=DIR elsewhere (a new or empty folder), or move them"
            )
        _check_cache(config)
        return None
    differences, resolved = [], {}
    workdir = recorded_workdir(model_dir, recorded.model_dir, config.model_dir)
    for field in dataclasses.fields(TrainConfig):
        name = field.name
        if name in RESUME_MAY_CHANGE:
            continue
        new, old = getattr(config, name), getattr(recorded, name)
        if name in PATH_OPTIONS:
            same = _same_path(new, old, workdir, name)
            if not same and new and old:
                now = os.path.realpath(new)
                was = os.path.realpath(os.path.join(workdir, old) if workdir else old)
                if now != was:
                    resolved[name] = (now, was)
        else:
            same = new == old
        if not same:
            differences.append((name, new, old))
    if differences:
        raise RunConflict(model_dir, differences, resolved)
    done = finished_epochs(model_dir)
    if done and done >= config.epochs:
        return (
            f"model_dir={model_dir!r} already finished its run of {done} "
            f"epoch{'s' if done != 1 else ''} "
            f"({os.path.join(model_dir, 'final.weights.h5')}): nothing to train; pass "
            f"epochs=N with N above {done} to train on, or model_dir=DIR elsewhere for a new "
            "run"
        )
    check_data(config, model_dir)
    _check_cache(config)
    return None


def _holdout_names(config):
    """The names ``config.holdout`` holds out of a folder source (``read_holdout``), or None."""
    if not config.holdout or config.data_source != "folder":
        return None
    from maffsrn_tf.data.sources import read_holdout

    return sorted(set(read_holdout(config.holdout, config.data_dir)))


def _data_files(config, holdout):
    from maffsrn_tf.data.sources import data_files

    return data_files(
        config.data_source, config.data_dir, config.scale, config.val_dir, holdout=holdout
    )


def data_record(config, epoch=0):
    """What ``config`` trains and validates on now, as ``model_dir/data.json`` keeps it:
    ``{"epoch", "holdout", "training", "validation"}``, each role ``{name: file state}``
    (size, times, inode and digest: ``maffsrn_tf.data.patches.file_state``) or None where
    nothing is listed (``maffsrn_tf.data.sources.data_files``); ``epoch``: the epochs the run
    had finished (0: it begins; more: a run from before this record, resumed)."""
    from maffsrn_tf.data.patches import file_state

    holdout = _holdout_names(config)
    record = {"epoch": int(epoch), "holdout": holdout}
    for role, listed in _data_files(config, holdout).items():
        if listed is not None:
            root, names = listed
            listed = {name: file_state(os.path.join(root, name)) for name in names}
        record[role] = listed
    return record


def record_data(config, model_dir=None, epoch=0):
    """Write ``data_record(config, epoch)`` to ``model_dir/data.json`` (atomically)."""
    from maffsrn_tf.io.atomic import atomic_output

    path = os.path.join(model_dir or config.model_dir, DATA_RECORD)
    record = data_record(config, epoch)
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, sort_keys=True)


def _read_data_record(model_dir):
    """The run's ``data.json`` as a dict, or None for a run from before that record."""
    path = os.path.join(model_dir, DATA_RECORD)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        for role in DATA_ROLES:
            files = record.get(role)
            if files is not None and not (
                isinstance(files, dict) and all(isinstance(v, dict) for v in files.values())
            ):
                raise ValueError(f"its {role} entry is not a table of files")
        holdout = record.get("holdout")
        if holdout is not None and not (
            isinstance(holdout, list) and all(isinstance(n, str) for n in holdout)
        ):
            raise ValueError("its holdout entry is not a list of names")
        return record
    except (OSError, ValueError) as err:
        raise MaffsrnError(
            f"{path} is not a readable record of a run's data ({err}); start a new run with "
            "model_dir=DIR elsewhere"
        ) from None


def _listed(items, limit=3):
    shown = ", ".join(items[:limit])
    return shown + (f", and {len(items) - limit} more" if len(items) > limit else "")


_KINDS = ("added", "removed", "changed", "unreadable")


def data_changes(config, record):
    """How the data ``config`` trains and validates on differs from ``record`` (a run's
    ``data.json``): a list of phrases (``"2 of 3 training images changed (tr/a.png added,
    tr/b.png changed)"``), empty when it is the same. A file whose size and times are
    unchanged is taken as is; any other is judged by its bytes (``same_file``)."""
    from maffsrn_tf.data.patches import same_file

    holdout = _holdout_names(config)
    changes = []
    if record.get("holdout") is not None and holdout is not None:
        before, now = set(record["holdout"]), set(holdout)
        if before != now:
            moved = [f"{n} added" for n in sorted(now - before)]
            moved += [f"{n} removed" for n in sorted(before - now)]
            changes.append(f"holdout={config.holdout!r} now lists other images ({_listed(moved)})")
    files = _data_files(config, holdout)
    recorded, current = {}, {}  # shown path -> (role, file state / path)
    for role in DATA_ROLES:
        if record.get(role) is None or files[role] is None:
            continue  # not listed then (TFDS, no validation), or not now
        root, names = files[role]
        for name, state in record[role].items():
            recorded[os.path.join(root, name)] = (role, state)
        for name in names:
            current[os.path.join(root, name)] = (role, os.path.join(root, name))
    found = {role: {kind: [] for kind in _KINDS} for role in DATA_ROLES}
    totals = dict.fromkeys(DATA_ROLES, 0)
    for shown in sorted(set(recorded) | set(current)):
        role = (current.get(shown) or recorded[shown])[0]
        totals[role] += 1
        if shown not in current:
            kind = "removed"
        elif shown not in recorded:
            kind = "added"
        else:
            try:
                kind = None if same_file(recorded[shown][1], shown) else "changed"
            except FileNotFoundError:
                kind = "removed"
            except OSError:
                kind = "unreadable"
        if kind:
            found[role][kind].append(shown)
    for role in DATA_ROLES:
        listed = [f"{path} {kind}" for kind in _KINDS for path in found[role][kind]]
        if listed:
            changes.append(
                f"{len(listed)} of {totals[role]} {role} images changed ({_listed(listed)})"
            )
    return changes


def check_data(config, model_dir=None):
    """``MaffsrnError`` when the files ``config`` trains or validates on are not those the
    run in ``model_dir`` (default ``config.model_dir``) recorded in its ``data.json`` when
    it began: an image added, removed or of other bytes, in the training or validation
    folder, or another ``holdout`` list; its log, best checkpoint and ``flags.json`` would
    mix runs on other data. The message names what changed. A run from before that record
    (none) is not checked. Nothing is written."""
    model_dir = model_dir or config.model_dir
    record = _read_data_record(model_dir)
    if record is None:
        return
    changes = data_changes(config, record)
    if not changes:
        return
    epoch = record.get("epoch")
    since = (
        f"since the run in model_dir={model_dir!r} began"
        if not epoch
        else f"since the run in model_dir={model_dir!r} recorded them (resumed after epoch {epoch})"
    )
    raise MaffsrnError(
        f"{'; '.join(changes)} {since}: start a new run with model_dir=DIR elsewhere, or put "
        "the data back"
    )
