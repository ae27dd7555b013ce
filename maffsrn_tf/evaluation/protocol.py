"""Benchmark evaluation by the MATLAB protocol: datasets, bicubic baseline, tables, JSON."""

import json
import math
import os
import sys
import time

import numpy as np

from maffsrn_tf.data.sources import load_benchmark
from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.imaging import metrics
from maffsrn_tf.imaging.matlab import imresize
from maffsrn_tf.io.atomic import atomic_output
from maffsrn_tf.io.images import ImageError, image_size, list_images
from maffsrn_tf.io.progress import progress_bar
from maffsrn_tf.upscaler.tiling import predict_uint8


class Progress:
    """Progress over the images of every dataset, on ``stream``: one tqdm bar (rate and ETA)
    where ``stream`` is a terminal, else one plain line per image (no carriage returns in a
    log). Without tqdm (it comes with ai-edge-litert) a terminal gets the plain lines too."""

    def __init__(self, total, stream):
        self.total, self.stream, self.done, self.bar = total, stream, 0, None
        self.start = time.monotonic()
        self.bar = progress_bar(total, unit="image", stream=stream)

    def update(self, dataset, image):
        """One image of ``dataset`` (a name, such as ``Set5 (1/2)``) is done."""
        self.done += 1
        if self.bar is not None:
            self.bar.set_description(dataset, refresh=False)
            self.bar.update(1)
            return
        elapsed = time.monotonic() - self.start
        print(
            f"{dataset}: {image} ({self.done}/{self.total} images, {elapsed:.1f} s)",
            file=self.stream,
            flush=True,
        )

    def close(self):
        if self.bar is not None:
            self.bar.close()


def dataset_names(datasets):
    """``{folder: name}``: each dataset's name in the results (its folder's name).
    ``MaffsrnError`` when a folder is listed twice, or two folders share a name (their rows
    would be one)."""
    names, seen = {}, {}
    for folder in datasets:
        name = os.path.basename(os.path.normpath(folder))
        real = os.path.realpath(folder)
        if name in seen:
            other = seen[name]
            if os.path.realpath(other) == real:
                raise MaffsrnError(
                    f"dataset {folder} is listed twice ({other} and {folder}); list each "
                    "folder once"
                )
            raise MaffsrnError(
                f"two datasets named {name}: {other} and {folder} (results are keyed by the "
                "folder's name); rename or link one of them under another name"
            )
        seen[name] = folder
        names[folder] = name
    return names


def evaluate(datasets, scale, engine=None, self_ensemble=False, lr_dirs=None, progress=True):
    """PSNR/SSIM per dataset for bicubic and (when ``engine`` is given) the model.

    ``progress``: True reports on ``sys.stderr`` (``Progress``: a bar on a terminal, plain
    lines otherwise), a file object there, False not at all.
    Returns ``{dataset: {"images": n, "bicubic": {...}, "model": {...}, "per_image": [...]}}``,
    keyed by each folder's name (two folders of one name: ``MaffsrnError``). A PSNR of an
    output identical to its HR image is ``inf``.
    """
    dataset_names(datasets)
    bar = None
    if progress:
        total = sum(len(list_images(folder)) for folder in datasets)
        bar = Progress(total, sys.stderr if progress is True else progress)
    try:
        return _evaluate(datasets, scale, engine, self_ensemble, lr_dirs or {}, bar)
    finally:
        if bar is not None:
            bar.close()


SSIM_WINDOW = 11  # imaging.metrics: SSIM's gaussian window


def min_hr_side(scale):
    """The smallest HR side evaluated at ``scale``: mod-cropped to the scale, ``scale``
    pixels shaved from each border, at least SSIM's 11x11 window left."""
    return scale * math.ceil((SSIM_WINDOW + 2 * scale) / scale)


