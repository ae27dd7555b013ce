"""The export wing: the model for phones, browsers and servers, verified before it is written.

- ``tflite``: ``convert(model, quantization) -> bytes`` (TFLite, builtin ops only, five
  quantization modes) and ``export``, which verifies a converted model against Keras first;
  from the folded inference graph (``graph``, ``folding``); int8 calibrated by
  ``calibrate`` after ``equalize``; checked by ``verification``; reported by ``report``.
- ``recipe``: the release ``maffsrn-export`` makes (variants, file names, the fixed-tile
  models' limit), callable from Python (``export_tflite_release``, ``export_serving``).
- ``serving``: SavedModel (TF Serving signatures) and ONNX.

May import: ``maffsrn_tf.errors``, ``maffsrn_tf.io``, ``maffsrn_tf.imaging``,
``maffsrn_tf.model``, ``maffsrn_tf.pretrained``, ``maffsrn_tf.data``,
``maffsrn_tf.upscaler``.
"""

from maffsrn_tf.lazy import lazy_names

# everything but the recipe's constants needs TensorFlow: loaded on first use, so that
# maffsrn-export checks its flags (with export.recipe) before TensorFlow is imported
_LAZY = {
    "DEFAULT_CALIBRATION_PERCENTILE": "maffsrn_tf.export.recipe",
    "QUANTIZATIONS": "maffsrn_tf.export.recipe",
    "InferenceGraph": "maffsrn_tf.export.graph",
    "convert": "maffsrn_tf.export.tflite",
    "dynamic_tensors": "maffsrn_tf.export.verification",
    "export": "maffsrn_tf.export.tflite",
    "gpu_delegate_verdict": "maffsrn_tf.export.verification",
    "io_contract": "maffsrn_tf.export.verification",
    "measure_latency": "maffsrn_tf.export.verification",
    "op_names": "maffsrn_tf.export.verification",
    "percentile_calibrated": "maffsrn_tf.export.calibrate",
    "representative_patches": "maffsrn_tf.export.calibrate",
    "split_for_int8": "maffsrn_tf.export.graph",
    "verify": "maffsrn_tf.export.verification",
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
__all__ = list(_LAZY)
