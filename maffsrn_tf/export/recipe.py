"""The release recipe of ``maffsrn-export``, as functions Python can call (plain Python at
import: the command checks its flags with these names before TensorFlow is imported).

A release of one model holds, per tile size (0: the dynamic-shape model, first), one TFLite
model per quantization, plus (``uint8_io``, fixed tiles) an int8 model with uint8 pixel I/O;
each is named by ``model.shipped.tflite_name`` (the name the upscaler finds shipped models
by). A fixed-tile model may lose at most ``TWIN_MARGIN_DB`` more than its dynamic twin of
the same quantization on each validation set. SavedModel and ONNX artifacts are named by
``serving_path``.
"""

import os

from maffsrn_tf.model.shipped import tflite_name

# what maffsrn-export can write (--formats)
ARTIFACTS = ("tflite", "saved_model", "onnx")
# TFLite's quantization modes (``maffsrn-export --quantizations``; the shipped upscaler runs
# two of them, ``model.shipped.SHIPPED_VARIANTS``)
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8", "int16x8")
# int8 activation ranges: this percentile of the per-patch extremes. Chosen on x2 (Set5 and
# Set14 drops, tflite/QUANTIZATION.md); 100 (TFLite's min/max) lost 0.20-0.27 dB.
DEFAULT_CALIBRATION_PERCENTILE = 65.0
# int8, issue #43: the tensor groups (export.calibrate.tensor_groups) whose ranges also cover
# graphics patches (DEFAULT_WIDE_PATCHES of the stress set at seeds 1 and 2), at
# DEFAULT_WIDE_PERCENTILE of their extremes. None by default: benchmarks/int8_wide.py found
# no choice that keeps smooth photographs' drop (tflite/QUANTIZATION.md); the best rule it
# measured is ("all",) with DEFAULT_MAX_WIDENING 3
DEFAULT_WIDE_GROUPS = ()
# the regions of export.calibrate.tensor_groups (plain Python: the command checks its flags)
WIDE_REGIONS = ("esa", "cea", "body")
DEFAULT_WIDE_PERCENTILE = 65.0
DEFAULT_WIDE_PATCHES = 64
# a widened range is at most this many times its natural width (None: it covers the graphics)
DEFAULT_MAX_WIDENING = None
# int8: equalize the channels on the union of the natural and the graphics patches' ranges
# (export.equalize), so a channel quiet on photographs but loud on graphics is not scaled up
DEFAULT_EQUALIZE_WIDE = False
# the most one validation image may lose (dB; maffsrn-export --max_image_drop)
DEFAULT_MAX_IMAGE_DROP = 1.0
# how much more (dB) a fixed-tile model may lose than its dynamic-shape twin, on each
# benchmark set (not on the graphics stress set, STRESS_SET: its hard edges meet more tile
# seams at 128 px; x4 int8 lost 0.145 dB there against its twin's 0.122, `make tflite`), where
# a fixed model is held to ``max_drop`` like a dynamic one
TWIN_MARGIN_DB = 0.01
# the dataset name of the generated graphics stress set (``maffsrn-export --stress_set``)
STRESS_SET = "stress"
# the SavedModel's limit on input pixels per call (per file of the bytes signature): the
# whole image goes through the network at once; a 2-megapixel input peaked at 3.4 GB (x2 and
# x4; docs/serving.md)
DEFAULT_SERVING_MAX_PIXELS = 2_000_000
# the highest limit it takes (a terabyte-pixel image: far past any memory; products of sizes
# stay within int64); the lowest is one MIN_INPUT_SIZE square
MAX_SERVING_PIXELS = 10**12


def release_variants(quantizations, tiles, uint8_io=False):
    """``[(tile, quantization, uint8_io)]`` of a release, the dynamic models (tile 0) first
    (a fixed model's limit is its dynamic twin's drop)."""
    out = []
    for tile in sorted(set(tiles)):
        out += [(tile, q, False) for q in quantizations]
        if uint8_io and tile and "int8" in quantizations:
            out.append((tile, "int8", True))
    return out


