"""The train wing: ``model.fit`` training of MAFFSRN, as the paper trains it.

- ``config``: ``TrainConfig``, every option of a run with its default and check (plain
  Python: ``maffsrn-train`` generates its flags from it).
- ``trainer``: ``train(config)``; ``callbacks``, ``optimizers`` (AdamP, step decay,
  weight averaging), ``distribute`` (``tf.distribute`` strategies and resuming) and
  ``keras_compat`` (the Keras overrides a resumable run needs).

Names other than ``TrainConfig`` load on first use (they need Keras).

May import: ``maffsrn_tf.errors``, ``maffsrn_tf.io``, ``maffsrn_tf.imaging``,
``maffsrn_tf.model``, ``maffsrn_tf.pretrained``, ``maffsrn_tf.data``,
``maffsrn_tf.upscaler`` (validation predicts as the upscaler does).
"""

from maffsrn_tf.lazy import lazy_names
from maffsrn_tf.train.config import TrainConfig

_LAZY = {"train": "maffsrn_tf.train.trainer", "compile_model": "maffsrn_tf.train.trainer"}
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
__all__ = ["TrainConfig", *_LAZY]
