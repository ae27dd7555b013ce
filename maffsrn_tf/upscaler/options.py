"""``UpscaleOptions``: every upscaling option, its one default, type, check and help.

``maffsrn-upscale`` and ``maffsrn-beam`` make their flags from these fields
(``cli.common.define_option_flags``); ``upscale()``, ``upscale_path()`` and the Beam
pipeline build one options object at their edge and pass it down, so the code inside trusts
it. The user-visible names stay as they were: the engine choice is passed as ``backend``
(``--backend``) and the shipped model's variant as ``quantization`` (``--quantization``).
"""

import dataclasses
import os

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.io.images import DEFAULT_MAX_PIXELS, OUTPUT_FORMATS
from maffsrn_tf.model.presets import MIN_INPUT_SIZE, SCALES
from maffsrn_tf.model.shipped import DEFAULT_VARIANT, SHIPPED_VARIANTS
from maffsrn_tf.options import check_fields, option
from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

# what runs the network: TFLite for the shipped weights and .tflite files, Keras for the rest
RUNTIMES = ("auto", "keras", "tflite")
# LiteRT threads per Beam worker process (Beam runs a worker per core)
BEAM_WORKER_THREADS = 1
# more threads than any machine has cores (tens of thousands crash LiteRT)
MAX_THREADS = 256


@dataclasses.dataclass(frozen=True)
class UpscaleOptions:
    """How to upscale: the model, the tiling, and what is written."""

    scale: int = option(2, "Upscaling factor.", choices=SCALES)
    runtime: str = option(
        "auto",
        "What runs the model; auto: TFLite for the shipped weights and .tflite files, Keras "
        "for Keras weights.",
        choices=RUNTIMES,
        name="backend",
    )
    variant: str = option(
        DEFAULT_VARIANT,
        "Shipped TFLite model: float16 (as accurate as Keras) or int8 (about twice as fast; "
        "its measured accuracy drop is in tflite/REPORT.md).",
        choices=SHIPPED_VARIANTS,
        name="quantization",
    )
    model: object = option(
        None,
        "Weights (.weights.h5/.keras) or a .tflite file (default: shipped for the scale); in "
        "Python also a Keras model.",
    )
    tile: int | None = option(
        None,
        f"Largest tile in LR pixels (default {DEFAULT_TILE}, or a fixed-shape model's own "
        "tile; 0: whole image at once, memory permitting).",
    )
    overlap: int = option(DEFAULT_OVERLAP, "Overlap between tiles in LR pixels.")
    self_ensemble: bool = option(False, "Average the 8 flips/rotations (8x slower, +~0.1 dB).")
    compare: bool = option(False, "Also write NAME_compare.png: bicubic | MAFFSRN.")
    overwrite: bool = option(False, "Replace existing outputs.")
    fmt: str = option(
        "",
        "Output format (default: the input's; PNG for 16-bit).",
        choices=("", *OUTPUT_FORMATS),
        flag="format",
    )
    quality: int | None = option(None, "JPEG/WebP quality 1-100 (default: JPEG 95, WebP 80).")
    max_pixels: int = option(
        DEFAULT_MAX_PIXELS,
        "Refuse inputs larger than this (decompression bombs).",
        flag="max_megapixels",
        per=1_000_000,
    )
    num_threads: int | None = option(None, "LiteRT threads (default: 2).", upper=MAX_THREADS)

    def __post_init__(self):
        if isinstance(self.model, os.PathLike):  # a pathlib.Path works as its string
            object.__setattr__(self, "model", os.fspath(self.model))
        check_fields(self)
        if self.tile is not None and self.tile != 0 and self.tile < MIN_INPUT_SIZE:
            raise MaffsrnError(
                f"tile={self.tile} is below the model's minimum of {MIN_INPUT_SIZE} (0: whole "
                "image)"
            )
        if self.overlap < 0:
            raise MaffsrnError(f"overlap={self.overlap} is negative")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise MaffsrnError(f"quality={self.quality} is not in 1..100")
        if self.max_pixels <= 0:
            raise MaffsrnError(f"max_pixels={self.max_pixels} is not a positive number of pixels")
        if self.num_threads is not None and self.num_threads <= 0:
            raise MaffsrnError(f"num_threads={self.num_threads} is not positive")

    def replace(self, **changes):
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)
