"""The export report: a markdown table per exported file (size, accuracy, latency) and its
I/O contract, written as ``REPORT.md`` + ``REPORT.json``."""

import json
import os
import platform
import time

from maffsrn_tf.utils import atomic_output, cpu_name


def report_markdown(entries):
    """One row per file: shape, size, accuracy and drop vs Keras, latency, GPU delegate."""
    lines = [
        "| model | quantization | input | size (KB) | Set5 PSNR / SSIM | drop (dB) | "
        "Set14 PSNR / SSIM | drop (dB) | latency ms, 1 / 2 threads | GPU delegate (analyzer) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        cells = []
        for name in ("Set5", "Set14"):
            a = e["accuracy"].get(name)
            cells += (
                [f"{a['psnr']:.2f} / {a['ssim']:.4f}", f"{a['drop']:+.4f}"] if a else ["-", "-"]
            )
        h, w = e["latency_input"]
        shape = "x".join(map(str, e["input_shape"])) if e.get("input_shape") else "dynamic"
        io = "uint8 I/O" if e.get("uint8_io") else "float I/O"
        gpu = e.get("gpu_delegate", {})
        verdict = "compatible" if gpu.get("compatible") else (gpu.get("detail") or "-")
        one = e.get("latency_1thread_s")
        latency = f"{one * 1000:.0f} / " if one else ""
        lines.append(
            f"| {e['file']} | {e['quantization']}, {io} | {shape} | {e['bytes'] / 1024:.0f} | "
            f"{cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | "
            f"{latency}{e['latency_s'] * 1000:.0f} ({h}x{w} LR) | {verdict} |"
        )
    return "\n".join(lines)


def io_markdown(entries):
    """The input/output contract of each exported file."""
    lines = [
        "| model | input (signature `lr`) | output (signature `sr`) | integer core I/O |",
        "|---|---|---|---|",
    ]
    for e in entries:
        io = e["io"]

        def cell(t, factor=""):
            # a dynamic output is the input's size times the scale: [1, 2H, 2W, 3] at x2
            dims = [
                ("?", f"{factor}H", f"{factor}W", "?")[i] if v == -1 else str(v)
                for i, v in enumerate(t["shape_signature"])
            ]
            shape = "[" + ", ".join(dims) + "]"
            q = t.get("quantization")
            extra = f", scale {q['scale']:.9g}, zero point {q['zero_point']}" if q else ""
            return f"`{t['name']}` {t['dtype']} {shape}{extra}"

        factor = e.get("scale") or "s"
        core = "; ".join(
            cell(io[k], factor if k == "core_output" else "")
            for k in ("core_input", "core_output")
            if k in io
        )
        out = cell(io["output"], factor)
        lines.append(f"| {e['file']} | {cell(io['input'])} | {out} | {core or '-'} |")
    return "\n".join(lines)


def write_report(base, entries, command, merge=False):
    """Write ``base.md`` and ``base.json`` atomically.

    ``merge``: keep the rows of an existing ``base.json`` for files not exported this time
    (re-export one scale without losing the others' rows); returns the entries written.
    """
    merged = merge and os.path.exists(base + ".json")
    if merged:
        with open(base + ".json") as f:
            old = json.load(f)
        fresh = {e["file"] for e in entries}
        entries = [e for e in old if e["file"] not in fresh] + list(entries)
        entries.sort(key=lambda e: (e.get("scale", 0), e.get("input_shape") or [0], e["file"]))
    header = (
        f"# TFLite export report\n\nMade by `{command.strip()}` on "
        f"{time.strftime('%Y-%m-%d')} ({cpu_name()}, Python {platform.python_version()})"
        + (", merged into the previous report (rows of other files kept). " if merged else ". ")
        + "PSNR/SSIM by the MATLAB protocol; *drop* is Keras float PSNR minus TFLite PSNR "
        "on the same images (positive = the TFLite model is worse); fixed-shape models and "
        "the Keras model both run tiled with the model's tile (24-pixel overlap). Latency: "
        "median of 5 runs, ai-edge-litert (XNNPACK), one inference of the input shown. GPU "
        "delegate: the verdict of LiteRT's model analyzer "
        "(`tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)`).\n\n"
    )
    with atomic_output(base + ".md") as tmp, open(tmp, "w") as f:
        f.write(header + report_markdown(entries) + "\n\n## I/O contract\n\n")
        f.write(io_markdown(entries) + "\n")
    with atomic_output(base + ".json") as tmp, open(tmp, "w") as f:
        json.dump(entries, f, indent=2)
    return entries
