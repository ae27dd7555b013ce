"""The imaging wing: MATLAB's bicubic ``imresize`` (bit-exact, the benchmark protocol's
degradation) and the metrics of the field (PSNR and SSIM on the Y channel, MATLAB style).

NumPy only, so that both the data and the evaluation wings use it without a cycle.

May import: ``maffsrn_tf.errors`` only.
"""

from maffsrn_tf.imaging.matlab import imresize, mod_crop
from maffsrn_tf.imaging.metrics import psnr, ssim, to_y

__all__ = ["imresize", "mod_crop", "psnr", "ssim", "to_y"]