def _check_sizes(folder, scale):
    """A ``MaffsrnError`` naming the first image too small to evaluate at ``scale``."""
    least = min_hr_side(scale)
    for path in list_images(folder):
        try:
            h, w = image_size(path)
        except ImageError:
            continue  # reported as it is read
        if min(h, w) < least:
            raise MaffsrnError(
                f"{path} is {w}x{h}: too small to evaluate at x{scale} (at least "
                f"{least}x{least}: {scale} pixels are shaved from each border, and SSIM needs "
                f"{SSIM_WINDOW}x{SSIM_WINDOW}); leave it out of the dataset"
            )


def _evaluate(datasets, scale, engine, self_ensemble, lr_dirs, bar):
    results = {}
    for d, folder in enumerate(datasets):
        name = os.path.basename(os.path.normpath(folder))
        label = name if len(datasets) == 1 else f"{name} ({d + 1}/{len(datasets)})"
        _check_sizes(folder, scale)
        items = load_benchmark(folder, scale, lr_dirs.get(folder))
        rows = []
        for image, hr, lr in items:
            row = {"image": image}
            try:
                up = imresize(lr, scale)  # the baseline: MATLAB bicubic
                row["bicubic_psnr"], row["bicubic_ssim"] = (
                    metrics.psnr(hr, up, scale),
                    metrics.ssim(hr, up, scale),
                )
                if engine is not None:
                    sr = predict_uint8(engine, lr, self_ensemble=self_ensemble)
                    row["psnr"] = metrics.psnr(hr, sr, scale)
                    row["ssim"] = metrics.ssim(hr, sr, scale)
            except ValueError as err:  # e.g. an LR of --lr_dirs that is not HR / scale
                raise MaffsrnError(f"{os.path.join(folder, image)}: {err}") from None
            rows.append(row)
            if bar is not None:
                bar.update(label, image)
        entry = {
            "images": len(rows),
            "per_image": rows,
            "bicubic": {
                "psnr": float(np.mean([r["bicubic_psnr"] for r in rows])),
                "ssim": float(np.mean([r["bicubic_ssim"] for r in rows])),
            },
        }
        if engine is not None:
            entry["model"] = {
                "psnr": float(np.mean([r["psnr"] for r in rows])),
                "ssim": float(np.mean([r["ssim"] for r in rows])),
            }
        results[name] = entry
    return results


def markdown_table(results, scale, model_label="MAFFSRN"):
    """One row per dataset and method: PSNR / SSIM and the image count."""
    lines = [
        f"| dataset | method (x{scale}) | PSNR (dB) | SSIM | images |",
        "|---|---|---|---|---|",
    ]
    for name, entry in results.items():
        methods = [("bicubic", entry["bicubic"])]
        if "model" in entry:
            methods.append((model_label, entry["model"]))
        for label, m in methods:
            lines.append(
                f"| {name} | {label} | {m['psnr']:.2f} | {m['ssim']:.4f} | {entry['images']} |"
            )
    return "\n".join(lines)


NON_FINITE_NOTE = (
    "null stands for a value that is not a finite number: the PSNR of an output identical to "
    "its HR image is infinite"
)


def _finite(value, replaced):
    """``value`` with each float that is not finite (an infinite PSNR) as None, which JSON
    writes as null (``replaced``: a list that gets one entry per value replaced)."""
    if isinstance(value, dict):
        return {k: _finite(v, replaced) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, replaced) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        replaced.append(value)
        return None
    return value


def write_json(path, results, meta, per_image=False):
    """Write results (without per-image rows unless asked) atomically, as valid JSON: a
    value that is not finite (the infinite PSNR of an output identical to its HR image) is
    written as null, and ``meta["note"]`` says so (``NON_FINITE_NOTE``)."""
    out = {"meta": meta, "datasets": {}}
    for name, entry in results.items():
        e = {k: v for k, v in entry.items() if k != "per_image"}
        if per_image:
            e["per_image"] = entry["per_image"]
        out["datasets"][name] = e
    replaced = []
    out = _finite(out, replaced)
    if replaced:
        out["meta"]["note"] = NON_FINITE_NOTE
    text = json.dumps(out, indent=2, allow_nan=False)  # never Infinity or NaN
    with atomic_output(path) as tmp, open(tmp, "w") as f:
        f.write(text)
    return path
