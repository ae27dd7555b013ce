"""Copy a training run's best weights into the package, with a model card from the run's records.

Usage::

    python tools/ship_weights.py --run_dir runs/x2 --name maffsrn_x2 \
        --datasets ../shared/data/benchmark/Set5,../shared/data/benchmark/Set14

Writes ``maffsrn_tf/weights/{name}.weights.h5`` and ``{name}.json``: the training flags, the
best epoch, steps, wall time (sum of the logged per-step times), the hardware, and PSNR/SSIM of
the weights on each dataset computed by ``maffsrn_tf.evaluation`` (same numbers as
``maffsrn-evaluate``). Both files are written atomically.
"""

import csv
import json
import os
import shutil

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Model directory of a finished maffsrn-train run.")
flags.DEFINE_string("name", None, "Preset name, e.g. maffsrn_x2.")
flags.DEFINE_list("datasets", [], "Benchmark folders to evaluate the weights on.")
flags.DEFINE_string("hardware", "", "Hardware description (default: CPU model and core count).")
flags.mark_flags_as_required(["run_dir", "name"])

# Set5 PSNR of the paper (DIV2K, 1000 epochs, GPU), as quoted in the project's weights issue.
PAPER_SET5_PSNR = {"maffsrn_x2": 37.97, "maffsrn_x3": 34.32, "maffsrn_x4": 32.18}


def card(run_dir, name, datasets, hardware=""):
    from maffsrn_tf.evaluation import evaluate
    from maffsrn_tf.inference import KerasBackend
    from maffsrn_tf.model import build_model
    from maffsrn_tf.utils import cpu_name

    with open(os.path.join(run_dir, "flags.json")) as f:
        run_flags = json.load(f)
    with open(os.path.join(run_dir, "best.json")) as f:
        best = json.load(f)
    with open(os.path.join(run_dir, "log.csv")) as f:
        log = list(csv.DictReader(f))
    steps = int(run_flags["steps_per_epoch"])
    wall = sum(float(r["sec_per_step"]) * steps for r in log)
    model = build_model(name)
    model.load_weights(os.path.join(run_dir, "best.weights.h5"))
    results = evaluate(datasets, model.scale, KerasBackend(model), progress=False)
    return {
        "preset": name,
        "scale": model.scale,
        "training_data": os.path.basename(os.path.normpath(run_flags["data_dir"] or "tfds")),
        "flags": run_flags,
        "best_epoch": best["epoch"],
        "best_iterations": best["iterations"],
        "epochs_run": len(log),
        "total_steps": len(log) * steps,
        "wall_time_hours": round(wall / 3600, 2),
        "hardware": hardware or cpu_name() + ", no GPU",
        "evaluation": {
            ds: {
                "bicubic": [round(r["bicubic"]["psnr"], 2), round(r["bicubic"]["ssim"], 4)],
                "ours": [round(r["model"]["psnr"], 2), round(r["model"]["ssim"], 4)],
                "paper_psnr": PAPER_SET5_PSNR.get(name) if ds == "Set5" else None,
            }
            for ds, r in results.items()
        },
    }


def main(argv):
    del argv
    from maffsrn_tf.pretrained import WEIGHTS_DIR
    from maffsrn_tf.utils import atomic_output

    info = card(FLAGS.run_dir, FLAGS.name, FLAGS.datasets, FLAGS.hardware)
    os.makedirs(WEIGHTS_DIR, exist_ok=True)
    with atomic_output(os.path.join(WEIGHTS_DIR, f"{FLAGS.name}.weights.h5")) as tmp:
        shutil.copyfile(os.path.join(FLAGS.run_dir, "best.weights.h5"), tmp)
    with atomic_output(os.path.join(WEIGHTS_DIR, f"{FLAGS.name}.json")) as tmp:
        with open(tmp, "w") as f:
            json.dump(info, f, indent=2)
    print(json.dumps(info["evaluation"], indent=2))


if __name__ == "__main__":
    app.run(main)
