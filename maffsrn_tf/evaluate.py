"""Evaluate MAFFSRN on benchmark folders by the MATLAB protocol (Y channel, shaved border).

Usage::

    maffsrn-evaluate --scale 2 --datasets data/Set5,data/Set14
    maffsrn-evaluate --scale 4 --datasets DIR --weights runs/x4/best.weights.h5 --json x4.json
    maffsrn-evaluate --scale 2 --datasets DIR --tflite tflite/maffsrn_x2_int8.tflite
    maffsrn-evaluate --scale 3 --datasets DIR --bicubic_only

HR images are mod-cropped to the scale and LR made by MATLAB-exact bicubic ``imresize``
(or read from ``--lr_dirs``). Prints a markdown table: bicubic and model rows per dataset.
"""

import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("scale", 2, "Upscaling factor: 2, 3 or 4.")
flags.DEFINE_list("datasets", [], "Comma-separated folders of HR images.")
flags.DEFINE_list("lr_dirs", [], "Optional LR folders, one per dataset (same file stems).")
flags.DEFINE_string("preset", "", "Model preset (default maffsrn_x{scale}).")
flags.DEFINE_string("weights", "", "Keras weights (.weights.h5/.keras); default: shipped.")
flags.DEFINE_string("tflite", "", "Evaluate this .tflite model instead of Keras.")
flags.DEFINE_bool("bicubic_only", False, "Only the bicubic baseline rows.")
flags.DEFINE_bool("self_ensemble", False, "Geometric self-ensemble (x8).")
flags.DEFINE_string("json", "", "Write the results to this JSON file.")
flags.DEFINE_bool("per_image", False, "Include per-image numbers (table and JSON).")
flags.DEFINE_integer("num_threads", 2, "TFLite interpreter threads.")


def main(argv):
    del argv
    from maffsrn_tf import evaluation
    from maffsrn_tf.data import DataError

    if FLAGS.scale not in (2, 3, 4):
        print(f"error: unsupported --scale {FLAGS.scale}: use 2, 3 or 4", file=sys.stderr)
        return 1
    if not FLAGS.datasets:
        print("error: --datasets DIR[,DIR...] is required", file=sys.stderr)
        return 1
    if FLAGS.lr_dirs and len(FLAGS.lr_dirs) != len(FLAGS.datasets):
        print("error: --lr_dirs needs one folder per dataset", file=sys.stderr)
        return 1
    backend, label = None, "bicubic only"
    try:
        if FLAGS.tflite:
            from maffsrn_tf.inference import TFLiteBackend

            backend, label = TFLiteBackend(FLAGS.tflite, FLAGS.num_threads), FLAGS.tflite
        elif not FLAGS.bicubic_only:
            from maffsrn_tf.inference import KerasBackend
            from maffsrn_tf.pretrained import load_model_for

            model = load_model_for(FLAGS.scale, FLAGS.weights or None, FLAGS.preset or None)
            backend, label = KerasBackend(model), model.name
        results = evaluation.evaluate(
            FLAGS.datasets,
            FLAGS.scale,
            backend,
            FLAGS.self_ensemble,
            dict(zip(FLAGS.datasets, FLAGS.lr_dirs)),
        )
    except (ValueError, FileNotFoundError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    name = label + (" +self-ensemble" if FLAGS.self_ensemble else "")
    print(evaluation.markdown_table(results, FLAGS.scale, name))
    if FLAGS.per_image:
        for dataset, entry in results.items():
            for row in entry["per_image"]:
                model_part = f"  model {row['psnr']:.2f}/{row['ssim']:.4f}" if "psnr" in row else ""
                print(
                    f"{dataset}/{row['image']}: bicubic "
                    f"{row['bicubic_psnr']:.2f}/{row['bicubic_ssim']:.4f}{model_part}"
                )
    if FLAGS.json:
        meta = {
            "scale": FLAGS.scale,
            "model": name,
            "self_ensemble": FLAGS.self_ensemble,
            "datasets": FLAGS.datasets,
        }
        evaluation.write_json(FLAGS.json, results, meta, FLAGS.per_image)
    return 0


def cli():
    app.run(main)


if __name__ == "__main__":
    cli()
