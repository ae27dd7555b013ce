"""Copy a training run's best weights into the package, with a model card from the run's records.

Usage::

    python tools/ship_weights.py --run_dir runs/x2 --name maffsrn_x2 \
        --datasets ../shared/data/benchmark/Set5,../shared/data/benchmark/Set14

Writes ``maffsrn_tf/weights/{name}.npz`` (see ``maffsrn_tf.pretrained.loading``) and
``{name}.json``: the training flags, the best epoch, steps, wall time (sum of the logged
per-step times), the hardware, and PSNR/SSIM of the weights on each dataset computed by
``maffsrn_tf.evaluation.protocol``
(same numbers as ``maffsrn-evaluate``). Both files are written atomically. Then it rewrites
``docs/MODEL_CARD.md`` and the history plot ``docs/training_{name}.png``
(``tools/model_card.py``).

The run and the flags are checked before any work: ``--run_dir`` must hold what a run with
validation writes (``flags.json``, ``log.csv``, ``best.json``, ``best.weights.h5``: a run
trained without ``--val_dir``/``--holdout`` keeps no best weights and is refused), ``--name``
must be a preset, the folders and files named must exist. Bad input is one ``error:`` line
and exit 1; every word of the command line is used or refused.
"""

import csv
import json
import os

from absl import app, flags
from model_card import command_line, plot_history, render

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Model directory of a finished maffsrn-train run.")
flags.DEFINE_string("name", None, "Preset name, e.g. maffsrn_x2.")
flags.DEFINE_bool(
    "render_only", False, "Only rewrite docs/MODEL_CARD.md and the plots from the shipped cards."
)
flags.DEFINE_list("datasets", [], "Benchmark folders to evaluate the weights on.")
flags.DEFINE_string("hardware", "", "Hardware description (default: CPU model and core count).")
flags.DEFINE_string("holdout", "", "Holdout list (e.g. splits/sr291_val.txt) to evaluate on too.")
flags.DEFINE_string("holdout_dir", "", "The folder the holdout list names images of.")
flags.DEFINE_bool(
    "append_history", False, "Keep the shipped card's training history and add this run to it."
)
flags.DEFINE_string("prior_log", "", "log.csv of a run between the shipped weights and this one.")
flags.DEFINE_integer("prior_steps_per_epoch", 500, "Iterations per epoch of --prior_log.")
flags.DEFINE_string("prior_command", "", "The command of --prior_log's run.")
flags.DEFINE_string(
    "run_command", "", "This run's command as users should type it (default: from flags.json)."
)
flags.DEFINE_string("training_data", "", "Training data description (default: the folder name).")
flags.DEFINE_string(
    "body_from",
    "",
    "The shipped preset this run was initialized from (e.g. maffsrn_x2 for an x4 run): its "
    "cumulative training becomes the first stage of a new history.",
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Set5 PSNR of the paper (DIV2K, 1000 epochs, GPU), as quoted in the project's weights issue.
PAPER_SET5_PSNR = {"maffsrn_x2": 37.97, "maffsrn_x3": 34.32, "maffsrn_x4": 32.18}


def card(run_dir, name, datasets, hardware="", holdout_dir=None):
    from maffsrn_tf.evaluation.protocol import evaluate
    from maffsrn_tf.export.report import cpu_name
    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.upscaler import UpscaleOptions, make_engine

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
    folders = list(datasets) + ([holdout_dir] if holdout_dir else [])
    results = evaluate(
        folders,
        model.scale,
        make_engine(UpscaleOptions(scale=model.scale, model=model)),
        progress=False,
    )
    if holdout_dir:
        results["holdout"] = results.pop(os.path.basename(os.path.normpath(holdout_dir)))
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


def holdout_folder(holdout, holdout_dir, tmp):
    """A folder of links to the holdout images (evaluation reads folders)."""
    from maffsrn_tf.data.sources import read_holdout

    for name in read_holdout(holdout, holdout_dir):
        os.symlink(os.path.abspath(os.path.join(holdout_dir, name)), os.path.join(tmp, name))
    return tmp


def evaluate_weights(name, path, folder):
    """(PSNR, SSIM) of a weights file on a folder, MATLAB protocol."""
    from maffsrn_tf.evaluation.protocol import evaluate
    from maffsrn_tf.model.presets import PRESETS
    from maffsrn_tf.upscaler import UpscaleOptions, make_engine

    scale = PRESETS[name]["scale"]
    backend = make_engine(UpscaleOptions(scale=scale, model=path, runtime="keras"), preset=name)
    result = next(iter(evaluate([folder], scale, backend, progress=False).values()))
    return round(result["model"]["psnr"], 3), round(result["model"]["ssim"], 4)


def log_stage(log_path, steps, command, hardware, validation):
    """One training stage from a maffsrn-train log.csv: iterations, wall time, curve."""
    with open(log_path) as f:
        rows = list(csv.DictReader(f))

    def curve(key):
        return [[(i + 1) * steps, round(float(r[key]), 3)] for i, r in enumerate(rows)]

    stage = {
        "iterations": len(rows) * steps,
        "wall_hours": round(sum(float(r["sec_per_step"]) * steps for r in rows) / 3600, 2),
        "hardware": hardware,
        "validation": validation,
        "command": command,
        "curve": curve("val_psnr"),
    }
    stage["best_val_psnr"] = max(v for _, v in stage["curve"])
    if rows and rows[0].get("val_psnr_raw"):  # a run with a moving average logs both
        stage["curve_raw"] = curve("val_psnr_raw")
    return stage


def first_stage(old):
    """The shipped weights' own run, as a history stage (before the holdout existed)."""
    return {
        "iterations": old["total_steps"],
        "wall_hours": old["wall_time_hours"],
        "hardware": old["hardware"],
        "validation": "Set5 (the earlier protocol; the holdout images were in its training set)",
        "command": command_line(old["flags"]),
        "curve": [],
        "holdout_psnr_of_result": old.get("evaluation", {}).get("holdout", [None])[0],
    }


def body_stage(name, source):
    """The training of the preset a run was initialized from, as its first history stage."""
    return {
        "iterations": source.get("cumulative_iterations", source.get("total_steps")),
        "wall_hours": source.get("cumulative_wall_hours", source.get("wall_time_hours")),
        "hardware": (source.get("history") or [source])[-1]["hardware"],
        "validation": f"{name}'s own (its card); every layer but the tail comes from it",
        "command": f"the {name} history",
        "curve": [],
    }


RUN_FILES = ("flags.json", "log.csv", "best.json", "best.weights.h5")


def _parse(argv):
    """absl's flags, with one line for what it refuses, no flag given twice (absl keeps the
    last silently), and no word left unused."""
    seen = set()
    for word in argv[1 : argv.index("--")] if "--" in argv else argv[1:]:
        name = word.lstrip("-").split("=", 1)[0] if word.startswith("-") else ""
        if name.startswith("no") and name not in FLAGS and name[2:] in FLAGS:
            name = name[2:]  # --norender_only sets --render_only
        if name in FLAGS and name in seen:
            raise SystemExit(f"error: --{name} is given twice: give it once (see --help)")
        seen.add(name)
    try:
        rest = FLAGS(argv)
    except flags.Error as err:
        raise SystemExit(f"error: {err} (see --help)") from None
    if len(rest) > 1:
        raise SystemExit(
            f"error: unexpected argument {rest[1]!r}: this script takes flags only (see --help)"
        )
    return rest


def check_flags():
    """``SystemExit`` with one line, before any work, unless the flags name a run to ship
    (or ``--render_only`` alone)."""
    from maffsrn_tf.model.presets import PRESETS

    if FLAGS.render_only:
        given = [f"--{n}" for n in ("run_dir", "name") if getattr(FLAGS, n)]
        if given:
            raise SystemExit(
                f"error: --render_only ships nothing: leave {' and '.join(given)} out, or "
                "leave --render_only out to ship the run"
            )
        return
    if not FLAGS.run_dir or not FLAGS.name:
        raise SystemExit(
            "error: --run_dir and --name are required (or --render_only): name the run and "
            "its preset, e.g. --run_dir runs/x2 --name maffsrn_x2"
        )
    for name in filter(None, (FLAGS.name, FLAGS.body_from)):
        if name not in PRESETS:
            flag = "--name" if name == FLAGS.name else "--body_from"
            raise SystemExit(
                f"error: {flag} {name!r} is not a preset: use one of {', '.join(PRESETS)}"
            )
    run = FLAGS.run_dir
    if not os.path.isdir(run):
        what = "is not a folder" if os.path.exists(run) else "not found"
        raise SystemExit(
            f"error: --run_dir {run} {what}: name the --model_dir of a finished maffsrn-train run"
        )
    missing = [n for n in RUN_FILES if not os.path.isfile(os.path.join(run, n))]
    if "best.json" in missing or "best.weights.h5" in missing:
        final = os.path.isfile(os.path.join(run, "final.weights.h5"))
        best = "best.json" if "best.json" in missing else "best.weights.h5"
        raise SystemExit(
            f"error: --run_dir {run} has no {best}"
            + (
                " (trained without --val_dir/--holdout: only final weights)"
                if final
                else " (an unfinished run, or not a maffsrn-train run)"
            )
            + ": this script ships the best weights on validation; train with --val_dir or "
            "--holdout, then ship that run"
        )
    if missing:
        raise SystemExit(
            f"error: --run_dir {run} has no {missing[0]}: name the --model_dir of a finished "
            "maffsrn-train run"
        )
    try:  # the run's model is the preset --name ships: a preset of another scale fails late
        with open(os.path.join(run, "flags.json"), encoding="utf-8") as f:
            recorded = json.load(f)
        trained = recorded.get("preset") or f"maffsrn_x{int(recorded.get('scale', 2))}"
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise SystemExit(f"error: --run_dir {run}: its flags.json cannot be read ({err})") from None
    shape = ("scale", "n_ffgs", "n_feats")  # the model: its weights fit only its own shape
    if trained in PRESETS and any(PRESETS[trained][k] != PRESETS[FLAGS.name][k] for k in shape):
        raise SystemExit(
            f"error: --run_dir {run} trained {trained} (x{PRESETS[trained]['scale']}, "
            f"{PRESETS[trained]['n_ffgs']} groups), and --name {FLAGS.name} is "
            f"x{PRESETS[FLAGS.name]['scale']}, {PRESETS[FLAGS.name]['n_ffgs']} groups: name the "
            "preset it trained"
        )
    for flag, path in (
        *(("--datasets", d) for d in FLAGS.datasets),
        ("--holdout_dir", FLAGS.holdout_dir),
    ):
        if path and not os.path.isdir(path):
            raise SystemExit(f"error: {flag} {path} is not a folder: name a folder of images")
    if any(not d for d in FLAGS.datasets):
        raise SystemExit("error: --datasets holds an empty entry: remove the stray comma")
    named = {os.path.basename(os.path.normpath(d)) for d in FLAGS.datasets if d}
    if not {"Set5", "Set14"} <= named:  # the model card's table: after the weights were written
        raise SystemExit(
            "error: --datasets must hold the Set5 and Set14 folders (the model card's columns), "
            f"got {', '.join(sorted(named)) or 'none'}: pass ../shared/data/benchmark/Set5,"
            "../shared/data/benchmark/Set14"
        )
    if FLAGS.holdout and not FLAGS.holdout_dir:
        raise SystemExit(
            "error: --holdout needs --holdout_dir, the folder its list names images of"
        )
    for flag, path in (("--holdout", FLAGS.holdout), ("--prior_log", FLAGS.prior_log)):
        if path and not os.path.isfile(path):
            raise SystemExit(f"error: {flag} {path} not found: name the file")
    if FLAGS.append_history and FLAGS.body_from:
        raise SystemExit("error: --append_history and --body_from both start the history: give one")


def main(argv):
    del argv
    from maffsrn_tf.io.atomic import atomic_output
    from maffsrn_tf.model.shipped import available, model_card

    check_flags()
    import importlib.util

    try:
        plots = importlib.util.find_spec("matplotlib")
    except ImportError:
        plots = None
    if plots is None:  # the plots: said before anything is written
        raise SystemExit(
            "error: the training plots need matplotlib, which this install lacks: "
            'pip install "maffsrn_tf[dev]"'
        )
    if not FLAGS.render_only:
        ship(FLAGS.run_dir, FLAGS.name, FLAGS.datasets, FLAGS.hardware)
    cards = [model_card(n) for n in available() if model_card(n)]
    os.makedirs(os.path.join(ROOT, "docs"), exist_ok=True)
    with atomic_output(os.path.join(ROOT, "docs", "MODEL_CARD.md")) as tmp, open(tmp, "w") as f:
        f.write(render(cards))
    print("wrote docs/MODEL_CARD.md")
    if FLAGS.render_only:  # a ship plots its own card
        for c in cards:
            if c.get("history"):
                plot_history(c, os.path.join(ROOT, "docs", f"training_{c['preset']}.png"))
                print(f"wrote docs/training_{c['preset']}.png")


def ship(run_dir, name, datasets, hardware):
    import tempfile

    from maffsrn_tf.export.report import cpu_name
    from maffsrn_tf.io.atomic import atomic_output
    from maffsrn_tf.model.maffsrn import build_model
    from maffsrn_tf.model.shipped import WEIGHTS_EXT, model_card, weights_path
    from maffsrn_tf.model.weight_files import save_npz

    hardware = hardware or cpu_name() + ", no GPU"
    with tempfile.TemporaryDirectory() as tmp:
        holdout = holdout_folder(FLAGS.holdout, FLAGS.holdout_dir, tmp) if FLAGS.holdout else None
        info = card(run_dir, name, datasets, hardware, holdout)
        if FLAGS.training_data:
            info["training_data"] = FLAGS.training_data
        validation = f"holdout {FLAGS.holdout}" if FLAGS.holdout else "Set5"
        history = None
        if FLAGS.append_history:
            old = model_card(name)
            history = old.get("history")
            if history is None:  # the first stage: the shipped weights' own run
                if holdout:
                    psnr = evaluate_weights(name, weights_path(name), holdout)
                    old.setdefault("evaluation", {})["holdout"] = list(psnr)
                history = [first_stage(old)]
        elif FLAGS.body_from:
            source = model_card(FLAGS.body_from)
            history = [body_stage(FLAGS.body_from, source)]
        if history is not None:
            if FLAGS.prior_log:
                history.append(
                    log_stage(
                        FLAGS.prior_log,
                        FLAGS.prior_steps_per_epoch,
                        FLAGS.prior_command,
                        hardware,
                        validation,
                    )  # fmt: skip
                )
            with open(os.path.join(run_dir, "flags.json")) as f:
                run_flags = json.load(f)
            history.append(
                log_stage(
                    os.path.join(run_dir, "log.csv"),
                    int(run_flags["steps_per_epoch"]),
                    FLAGS.run_command or command_line(run_flags),
                    hardware,
                    validation,
                )  # fmt: skip
            )
            info["history"] = history
            info["cumulative_iterations"] = sum(h["iterations"] for h in history)
            info["cumulative_wall_hours"] = round(sum(h["wall_hours"] for h in history), 2)
    WEIGHTS_DIR = os.path.join(ROOT, "maffsrn_tf", "weights")  # noqa: N806 (the repo's copy)
    os.makedirs(WEIGHTS_DIR, exist_ok=True)
    model = build_model(name)
    model.load_weights(os.path.join(run_dir, "best.weights.h5"))
    with atomic_output(os.path.join(WEIGHTS_DIR, name + WEIGHTS_EXT)) as tmp:
        save_npz(model, tmp)
    with atomic_output(os.path.join(WEIGHTS_DIR, f"{name}.json")) as tmp:
        with open(tmp, "w") as f:
            json.dump(info, f, indent=2)
    if info.get("history"):
        plot_history(info, os.path.join(ROOT, "docs", f"training_{name}.png"))
    print(json.dumps(info["evaluation"], indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=_parse)
