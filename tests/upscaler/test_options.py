"""``UpscaleOptions``: every upscaling option written once. The commands' flags are made
from it (names, defaults, help), and a bad value is refused where the object is made, with
the name users pass."""

import dataclasses
import re
import subprocess
import sys

import pytest

from maffsrn_tf import MaffsrnError
from maffsrn_tf.io.images import DEFAULT_MAX_PIXELS, OUTPUT_FORMATS
from maffsrn_tf.model.shipped import DEFAULT_VARIANT, SHIPPED_VARIANTS
from maffsrn_tf.options import flag_name
from maffsrn_tf.upscaler.options import BEAM_WORKER_THREADS, DEFAULT_SCALE, UpscaleOptions

FIELDS = {f.name: f for f in dataclasses.fields(UpscaleOptions)}

# the flags of each command, read in a fresh process (each command module defines its own)
FLAGS_OF = r"""
import importlib, json, sys
from absl import flags
command = importlib.import_module(sys.argv[1])
found = {n: [f.default, f.help] for n, f in flags.FLAGS._flags().items()}
print(json.dumps([command.OPTIONS, found]))
"""


def command_flags(module):
    out = subprocess.run(
        [sys.executable, "-c", FLAGS_OF, module], capture_output=True, text=True, check=True
    )
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module, defaults",
    [
        ("maffsrn_tf.cli.upscale", {}),
        ("maffsrn_tf.cli.beam", {"num_threads": BEAM_WORKER_THREADS}),
    ],
)
def test_command_flags_are_made_from_the_options(module, defaults):
    names, found = command_flags(module)
    assert len(names) >= 8
    for name in names:
        field = FIELDS[name]
        flag = flag_name(field)
        assert flag in found, f"{module}: --{flag} missing"
        default, help_text = found[flag]
        want = defaults.get(name, field.default)
        if field.metadata["per"] != 1:
            want = want / field.metadata["per"]
        if field.metadata["choices"] and want == "":
            want = None  # an enum left out
        elif want is None and field.type is object:
            want = ""  # a path left out
        assert default == want, (module, flag)
        own = re.sub(r" ?\(default: [^)]*\)", "", field.metadata["help"])
        wanted = field.metadata["help"] if name not in defaults else own
        assert help_text.endswith(wanted), (module, flag)  # enums: <a|b>:
    # the scale's flag has the default that a scale left out (None) stands for
    assert FIELDS["scale"].default is None and found["scale"][0] == DEFAULT_SCALE


def test_user_visible_names_stay():
    """Inside, the engine choice is ``runtime`` and the shipped model ``variant``; users
    still say ``--backend``/``backend=`` and ``--quantization``/``quantization=``."""
    assert flag_name(FIELDS["runtime"]) == "backend"
    assert flag_name(FIELDS["variant"]) == "quantization"
    assert flag_name(FIELDS["fmt"]) == "format"
    assert flag_name(FIELDS["max_pixels"]) == "max_megapixels"
    assert FIELDS["variant"].metadata["choices"] == SHIPPED_VARIANTS
    # the formats, and the other names their extensions have
    assert FIELDS["fmt"].metadata["choices"] == ("", *OUTPUT_FORMATS, "jpeg", "tif")
    options = UpscaleOptions()
    assert (options.variant, options.max_pixels) == (DEFAULT_VARIANT, DEFAULT_MAX_PIXELS)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"scale": 5}, r"^scale=5 is not one of 2, 3, 4$"),
        ({"scale": True}, r"^scale=True is not of type int$"),
        ({"scale": 2.0}, r"^scale=2.0 is not of type int$"),
        ({"runtime": "onnx"}, r"^backend='onnx' is not one of auto, keras, tflite$"),
        ({"variant": "int4"}, r"^quantization='int4' is not one of float16, int8$"),
        ({"fmt": "gif"}, r"^fmt='gif' is not one of png, jpg, webp, "),
        ({"tile": 5}, r"^tile=5 is below the model's minimum of 13 \(0: whole image\)$"),
        ({"tile": "big"}, r"^tile='big' is not of type int$"),
        ({"overlap": -1}, r"^overlap=-1 is negative$"),
        ({"quality": 0}, r"^quality=0 is not in 1\.\.100$"),
        ({"max_pixels": 0}, r"^max_pixels=0 is not a positive number of pixels$"),
        ({"num_threads": 0}, r"^num_threads=0 is not positive$"),
        ({"self_ensemble": "yes"}, r"^self_ensemble='yes' is not of type bool$"),
    ],
)
def test_bad_values_are_refused_with_the_names_users_pass(kwargs, message):
    with pytest.raises(MaffsrnError, match=message):
        UpscaleOptions(**kwargs)


