"""Checks of an exported model before it is written: ops, accuracy against Keras, latency,
and its I/O contract."""

import time

import numpy as np


def op_names(tflite_bytes):
    """Sorted builtin/custom op names used by a TFLite model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    return sorted({d["op_name"] for d in interpreter._get_ops_details()})


def measure_latency(path, height=128, width=128, runs=5, num_threads=2):
    """Median seconds per inference of a ``.tflite`` at ``height x width`` (after one warm-up)."""
    from maffsrn_tf.upscaler.engines import TFLiteEngine

    engine = TFLiteEngine(path, num_threads)
    if engine.fixed_size:
        height, width = engine.fixed_size
    x = np.random.default_rng(0).random((1, height, width, 3), np.float32)
    engine(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        engine(x)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), (height, width)


def dynamic_tensors(tflite_bytes):
    """Names of the tensors whose shape is not fixed (a -1 in their shape signature)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_bytes)
    return [
        t["name"]
        for t in interp.get_tensor_details()
        if -1 in list(t.get("shape_signature", t["shape"]))
    ]


def gpu_delegate_verdict(tflite_bytes):
    """LiteRT's model analyzer on GPU-delegate compatibility: ``(compatible, detail)``."""
    import contextlib
    import io

    import tensorflow as tf

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tf.lite.experimental.Analyzer.analyze(model_content=tflite_bytes, gpu_compatibility=True)
    text = out.getvalue()
    if "looks compatible with GPU delegate" in text:
        return True, "compatible"
    warnings = [line.strip() for line in text.splitlines() if "GPU COMPATIBILITY WARNING" in line]
    return False, "; ".join(sorted(set(warnings)))[:300] or "not compatible"


def verify(model, tflite_path, datasets, scale, max_drop=0.5, max_image_drop=None):
    """Run a ``.tflite`` on benchmark images next to the Keras float model.

    A fixed-shape model and the Keras model both run tiled with its tile (overlap: the
    default of ``maffsrn-upscale``, at most a quarter of the tile; images smaller than a tile are
    edge-padded), so the drop measures the model,
    not the tiling. ``max_drop``: the most the mean PSNR may drop, dB, or ``{dataset: dB}``;
    ``max_image_drop``: the most any one image's PSNR may drop (issue #43: a mean hides the
    one picture int8 damages), dB, ``{dataset: dB}``, or ``None`` for no such limit.

    Returns ``{dataset: {"psnr", "ssim", "keras_psnr", "keras_ssim", "drop",
    "max_abs_diff_uint8", "images", "tile", "worst_image", "worst_drop"}}`` (``worst_image``:
    the image whose PSNR drops the most, by ``worst_drop`` dB); raises ``ValueError`` when
    the file uses non-builtin ops, gives wrong shapes, or loses more than ``max_drop`` dB on
    a dataset's mean or more than ``max_image_drop`` dB on one image.
    """
    from maffsrn_tf.data.sources import load_benchmark
    from maffsrn_tf.export.recipe import dataset_name
    from maffsrn_tf.imaging import metrics
    from maffsrn_tf.upscaler.engines import KerasEngine, TFLiteEngine
    from maffsrn_tf.upscaler.tiling import DEFAULT_OVERLAP, predict_uint8

    with open(tflite_path, "rb") as f:
        ops = op_names(f.read())
    flex = [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    if flex:
        raise ValueError(f"{tflite_path} needs non-builtin ops: {flex}")
    lite, keras_engine = TFLiteEngine(tflite_path), KerasEngine(model)
    tile = lite.fixed_size[0] if lite.fixed_size else 0
    overlap = min(DEFAULT_OVERLAP, tile // 4)
    report = {}
    for folder in datasets:
        name = dataset_name(folder)
        limit = max_drop.get(name, 0.5) if isinstance(max_drop, dict) else max_drop
        image_limit = (
            max_image_drop.get(name) if isinstance(max_image_drop, dict) else max_image_drop
        )
        rows, names = [], []
        for image, hr, lr in load_benchmark(folder, scale):
            sr_lite = predict_uint8(lite, lr, tile, overlap)
            sr_keras = predict_uint8(keras_engine, lr, tile, overlap)
            if sr_lite.shape != hr.shape[: sr_lite.ndim]:
                raise ValueError(f"{tflite_path}: output {sr_lite.shape} for HR {hr.shape}")
            rows.append(
                (
                    metrics.psnr(hr, sr_lite, scale),
                    metrics.ssim(hr, sr_lite, scale),
                    metrics.psnr(hr, sr_keras, scale),
                    metrics.ssim(hr, sr_keras, scale),
                    float(np.abs(sr_lite.astype(int) - sr_keras.astype(int)).max()),
                )
            )
            names.append(image)
        r = np.array(rows)
        drops = r[:, 2] - r[:, 0]
        worst = int(np.argmax(drops))
        entry = {
            "psnr": float(r[:, 0].mean()),
            "ssim": float(r[:, 1].mean()),
            "keras_psnr": float(r[:, 2].mean()),
            "keras_ssim": float(r[:, 3].mean()),
            "max_abs_diff_uint8": float(r[:, 4].max()),
            "images": len(rows),
            "tile": tile or None,
            "worst_image": names[worst],
            "worst_drop": float(drops[worst]),
        }
        entry["drop"] = entry["keras_psnr"] - entry["psnr"]
        if entry["drop"] > limit:
            raise ValueError(
                f"{tflite_path} loses {entry['drop']:.3f} dB on {name} "
                f"(limit {limit:.3f}); not written"
            )
        if image_limit is not None and entry["worst_drop"] > image_limit:
            raise ValueError(
                f"{tflite_path} loses {entry['worst_drop']:.3f} dB on {name} "
                f"{entry['worst_image']} (per-image limit {image_limit:.3f}); not written"
            )
        report[name] = entry
    return report


def io_contract(tflite_bytes):
    """Names, dtypes, shape signatures and quantization of the model's I/O tensors.

    For float-I/O quantized models also the int8/int16 tensors right after the input's
    QUANTIZE and right before the output's DEQUANTIZE (the integer core's I/O).
    """
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_bytes)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}

    def describe(t):
        scale, zero = t["quantization"]
        d = {
            "name": t["name"],
            "dtype": np.dtype(t["dtype"]).name,
            "shape_signature": [int(v) for v in t.get("shape_signature", t["shape"])],
        }
        if scale:
            d["quantization"] = {"scale": float(scale), "zero_point": int(zero)}
        return d

    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    result = {"input": describe(inp), "output": describe(out)}
    result["signatures"] = interp.get_signature_list()
    for op in interp._get_ops_details():
        if op["op_name"] == "QUANTIZE" and inp["index"] in op["inputs"]:
            result["core_input"] = describe(tensors[op["outputs"][0]])
        if op["op_name"] == "DEQUANTIZE" and out["index"] in op["outputs"]:
            result["core_output"] = describe(tensors[op["inputs"][0]])
    return result
