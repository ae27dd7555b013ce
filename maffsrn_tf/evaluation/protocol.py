"""Benchmark evaluation by the MATLAB protocol: datasets, bicubic baseline, tables, JSON."""

import json
import os
import sys

import numpy as np

from maffsrn_tf.data.sources import load_benchmark
from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.imaging import metrics
from maffsrn_tf.imaging.matlab import imresize
from maffsrn_tf.io.atomic import atomic_output
from maffsrn_tf.upscaler.tiling import predict_uint8


def evaluate(datasets, scale, engine=None, self_ensemble=False, lr_dirs=None, progress=True):
    """PSNR/SSIM per dataset for bicubic and (when ``engine`` is given) the model.

    Returns ``{dataset: {"images": n, "bicubic": {...}, "model": {...}, "per_image": [...]}}``.
    """
    results = {}
    for d, folder in enumerate(datasets):
        name = os.path.basename(os.path.normpath(folder))
        items = load_benchmark(folder, scale, (lr_dirs or {}).get(folder))
        rows = []
        for i, (image, hr, lr) in enumerate(items, 1):
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
            if progress:
                bar = "#" * int(20 * i / len(items))
                print(
                    f"\r{name} [{bar:<20}] {i}/{len(items)} (dataset {d + 1}/{len(datasets)})",
                    end="" if i < len(items) else "\n",
                    file=sys.stderr,
                    flush=True,
                )
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


def write_json(path, results, meta, per_image=False):
    """Write results (without per-image rows unless asked) atomically."""
    out = {"meta": meta, "datasets": {}}
    for name, entry in results.items():
        e = {k: v for k, v in entry.items() if k != "per_image"}
        if per_image:
            e["per_image"] = entry["per_image"]
        out["datasets"][name] = e
    with atomic_output(path) as tmp, open(tmp, "w") as f:
        json.dump(out, f, indent=2)
    return path
