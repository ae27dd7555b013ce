"""AdamP against the reference implementation's trajectories (adamp==0.3.0, PyTorch)."""

import json

import keras
import numpy as np
import pytest
from conftest import shared_path

from maffsrn_tf.train.optimizers import AdamP, StepDecay, channel_axes

# PyTorch layout -> Keras layout, and the Keras output-channel axis of each test tensor.
TO_KERAS = {
    "conv_weight": (lambda a: a.transpose(2, 3, 1, 0), None),
    "pointwise_weight": (lambda a: a.transpose(2, 3, 1, 0), None),
    "depthwise_weight": (lambda a: a.transpose(2, 3, 0, 1), 2),
    "bias": (lambda a: a, None),
    "scale": (lambda a: a, None),
}
VARIANTS = {
    "plain": {"weight_decay": 0.0},
    "wd": {"weight_decay": 1e-2},
    "nesterov_wd": {"weight_decay": 1e-2, "nesterov": True},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_adamp_reproduces_reference(variant):
    ref = np.load(shared_path("golden", "adamp_reference.npz"))
    meta = json.loads(str(ref["meta"]))
    names = list(TO_KERAS)
    variables, axes = [], {}
    for name in names:
        convert, axis = TO_KERAS[name]
        var = keras.Variable(convert(ref[f"{variant}/init/{name}"]), name=name)
        if axis is not None:
            axes[var.path] = axis
        variables.append(var)
    opt = AdamP(
        channel_axes=axes,
        learning_rate=meta["lr"],
        beta_1=meta["betas"][0],
        beta_2=meta["betas"][1],
        epsilon=meta["eps"],
        delta=meta["delta"],
        wd_ratio=meta["wd_ratio"],
        **VARIANTS[variant],
    )
    for step in range(meta["steps"]):
        grads = [TO_KERAS[n][0](ref[f"{variant}/grad_{step}/{n}"]) for n in names]
        opt.apply_gradients(zip(grads, variables))
        for name, var in zip(names, variables):
            want = TO_KERAS[name][0](ref[f"{variant}/param_{step}/{name}"])
            # 1e-5 relative to the tensor's magnitude (float32 rounding of tiny entries aside)
            err = np.abs(var.numpy() - want).max() / np.abs(want).max()
            assert err <= 1e-5, f"{variant} step {step} {name}: relative error {err:.2e}"


def test_reference_needs_the_projection():
    """Without AdamP's projection (delta=0 never fires) the trajectory leaves the reference."""
    ref = np.load(shared_path("golden", "adamp_reference.npz"))
    convert = TO_KERAS["conv_weight"][0]
    var = keras.Variable(convert(ref["plain/init/conv_weight"]))
    opt = AdamP(learning_rate=1e-2, delta=0.0)
    for step in range(2):
        opt.apply_gradients([(convert(ref[f"plain/grad_{step}/conv_weight"]), var)])
    want = convert(ref["plain/param_1/conv_weight"])
    assert np.abs(var.numpy() - want).max() / np.abs(want).max() > 1e-4


def test_channel_axes_declares_depthwise_kernels_and_weight_norm_gains():
    """The one place that knows where an output channel sits outside the last axis."""
    from maffsrn_tf.model.maffsrn import build_model

    model = build_model("maffsrn_x2", n_ffgs=1)
    axes = channel_axes(model)
    by_path = {w.path: w for w in model.weights}
    depthwise = [p for p, a in axes.items() if a == 2]
    gains = [p for p, a in axes.items() if a == 0]
    # one CEA per MAB (4), a weight-normed gain per head, fusion conv (3) and tail conv (2)
    assert len(depthwise) == 4 and all(p.endswith("bottom11_dw/kernel") for p in depthwise)
    assert len(gains) == 6 and all(p.endswith("/g") for p in gains)
    assert all(len(by_path[p].shape) == (4 if a == 2 else 1) for p, a in axes.items())


def test_adamp_config_round_trip():
    opt = AdamP(learning_rate=1e-3, weight_decay=1e-4, nesterov=True, wd_ratio=0.2)
    clone = AdamP.from_config(opt.get_config())
    assert clone.get_config() == opt.get_config()
    assert clone.adamp_weight_decay == 1e-4 and clone.nesterov


def test_adamp_trains_a_conv_model_with_fit():
    """AdamP inside ``model.fit``'s compiled train step (jit under JAX, tf.function under
    TensorFlow, eager under PyTorch): the loss falls."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((64, 12, 12, 3), np.float32)
    target = keras.layers.Conv2D(4, 3, padding="same", name="teacher")
    y = keras.ops.convert_to_numpy(target(x))
    model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(4, 3, padding="same")])
    model.compile(optimizer=AdamP(learning_rate=1e-2), loss="mae")
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses


def test_step_decay_halves_every_period_and_can_stop():
    s = StepDecay(2e-4, decay_steps=200_000)
    assert [float(s(x)) for x in (0, 199_999, 200_000, 999_999)] == pytest.approx(
        [2e-4, 2e-4, 1e-4, 1.25e-5]
    )
    once = StepDecay.from_config(StepDecay(2e-4, 200_000, max_decays=1).get_config())
    assert float(once(900_000)) == pytest.approx(1e-4)
