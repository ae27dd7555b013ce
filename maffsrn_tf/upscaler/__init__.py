"""The upscaler wing: super-resolve images of any size, kind and bit depth, and videos.

- ``options``: ``UpscaleOptions``, every upscaling option's default, type and check.
- ``engines``: what runs the network (a Keras model, or a ``.tflite`` file on LiteRT) and
  ``make_engine``, the one factory of them.
- ``tiling``: overlapping tiles blended in bounded memory, self-ensemble, ``predict_uint8``.
- ``arrays``: ``upscale()`` on NumPy arrays and PIL images.
- ``files``: files and folders, as ``maffsrn-upscale`` does them (``upscale_path``); the
  videos among them go to ``video``.
- ``video``: videos frame by frame with PyAV (the ``[video]`` extra), timing, rotation,
  pixel aspect and audio kept (``upscale_video``, ``VideoOptions``).
- ``beam``: the same on Apache Beam (``maffsrn-beam``; loads on first use).

Runs on the light install: no TensorFlow import unless a Keras model is asked for, and no
PyAV import until a video is met.

May import: ``maffsrn_tf.errors``, ``maffsrn_tf.io``, ``maffsrn_tf.model``,
``maffsrn_tf.pretrained`` (Keras weights, on demand).
"""

from maffsrn_tf.lazy import lazy_names
from maffsrn_tf.upscaler.arrays import upscale, upscale_with
from maffsrn_tf.upscaler.engines import make_engine
from maffsrn_tf.upscaler.files import UpscaleError, upscale_files, upscale_path
from maffsrn_tf.upscaler.options import UpscaleOptions
from maffsrn_tf.upscaler.video import VideoOptions, upscale_video

_LAZY = {"BeamConfig": "maffsrn_tf.upscaler.beam", "run_pipeline": "maffsrn_tf.upscaler.beam"}
__getattr__, __dir__ = lazy_names(__name__, _LAZY)

__all__ = [
    "UpscaleError",
    "UpscaleOptions",
    "VideoOptions",
    "make_engine",
    "upscale",
    "upscale_files",
    "upscale_path",
    "upscale_video",
    "upscale_with",
    *_LAZY,
]
