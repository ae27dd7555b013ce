"""Upscaling for users: ``upscale()`` on arrays and PIL images (``arrays``), and the file
and folder handling behind ``maffsrn-upscale`` (``files``)."""

from maffsrn_tf.upscaler.arrays import make_backend, upscale
from maffsrn_tf.upscaler.files import UpscaleError, upscale_path

__all__ = ["UpscaleError", "make_backend", "upscale", "upscale_path"]