def dataset_name(folder):
    """A validation folder's name in reports and verification results (``data/Set5/``:
    ``Set5``; ``.``: the current folder's name)."""
    return os.path.basename(os.path.abspath(folder))


def serving_path(kind, output_dir, scale):
    """Where ``export_serving`` writes a ``saved_model`` (a folder) or ``onnx`` model."""
    names = {"saved_model": f"maffsrn_x{scale}_saved_model", "onnx": f"maffsrn_x{scale}.onnx"}
    if kind not in names:
        raise ValueError(f"kind={kind!r} is not one of {', '.join(names)}")
    return os.path.join(output_dir, names[kind])


def export_serving(
    kind,
    model,
    output_dir,
    datasets,
    max_input_pixels=DEFAULT_SERVING_MAX_PIXELS,
    overwrite=True,
):
    """Write (after verifying on ``datasets``) the SavedModel or ONNX model of ``model``;
    returns ``(path, report)`` (``report``: the verification per dataset).
    ``max_input_pixels``: the SavedModel's limit (the ONNX model, without asserts, has none).
    ``overwrite=False``: an existing output is left alone (``io.atomic.OutputExists``)."""
    from maffsrn_tf.export.serving import export_onnx, export_saved_model

    path = serving_path(kind, output_dir, int(model.scale))
    if kind == "saved_model":
        return path, export_saved_model(model, path, datasets, max_input_pixels, overwrite)
    return path, export_onnx(model, path, datasets, overwrite=overwrite)


def export_tflite_release(
    model,
    output_dir,
    quantizations,
    tiles=(0,),
    uint8_io=False,
    datasets=(),
    calibration_data=None,
    max_drop=0.5,
    calibration_percentile=DEFAULT_CALIBRATION_PERCENTILE,
    equalize=True,
    on_written=None,
    overwrite=True,
    wide_data=None,
    wide_groups=DEFAULT_WIDE_GROUPS,
    wide_percentile=DEFAULT_WIDE_PERCENTILE,
    max_image_drop=None,
    max_widening=DEFAULT_MAX_WIDENING,
    equalize_wide=DEFAULT_EQUALIZE_WIDE,
):
    """Export, verify and write every TFLite model of ``model``'s release into
    ``output_dir``; returns the report entries (``export.export``'s, with ``scale``).

    ``max_drop``: the most a dynamic model may lose (dB) on each of ``datasets``; a fixed
    model may lose ``TWIN_MARGIN_DB`` more than its dynamic twin when both are exported
    (``max_drop`` on the stress set).
    ``on_written(path, entry)`` is called after each file is written. ``overwrite=False``:
    an existing file is left alone (``io.atomic.OutputExists``, files before it written).
    ``wide_data``, ``wide_groups``, ``wide_percentile``, ``max_widening``: the int8 ranges
    widened for graphics, ``equalize_wide``: equalized for them too (``export.convert``);
    ``max_image_drop``: the most any one image
    may lose (dB, every model; ``None``: no such limit).
    """
    from maffsrn_tf.export import export

    scale, twins, entries = int(model.scale), {}, []
    for tile, quantization, pixels in release_variants(quantizations, tiles, uint8_io):
        path = os.path.join(output_dir, tflite_name(scale, quantization, tile, pixels))
        limit = max_drop
        if tile and quantization in twins:
            limit = {
                k: max_drop if k == STRESS_SET else v + TWIN_MARGIN_DB
                for k, v in twins[quantization].items()
            }
        entry = export(
            model,
            path,
            quantization,
            list(datasets),
            (tile, tile) if tile else None,
            calibration_data,
            limit,
            pixels,
            calibration_percentile,
            equalize,
            overwrite,
            wide_data=wide_data,
            wide_groups=wide_groups,
            wide_percentile=wide_percentile,
            max_image_drop=max_image_drop,
            max_widening=max_widening,
            equalize_wide=equalize_wide,
        )
        if not tile:
            twins[quantization] = {k: v["drop"] for k, v in entry["accuracy"].items()}
        entry["scale"] = scale
        entries.append(entry)
        if on_written:
            on_written(path, entry)
    return entries
