"""Resampling layers (``maffsrn_tf.model.resampling``): the legacy nearest resize as a gather."""

import numpy as np


def test_nearest_gather_equals_the_legacy_resize():
    import tensorflow as tf

    from maffsrn_tf.model.resampling import nearest_gather, nearest_resize

    rng = np.random.default_rng(0)
    for h, w, out_h, out_w in [(3, 5, 37, 53), (4, 6, 48, 64), (1, 2, 13, 14), (9, 9, 100, 61)]:
        x = tf.constant(rng.random((2, h, w, 4), np.float32))
        like = tf.zeros((2, out_h, out_w, 1))  # the map whose size the upsampling matches
        np.testing.assert_array_equal(
            nearest_gather(x, like).numpy(), nearest_resize(x, like).numpy()
        )
