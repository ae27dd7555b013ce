"""The export report: a markdown table per exported file (size, accuracy, latency) and its
I/O contract, written as ``REPORT.md`` + ``REPORT.json``."""

import json
import platform
import time

from maffsrn_tf.utils import atomic_output, cpu_name


def report_markdown(entries):
    lines = [
        "| model | quantization | size (KB) | Set5 PSNR / SSIM | drop vs Keras (dB) | "
        "Set14 PSNR / SSIM | drop vs Keras (dB) | latency (ms, 2 threads) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        cells = []
        for name in ("Set5", "Set14"):
            a = e["accuracy"].get(name)
            cells += (
                [f"{a['psnr']:.2f} / {a['ssim']:.4f}", f"{a['drop']:+.4f}"] if a else ["-", "-"]
            )
        h, w = e["latency_input"]
        lines.append(
            f"| {e['file']} | {e['quantization']} | {e['bytes'] / 1024:.0f} | "
            f"{cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | "
            f"{e['latency_s'] * 1000:.0f} ({h}x{w} LR) |"
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

        def cell(t):
            dims = [
                ("?", "H", "W", "?")[i] if v == -1 else str(v)
                for i, v in enumerate(t["shape_signature"])
            ]
            shape = "[" + ", ".join(dims) + "]"
            q = t.get("quantization")
            extra = f", scale {q['scale']:.9g}, zero point {q['zero_point']}" if q else ""
            return f"`{t['name']}` {t['dtype']} {shape}{extra}"

        core = "; ".join(cell(io[k]) for k in ("core_input", "core_output") if k in io) or "-"
        lines.append(f"| {e['file']} | {cell(io['input'])} | {cell(io['output'])} | {core} |")
    return "\n".join(lines)


def write_report(base, entries, command):
    """Write ``base.md`` and ``base.json`` atomically."""
    header = (
        f"# TFLite export report\n\nMade by `{command.strip()}` on "
        f"{time.strftime('%Y-%m-%d')} ({cpu_name()}, Python {platform.python_version()}). "
        "PSNR/SSIM by the MATLAB protocol; *drop* is Keras float PSNR minus TFLite PSNR "
        "on the same images (positive = the TFLite model is worse). Latency: median of 5 "
        "runs, ai-edge-litert, 2 threads.\n\n"
    )
    with atomic_output(base + ".md") as tmp, open(tmp, "w") as f:
        f.write(header + report_markdown(entries) + "\n\n## I/O contract\n\n")
        f.write(io_markdown(entries) + "\n")
    with atomic_output(base + ".json") as tmp, open(tmp, "w") as f:
        json.dump(entries, f, indent=2)
