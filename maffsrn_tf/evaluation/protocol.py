"""Benchmark evaluation by the MATLAB protocol: datasets, bicubic baseline, tables, JSON."""

import json
import math
import os
import sys
import time

import numpy as np

from maffsrn_tf.data.sources import load_benchmark
from maffsrn_tf.errors import MaffsrnError, one_line
from maffsrn_tf.imaging import metrics
from maffsrn_tf.imaging.matlab import imresize
from maffsrn_tf.imaging.metrics import SSIM_WINDOW, min_hr_side
from maffsrn_tf.io.atomic import atomic_output, not_a_regular_file
from maffsrn_tf.io.images import ImageError, image_size, list_images
from maffsrn_tf.io.progress import progress_bar
from maffsrn_tf.model.presets import check_scale
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
            one_line(f"{dataset}: {image}") + f" ({self.done}/{self.total} images, "
            f"{elapsed:.1f} s)",
            file=self.stream,
            flush=True,
        )

    def close(self):
        if self.bar is not None:
            self.bar.close()


def dataset_names(datasets):
    """``{folder: name}``: each dataset's name in the results (its folder's name).
    ``MaffsrnError`` when a folder is listed twice (however spelled: ``Set5/``, a link to
    it; compared by real paths), or two folders share a name (their rows would be one)."""
    names, seen, seen_real = {}, {}, {}
    for folder in datasets:
        name = os.path.basename(os.path.normpath(folder))
        real = os.path.realpath(folder)
        if name in seen and os.path.realpath(seen[name]) == real:
            raise MaffsrnError(
                f"dataset {folder} is listed twice ({seen[name]} and {folder}); list each "
                "folder once"
            )
        if real in seen_real:
            raise MaffsrnError(
                f"dataset {folder} is listed twice ({seen_real[real]} and {folder} are one "
                f"folder, {real}); list each folder once"
            )
        if name in seen:
            raise MaffsrnError(
                f"two datasets named {name}: {seen[name]} and {folder} (results are keyed by "
                "the folder's name); rename or link one of them under another name"
            )
        seen[name], seen_real[real] = folder, folder
        names[folder] = name
    return names


def check_datasets(datasets, scale, lr_dirs=None):
    """What ``evaluate`` would refuse of its inputs, found before any image is decoded
    (headers only): ``dataset_names``' refusals, an HR image too small to evaluate at
    ``scale``, an LR image of ``lr_dirs`` (``{dataset folder: LR folder}``) whose size is
    not its HR image's divided by ``scale``. ``MaffsrnError`` naming the first."""
    dataset_names(datasets)
    seen = {}
    for folder, lr in (lr_dirs or {}).items():  # one LR folder for two datasets: ambiguous
        if lr and os.path.realpath(lr) in seen:
            raise MaffsrnError(
                f"LR folder {lr} is listed for two datasets ({seen[os.path.realpath(lr)]} and "
                f"{folder}): list each dataset's own LR folder"
            )
        seen[os.path.realpath(lr)] = folder
    for folder in datasets:
        _check_sizes(folder, scale)
        if (lr_dirs or {}).get(folder):
            _check_lr_sizes(folder, lr_dirs[folder], scale)


def _checked_arguments(datasets, scale, engine, self_ensemble, lr_dirs):
    """``(datasets, scale)`` of an ``evaluate`` call, checked before any image is read: one
    folder or a list of them; a scale of ``SCALES``; an engine (``make_engine``) of that
    scale; ``self_ensemble`` a bool; ``lr_dirs`` a dict whose keys are among the datasets
    (an LR folder under another key was not used, the LR made by bicubic without a word).
    ``MaffsrnError`` naming the argument."""
    if isinstance(datasets, (str, bytes, os.PathLike)):
        datasets = [datasets]
    if not isinstance(datasets, (list, tuple)) or not datasets:
        raise MaffsrnError(f"datasets={datasets!r} must be a folder or a list of folders")
    datasets = [os.fsdecode(folder) for folder in datasets]
    scale = check_scale(scale)
    if engine is not None and not (callable(engine) and hasattr(engine, "scale")):
        raise MaffsrnError(
            f"engine={engine!r} is not an engine: make one with "
            "maffsrn_tf.upscaler.make_engine(UpscaleOptions(...)), or leave it out (bicubic)"
        )
    if engine is not None and engine.scale != scale:
        raise MaffsrnError(
            f"engine is an x{engine.scale} model's, and scale={scale}: pass scale={engine.scale}"
        )
    if not isinstance(self_ensemble, bool):
        raise MaffsrnError(f"self_ensemble={self_ensemble!r} must be True or False")
    if lr_dirs is not None and not isinstance(lr_dirs, dict):
        raise MaffsrnError(
            f"lr_dirs must be a dict of dataset folder to LR folder, not {type(lr_dirs).__name__}"
        )
    unknown = [key for key in (lr_dirs or {}) if key not in datasets]
    if unknown:
        raise MaffsrnError(
            f"lr_dirs names {unknown[0]!r}, which is not one of the datasets "
            f"({', '.join(map(repr, datasets))}): key each LR folder by its dataset as given"
        )
    return datasets, scale