def test_the_format_is_the_extension_written_in_the_users_spelling(tmp_path):
    """``fmt='tif'`` writes ``.tif`` and ``fmt='jpeg'`` ``.jpeg`` (``--format tif`` had
    written ``.tiff``, and an error had said ``--format tiff``); capitals are the same."""
    from maffsrn_tf.upscaler.files import output_path_for

    for given, ext in (("tif", ".tif"), ("JPEG", ".jpeg"), ("Tiff", ".tiff"), ("jpg", ".jpg")):
        fmt = UpscaleOptions(fmt=given).fmt
        assert output_path_for("in/a.png", str(tmp_path), 2, fmt=fmt) == str(
            tmp_path / f"a_x2{ext}"
        )
    with pytest.raises(
        MaffsrnError, match=r"^output='x\.png' does not end in \.tif \(fmt='tif'\)$"
    ):
        output_path_for("a.png", "x.png", 2, fmt="tif")
    assert output_path_for("a.png", "x.tiff", 2, fmt="tif") == "x.tiff"  # one format, either name


def test_options_are_frozen_and_replace_checks_again():
    options = UpscaleOptions(scale=4, tile=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.scale = 2
    assert options.replace(compare=True).compare and options.replace(compare=True).scale == 4
    with pytest.raises(MaffsrnError, match="overlap=-3 is negative"):
        options.replace(overlap=-3)


def test_upscale_and_upscale_path_refuse_through_the_options(tmp_path):
    import numpy as np

    from maffsrn_tf.upscaler import UpscaleError, upscale, upscale_path

    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(MaffsrnError, match=r"^quantization='int4' is not one of"):
        upscale(image, quantization="int4")
    with pytest.raises(UpscaleError, match=r"^quality=101 is not in 1\.\.100$"):
        upscale_path(str(tmp_path), str(tmp_path / "out"), 2, quality=101)
    assert not (tmp_path / "out").exists()


def test_an_empty_image_is_one_clear_error():
    import numpy as np

    from maffsrn_tf.upscaler import upscale

    with pytest.raises(MaffsrnError, match=r"^image: it is empty \(shape \(0, 0, 3\)\)"):
        upscale(np.zeros((0, 0, 3), np.uint8))


def test_the_api_has_the_commands_pixel_limit():
    """A huge (here broadcast, so free) array is refused before any model is loaded, as
    ``maffsrn-upscale`` refuses such a file; ``max_pixels`` raises the limit."""
    import numpy as np

    from maffsrn_tf.upscaler import upscale

    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (100_000, 100_000, 3))
    with pytest.raises(MaffsrnError, match=r"100000x100000 = 10,000,000,000 pixels is over"):
        upscale(huge)
    with pytest.raises(MaffsrnError, match="over the limit of 100 "):
        upscale(np.zeros((20, 20, 3), np.uint8), max_pixels=100)


def test_api_arguments_of_the_wrong_kind_are_one_clear_error():
    """None where a number is needed, a progress that is not a function: MaffsrnError with
    the argument's name; a pathlib.Path works as its string."""
    import pathlib

    import numpy as np

    from maffsrn_tf.model.shipped import tflite_path
    from maffsrn_tf.upscaler import upscale

    image = np.zeros((16, 16, 3), np.uint8)
    for kwargs, message in (
        ({"overlap": None}, r"^overlap=None is not of type int$"),
        ({"quantization": None}, r"^quantization=None is not of type str$"),
        ({"progress": 5}, r"^progress=5 is not a function"),
    ):
        with pytest.raises(MaffsrnError, match=message):
            upscale(image, **kwargs)
    out = upscale(image, model=pathlib.Path(tflite_path(2)))
    assert out.shape == (32, 32, 3)
