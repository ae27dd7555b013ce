"""Issue #43's exploratory fix: an x2 int8 model calibrated on the release's SR291 patches
with graphics patches mixed in, measured per image against the shipped float16 model.

    python benchmarks/int8_calibration_mix.py NAME --mix 0.25 --percentile 65 \\
        [--replace] [--seeds 1,2] [--out_dir /tmp/int8study] [--stress_dir DIR]

The graphics patches come from the stress set at seeds 1 and 2 (the evaluation set is seed
0, so it stays unseen): half raw 64-pixel crops, half crops of the image halved by MATLAB
bicubic (as inference sees text). The model is made by the export's own functions
(``representative_patches`` + ``export.tflite.convert``, as ``maffsrn-export`` does) and
measured with ``int8_worst.py``'s functions; the study's table is in tflite/QUANTIZATION.md.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import int8_worst as worst  # noqa: E402
from shared_data import shared_dir  # noqa: E402


def mixed_patches(mix, seeds, replace, rng):
    """The release's calibration patches with ``mix`` graphics patches per natural one."""
    from maffsrn_tf.export import representative_patches
    from maffsrn_tf.imaging.matlab import imresize

    natural = representative_patches(os.path.join(shared_dir(), "data/train/SR291"), 128, 64)
    stress = worst.stress_module()
    images = [img for s in seeds for _, img in stress.stress_images(seed=s)]
    n = int(round(mix * len(natural)))
    extra = []
    while len(extra) < n:
        img = images[rng.integers(len(images))]
        if rng.integers(2):
            img = imresize(img, 0.5)
        h, w = img.shape[:2]
        y, x = rng.integers(h - 64 + 1), rng.integers(w - 64 + 1)
        extra.append(img[y : y + 64, x : x + 64].astype(np.float32) / 255.0)
    if replace:  # as many patches in all as the release
        keep = rng.permutation(len(natural))[: len(natural) - n]
        return [natural[i] for i in sorted(keep)] + extra, n
    return natural + extra, n


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name")
    parser.add_argument("--mix", type=float, default=0.25, help="graphics per SR291 patch")
    parser.add_argument("--percentile", type=float, default=65.0)
    parser.add_argument("--replace", action="store_true", help="replace SR291 patches")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--out_dir", default="/tmp/int8study")
    parser.add_argument("--stress_dir", default="")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    out = os.path.join(args.out_dir, f"x2_int8_{args.name}.tflite")
    start = time.time()
    from maffsrn_tf.export.tflite import convert
    from maffsrn_tf.pretrained.loading import load_model_for

    seeds = [int(s) for s in args.seeds.split(",")]
    patches, n = mixed_patches(args.mix, seeds, args.replace, np.random.default_rng(1234))
    data = convert(load_model_for(2), "int8", None, patches,
                   calibration_percentile=args.percentile)  # fmt: skip
    with open(out, "wb") as f:
        f.write(data)
    print(f"built {out}: {len(patches)} patches ({n} graphics), p{args.percentile}", flush=True)
    reference = worst.shipped(2, "float16")
    result = {"name": args.name, "mix": args.mix, "percentile": args.percentile}
    print(worst.table_header())
    for name in ("Set5", "Set14", "stress"):
        items = worst.load_set(name, 2, args.stress_dir or None)
        rows = worst.measure(out, reference, items, 2)
        result[name] = {"summary": worst.summarize(rows), "rows": rows}
        print(worst.table_row(2, os.path.basename(out), name, result[name]["summary"]), flush=True)
    with open(os.path.join(args.out_dir, f"fix_{args.name}.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
