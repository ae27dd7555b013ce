"""Write the graphics stress set (issue #43) as PNGs: ``maffsrn_tf.evaluation.stress``'s
images (rendered text on saturated and dark backgrounds, flat shapes, gradients, line art,
stripes, a chart, a UI screenshot).

    python tools/stress_set.py OUT_DIR [--seed 0] [--scale 1.0] [--bundled_font_only]

Deterministic: the same arguments give the same PNG bytes on the same machine. Seed 0 is the
evaluation set (``benchmarks/int8_worst.py``, ``maffsrn-export --stress_set``); the int8
calibration draws from seeds 1 and 2. ``--bundled_font_only``: Pillow's bundled font alone
(the bytes then depend on Pillow only); ``--scale`` (0.25 to 4) sizes the canvases.

OUT_DIR is made if missing; an existing one must be empty or hold only the stress set's own
PNGs (an earlier run: they are regenerated). A folder holding other files (a benchmark's) is
refused, unless ``--overwrite`` is given: then the set's PNGs are written into it beside the
other files, replacing same-named ones. Every PNG is written to a temporary file and renamed,
so none is ever half-written. Bad input is one ``error:`` line and exit 1.
"""

import argparse
import math
import os
import signal
import sys
import tempfile

from PIL import Image

from maffsrn_tf.evaluation.stress import (  # noqa: F401 (the script's module API)
    IMAGES,
    stress_images,
    write_stress_set,
)
from maffsrn_tf.io.paths import PACKAGE_DIR, package_file

MIN_SCALE, MAX_SCALE = 0.25, 4.0  # 4: canvases of up to about 2000 pixels a side
TEMPORARY = ".tmp-stress-"


def names():
    """The file names the set is written as (the same for every seed and scale)."""
    return [f"{i:02d}_{f.__name__}.png" for i, f in enumerate(IMAGES)]


class _Parser(argparse.ArgumentParser):
    """Flags written in full only, each at most once, every word used; an error is one line
    and exit 1 (argparse's own: a usage line too, and exit 2)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):
        raise SystemExit(f"error: {message} (see --help)")

    def parse_args(self, args=None, namespace=None):
        words = sys.argv[1:] if args is None else list(args)
        flags = words[: words.index("--")] if "--" in words else words
        if len(words) > 1 and any(w in ("-h", "--help") for w in flags):
            self.error("--help is answered alone: give it without other words")
        seen = set()
        for word in flags:
            flag = word.split("=", 1)[0]
            if flag.startswith("--") and flag in seen:
                self.error(f"{flag} is given twice: give it once")
            seen.add(flag)
        return super().parse_args(args, namespace)


def check_out_dir(out_dir, overwrite=False):
    """``SystemExit`` with one line unless ``out_dir`` may take the set: a new folder in a
    folder that exists, an empty one, or one of the set's PNGs only (``overwrite``: any)."""
    if not out_dir:
        raise SystemExit("error: OUT_DIR is empty: name the folder the PNGs go to")
    if package_file(out_dir):
        raise SystemExit(
            f"error: OUT_DIR {out_dir} lies in the maffsrn_tf package ({PACKAGE_DIR}): name a "
            "folder outside it"
        )
    if os.path.lexists(out_dir) and not os.path.exists(out_dir):
        raise SystemExit(f"error: OUT_DIR {out_dir} is a broken link or a link loop: name a folder")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SystemExit(f"error: OUT_DIR {out_dir} is a file, not a folder: name a folder")
    if not os.path.exists(out_dir):
        parent = os.path.dirname(os.path.abspath(out_dir))
        if not os.path.isdir(parent):
            raise SystemExit(
                f"error: OUT_DIR {out_dir}: its folder {parent} does not exist: make it first"
            )
        return
    try:
        entries = sorted(os.listdir(out_dir))
    except OSError as err:
        raise SystemExit(f"error: cannot read OUT_DIR {out_dir} ({err.strerror})") from None
    others = [n for n in entries if n not in names() and not n.startswith(TEMPORARY)]
    if others and not overwrite:
        raise SystemExit(
            f"error: OUT_DIR {out_dir} holds {len(others)} "
            + ("entry that is" if len(others) == 1 else "entries that are")
            + " not the stress "
            f"set's PNGs ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}): name a "
            "new or empty folder, or pass --overwrite to write the set beside them"
        )


