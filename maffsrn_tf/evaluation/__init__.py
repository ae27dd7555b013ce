"""The evaluation wing: the benchmark protocol of the SR literature (MATLAB bicubic
degradation, PSNR/SSIM on Y with the scale cropped from the border), tables and JSON.

May import: ``maffsrn_tf.errors``, ``maffsrn_tf.io``, ``maffsrn_tf.imaging``,
``maffsrn_tf.model``, ``maffsrn_tf.data``, ``maffsrn_tf.upscaler``.
"""

from maffsrn_tf.evaluation.protocol import dataset_names, evaluate, markdown_table, write_json

__all__ = ["dataset_names", "evaluate", "markdown_table", "write_json"]
