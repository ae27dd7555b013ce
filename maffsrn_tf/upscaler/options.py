"""``UpscaleOptions``: every upscaling option, its one default, type, check and help.

``maffsrn-upscale`` and ``maffsrn-beam`` make their flags from these fields
(``cli.common.define_option_flags``); ``upscale()``, ``upscale_path()`` and the Beam
pipeline build one options object at their edge and pass it down, so the code inside trusts
it. The user-visible names stay as they were: the engine choice is passed as ``backend``
(``--backend``) and the shipped model's variant as ``quantization`` (``--quantization``).
"""

import dataclasses
import os

from PIL import ImageColor

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.io.images import DEFAULT_MAX_PIXELS, OUTPUT_FORMATS
from maffsrn_tf.model.presets import MIN_INPUT_SIZE, SCALES
from maffsrn_tf.model.shipped import DEFAULT_VARIANT, SHIPPED_VARIANTS
from maffsrn_tf.options import check_fields, option, public_name
from maffsrn_tf.upscaler.engines import MAX_THREADS
from maffsrn_tf.upscaler.sizing import (
    MAX_OUTSCALE,
    factor_name,
    fit_size,
    model_scale,
    scaled_size,
)
from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP

# what runs the network: TFLite for the shipped weights and .tflite files, Keras for the rest
RUNTIMES = ("auto", "keras", "tflite")
# LiteRT threads per Beam worker process (Beam runs a worker per core)
BEAM_WORKER_THREADS = 1
# the scale when nothing picks another
DEFAULT_SCALE = 2
# the background: "auto" keeps transparency where the format holds it and flattens onto white
# where it does not (JPEG, BMP); a colour given flattens every output onto it
AUTO_BACKGROUND = "auto"
DEFAULT_BACKGROUND = "white"
# --help's headings, in order
GROUPS = ("Input and output", "Output size", "Model", "Output files", "Speed and limits")


