"""The evaluation wing: the benchmark protocol of the SR literature (MATLAB bicubic
degradation, PSNR/SSIM on Y with the scale cropped from the border), tables and JSON; and the
graphics stress set (``stress``: text, flat colours, line art; where int8 models lose most).

May import: ``maffsrn_tf.errors``, ``maffsrn_tf.io``, ``maffsrn_tf.imaging``,
``maffsrn_tf.model``, ``maffsrn_tf.data``, ``maffsrn_tf.upscaler``.
"""

from maffsrn_tf.evaluation.protocol import dataset_names, evaluate, markdown_table, write_json
from maffsrn_tf.evaluation.stress import stress_images, write_stress_set

__all__ = [
    "dataset_names",
    "evaluate",
    "markdown_table",
    "stress_images",
    "write_json",
    "write_stress_set",
]
