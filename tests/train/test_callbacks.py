"""The training callbacks (``train.callbacks``): Validation and SaveBest validate and save the
weights' moving average when the optimizer keeps one, the raw weights stay the trained ones."""

import keras
import numpy as np
import pytest

from maffsrn_tf.model.maffsrn import build_model
from maffsrn_tf.train.trainer import compile_model


def test_moving_average_is_validated_saved_and_resumed(tmp_path):
    """--ema_momentum: the optimizer's average follows its definition, validation and the best
    checkpoint use it, training continues on the raw weights, a backup restores both."""
    from maffsrn_tf.train.callbacks import SaveBest, Validation
    from maffsrn_tf.train.optimizers import averaged_weights

    rng = np.random.default_rng(0)
    x = rng.random((2, 16, 16, 3), np.float32)
    y = rng.random((2, 32, 32, 3), np.float32)
    m = 0.5  # reached at step 10
    keras.utils.set_random_seed(0)
    model = compile_model(build_model("maffsrn_x2", n_ffgs=1), "adamp", 1e-2, ema_momentum=m)
    expected = None
    for t in range(14):  # the momentum warms up: min(m, t / (t + 10)) at step t
        model.train_on_batch(x, y)
        w = [v.numpy() for v in model.trainable_variables]
        m_t = min(m, t / (t + 10))
        expected = w if expected is None else [m_t * e + (1 - m_t) * v for e, v in zip(expected, w)]
    raw = [v.numpy() for v in model.trainable_variables]
    with averaged_weights(model):
        for v, e in zip(model.trainable_variables, expected):
            np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-6)
    for v, r in zip(model.trainable_variables, raw):  # the raw weights are back
        np.testing.assert_array_equal(v.numpy(), r)
    assert not np.allclose(raw[0], expected[0])

    hr = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    lr = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
    validation = Validation([("a", hr, lr)], 2)
    validation.set_model(model)
    averaged = build_model("maffsrn_x2", n_ffgs=1)
    for v, e in zip(averaged.trainable_variables, expected):
        v.assign(e)
    reference = Validation([("a", hr, lr)], 2)
    reference.set_model(averaged)
    assert validation.evaluate() == pytest.approx(reference.evaluate(), abs=1e-6)
    logs = {}
    validation.on_epoch_end(0, logs)
    assert logs["val_psnr"] == pytest.approx(reference.evaluate()[0], abs=1e-6)
    for v, r in zip(averaged.trainable_variables, raw):
        v.assign(r)
    assert logs["val_psnr_raw"] == pytest.approx(reference.evaluate()[0], abs=1e-6)
    assert logs["val_psnr_raw"] != logs["val_psnr"]
    best = SaveBest(str(tmp_path))
    best.set_model(model)
    best.on_epoch_end(0, {"val_psnr": 20.0, "val_ssim": 0.5})
    saved = build_model("maffsrn_x2", n_ffgs=1)
    saved.load_weights(tmp_path / "best.weights.h5")
    for v, e in zip(saved.trainable_variables, expected):
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-6)

    model.save_weights(tmp_path / "backup.weights.h5")  # what a backup holds
    resumed = compile_model(build_model("maffsrn_x2", n_ffgs=1), "adamp", 1e-2, ema_momentum=m)
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(tmp_path / "backup.weights.h5")
    for v, r in zip(resumed.trainable_variables, raw):
        np.testing.assert_array_equal(v.numpy(), r)
    for a, e in zip(resumed.optimizer._model_variables_moving_average, expected):
        np.testing.assert_allclose(a.numpy(), e, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"ema_momentum=1.0 is not in \(0, 1\)"):
        compile_model(build_model("maffsrn_x2", n_ffgs=1), ema_momentum=1.0)
