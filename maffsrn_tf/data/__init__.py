"""The data wing: training pairs and benchmark sets, MATLAB-protocol degraded.

- ``sources``: DIV2K folders, any image folder, TFDS, the benchmark sets, holdout lists.
- ``patches``: per-image patch stores and the ``tf.data`` patch pipeline.
- ``packed``: a whole training set in one file (``maffsrn-pack``) and its Keras ``PyDataset``.

May import: ``maffsrn_tf.errors``, ``maffsrn_tf.io``, ``maffsrn_tf.imaging``,
``maffsrn_tf.model``.
"""

from maffsrn_tf.lazy import lazy_names

_LAZY = {
    "DataError": "maffsrn_tf.data.sources",
    "load_benchmark": "maffsrn_tf.data.sources",
    "read_holdout": "maffsrn_tf.data.sources",
    "training_store": "maffsrn_tf.data.sources",
    "PackError": "maffsrn_tf.data.packed",
    "pack": "maffsrn_tf.data.packed",
    "PatchBatches": "maffsrn_tf.data.packed",
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
__all__ = list(_LAZY)
