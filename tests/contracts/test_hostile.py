"""Hostile and careless inputs to every console script, ``tflite/run_tflite.py`` and
``web/serve.py``: what docs/hostile_inputs.md promises, case by case.

Each case makes its files in a fresh folder, runs the command there and checks: the exit
code; for a refusal exactly one ``error: ...`` line on stderr naming the problem (no
traceback); no output and no temporary file left behind; every input file unchanged; and,
for a case that must work, a correct output.
"""

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from maffsrn_tf.io.atomic import TEMPORARY_PREFIX, _machine

WEIGHTS = os.path.join(ROOT, "maffsrn_tf", "weights")
RUN_TFLITE = os.path.join(ROOT, "tflite", "run_tflite.py")
# how this machine's (and PID namespace's) temporaries begin: .tmp-maffsrn-{8 hex}-
OURS = f"{TEMPORARY_PREFIX}{_machine()}-"


# --- files a hostile or careless user hands over -------------------------------------------


def photo(path, size=(40, 32), seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[1] // 4 + 1, size[0] // 4 + 1, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.BICUBIC).save(path)


def earlier_output(path, size=(40, 32)):
    """An output of an earlier run: written by maffsrn_tf's writer, which marks it."""
    from maffsrn_tf.io import images

    photo(path, size)
    with Image.open(path) as im:
        images.write_image(path, np.asarray(im))


def garbage(path, n=4096):
    with open(path, "wb") as f:
        f.write(np.random.default_rng(1).integers(0, 256, n, dtype=np.uint8).tobytes())


def truncated_png(path):
    photo(path, (64, 64))
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def truncated_jpeg(path):  # fuzz pass 21: "OSError: Truncated File Read", not "cut short"
    photo(path, (64, 64))
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def half_rows_png(path):
    """A PNG whose complete zlib stream holds only the first half of its rows (a file cut
    and re-deflated): Pillow decodes it with the rest black, and no error."""
    rows = np.random.default_rng(2).integers(0, 256, (64, 1 + 48 * 3), dtype=np.uint8)
    rows[:, 0] = 0  # filter: none

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))  # fmt: skip

    header = struct.pack(">IIBBBBB", 48, 64, 8, 2, 0, 0, 0)
    body = zlib.compress(rows[:32].tobytes())
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body))
        f.write(chunk(b"IEND", b""))


def npz_member(name, header_shape, payload, descr="<f4"):
    """A zip member ``name.npy`` whose header claims ``header_shape``, holding ``payload``."""
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": header_shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return name + ".npy", buf.getvalue() + payload


def npz_claiming_4_tib(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(*npz_member("head/v", (2**40,), b"\0" * 64))


def npz_zip_bomb(path):
    """100 MB of zeros in 100 KB: the shape names a real key but not the model's shape."""
    with open(path, "wb") as f:
        np.savez_compressed(f, **{"head/v": np.zeros(25_000_000, np.float32)})


def png_header_bomb(path):
    """A valid 8-bit PNG whose header says 1200 x 1000 (1.2 MP): over a 1 MP limit."""
    Image.new("L", (1200, 1000)).save(path)


def float_tiff(path, values):
    Image.fromarray(np.asarray(values, np.float32), mode="F").save(path)


def animated_gif(path):
    frames = [Image.new("RGB", (24, 20), c) for c in ("red", "green", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)


def pickle_payload(path, marker):
    """A .pt whose unpickling would run a shell command (it must not run)."""
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(path, "wb") as f:
        pickle.dump({"state_dict": Payload()}, f)


def bad_safetensors(path):
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 10**12) + b"{}")


def pack_with_escaping_name(path):
    meta = {"format": 1, "source": "/x", "images": ["../../etc/passwd"]}
    with open(path, "wb") as f:
        np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))


def pack_with_corrupt_image(path):
    meta = {"format": 1, "source": "/x", "images": ["a.webp"]}
    with open(path, "wb") as f:
        np.savez(
            f,
            meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
            **{"hr/a.webp": np.frombuffer(b"RIFF\0\0\0\0WEBPjunk" * 8, np.uint8)},
        )


def keras_weights(path, preset):
    """Shipped weights of ``preset`` saved as a Keras ``.weights.h5``."""
    from maffsrn_tf.pretrained.loading import load_pretrained

    load_pretrained(preset).save_weights(path)