def check_earlier(out_dir, images):
    """``SystemExit`` with one line when a file at one of the set's names is not what an
    earlier run wrote there: a PNG of the size this run makes (a picture of the user's
    named ``00_slide.png`` is not replaced without ``--overwrite``)."""
    for name, array in images:
        path = os.path.join(out_dir, f"{name}.png")
        if not os.path.lexists(path):
            continue
        try:
            with Image.open(path) as im:
                ours = im.format == "PNG" and im.size == (array.shape[1], array.shape[0])
        except Exception:  # not an image Pillow reads
            ours = False
        if not ours or os.path.islink(path):
            raise SystemExit(
                f"error: OUT_DIR {out_dir} holds {name}.png, which is not this set's earlier "
                "image (another picture or size): name a new or empty folder, or pass "
                "--overwrite to replace it"
            )


def write(out_dir, images):
    """Write ``images`` (``[(name, array)]``) as PNGs into ``out_dir`` (made if missing),
    each through a temporary file renamed into place; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    paths = []
    for name, array in images:
        path = os.path.join(out_dir, f"{name}.png")
        fd, tmp = tempfile.mkstemp(prefix=TEMPORARY, suffix=".png", dir=out_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                Image.fromarray(array).save(f, format="PNG", optimize=False, compress_level=6)
            os.chmod(tmp, 0o666 & ~umask)  # as any new file (mkstemp's is private)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        paths.append(path)
    return paths


class _Stopped(BaseException):
    """SIGTERM or SIGHUP, raised where the script is, so that the temporary PNG goes."""


def _stopped(signum, frame):
    raise _Stopped(signum)


def main(argv=None):
    parser = _Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder the PNGs go to (made if missing)")
    parser.add_argument("--seed", type=int, default=0, help="0 or more; 0: the evaluation set")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help=f"canvas size factor, {MIN_SCALE:g} to {MAX_SCALE:g}",
    )
    parser.add_argument("--bundled_font_only", action="store_true")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a folder holding other files too (same-named PNGs are replaced)",
    )
    args = parser.parse_args(argv)
    if args.seed < 0:
        raise SystemExit(
            f"error: --seed {args.seed}: the seed is 0 or more (0: the evaluation set)"
        )
    if not (math.isfinite(args.scale) and MIN_SCALE <= args.scale <= MAX_SCALE):
        raise SystemExit(
            f"error: --scale {args.scale:.15g}: the canvas size factor is {MIN_SCALE:g} to "
            f"{MAX_SCALE:g} (1: the evaluation set's size)"
        )
    check_out_dir(args.out_dir, args.overwrite)
    made = not os.path.exists(args.out_dir)
    for stop in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):  # as Ctrl-C: temporaries go
        if stop is not None:
            signal.signal(stop, _stopped)
    try:
        images = stress_images(args.seed, args.scale, args.bundled_font_only)
        if not args.overwrite:
            check_earlier(args.out_dir, images)
        paths = write(args.out_dir, images)
    except KeyboardInterrupt:
        print("error: interrupted; the PNGs written so far are whole", file=sys.stderr)
        sys.exit(130)
    except _Stopped as stop:
        print("error: terminated; the PNGs written so far are whole", file=sys.stderr)
        sys.exit(128 + stop.args[0])
    except OSError as err:
        if made and os.path.isdir(args.out_dir) and not os.listdir(args.out_dir):
            os.rmdir(args.out_dir)  # nothing written: the folder it made goes too
        raise SystemExit(
            f"error: cannot write OUT_DIR {args.out_dir} ({err.strerror or err}): name a folder "
            "you can write to"
        ) from None
    for path, (_, array) in zip(paths, images):
        h, w = array.shape[:2]
        print(f"{path}  {w}x{h}")


if __name__ == "__main__":
    main()
