"""``TrainConfig``: every option of a training run, its one default and what it does.

``maffsrn-train``'s flags are made from these fields (``maffsrn_tf.cli.train``), ``train()``
takes a config, ``MODEL_DIR/flags.json`` is its ``asdict`` and the model card's recorded
commands leave out the options that keep these defaults (``tools/model_card.py``). Defaults
are the paper's recipe: DIV2K, L1, AdamP at 2e-4 halved every 200 epochs of 1000 iterations.
"""

import dataclasses
from dataclasses import dataclass

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.model.presets import PRESETS, SCALES, check_scale, preset_config
from maffsrn_tf.options import check_fields
from maffsrn_tf.options import defaults as field_defaults
from maffsrn_tf.options import option as _opt

DATA_SOURCES = ("folder", "div2k", "tfds", "packed")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


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
        "that patches are read from (decoded/); default ~/.cache/maffsrn_tf. DIV2K x2 needs "
        "about 8.3 GB there.",
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
    patch_size: int = _opt(48, "LR patch size.", lower=1)
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
    decay_factor: float = _opt(0.5, "Learning-rate decay factor.", lower=0.0)
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
    seed: int = _opt(0, "Random seed (weights, patches, augmentation).")
    mixed_precision: bool = _opt(False, "mixed_float16 (GPUs).")
    jit_compile: bool = _opt(False, "XLA-compile the train step.")
    backup_every_steps: int = _opt(0, "Also back up every N steps (0: each epoch).", lower=0)
    verbose: int = _opt(
        1, "Keras progress: 0 silent, 1 progress bar, 2 one line/epoch.", choices=(0, 1, 2)
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
