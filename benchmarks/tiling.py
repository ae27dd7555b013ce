"""Tiled vs whole-image inference on a benchmark folder: PSNR vs HR and agreement (dB).

    python benchmarks/tiling.py --scale 2 --weights runs/x2/best.weights.h5 \
        --tiles 48,64,96 --overlaps 8,16,24
    python benchmarks/tiling.py --scale 2 --quantization int8 --tiles 128 --overlaps 8,16,24

Prints, per (tile, overlap): mean PSNR vs HR of whole-image and tiled outputs, the
difference, and the PSNR of tiled against whole (agreement, the worst image). Outputs are
8-bit, as ``maffsrn-upscale`` writes them (``predict_uint8``; grayscale images run as RGB).
Used to pick the defaults in maffsrn_tf/upscaler/tiling.py. ``--quantization``: the shipped TFLite
model the command runs instead of Keras.
"""

import argparse
import os

import numpy as np
from shared_data import shared_dir

from maffsrn_tf.data.sources import load_benchmark
from maffsrn_tf.imaging import metrics
from maffsrn_tf.upscaler import UpscaleOptions, make_engine
from maffsrn_tf.upscaler.tiling import predict_uint8


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--weights", default="")
    p.add_argument("--dataset", default=os.path.join(shared_dir(), "data", "benchmark", "Set5"))
    p.add_argument("--tiles", default="48,64,96,192")
    p.add_argument("--overlaps", default="8,16,24")
    p.add_argument("--quantization", default="", help="float16 or int8: the shipped TFLite model")
    a = p.parse_args()
    if a.quantization:
        backend = make_engine(
            UpscaleOptions(scale=a.scale, runtime="tflite", variant=a.quantization)
        )
    else:
        backend = make_engine(
            UpscaleOptions(scale=a.scale, model=a.weights or None, runtime="keras")
        )
    items = load_benchmark(a.dataset, a.scale)
    whole = {name: predict_uint8(backend, lr) for name, _, lr in items}
    base = np.mean([metrics.psnr(hr, whole[n], a.scale) for n, hr, _ in items])
    model = f"TFLite {a.quantization}" if a.quantization else "Keras"
    print(f"whole image: {base:.3f} dB on {os.path.basename(a.dataset)} x{a.scale} ({model})")
    print("| tile | overlap | tiled PSNR | diff vs whole | tiled vs whole |")
    print("|---|---|---|---|---|")
    for tile in (int(t) for t in a.tiles.split(",")):
        for overlap in (int(o) for o in a.overlaps.split(",")):
            if 2 * overlap >= tile:
                continue
            psnrs, agree = [], []
            for name, hr, lr in items:
                out = predict_uint8(backend, lr, tile, overlap)
                psnrs.append(metrics.psnr(hr, out, a.scale))
                agree.append(metrics.psnr(whole[name], out, 0))
            print(
                f"| {tile} | {overlap} | {np.mean(psnrs):.3f} | {np.mean(psnrs) - base:+.4f} | "
                f"{np.min(agree):.2f} (min) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
