"""Channel equalization before int8 (``maffsrn_tf.export.equalize``): the float function and
the caller's model are kept, the scales follow their rules, errors say what to do, and the
rescaled channels fill more of their tensor's int8 range."""

import numpy as np
import pytest
from conftest import shared_path

from maffsrn_tf.export import equalize as eq
from maffsrn_tf.model.maffsrn import build_model


def _patches(count, size=32, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        coarse = rng.random((size // 4, size // 4, 3))
        x = np.kron(coarse, np.ones((4, 4, 1)))[:size, :size]
        out.append(np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32))
    return out


@pytest.mark.parametrize(
    "preset, overrides",
    [
        ("maffsrn_x2", {"n_ffgs": 1}),
        ("maffsrn_l_x4", {"n_ffgs": 1}),
        ("maffsrn_x3", {"n_ffgs": 1, "cea": False, "fusion": "bff"}),
        ("maffsrn_x2", {"n_ffgs": 1, "esa_branch": "3x3+3x3+3x3"}),
    ],
)
def test_equalized_copy_keeps_the_function_and_leaves_the_model_alone(preset, overrides):
    import keras

    keras.utils.set_random_seed(4)
    model = build_model(preset, **overrides)
    before = [w.copy() for w in model.get_weights()]
    x = _patches(1, 48, seed=9)[0][None]  # not a calibration patch
    copy = eq.equalized(model, _patches(8))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, copy.get_weights()))
    assert changed >= 8  # every pair's first conv (kernel and bias) and its readers
    np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(model(x)), atol=1e-5)


def test_channel_scales_signed_and_abs():
    # channel 0 spans the tensor's low end, channel 1 is half as wide, channel 2 a quarter
    ranges = [(np.array([-1.0, -0.5, 0.0]), np.array([2.0, 1.0, 0.5]))]
    np.testing.assert_allclose(eq.channel_scales(ranges, "signed"), [1, 2, 4])
    np.testing.assert_allclose(eq.channel_scales(ranges, "abs"), [1, 2, 4])
    np.testing.assert_allclose(eq.channel_scales(ranges, "signed", max_scale=3), [1, 2, 3])
    # a mostly negative channel: |x| would widen it to the tensor's max, past its [min, max]
    ranges = [(np.array([-4.0, 0.0]), np.array([1.0, 2.0]))]
    np.testing.assert_allclose(eq.channel_scales(ranges, "signed"), [1, 1])
    np.testing.assert_allclose(eq.channel_scales(ranges, "abs"), [1, 2])
    with pytest.raises(ValueError, match="rule"):
        eq.channel_scales(ranges, "max")


def test_bad_pairs_and_a_changed_function_raise(monkeypatch):
    model = build_model("maffsrn_x2", n_ffgs=1)
    with pytest.raises(ValueError, match="unknown equalization pairs"):
        eq.equalize(model, _patches(2), pairs=("mab", "stream"))
    monkeypatch.setattr(eq, "TOLERANCE", -1.0)
    with pytest.raises(ValueError, match="changed the float output") as error:
        eq.equalized(model, _patches(2))
    # maffsrn-export says it in its own flag words
    from maffsrn_tf.cli import export as export_cli
    from maffsrn_tf.cli.common import flag_words

    assert export_cli.FLAGS["int8_equalization"].default is True
    message = flag_words(str(error.value), {"equalize": "int8_equalization"})
    assert message.endswith("convert without it (--noint8_equalization)"), message


def test_equalized_channels_fill_their_tensor_s_int8_range():
    """The shipped x2 weights on SR291 patches: after equalization each rescaled tensor keeps
    its [min, max] (its int8 grid step) while its channels span more of it."""
    from maffsrn_tf.export import representative_patches
    from maffsrn_tf.pretrained.loading import load_pretrained

    model = load_pretrained("maffsrn_x2")
    patches = representative_patches(shared_path("data", "train", "SR291"), 16, 64)
    copy = eq.equalized(model, patches)
    firsts = lambda m: [first for _, first, _, _ in eq._plan(m, eq.PAIRS)]  # noqa: E731
    old = eq.channel_ranges(model, firsts(model), patches)
    new = eq.channel_ranges(copy, firsts(copy), patches)
    fills = []
    for a, b in zip(firsts(model), firsts(copy)):
        (lo0, hi0), (lo1, hi1) = old[id(a)], new[id(b)]
        assert lo1.min() >= lo0.min() * (1 + 1e-4) - 1e-6 and hi1.max() <= hi0.max() * (1 + 1e-4)
        span = lambda lo, hi: np.mean((hi - lo) / (hi.max() - lo.min()))  # noqa: E731
        fills.append((span(lo0, hi0), span(lo1, hi1)))
    fills = np.array(fills)
    assert len(fills) == 64 and (fills[:, 1] >= fills[:, 0] - 1e-6).all()
    assert np.median(fills[:, 1] / fills[:, 0]) > 1.2, np.median(fills[:, 1] / fills[:, 0])