def evaluate(datasets, scale, engine=None, self_ensemble=False, lr_dirs=None, progress=True):
    """PSNR/SSIM per dataset for bicubic and (when ``engine`` is given) the model.

    ``progress``: True reports on ``sys.stderr`` (``Progress``: a bar on a terminal, plain
    lines otherwise), a file object there, False not at all.
    Returns ``{dataset: {"images": n, "bicubic": {...}, "model": {...}, "per_image": [...]}}``,
    keyed by each folder's name (two folders of one name: ``MaffsrnError``). The inputs are
    checked before any image is evaluated (``check_datasets``). A PSNR of an output
    identical to its HR image is ``inf``.
    """
    datasets, scale = _checked_arguments(datasets, scale, engine, self_ensemble, lr_dirs)
    check_datasets(datasets, scale, lr_dirs)
    bar = None
    if progress:
        total = sum(len(list_images(folder)) for folder in datasets)
        bar = Progress(total, sys.stderr if progress is True else progress)
    try:
        return _evaluate(datasets, scale, engine, self_ensemble, lr_dirs or {}, bar)
    finally:
        if bar is not None:
            bar.close()


def _check_sizes(folder, scale):
    """A ``MaffsrnError`` naming the first image too small to evaluate at ``scale``."""
    least = min_hr_side(scale)
    for path in list_images(folder):
        if not_a_regular_file(path):  # a FIFO would block the run at its first read
            raise MaffsrnError(
                f"input is not a regular file (a pipe or a device?): {one_line(path)}; "
                "leave it out of the dataset"
            )
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


def _lr_file(hr_path, lr_images, scale):
    """The LR file of ``hr_path`` among ``lr_images`` as ``load_benchmark`` picks it (the
    same stem, or the stem and ``x{scale}``), or None when there is not exactly one (it
    reports those)."""
    name = os.path.splitext(os.path.basename(hr_path))[0]
    found = [
        f
        for f in lr_images
        if os.path.splitext(os.path.basename(f))[0] in (name, f"{name}x{scale}")
    ]
    return found[0] if len(found) == 1 else None


def _check_lr_sizes(folder, lr_folder, scale):
    """A ``MaffsrnError`` naming the first LR image of ``lr_folder`` whose size is not that
    of its HR image in ``folder`` divided by ``scale`` (mod-cropped: rounded down)."""
    lr_images = list_images(lr_folder)
    for hr_path in list_images(folder):
        lr_path = _lr_file(hr_path, lr_images, scale)
        if lr_path is None:
            continue
        try:
            (h, w), (lh, lw) = image_size(hr_path), image_size(lr_path)
        except ImageError:
            continue  # reported as it is read
        if (lh, lw) != (h // scale, w // scale):
            raise MaffsrnError(
                f"LR image {lr_path} is {lw}x{lh}, not {w // scale}x{h // scale} (HR "
                f"{hr_path} {w}x{h} / {scale}): the LR folder of a dataset (lr_dirs) must "
                f"hold its x{scale} LR images"
            )


def _evaluate(datasets, scale, engine, self_ensemble, lr_dirs, bar):
    results = {}
    for d, folder in enumerate(datasets):
        name = os.path.basename(os.path.normpath(folder))
        label = name if len(datasets) == 1 else f"{name} ({d + 1}/{len(datasets)})"
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
