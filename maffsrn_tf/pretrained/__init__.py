"""The pretrained wing: the shipped weights as Keras models, and the authors' PyTorch
checkpoints in and out.

- ``loading``: ``load_pretrained`` (a shipped preset), ``load_model_for`` (a scale and an
  optional weights file), ``load_initial_weights`` (fine-tuning starts).
- ``porting``: official ``.pt`` checkpoints to Keras and back (``.pt``/``.safetensors``).

The files themselves lie in ``maffsrn_tf/weights/`` and are found by ``model.shipped``.
Names load on first use (they need Keras).

May import: ``maffsrn_tf.errors``, ``maffsrn_tf.io``, ``maffsrn_tf.model``.
"""

from maffsrn_tf.lazy import lazy_names

_LAZY = {
    "load_pretrained": "maffsrn_tf.pretrained.loading",
    "load_model_for": "maffsrn_tf.pretrained.loading",
    "load_initial_weights": "maffsrn_tf.pretrained.loading",
    "load_pytorch_weights": "maffsrn_tf.pretrained.porting",
    "export_pytorch": "maffsrn_tf.pretrained.porting",
    "convert_checkpoint": "maffsrn_tf.pretrained.porting",
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
__all__ = list(_LAZY)