@dataclasses.dataclass(frozen=True)
class UpscaleOptions:
    """How to upscale: the output size, the model, the tiling, and what is written.

    The output size is the model's ``scale`` (default 2), or ``outscale`` (any factor from 1
    to 16), or ``width``/``height`` (the result fits that box, aspect kept): one of the
    three. With ``outscale``/``width``/``height`` the model is picked for the factor
    (``sizing.model_scale``) and ``scale`` stays None.
    """

    scale: int | None = option(
        None, f"Upscaling factor (default {DEFAULT_SCALE}).", choices=SCALES, group=GROUPS[1]
    )
    outscale: float | None = option(
        None,
        "Output size as a factor of the input's, e.g. 3.5: runs the smallest model at or above "
        "it and resizes its output with Lanczos (above 4: the x4 model, then Lanczos).",
        lower=1.0,
        upper=MAX_OUTSCALE,
        group=GROUPS[1],
    )
    width: int | None = option(
        None, "Output width in pixels (the height follows the aspect).", lower=1, group=GROUPS[1]
    )
    height: int | None = option(
        None,
        "Output height in pixels (with --width: the result fits the box, aspect kept).",
        lower=1,
        group=GROUPS[1],
    )
    runtime: str = option(
        "auto",
        "What runs the model; auto: TFLite for the shipped weights and .tflite files, Keras "
        "for Keras weights.",
        choices=RUNTIMES,
        name="backend",
        group=GROUPS[2],
    )
    variant: str = option(
        DEFAULT_VARIANT,
        "Shipped TFLite model: float16 (as accurate as Keras) or int8 (about twice as fast; "
        "loses 0.03-0.04 dB on average at x2, but up to 0.85 dB on graphics such as slides and "
        "line art: tflite/REPORT.md).",
        choices=SHIPPED_VARIANTS,
        name="quantization",
        group=GROUPS[2],
    )
    model: object = option(
        None,
        "Weights (.weights.h5/.keras) or a .tflite file (default: shipped for the scale); in "
        "Python also a Keras model.",
        group=GROUPS[2],
    )
    self_ensemble: bool = option(
        False, "Average the 8 flips/rotations (8 times slower, a little sharper).", group=GROUPS[2]
    )
    recursive: bool = option(
        False,
        "Also upscale the images of subfolders, mirroring them under the output folder.",
        group=GROUPS[0],
    )
    skip_existing: bool = option(
        False,
        "Leave inputs whose output already exists (a rerun goes on where the last stopped).",
        group=GROUPS[0],
    )
    overwrite: bool = option(False, "Replace existing outputs.", group=GROUPS[0])
    fmt: str = option(
        "",
        "Output format, and the extension written (default: the input's; PNG for 16-bit colour).",
        choices=("", *OUTPUT_FORMATS, "jpeg", "tif"),  # as the extensions: one set
        flag="format",
        group=GROUPS[3],
    )
    quality: int | None = option(
        None,
        "Quality of lossy outputs, 1-100 (default: JPEG 95, WebP and AVIF Pillow's own).",
        group=GROUPS[3],
    )
    background: str = option(
        AUTO_BACKGROUND,
        "Colour to flatten transparency onto, a name or #rrggbb: every output with "
        f"transparency is flattened onto it, in any format (default {AUTO_BACKGROUND}: kept "
        f"where the format holds it, flattened onto {DEFAULT_BACKGROUND} for JPEG and BMP).",
        group=GROUPS[3],
    )
    strip_metadata: bool = option(
        False,
        "Drop EXIF (camera, date, GPS), XMP and text (PNG text, the JPEG comment) from outputs "
        "(the colour profile stays).",
        group=GROUPS[3],
    )
    compare: bool = option(
        False, "Also write NAME_compare.png: bicubic | MAFFSRN.", group=GROUPS[3]
    )
    tile: int | None = option(
        None,
        "Largest tile in input pixels (default: the model's own choice; 0: the whole image at "
        "once, memory permitting).",
        group=GROUPS[4],
    )
    overlap: int = option(
        DEFAULT_OVERLAP, "Overlap between tiles in input pixels.", group=GROUPS[4]
    )
    num_threads: int | None = option(
        None,
        "CPU threads that run a TFLite model, per process (default: the CPUs this process may "
        "use).",
        upper=MAX_THREADS,
        group=GROUPS[4],
    )
    max_pixels: int = option(
        DEFAULT_MAX_PIXELS,
        "Refuse larger inputs (decompression bombs).",
        flag="max_megapixels",
        per=1_000_000,
        group=GROUPS[4],
    )

    def __post_init__(self):
        if isinstance(self.model, os.PathLike):  # a pathlib.Path works as its string
            object.__setattr__(self, "model", os.fspath(self.model))
        if isinstance(self.fmt, str):  # capitals name the same formats; jpeg and tif stay
            object.__setattr__(self, "fmt", self.fmt.lower())  # the extension written
        check_fields(self)
        if self.model is not None and not isinstance(self.model, str) and not callable(self.model):
            raise MaffsrnError(
                f"model={self.model!r} is not a weights/.tflite path or a Keras model"
            )
        if self.variant != DEFAULT_VARIANT and (self.model is not None or self.runtime == "keras"):
            raise MaffsrnError(
                f"quantization={self.variant!r} picks a shipped TFLite model; it does not apply "
                + ("to a model you pass" if self.model is not None else "to backend='keras'")
            )
        sized = [n for n in ("outscale", "width", "height") if getattr(self, n) is not None]
        if "outscale" in sized and len(sized) > 1:
            raise MaffsrnError(
                f"outscale={self.outscale} and {sized[1]}={getattr(self, sized[1])} both set "
                "the output size: pass one"
            )
        if sized and self.scale is not None:
            raise MaffsrnError(
                f"scale={self.scale} and {sized[0]}={getattr(self, sized[0])} both set the "
                f"output size: pass one ({sized[0]} picks the model)"
            )
        if self.skip_existing and self.overwrite:
            raise MaffsrnError(
                "skip_existing=True and overwrite=True contradict each other: pass one"
            )
        if not sized and self.scale is None:
            object.__setattr__(self, "scale", DEFAULT_SCALE)
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
        if self.runtime == "tflite" and isinstance(self.model, str):
            if not self.model.lower().endswith(".tflite"):
                raise MaffsrnError(
                    f"backend='tflite' runs .tflite files, and model={self.model!r} is none: "
                    "pass a .tflite file, or backend='keras' for Keras weights"
                )
        # a colour given (even white) flattens every output; "auto" reads as white, for
        # the formats without alpha only (flattens_everywhere says which)
        given = self.background != AUTO_BACKGROUND
        object.__setattr__(self, "_background_given", given)
        if not given:
            object.__setattr__(self, "background", DEFAULT_BACKGROUND)
        if isinstance(self.background, str) and not self.background.strip():
            raise MaffsrnError(
                "an empty colour (background): name one (white, black or #rrggbb), or leave it out"
            )
        try:
            colour = ImageColor.getrgb(self.background)
        except ValueError:
            raise MaffsrnError(
                f"background={self.background!r} is not a colour: use a name (white, black) or "
                "#rrggbb"
            ) from None
        if len(colour) == 4 and colour[3] != 255:
            raise MaffsrnError(
                f"background={self.background!r} is see-through: a background is opaque (#rrggbb)"
            )

    @property
    def sized(self):
        """Whether the output size is set by ``outscale``, ``width`` or ``height``."""
        return self.scale is None

    @property
    def background_rgb(self):
        """``background`` as an ``(r, g, b)`` tuple of 0..255."""
        return ImageColor.getrgb(self.background)[:3]

    @property
    def flattens_everywhere(self):
        """Whether a ``background`` was given: then every output with transparency is
        flattened onto it, whatever its format. Left out (``"auto"``, which reads as
        ``"white"``), only outputs in a format without alpha (JPEG, BMP) are."""
        return self._background_given

    def plan(self, height, width):
        """``(model scale, out_height, out_width)`` for an input ``height x width``: the
        model's own size, ``round(outscale x side)``, or the ``width``/``height`` box.
        ``MaffsrnError`` when that is below the input (this upscales) or above x16."""

        if not self.sized:
            return self.scale, height * self.scale, width * self.scale
        if self.outscale is not None:
            factor = self.outscale
            out_h, out_w = scaled_size(height, width, factor)
        else:
            out_h, out_w, factor = fit_size(height, width, self.width, self.height)
            box = " x ".join(
                f"{n}={getattr(self, n)}" for n in ("width", "height") if getattr(self, n)
            )
            if factor < 1 - 1e-9 or factor > MAX_OUTSCALE:
                raise MaffsrnError(
                    f"{box} asks for x{factor:.4g} of a {width}x{height} image; it must be "
                    f"between x1 and x{MAX_OUTSCALE:g}"
                )
        return model_scale(factor), out_h, out_w

    def name_factor(self, height, width):
        """What output names say: ``x2``, ``x3.5``, or ``WxH`` for a ``width``/``height``
        box (``photo_x3.5.png``, ``photo_1920x1080.png``)."""

        if not self.sized:
            return f"x{self.scale}"
        if self.outscale is not None:
            return f"x{factor_name(self.outscale)}"
        _, out_h, out_w = self.plan(height, width)
        return f"{out_w}x{out_h}"

    @classmethod
    def from_keywords(cls, **keywords):
        """Options from the names users pass (``backend``, ``quantization``: the public names
        of ``runtime`` and ``variant``); an unknown name is a ``MaffsrnError``."""
        by_public = {public_name(f): f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(keywords) - set(by_public))
        if unknown:
            raise MaffsrnError(
                f"unknown option {unknown[0]!r}; the options are {', '.join(sorted(by_public))}"
            )
        return cls(**{by_public[k]: v for k, v in keywords.items()})

    def replace(self, **changes):
        """A copy with ``changes`` (checked again); a background left out stays left out."""
        if "background" not in changes and not self._background_given:
            changes["background"] = AUTO_BACKGROUND
        return dataclasses.replace(self, **changes)
