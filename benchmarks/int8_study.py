"""What the int8 study scripts share (``int8_ops.py``, ``int8_ranges.py``, ``int8_equalize.py``):
their common flags, the float TFLite model they quantize, and one row's Set5/Set14 drops.
"""

import contextlib
import json
import os
import tempfile

from maffsrn_tf.utils import shared_dir


def add_flags(parser):
    """``--scale --weights --json --calibration_dir --datasets`` (defaults: x2, the shipped
    weights, SR291 for calibration, Set5 and Set14 of ``../shared``)."""
    data = os.path.join(shared_dir(), "data")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--weights", default="", help="Keras weights (default: shipped)")
    parser.add_argument("--json", default="", help="also write the rows here")
    parser.add_argument("--calibration_dir", default=os.path.join(data, "train", "SR291"))
    parser.add_argument("--datasets", default=",".join(
        os.path.join(data, "benchmark", s) for s in ("Set5", "Set14")))  # fmt: skip


def float_tflite(model):
    """The folded float TFLite model that the int8 procedure calibrates and quantizes."""
    import tensorflow as tf

    from maffsrn_tf.export.graph import InferenceGraph

    graph = InferenceGraph(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([graph.concrete_function()], graph)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


@contextlib.contextmanager
def tflite_file(tflite_bytes):
    """A temporary ``.tflite`` file holding ``tflite_bytes`` (LiteRT and ``verify`` read
    files), removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.tflite")
        with open(path, "wb") as f:
            f.write(tflite_bytes)
        yield path


def drops(model, path, datasets, scale):
    """PSNR drop (dB) of the ``.tflite`` at ``path`` against the Keras ``model``, per dataset."""
    from maffsrn_tf.export.verify import verify

    result = verify(model, path, datasets, scale, max_drop=10)
    return [result[os.path.basename(os.path.normpath(d))]["drop"] for d in datasets]


def print_header(first, datasets, *extra):
    """The Markdown header of a study table: ``first``, a drop column per dataset, ``extra``."""
    names = [f"{os.path.basename(os.path.normpath(d))} drop (dB)" for d in datasets]
    columns = [first, *names, *extra]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns), flush=True)


def print_row(label, row_drops, *extra):
    """One row of a study table: ``label``, the drops, then ``extra`` cells."""
    cells = [label, *(f"{d:+.4f}" for d in row_drops), *extra]
    print("| " + " | ".join(cells) + " |", flush=True)


def write_rows(path, scale, datasets, rows, **extra):
    if path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            json.dump({"scale": scale, "datasets": datasets, "rows": rows, **extra}, f, indent=1)