def other_keras_model(path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save(path)


def folder(path, names, size=(24, 20)):
    os.makedirs(path, exist_ok=True)
    for i, name in enumerate(names):
        photo(os.path.join(path, name), size, seed=i)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def whole_upscale_of(source, path):
    """A finished output of ``source`` (its size x2), as an earlier run left it."""
    with Image.open(source) as im:
        im.resize((im.width * 2, im.height * 2)).save(path)


def cut_upscale_of(source, path):
    """An output of ``source`` cut short (a crash of a tool that writes in place)."""
    whole_upscale_of(source, path)
    data = open(path, "rb").read()
    write(path, data[: len(data) // 2])


# --- the cases ----------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    args: list  # [command, *arguments]; command: a module of maffsrn_tf.cli or a script path
    make: callable = None
    code: int = 1
    error: str = ""  # the one error line contains this
    absent: str = ""  # ... and does not contain this
    outputs: list = field(default_factory=list)  # files a working case must write
    check: callable = None  # check(folder, stderr) for a working case
    changes: tuple = ()  # input files the case may rewrite (an --overwrite run)
    timeout: int = 240


def _path(tmp, a):
    """A string argument is a path in the case's folder, unless it starts with @ (as is)."""
    if not isinstance(a, str):
        return a
    return a[1:] if a.startswith("@") else os.path.join(tmp, a)


def _make(*steps):
    def run(tmp):
        for fn, *args in steps:
            fn(*[_path(tmp, a) for a in args])

    return run


UP = "upscale"
IN = ["--input", "in.png"]
CASES = [
    # maffsrn-upscale: inputs
    Case("upscale-missing-input", [UP, "--input", "nope.png"], error="input not found"),
    Case("upscale-text-file-as-png", [UP, *IN], _make((garbage, "in.png")), error="cannot read"),
    Case(
        "upscale-truncated-png",
        [UP, *IN],
        _make((truncated_png, "in.png")),
        error="in.png is cut short: its data ends before the picture does",
    ),  # fmt: skip
    Case(
        "upscale-truncated-jpeg",
        [UP, "--input", "in.jpg"],
        _make((truncated_jpeg, "in.jpg")),
        error="in.jpg is cut short: its data ends before the picture does",
    ),  # fmt: skip
    Case(
        "upscale-png-of-half-its-rows",
        [UP, *IN],
        _make((half_rows_png, "in.png")),
        error="in.png is cut short or damaged: its image data holds 4,640 of the 9,280 bytes "
        "its header declares",
    ),  # fmt: skip
    Case(
        "upscale-decompression-bomb",
        [UP, *IN, "--max_megapixels", "1"],
        _make((png_header_bomb, "in.png")),
        error="over the limit of 1,000,000",
        absent="2,000,000",
    ),
    Case(
        "upscale-negative-pixel-limit",
        [UP, *IN, "--max_megapixels", "-1"],
        _make((photo, "in.png")),
        error="--max_megapixels must be a positive number",
    ),
    Case(
        "upscale-float-tiff-out-of-range",
        [UP, "--input", "f.tif", "--output", "o.png"],
        _make((float_tiff, "f.tif", np.full((20, 20), 7.5))),
        error="only [0, 1] is read",
    ),
    Case(
        "upscale-float-tiff-in-range-works",
        [UP, "--input", "f.tif", "--output", "o.png"],
        _make((float_tiff, "f.tif", np.tile(np.linspace(0, 1, 24), (20, 1)))),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: np.asarray(Image.open(os.path.join(d, "o.png"))).max() > 60000,
    ),
    Case(
        "upscale-animated-gif-warns-once",
        [UP, "--input", "a.gif", "--output", "o.png"],
        _make((animated_gif, "a.gif")),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: err.count("has 3 frames: only the first is read") == 1,
    ),
    # maffsrn-upscale: outputs
    Case(
        "upscale-output-is-input-even-with-overwrite",
        [UP, *IN, "--output", "./in.png", "--overwrite"],
        _make((photo, "in.png")),
        error="is the input; choose another output",
    ),
    Case(
        "upscale-compare-image-is-the-input",
        [UP, "--input", "b_compare.png", "--output", "b.png", "--compare", "--overwrite"],
        _make((photo, "b_compare.png")),
        error="b_compare.png is the input",
    ),
    Case(
        "upscale-infinite-pixel-limit",
        [UP, *IN, "--max_megapixels", "inf"],
        _make((photo, "in.png")),
        error="--max_megapixels must be a positive number",
    ),
    Case(
        "upscale-quality-for-a-lossless-output",
        [UP, *IN, "--output", "o.png", "--quality", "50"],
        _make((photo, "in.png")),
        error="--quality 50 applies to lossy outputs (.jpg, ",
    ),
    Case(
        "upscale-quality-for-a-folder-of-lossless-images",
        [UP, "--input", "col", "--output", "o", "--quality", "50"],
        _make((folder, "col", ["a.png", "b.png"])),
        error="and no image of this run is written as one (pass --format jpg or --format webp)",
    ),
    Case(
        "beam-doubled-separator-in-the-pattern",
        ["beam", "--input_pattern", "col//*", "--output_dir", "o"],
        _make((folder, "col", ["a.png"])),
        code=0,
        outputs=["o/a_x2.png"],
    ),
    Case(
        "beam-thread-count-beyond-any-machine",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--num_threads", "99999"],
        _make((folder, "col", ["a.png"])),
        error="--num_threads=99999: 99999 is not integer <= 256",
    ),
    Case(
        "upscale-output-is-input",
        [UP, *IN, "--output", "in.png"],
        _make((photo, "in.png")),
        error="is the input",
    ),
    Case(
        "upscale-output-exists",
        [UP, *IN, "--output", "old.png"],
        _make((photo, "in.png"), (photo, "old.png", (8, 8))),
        error="(pass --overwrite to replace it)",
    ),
    Case(
        "upscale-output-folder-missing-is-made",
        [UP, *IN, "--output", "no/such/o.png"],
        _make((photo, "in.png")),
        code=0,
        outputs=["no/such/o.png"],
    ),
    Case(
        "upscale-output-folder-under-a-file",
        [UP, *IN, "--output", "in.png/o.png"],
        _make((photo, "in.png")),
        error="in.png: it is a file, not a folder",
    ),
    Case(
        "upscale-output-folder-unwritable",
        [UP, *IN, "--output", "/proc/o.png"],
        _make((photo, "in.png")),
        error="not writable",
    ),
    Case(
        "upscale-two-inputs-one-output",
        [UP, "--input", "col", "--output", "o", "--format", "png", "--overwrite"],
        _make((folder, "col", ["photo.jpg", "photo.png"])),
        error="col/photo.jpg and ",  # each named by its path (two folders' a.png alike)
    ),
    Case(
        "upscale-two-folders-one-output",
        [UP, "--input", "c1", "c2", "--output", "o"],
        _make((folder, "c1", ["photo.png"]), (folder, "c2", ["photo.png"])),
        error="c1/photo.png and ",
    ),
    Case(
        "upscale-folder-into-itself-twice",
        [UP, "--input", "col", "--output", "col", "--overwrite"],
        _make((folder, "col", ["a.png", "b.png"]), (earlier_output, "col/a_x2.png", (48, 40))),
        code=0,
        outputs=["col/b_x2.png"],
        changes=("col/a_x2.png",),
        check=lambda d, err: (
            "skipping 1 earlier output" in err
            and not os.path.exists(os.path.join(d, "col", "a_x2_x2.png"))
        ),
    ),
    Case(
        "upscale-input-that-looks-like-a-temporary",
        [UP, "--input", ".tmp-holiday.png", "--output", "o.png"],
        _make((photo, ".tmp-holiday.png"), (os.utime, ".tmp-holiday.png", (0, 0))),
        code=0,
        outputs=["o.png"],
    ),
    Case(
        "upscale-longest-legal-name",  # its temporary's name must stay legal too
        [UP, "--input", "L" * 244 + ".png", "--output", "o/"],
        _make((photo, "L" * 244 + ".png"), (os.mkdir, "o")),
        code=0,
        outputs=["o/" + "L" * 244 + "_x2.png"],
    ),
    Case(
        "upscale-stale-temporary-removed",
        [UP, "--input", "col", "--output", "col"],
        _make(
            (folder, "col", ["a.png"]),
            (garbage, f"col/{OURS}p1-abcd1234-a_x2.png", 10),
            (os.utime, f"col/{OURS}p1-abcd1234-a_x2.png", (0, 0)),
        ),
        code=0,
        outputs=["col/a_x2.png"],
    ),
    # maffsrn-upscale: flags
    Case(
        "upscale-bad-scale",
        [UP, *IN, "--scale", "5"],
        _make((photo, "in.png")),
        error="--scale must be 2, 3 or 4",
    ),
    Case(
        "upscale-tile-below-minimum-once",
        [UP, "--input", "col", "--tile", "5"],
        _make((folder, "col", ["a.png", "b.png", "c.png"])),
        error="--tile 5 is below the model's minimum",
    ),
    Case(
        "upscale-overlap-too-large",
        [UP, *IN, "--tile", "100", "--overlap", "60"],
        _make((photo, "in.png", (240, 200))),
        error="--overlap 60 is not below half of --tile 100",
    ),
    Case(
        "upscale-negative-overlap",
        [UP, *IN, "--overlap", "-1"],
        _make((photo, "in.png")),
        error="--overlap -1 is negative",
    ),
    Case(
        "upscale-unknown-format",
        [UP, *IN, "--format", "gif"],
        _make((photo, "in.png")),
        error="--format",
    ),
    Case(
        "upscale-quality-zero",
        [UP, *IN, "--quality", "0"],
        _make((photo, "in.png")),
        error="--quality",
    ),
    Case(
        "upscale-tile-0-small-image-works",
        [UP, *IN, "--output", "o.png", "--tile", "0"],
        _make((photo, "in.png", (20, 16))),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: Image.open(os.path.join(d, "o.png")).size == (40, 32),
    ),
    Case(
        "upscale-tile-40-on-30-pixels-works",
        [UP, *IN, "--output", "o.png", "--tile", "40"],
        _make((photo, "in.png", (30, 30))),
        code=0,
        outputs=["o.png"],
    ),
    Case(
        "upscale-quantization-with-model",
        [UP, *IN, "--model", "m.tflite", "--quantization", "int8"],
        _make((photo, "in.png"), (garbage, "m.tflite")),
        error="--quantization picks a shipped TFLite model",
    ),
    # maffsrn-upscale: model files
    Case(
        "upscale-garbage-tflite",
        [UP, *IN, "--model", "m.tflite"],
        _make((photo, "in.png"), (garbage, "m.tflite")),
        error="as a TFLite model",
    ),
    Case(
        "upscale-wrong-scale-tflite",
        [UP, *IN, "--model", "x4.tflite", "--scale", "2"],
        _make(
            (photo, "in.png"),
            (shutil.copy, os.path.join(WEIGHTS, "maffsrn_x4_float16.tflite"), "x4.tflite"),
        ),
        error="upscales x4, but --scale 2",
    ),
    Case(
        "upscale-garbage-weights-h5",
        [UP, *IN, "--model", "w.weights.h5"],
        _make((photo, "in.png"), (garbage, "w.weights.h5")),
        error="is named as Keras weights but is not an HDF5 file: it is damaged, or another "
        "kind of file",
    ),
    Case(
        "upscale-garbage-npz",
        [UP, *IN, "--model", "w.npz"],
        _make((photo, "in.png"), (garbage, "w.npz")),
        error="is named as an .npz file but is not a zip archive: it is damaged, or another "
        "kind of file",
    ),
    Case(
        "upscale-npz-header-claims-4-tib",
        [UP, *IN, "--model", "w.npz"],
        _make((photo, "in.png"), (npz_claiming_4_tib, "w.npz")),
        error="header describes",
    ),
    Case(
        "upscale-npz-zip-bomb",
        [UP, *IN, "--model", "w.npz"],
        _make((photo, "in.png"), (npz_zip_bomb, "w.npz")),
        error="mis-shaped",
    ),
    Case(
        "upscale-x4-weights-for-x2",
        [UP, *IN, "--model", "x4.weights.h5"],
        _make((photo, "in.png"), (keras_weights, "x4.weights.h5", "@maffsrn_x4")),
        error="holds x4 weights, and maffsrn_x2 is x2: load them into an x4 model (--scale 4)",
    ),
    Case(
        "upscale-other-keras-model",
        [UP, *IN, "--model", "other.keras"],
        _make((photo, "in.png"), (other_keras_model, "other.keras")),
        error="holds a Sequential, not a MAFFSRN",
    ),
    # maffsrn-train
    Case(
        "train-batch-size-0",
        ["train", "--data_dir", "col", "--batch_size", "0", "--model_dir", "run"],
        _make((folder, "col", ["a.png"])),
        error="--batch_size",
    ),
    Case(
        "train-missing-data-dir",
        ["train", "--data_dir", "nope", "--model_dir", "run"],
        error="--data_dir not found",
    ),
    Case(
        "train-holdout-and-val-dir",
        [
            "train",
            "--data_dir",
            "col",
            "--holdout",
            "h.txt",
            "--val_dir",
            "col",
            "--model_dir",
            "run",
        ],
        _make((folder, "col", ["a.png"]), (garbage, "h.txt", 4)),
        error="--holdout and --val_dir both choose the validation images",
    ),
    Case(
        "train-model-dir-is-a-file",
        ["train", "--data_dir", "col", "--model_dir", "run"],
        _make((folder, "col", ["a.png"]), (garbage, "run", 8)),
        error="is not a folder this process can write",
    ),
    Case(
        "train-pack-with-escaping-name",
        ["train", "--data_source", "packed", "--data_dir", "p.npz", "--model_dir", "run"],
        _make((pack_with_escaping_name, "p.npz")),
        error="names images it does not hold",
    ),
    Case(
        "train-pack-with-corrupt-image",
        ["train", "--data_source", "packed", "--data_dir", "p.npz", "--model_dir", "run"],
        _make((pack_with_corrupt_image, "p.npz")),
        error="image 'a.webp' is corrupt",
    ),
    Case(
        "train-garbage-init-weights",
        [
            "train",
            "--data_dir",
            "col",
            "--init_weights",
            "w.npz",
            "--model_dir",
            "run",
            "--epochs",
            "1",
            "--steps_per_epoch",
            "1",
            "--patch_size",
            "13",
            "--batch_size",
            "1",
        ],
        _make((folder, "col", ["a.png"], (40, 32)), (garbage, "w.npz")),  # 13-pixel patches
        error="is named as an .npz file but is not a zip archive: it is damaged, or another "
        "kind of file",
    ),
    # maffsrn-evaluate
    Case(
        "evaluate-missing-dataset",
        ["evaluate", "--datasets", "nope", "--bicubic_only"],
        error="dataset folder not found",
    ),
    Case(
        "evaluate-wrong-size-lr-names-the-image",
        [
            "evaluate",
            "--datasets",
            "hr",
            "--lr_dirs",
            "lr",
            "--tflite",
            os.path.join(WEIGHTS, "maffsrn_x2_float16.tflite"),
        ],
        _make((folder, "hr", ["a.png"], (40, 40)), (folder, "lr", ["a.png"], (30, 30))),
        error=os.path.join("hr", "a"),
    ),
    Case(
        "evaluate-garbage-tflite",
        ["evaluate", "--datasets", "hr", "--tflite", "m.tflite"],
        _make((folder, "hr", ["a.png"]), (garbage, "m.tflite")),
        error="as a TFLite model",
    ),
    # maffsrn-convert-weights
    Case(  # torch had been asked to load it: a paragraph of its own, cut mid-word
        "convert-keras-weights-given-as-a-checkpoint",
        ["convert_weights", "--checkpoint", "k.weights.h5", "--output", "o.weights.h5"],
        _make((write, "k.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64)),
        error="k.weights.h5 holds Keras weights, not a PyTorch checkpoint: Keras weights "
        "convert the other way (--to pytorch with --weights FILE)",
    ),
    Case(  # judged by its bytes, not its name
        "convert-a-png-named-as-keras-weights",
        ["convert_weights", "--checkpoint", "k.weights.h5", "--output", "o.weights.h5"],
        _make((photo, "k.png"), (os.rename, "k.png", "k.weights.h5")),
        error="k.weights.h5 is named as Keras weights but is none (no HDF5 or .keras file)",
    ),
    Case(
        "convert-text-given-as-a-checkpoint",
        ["convert_weights", "--checkpoint", "notes.txt", "--output", "o.weights.h5"],
        _make((write, "notes.txt", b"hello\n")),
        error="notes.txt is no checkpoint this reads: give the official PyTorch state dict "
        "(.pt/.pth), .safetensors or .npz",
    ),
    Case(
        "convert-pickle-payload-not-run",
        ["convert_weights", "--checkpoint", "x.pt", "--output", "o.weights.h5"],
        _make((pickle_payload, "x.pt", "@PWNED")),
        error="not a weights-only PyTorch checkpoint",
        check=lambda d, err: not os.path.exists(os.path.join(d, "PWNED")),
    ),
    Case(
        "convert-bad-safetensors",
        ["convert_weights", "--checkpoint", "x.safetensors", "--output", "o.weights.h5"],
        _make((bad_safetensors, "x.safetensors")),
        error="is not a readable .safetensors file",
    ),
    # maffsrn-export, maffsrn-pack, maffsrn-profile
    Case(
        "export-garbage-weights",
        [
            "export",
            "--scales",
            "2",
            "--weights",
            "w.npz",
            "--quantizations",
            "float16",
            "--noverify",
            "--output_dir",
            "out",
        ],
        _make((garbage, "w.npz")),
        error="is named as an .npz file but is not a zip archive: it is damaged, or another "
        "kind of file",
    ),
    Case(
        "export-tiny-tile",
        ["export", "--tiles", "5", "--noverify"],
        error="--tiles must be 0 or at least 13",
    ),
    Case(
        "pack-output-exists",
        ["pack", "--data_dir", "col", "--output", "p.npz"],
        _make((folder, "col", ["a.png"]), (garbage, "p.npz", 8)),
        error="output exists",
    ),
    Case("profile-below-minimum", ["profile", "--input", "5x5"], error="below MAFFSRN's minimum"),
    # tflite/run_tflite.py (no TensorFlow, no maffsrn_tf)
    # maffsrn-export --formats, maffsrn-beam
    Case(
        "export-unknown-format",
        ["export", "--formats", "tflite,pdf", "--noverify", "--output_dir", "o"],
        error="--formats takes tflite, saved_model, onnx",
    ),
    Case(
        "beam-pattern-matches-nothing",
        ["beam", "--input_pattern", "none/*.png", "--output_dir", "o"],
        error="matches no file",
    ),
    Case(
        "beam-output-inside-the-pattern",
        ["beam", "--input_pattern", "col/*", "--output_dir", "col"],
        _make((folder, "col", ["a.png"])),
        error="reads, or lies inside it",
    ),
    Case(
        "beam-tile-below-minimum",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--tile", "5"],
        _make((folder, "col", ["a.png"])),
        error="--tile 5 is below the model's minimum",
    ),
    Case(
        "beam-negative-pixel-limit",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--max_megapixels", "-1"],
        _make((folder, "col", ["a.png"])),
        error="--max_megapixels must be a positive number",
    ),
    Case(
        "beam-without-output-dir",
        ["beam", "--input_pattern", "col/*"],
        _make((folder, "col", ["a.png"])),
        error="output_dir",
    ),
    # every word of a command line is used or refused (issue "nothing lost": a stray word
    # used to upscale the sample photo, a shell-expanded glob only its first file)
    Case(  # words are inputs (issue "the upscaler people expect"), after --input or not
        "upscale-file-without-input-flag",
        [UP, "in.png"],
        _make((photo, "in.png")),
        code=0,
        outputs=["out/in_x2.png"],
    ),
    Case(
        "upscale-shell-expanded-glob",
        [UP, "--input", "a.png", "b.png", "c.png", "--output", "o"],
        _make((photo, "a.png"), (photo, "b.png"), (photo, "c.png")),
        code=0,
        outputs=["o/a_x2.png", "o/b_x2.png", "o/c_x2.png"],
    ),
    Case(
        "upscale-a-word-that-is-no-file",
        [UP, "in.png", "nope.png"],
        _make((photo, "in.png")),
        error="input not found: nope.png",
    ),
    Case(
        "upscale-outscale-zero",
        [UP, *IN, "--outscale", "0"],
        _make((photo, "in.png")),
        error="--outscale=0: 0.0 is not a number in the range [1.0, 16.0]",
    ),  # fmt: skip
    Case(
        "upscale-outscale-negative",
        [UP, *IN, "--outscale=-1"],
        _make((photo, "in.png")),
        error="--outscale=-1",
    ),  # fmt: skip
    Case(
        "upscale-outscale-nan",
        [UP, *IN, "--outscale", "nan"],
        _make((photo, "in.png")),
        error="--outscale nan is not a finite number",
    ),  # fmt: skip
    Case(
        "upscale-width-zero", [UP, *IN, "--width", "0"], _make((photo, "in.png")), error="--width=0"
    ),  # fmt: skip
    Case(
        "upscale-width-and-outscale",
        [UP, *IN, "--width", "100", "--outscale", "2"],
        _make((photo, "in.png")),
        error="both set the output size: pass one",
    ),
    Case(
        "upscale-scale-and-width",
        [UP, *IN, "--scale", "3", "--width", "100"],
        _make((photo, "in.png")),
        error="--scale 3 and --width 100 both set the output size",
    ),
    Case(
        "upscale-width-below-the-image",
        [UP, *IN, "--width", "10"],
        _make((photo, "in.png")),
        error="--width 10 asks for x0.",
    ),
    Case(
        "upscale-skip-existing-and-overwrite",
        [UP, *IN, "--skip_existing", "--overwrite"],
        _make((photo, "in.png")),
        error="contradict each other",
    ),
    Case(
        "upscale-several-inputs-into-a-file-name",
        [UP, "a.png", "b.png", "-o", "x.png"],
        _make((photo, "a.png"), (photo, "b.png")),
        error="looks like a file name, but several files are written",
    ),
    Case(
        "upscale-recursive-over-a-symlink-loop",
        [UP, "col", "-o", "o", "--recursive"],
        _make(
            (folder, "col", ["a.png"]),
            (os.makedirs, "col/sub"),
            (photo, "col/sub/b.png"),
            (os.symlink, "@..", "col/sub/loop"),
        ),  # fmt: skip
        code=0,
        outputs=["o/a_x2.png", "o/sub/b_x2.png"],
        check=lambda d, err: not os.path.exists(os.path.join(d, "o", "sub", "loop")),
    ),
    Case(
        "upscale-skip-existing-redoes-a-cut-output",
        [UP, "col", "-o", "o", "--skip_existing"],
        _make(
            (folder, "col", ["a.png", "b.png"]),
            (os.makedirs, "o"),
            (cut_upscale_of, "col/a.png", "o/a_x2.png"),
            (whole_upscale_of, "col/b.png", "o/b_x2.png"),
            (write, f"o/{OURS}p999999-abcd1234-a_x2.png", b"\x89PNG"),
        ),  # fmt: skip
        code=0,
        changes=("o/a_x2.png", f"o/{OURS}p999999-abcd1234-a_x2.png"),
        check=lambda d, err: (
            "redoing" in err
            and "skipping 1 input" in err
            and Image.open(os.path.join(d, "o", "a_x2.png")).size == (48, 40)
        ),
    ),
    Case(  # the sample photo never replaces a file the user named (fuzz pass 3)
        "upscale-sample-into-an-existing-output",
        [UP, "--output", "mine.png"],
        _make((photo, "mine.png")),
        error="output exists: mine.png (pass --overwrite to replace it)",
    ),
    Case("upscale-empty-input", [UP, "--input=", "-o", "x.png"], error="--input is empty"),
    Case(
        "upscale-empty-output",
        [UP, *IN, "--output="],
        _make((photo, "in.png")),
        error="--output is empty",
    ),  # fmt: skip
    Case(
        "upscale-flag-given-twice",
        [UP, *IN, "-s", "2", "--scale", "3"],
        _make((photo, "in.png")),
        error="--scale is given twice: pass it once",
    ),  # fmt: skip
    Case(
        "upscale-boolean-flag-twice",
        [UP, *IN, "--overwrite", "--nooverwrite"],
        _make((photo, "in.png")),
        error="--overwrite is given twice",
    ),  # fmt: skip
    Case(
        "upscale-empty-integer",
        [UP, *IN, "--scale="],
        _make((photo, "in.png")),
        error="--scale takes a whole number in the digits 0-9, not ''",
    ),  # fmt: skip
    Case(
        "upscale-negated-boolean-with-a-value",
        [UP, *IN, "--nooverwrite=1"],
        _make((photo, "in.png")),
        error="--nooverwrite takes no value: write --nooverwrite, or --overwrite=false",
    ),  # fmt: skip
    Case(
        "upscale-boolean-with-a-value",
        [UP, *IN, "--overwrite=maybe"],
        _make((photo, "in.png")),
        error="--overwrite takes no value (--overwrite or --nooverwrite; =true/=false also "
        "work), not 'maybe'",
    ),  # fmt: skip
    Case(
        "upscale-quantization-with-keras",
        [UP, *IN, "--backend", "keras", "--quantization", "int8"],
        _make((photo, "in.png")),
        error="it does not apply to --backend keras",
    ),
    Case(
        "upscale-recursive-with-files-only",
        [UP, *IN, "--recursive"],
        _make((photo, "in.png")),
        error="--recursive walks folders",
    ),  # fmt: skip
    Case(
        "upscale-see-through-background",
        [UP, *IN, "-o", "o.jpg", "--background", "#ff000080"],
        _make((photo, "in.png")),
        error="is see-through",
    ),  # fmt: skip
    Case(
        "upscale-model-that-is-an-image",
        [UP, *IN, "--model", "in.png"],
        _make((photo, "in.png")),
        error="--model in.png is not a model file",
    ),  # fmt: skip
    Case(  # a fourth fuzz pass: absl's own flags wrote over an input
        "upscale-absl-profile-file-over-the-input",
        [UP, *IN, "-o", "o.png", "--run_with_profiling", "--profile_file=in.png"],
        _make((photo, "in.png")),
        error="--run_with_profiling is absl's, not this command's",
    ),
    Case(
        "upscale-absl-flagfile",
        [UP, *IN, "--flagfile=in.png"],
        _make((photo, "in.png")),
        error="--flagfile is absl's",
    ),  # fmt: skip
    Case(
        "pack-absl-only-check-args",
        ["pack", "--data_dir", "col", "--output", "p.npz", "--only_check_args"],
        _make((folder, "col", ["a.png"])),
        error="--only_check_args is absl's",
    ),  # fmt: skip
    Case(
        "upscale-overwrite-never-replaces-a-device",
        [UP, *IN, "-o", "f.png", "--overwrite"],
        _make((photo, "in.png"), (os.symlink, "@/dev/null", "f.png")),  # (a FIFO: the same)
        error="f.png exists and is not a regular file",
    ),
    Case(
        "evaluate-json-never-replaces-a-device",
        ["evaluate", "--datasets", "col", "--bicubic_only", "--json", "/dev/null", "--overwrite"],
        _make((folder, "col", ["a.png"], (48, 48))),
        error="--json /dev/null exists and is not a regular file",
    ),
    Case(
        "upscale-a-named-input-is-never-an-earlier-output",
        [UP, "c/a.png", "c/a_x2.png", "-o", "c", "--overwrite"],
        _make((folder, "c", ["a.png", "a_x2.png"])),
        error="the output of c/a.png would replace the input c/a_x2.png",
    ),
    Case(
        "upscale-threads-with-keras",
        [UP, *IN, "--backend", "keras", "--num_threads", "2"],
        _make((photo, "in.png")),
        error="--num_threads sets the threads of a TFLite model",
    ),
    Case(
        "beam-default-errors-file-of-someone-else",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o"],
        _make((folder, "col", ["a.png"]), (write, "o-errors.txt", b"precious\n")),
        error="--errors o-errors.txt exists and is no errors file an earlier run wrote (or it "
        "was changed since): it is never replaced; name another file (--errors FILE)",
    ),
    Case(
        "upscale-undefok-would-hide-a-typo",
        [UP, *IN, "--undefok=scael", "--scael=4"],
        _make((photo, "in.png")),
        error="--undefok is not taken",
    ),
    Case("profile-stray-word", ["profile", "--input", "64x64", "x"], error="takes flags only"),
    Case(
        "beam-misspelled-flag",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--sacle", "4"],
        _make((folder, "col", ["a.png"])),
        error="unknown argument '--sacle' (did you mean --scale?)",
    ),
    Case(
        "beam-unknown-pipeline-option",
        [
            "beam",
            "--input_pattern",
            "col/*",
            "--output_dir",
            "o",
            "--runner",
            "DirectRunner",
            "--bogus_option",
            "1",
        ],  # fmt: skip
        _make((folder, "col", ["a.png"])),
        error="unknown argument '--bogus_option'",
    ),
    # the errors file is an output: never the input folder, an input, or another folder
    Case(
        "beam-errors-file-is-the-input-folder",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--errors", "col"],
        _make((folder, "col", ["a.png", "b.png"])),
        error="--errors col is a folder",
    ),
    Case(
        "beam-errors-file-is-an-input",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--errors", "col/b.png"],
        _make((folder, "col", ["a.png", "b.png"])),
        error="--errors col/b.png is one of the inputs",
    ),
    Case(
        "beam-errors-file-is-a-folder-of-logs",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--errors", "logs/"],
        _make((folder, "col", ["a.png"]), (folder, "logs", ["keep.png"])),
        error="--errors logs/ is a folder",
    ),
    Case(
        "beam-errors-file-in-a-missing-folder",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--errors", "no/e.txt"],
        _make((folder, "col", ["a.png"])),
        error="its folder does not exist",
    ),
    Case(
        "beam-output-folder-is-the-input-folder-spelled-otherwise",
        ["beam", "--input_pattern", "col/*", "--output_dir", "./col/../col"],
        _make((folder, "col", ["a.png"])),
        error="reads, or lies inside it",
    ),
    Case(
        "beam-output-folder-is-a-file",
        ["beam", "--input_pattern", "col/*", "--output_dir", "col/a.png"],
        _make((folder, "col", ["a.png"])),
        error="reads, or lies inside it",
    ),
    Case(
        "beam-output-folder-is-a-file-elsewhere",
        ["beam", "--input_pattern", "col/*", "--output_dir", "f.txt"],
        _make((folder, "col", ["a.png"]), (garbage, "f.txt")),
        error="--output_dir f.txt: it is a file, not a folder",
    ),
    Case(
        "beam-output-folder-under-proc",
        [
            "beam",
            "--input_pattern",
            "col/*",
            "--output_dir",
            "/proc/maffsrn",
            "--errors",
            "e.txt",
        ],  # fmt: skip
        _make((folder, "col", ["a.png"])),
        error="/proc is not writable",
    ),
    Case(
        "beam-unknown-runner",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--runner", "Foo"],
        _make((folder, "col", ["a.png"])),
        error="--runner Foo: Unexpected pipeline runner",
    ),
    Case(
        "beam-negative-worker-count",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--direct_num_workers", "-1"],
        _make((folder, "col", ["a.png"])),
        error="--direct_num_workers -1: must be 0 (one per CPU) or more",
    ),
    Case(
        "export-into-a-file",
        [
            "export",
            "--scales",
            "2",
            "--quantizations",
            "float16",
            "--noverify",
            "--output_dir",
            "f.txt",
        ],  # fmt: skip
        _make((garbage, "f.txt")),
        error="--output_dir f.txt is a file, not a folder",
    ),
    Case(
        "export-where-a-model-path-is-a-folder",
        [
            "export",
            "--scales",
            "2",
            "--quantizations",
            "float16",
            "--noverify",
            "--output_dir",
            "col",
        ],  # fmt: skip
        _make((folder, "col/maffsrn_x2_float16.tflite", ["a.png"])),
        error="is a folder where the model file goes",
    ),
    # outputs that are inputs, or exist: refused before any work (fresh fuzzing pass)
    Case(  # the weights became a 285-byte JSON file
        "evaluate-json-over-weights",
        [
            "evaluate",
            "--datasets",
            "col",
            "--bicubic_only",
            "--json",
            "w.weights.h5",
            "--overwrite",
        ],
        _make((folder, "col", ["a.png"]), (garbage, "w.weights.h5", 10)),
        error="error: --json w.weights.h5 does not end in .json: name a .json file for the results",
    ),
    Case(  # a run's flags.json replaced: the run could not be resumed
        "evaluate-json-over-a-training-run-s-record",
        [
            "evaluate",
            "--datasets",
            "col",
            "--bicubic_only",
            "--json",
            "run/flags.json",
            "--overwrite",
        ],
        _make((folder, "col", ["a.png"]), (os.makedirs, "run"), (write, "run/flags.json", b"{}")),
        error="error: --json run/flags.json is a record of the training run in run: it is "
        "never replaced, even with --overwrite; name another file",
    ),
    Case(
        "evaluate-json-into-a-dataset-image",
        ["evaluate", "--datasets", "col", "--bicubic_only", "--json", "col/a.png"],
        _make((folder, "col", ["a.png"])),
        error="--json col/a.png is (or lies inside) the input col",
    ),
    Case(
        "evaluate-json-exists",
        ["evaluate", "--datasets", "col", "--bicubic_only", "--json", "r.json"],
        _make((folder, "col", ["a.png"]), (garbage, "r.json", 10)),
        error="--json r.json exists (pass --overwrite to replace it)",
    ),
    Case(
        "evaluate-json-in-a-missing-folder",
        ["evaluate", "--datasets", "col", "--bicubic_only", "--json", "no/r.json"],
        _make((folder, "col", ["a.png"])),
        error="its folder does not exist",
    ),
    Case(
        "export-empty-quantization-list",
        ["export", "--quantizations=", "--noverify", "--output_dir", "o"],
        error="--quantizations is empty",
    ),
    Case(
        "convert-weights-output-exists",
        ["convert_weights", "--to", "pytorch", "--output", "mine.safetensors"],
        _make((garbage, "mine.safetensors", 10)),
        error="--output mine.safetensors exists (pass --overwrite to replace it)",
    ),
    Case(
        "beam-errors-file-exists",
        ["beam", "--input_pattern", "col/*.png", "--output_dir", "o", "--errors", "notes.txt"],
        _make((folder, "col", ["a.png"]), (garbage, "notes.txt", 10)),
        error="--errors notes.txt exists and is no errors file an earlier run wrote",
    ),
    Case(  # --overwrite is the outputs': a file of the user's was emptied by a clean run
        "beam-errors-file-exists-with-overwrite",
        [
            "beam",
            "--input_pattern",
            "col/*.png",
            "--output_dir",
            "o",
            "--errors",
            "notes.txt",
            "--overwrite",
        ],
        _make((folder, "col", ["a.png"]), (garbage, "notes.txt", 10)),
        error="--errors notes.txt exists and is no errors file an earlier run wrote (or it "
        "was changed since): it is never replaced; name another file",
    ),
    Case(  # "-" is no standard output for Beam: it had written a file named "-"
        "beam-errors-dash",
        ["beam", "--input_pattern", "col/*.png", "--output_dir", "o", "--errors", "-"],
        _make((folder, "col", ["a.png"])),
        error="--errors - would be a file named '-' (not standard output): name a file",
    ),
    Case(  # shaped as an errors file (each line an input's name and ": "): the user's
        "beam-errors-file-of-captions",
        ["beam", "--input_pattern", "col/*.png", "--output_dir", "o", "--errors", "cap.txt"],
        _make((folder, "col", ["a.png"]), (write, "cap.txt", b"col/a.png: Grandma, 1987\n")),
        error="--errors cap.txt exists and is no errors file an earlier run wrote",
    ),
    Case(
        "beam-errors-file-empty-of-someone-else",
        ["beam", "--input_pattern", "col/*.png", "--output_dir", "o", "--errors", "mylock"],
        _make((folder, "col", ["a.png"]), (write, "mylock", b"")),
        error="--errors mylock exists and is no errors file an earlier run wrote",
    ),
    Case(
        "beam-errors-file-is-the-output-folder",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o2", "--errors", "./o2/../o2"],
        _make((folder, "col", ["a.png"])),
        error="is the output folder",
    ),
    Case(
        "web-build-over-the-page-sources",
        [
            os.path.join(ROOT, "web", "build_site.py"),
            "--out",
            os.path.join(ROOT, "web", "src"),
            "--overwrite",
        ],  # fmt: skip
        error="is a folder of this repository that is not an earlier build",
    ),
    Case(
        "beam-bad-pipeline-option-value",
        ["beam", "--input_pattern", "col/*", "--output_dir", "o", "--direct_num_workers", "abc"],
        _make((folder, "col", ["a.png"])),
        error="Beam's pipeline options: argument --direct_num_workers: invalid int value",
    ),
    Case(
        "web-build-stray-word",
        [os.path.join(ROOT, "web", "build_site.py"), "--out", "s", "extra"],
        error="unrecognized arguments: extra",
    ),
    Case(
        "web-build-into-a-folder-of-other-files",
        [os.path.join(ROOT, "web", "build_site.py"), "--out", "col"],
        _make((folder, "col", ["a.png"])),
        error="not an earlier build of this page",
    ),
    Case(
        "web-build-into-the-current-folder",
        [os.path.join(ROOT, "web", "build_site.py"), "--out", "."],
        _make((folder, "col", ["a.png"])),
        error="is the current folder or contains it",
    ),
    Case(
        "run-tflite-output-format-that-cannot-hold-it",
        [RUN_TFLITE, os.path.join(WEIGHTS, "maffsrn_x2_float16.tflite"), "in.png", "o.ico"],
        _make((photo, "in.png")),
        error=".ico is not a format this writes",
    ),
    Case(
        "run-tflite-16-bit-input-refused-not-whitened",
        [RUN_TFLITE, os.path.join(WEIGHTS, "maffsrn_x2_float16.tflite"), "g.png", "o.png"],
        _make((float_tiff, "g.tif", np.full((20, 20), 0.5)), (os.rename, "g.tif", "g.png")),
        error="(16-bit or floating point)",
    ),
    Case(
        "run-tflite-stray-word",
        [RUN_TFLITE, os.path.join(WEIGHTS, "maffsrn_x2_float16.tflite"), "in.png", "o.png", "x"],
        _make((photo, "in.png")),
        error="unrecognized arguments: x",
    ),
    Case(
        "run-tflite-small-image-works",
        [RUN_TFLITE, os.path.join(WEIGHTS, "maffsrn_x2_float16.tflite"), "in.png", "o.png"],
        _make((photo, "in.png", (40, 40))),
        code=0,
        outputs=["o.png"],
        check=lambda d, err: Image.open(os.path.join(d, "o.png")).size == (80, 80),
    ),
    Case(
        "run-tflite-output-folder-missing",
        [RUN_TFLITE, os.path.join(WEIGHTS, "maffsrn_x2_float16.tflite"), "in.png", "no/o.png"],
        _make((photo, "in.png")),
        error="output folder does not exist",
    ),
    Case(
        "run-tflite-garbage-model",
        [RUN_TFLITE, "m.tflite", "in.png", "o.png"],
        _make((photo, "in.png"), (garbage, "m.tflite")),
        error="as a TFLite model",
    ),
]


def _snapshot(folder):
    out = {}
    for where, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(where, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _command(args):
    if args[0].endswith(".py"):
        return [sys.executable, *args]
    return [sys.executable, "-m", f"maffsrn_tf.cli.{args[0]}", *args[1:]]


def _run(case, tmp):
    if case.make:
        case.make(str(tmp))
    before = _snapshot(tmp)
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run(_command(case.args), cwd=tmp, env=env, capture_output=True, text=True,
                         timeout=case.timeout)  # fmt: skip
    return before, run


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case, tmp_path):
    before, run = _run(case, tmp_path)
    after = _snapshot(tmp_path)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == case.code, run.stderr[-3000:]
    for name, digest in before.items():  # inputs unchanged (a stale temporary may go)
        if name not in case.changes and not name.startswith("col/.tmp-"):
            assert after.get(name) == digest, name
    left = [n for n in after if os.path.basename(n).startswith(".tmp-") and n not in before]
    assert left == [], f"temporary files left: {left}"
    new = sorted(set(after) - set(before))
    if case.code:
        assert len(errors) == 1 and lines[-1] == errors[0], run.stderr
        assert case.error in errors[0], errors[0]
        assert not case.absent or case.absent not in errors[0], errors[0]
        assert new == [] and not os.path.exists(tmp_path / "out"), new
    else:
        assert errors == [], run.stderr
        for name in case.outputs:
            assert name in new, (name, new)
    if case.check:
        assert case.check(str(tmp_path), run.stderr), run.stderr[-2000:]


def test_the_suite_covers_forty_cases_and_every_command():
    assert len(CASES) >= 40
    commands = {c.args[0] for c in CASES}
    for name in ("upscale", "train", "evaluate", "export", "pack", "profile",
                 "convert_weights", "beam", RUN_TFLITE):  # fmt: skip
        assert name in commands, name


def _sigint_as_from_a_terminal():
    """In the child: SIGINT at its default and unblocked. An ignored or blocked SIGINT is
    inherited through exec; in the full suite a pytest-xdist worker had one (the command ran
    all 40 images through the Ctrl-C and exited 0), so Python never raised KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_in_a_folder_run_is_one_line_and_keeps_finished_outputs(tmp_path, signum):
    """Ctrl-C, SIGTERM (a service manager, ``kill``) or SIGHUP (the terminal or ssh session
    closed) mid-run: finished outputs whole, no temporary left, one line, exit 130/143/129
    (SIGHUP killed it with no line and left its temporary)."""
    folder(str(tmp_path / "col"), [f"{i:02d}.png" for i in range(40)], (200, 160))
    proc = subprocess.Popen(_command([UP, "--input", "col", "--output", "out"]), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_as_from_a_terminal)  # fmt: skip
    # signal once the third image has started (two outputs are finished): polling the
    # folder instead raced a fast machine, which finished all 40 first
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("[3/40]"):
            break
    proc.send_signal(signum)
    _, rest = proc.communicate(timeout=120)
    err = "".join(seen) + rest
    assert proc.returncode == 128 + signum, err
    words = {signal.SIGINT: "interrupted", signal.SIGHUP: "hung up"}.get(signum, "terminated")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {words}; finished outputs are kept, none is half-written"], err
    assert "Traceback" not in err
    written = list((tmp_path / "out").glob("*_x2.png"))
    assert 1 <= len(written) < 40
    for path in written:  # every finished output is a whole image
        assert Image.open(path).size == (400, 320)
    assert not list((tmp_path / "out").glob(".tmp-*"))


def _catches_sigterm(pid):
    """Whether process ``pid`` has a SIGTERM handler (``SigCgt`` of /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(line for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1)


def signal_while_starting(command, cwd, signum):
    """Start ``command``, send ``signum`` as soon as it has its first handler (while it still
    imports), and check the answer: exit 128 + ``signum``, no traceback, the last line
    ``error: interrupted``/``error: terminated``. Returns stderr's non-blank lines."""
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_sigint_as_from_a_terminal)  # fmt: skip
    deadline = time.monotonic() + 30
    while not _catches_sigterm(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.001)  # the first handler is there as soon as maffsrn_tf.cli is imported
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    words = "interrupted" if signum == signal.SIGINT else "terminated"
    assert lines and lines[-1].startswith(f"error: {words}"), err
    return lines


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_command_starts_is_one_line(tmp_path, signum):
    """Ctrl-C or SIGTERM in the first moments, while the command still imports its modules
    (before its flags are read): one line and 130/143, not a traceback or a silent death."""
    folder(str(tmp_path / "col"), ["a.png"], (64, 48))
    lines = signal_while_starting(_command([UP, "--input", "col", "--output", "out"]), tmp_path,
                                  signum)  # fmt: skip
    assert lines, "no message"
    assert not list(tmp_path.glob("out/.tmp-*"))


def test_a_killed_writer_s_temporary_is_removed_by_the_next_run(tmp_path):
    """A temporary names its writer's machine and process: once that process is gone, the
    next run removes it at once (not after 15 minutes); a live writer's is left alone, and
    so is one from another machine or container (its PID is not ours to probe) until it is
    stale, and any file that only looks like a temporary (a user's ``.tmp-holiday.png``, or
    ``.tmp-p1-abcd1234-a.png``, the pattern before temporaries named their machine), however
    old."""
    from maffsrn_tf.io.atomic import remove_stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    ours_dead = f"{OURS}p{dead}-abcd1234-a_x2.png"
    ours_live = f"{OURS}p{os.getppid()}-abcd1234-b_x2.png"
    other = "00000000" if OURS != ".tmp-maffsrn-00000000-" else "11111111"  # machine
    elsewhere = f".tmp-maffsrn-{other}-p{dead}-abcd1234-d.png"
    users = [".tmp-holiday.png", f"{OURS}p{dead}-x.png", ".tmp-maffsrn-probe-abc",
             f".tmp-p{dead}-abcd1234-a_x2.png", ".tmp-probe-abcd1234"]  # fmt: skip
    for name in [ours_dead, ours_live, elsewhere, *users]:
        (tmp_path / name).write_bytes(b"x")
    for name in users:
        os.utime(tmp_path / name, (0, 0))  # decades old
    assert remove_stale_temporaries(str(tmp_path)) == [ours_dead]
    assert sorted(os.listdir(tmp_path)) == sorted([ours_live, elsewhere, *users])
    os.utime(tmp_path / elsewhere, (0, 0))
    assert remove_stale_temporaries(str(tmp_path)) == [elsewhere]  # stale: gone
    old = tmp_path / f"{OURS}p1-abcd1234-c_x2.png"
    old.write_bytes(b"x")
    os.utime(old, (0, 0))  # a stale one of ours goes, unless it is an input of the run
    assert remove_stale_temporaries(str(tmp_path), keep=[str(old)]) == []
    assert remove_stale_temporaries(str(tmp_path)) == [old.name]


def test_no_overwrite_holds_when_two_writers_race(tmp_path):
    """Of two writers of one new output without overwrite, exactly one succeeds; the other
    gets "output exists" and the file is the first writer's, whole."""
    import threading

    from maffsrn_tf.io.images import ImageError, write_image

    path = str(tmp_path / "o.png")
    arrays = [np.full((64, 64, 3), v, np.uint8) for v in (10, 200)]
    results, barrier = [None, None], threading.Barrier(2)

    def write(i):
        barrier.wait()
        try:
            write_image(path, arrays[i], overwrite=False)
            results[i] = "written"
        except ImageError as err:
            results[i] = str(err)

    for _ in range(20):
        if os.path.exists(path):
            os.unlink(path)
        threads = [threading.Thread(target=write, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r == "written" for r in results) == [False, True], results
        loser = results[0] if results[1] == "written" else results[1]
        assert loser.startswith(f"output exists: {path}")  # found before, or as it wrote
        winner = results.index("written")
        assert np.array_equal(np.asarray(Image.open(path)), arrays[winner])
        assert [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")] == []


def test_any_file_name_works_or_fails_alone_in_a_folder_run(tmp_path):
    """A name that is not UTF-8 and one with a newline are upscaled (stdout prints their
    bytes), a dangling link fails alone; every message stays on one line."""
    col = tmp_path / "col"
    folder(str(col), ["a.png"])
    data = (col / "a.png").read_bytes()
    with open(os.path.join(os.fsencode(col), b"bad\xff.png"), "wb") as f:
        f.write(data)
    (col / "new\nline.png").write_bytes(data)
    os.symlink("nowhere.png", col / "dangling.png")
    run = subprocess.run(_command([UP, "--input", "col", "--output", "out"]), cwd=tmp_path,
                         capture_output=True, timeout=240)  # fmt: skip
    err = run.stderr.decode("utf-8")
    assert run.returncode == 1 and "Traceback" not in err, err
    assert sorted(os.listdir(os.fsencode(tmp_path / "out"))) == [
        b"a_x2.png",
        b"bad\xff_x2.png",
        b"new\nline_x2.png",
    ]
    (tmp_path / "one").mkdir()
    single = [UP, "--input", os.fsdecode(b"col/bad\xff.png"), "--output", "one/"]
    run_one = subprocess.run(_command(single), cwd=tmp_path, capture_output=True, timeout=240)
    assert run_one.returncode == 0 and run_one.stdout == b"one/bad\xff_x2.png\n", run_one
    lines = err.splitlines()
    assert "[4/4] new\\nline.png" in lines and "[2/4] bad\\xff.png" in lines, err
    assert lines[-1] == "error: 1 of 4 images failed: dangling.png"


def test_a_pipe_among_the_inputs_fails_alone(tmp_path):
    """A FIFO named like an image is not read (it would block the run forever): it fails
    alone, in maffsrn-upscale and maffsrn-beam alike."""
    col = tmp_path / "col"
    folder(str(col), ["a.png"])
    os.mkfifo(col / "f.png")
    run = subprocess.run(_command([UP, "--input", "col", "--output", "out"]), cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1 and os.listdir(tmp_path / "out") == ["a_x2.png"], run.stderr
    assert "error: input is not a regular file (a pipe or a device?): col/f.png" in run.stderr
    beam = ["beam", "--input_pattern", "col/*", "--output_dir", "bo"]
    run = subprocess.run(_command(beam), cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert run.returncode == 1 and os.listdir(tmp_path / "bo") == ["a_x2.png"], run.stderr
    assert (tmp_path / "bo-errors.txt").read_text() == (
        "col/f.png: not a regular file (a pipe or a device?)\n"
    )


def test_closed_stdout_is_one_line_and_exit_141(tmp_path):
    photo(tmp_path / "in.png")
    command = " ".join(_command([UP, "--input", "in.png", "--output", "o.png"]))
    run = subprocess.run(["bash", "-c", f"set -o pipefail; {command} | true"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=240)  # fmt: skip
    assert run.returncode == 141, run.stderr
    assert [ln for ln in run.stderr.splitlines() if ln.startswith("error: ")] == [
        "error: standard output was closed; finished outputs are kept"
    ]
    assert Image.open(tmp_path / "o.png").size == (80, 64)


def test_web_server_on_a_busy_port_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        dist = os.path.join(ROOT, "web", "dist", "worker.js")
        made = not os.path.exists(dist)
        if made:  # the server checks for the built worker first
            os.makedirs(os.path.dirname(dist), exist_ok=True)
            open(dist, "w").close()
        try:
            run = subprocess.run([sys.executable, os.path.join(ROOT, "web", "serve.py"),
                                  "--port", str(port)], capture_output=True, text=True,
                                 timeout=60)  # fmt: skip
        finally:
            if made:
                os.unlink(dist)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip() == (
        f"error: cannot serve on 127.0.0.1:{port} (Address already in use); pass another "
        "--port (0 picks a free one)"
    )


def test_web_server_serves_the_page_and_nothing_else():
    sys.path.insert(0, os.path.join(ROOT, "web"))
    try:
        import serve
    finally:
        sys.path.pop(0)
    server, url = serve.serve(0)
    base = url.rsplit("/web/", 1)[0]

    def get(path):
        request = urllib.request.Request(base + path)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, b""

    try:
        status, headers, body = get("/web/index.html")
        assert status == 200 and b"MAFFSRN" in body
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self' 'wasm-unsafe-eval'" in headers["Content-Security-Policy"]
        status, headers, _ = get("/maffsrn_tf/weights/maffsrn_x2_int8_128px.tflite")
        assert status == 200 and headers["Content-Type"] == "application/octet-stream"
        for path in ("/", "/web", "/web/"):
            assert get(path)[0] == 302 and get(path)[1]["Location"] == "/web/index.html"
        for path in ("/.git/HEAD", "/setup.py", "/web/serve.py", "/maffsrn_tf/",
                     "/maffsrn_tf/weights/maffsrn_x2.npz", "/web/../setup.py",
                     "/web/%2e%2e/setup.py", "/web//index.html", "/web/dist/../../setup.py",
                     "/web/node_modules/@litertjs/core/package.json", "/tests/"):  # fmt: skip
            assert get(path)[0] == 404, path
        # a link among the served files to a file outside the repository: never followed
        # (fuzz pass 23 read /etc/passwd through web/dist/evil.js)
        dist = os.path.join(ROOT, "web", "dist")
        if os.path.isdir(dist):
            links = {  # a served file: 200; outside, or a file of the repository not served
                "served": ("../app.js", 200),
                "out": ("/etc/hostname" if os.path.exists("/etc/hostname") else "/etc/passwd", 404),
                "git": ("../../.git/config", 404),  # fuzz pass 24
                "test": (os.path.abspath(__file__), 404),
            }
            made = []
            try:
                for name, (target, _) in links.items():
                    made.append(os.path.join(dist, f"{name}-{os.getpid()}.js"))
                    os.symlink(target, made[-1])
                for path, (_, status) in zip(made, links.values()):
                    assert get(f"/web/dist/{os.path.basename(path)}")[0] == status, path
            finally:
                for path in made:
                    os.unlink(path)
    finally:
        server.shutdown()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_preset_config_outside_the_architecture_is_refused_before_building(tmp_path):
    from maffsrn_tf import MaffsrnError
    from maffsrn_tf.model.maffsrn import MAFFSRN

    fixture = os.path.join(ROOT, "tests", "fixtures", "preset_v0.1.0")
    for key, value, message in (("n_feats", 10**7, "n_feats=10000000 is not an integer in"),
                                ("n_ffgs", -1, "n_ffgs=-1"), ("scale", 8, "scale=8"),
                                ("n_feats", 30, "not a multiple of 4")):  # fmt: skip
        preset = tmp_path / f"{key}{value}"
        shutil.copytree(fixture, preset)
        config = json.loads((preset / "config.json").read_text())
        config["config"][key] = value
        (preset / "config.json").write_text(json.dumps(config))
        start = time.perf_counter()
        with pytest.raises(MaffsrnError, match=message):
            MAFFSRN.from_preset(str(preset))
        assert time.perf_counter() - start < 2.0  # refused from the config, nothing built
    (tmp_path / "other").mkdir()
    shutil.copy(os.path.join(fixture, "model.weights.h5"), tmp_path / "other")
    (tmp_path / "other" / "config.json").write_text(json.dumps({"class_name": "Sequential"}))
    with pytest.raises(MaffsrnError, match="describes a 'Sequential', not a MAFFSRN"):
        MAFFSRN.from_preset(str(tmp_path / "other"))


def test_resumed_epoch_is_logged_once(tmp_path):
    from maffsrn_tf.train.trainer import _trim_log

    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n0,0.5\n1,0.4\n2,0.3\n")
    _trim_log(str(log), 2)  # a rerun that trains epoch 2 (0-based) again
    assert log.read_text().splitlines() == ["epoch,loss", "0,0.5", "1,0.4"]


def test_png_crc_of_the_bomb_is_valid(tmp_path):
    """The bomb case's file is a genuine PNG (its refusal is the pixel limit, not a bad file)."""
    png_header_bomb(str(tmp_path / "b.png"))
    data = (tmp_path / "b.png").read_bytes()
    length = struct.unpack(">I", data[8:12])[0]
    assert (
        zlib.crc32(data[12 : 16 + length])
        == struct.unpack(">I", data[16 + length : 20 + length])[0]
    )
