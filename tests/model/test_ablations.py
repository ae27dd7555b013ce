"""The paper's ablation variants (Tables 1-3) as constructor options: exact parameter counts,
wiring that changes outputs, configs that round-trip, and exports that fold them."""

import keras
import numpy as np
import pytest

from maffsrn_tf.export import InferenceGraph
from maffsrn_tf.model import MAFFSRN, build_model, layers

# (options, the paper's parameter count, ours: exact where the paper prints it exactly)
TABLE_1 = [
    ({"fusion": "hff", "cea": False}, 364_000),
    ({"fusion": "bff", "cea": False}, 372_000),
    ({"fusion": "m-bff", "cea": False}, 372_000),
    ({"fusion": "hff", "cea": True}, 394_000),
    ({}, 402_000),
]
TABLE_3 = [
    ("3x3+3x3d2", 402_394),
    ("3x3+3x3", 402_394),
    ("3x3+3x3+3x3", 411_738),
    ("3x3+5x5", 418_778),
    ("5x5+3x3", 418_778),
]


@pytest.mark.parametrize("options, paper", TABLE_1)
def test_table_1_fusion_and_cea_counts(options, paper):
    assert abs(build_model("maffsrn_x2", **options).count_params() - paper) <= 1000


@pytest.mark.parametrize("branch, count", TABLE_3)
def test_table_3_esa_branch_counts_are_exact(branch, count):
    assert build_model("maffsrn_x2", esa_branch=branch).count_params() == count


def _copy(src, dst):
    for a, b in zip(src.weights, dst.weights):
        b.assign(a)


def test_table_2_shuffle_off_same_parameters_other_outputs():
    keras.utils.set_random_seed(0)
    ours = build_model("maffsrn_x2", n_ffgs=1)
    plain = build_model("maffsrn_x2", n_ffgs=1, shuffle=False)
    assert ours.count_params() == plain.count_params()
    assert not any(isinstance(layer, layers.ChannelShuffle) for layer in plain._flatten_layers())
    assert any(isinstance(layer, layers.ChannelShuffle) for layer in ours._flatten_layers())
    _copy(ours, plain)
    x = np.random.default_rng(0).random((1, 20, 24, 3)).astype(np.float32)
    assert np.abs(ours(x).numpy() - plain(x).numpy()).max() > 1e-4


@pytest.mark.parametrize(
    "options",
    [
        {"fusion": "hff", "shuffle": False},
        {"fusion": "bff", "cea": False},
        {"esa_branch": "3x3+3x3+3x3"},
        {"esa_branch": "5x5+3x3", "fusion": "hff"},
    ],  # fmt: skip
)
def test_variants_round_trip_and_fold(options):
    keras.utils.set_random_seed(1)
    model = build_model("maffsrn_x3", n_ffgs=1, **options)
    for w in model.weights:
        if w.path.endswith("/scale"):
            w.assign(np.full(w.shape, 0.8, np.float32))
    config = model.get_config()
    assert {k: config[k] for k in options} == options
    clone = MAFFSRN.from_config(config)
    clone.build((None, None, None, 3))
    _copy(model, clone)
    x = np.random.default_rng(2).random((1, 19, 23, 3)).astype(np.float32)
    want = model(x).numpy()
    np.testing.assert_array_equal(clone(x).numpy(), want)
    folded = InferenceGraph(model, clamp=False)(x).numpy()
    assert np.abs(folded - want).max() <= 1e-5


def test_unknown_variant_names_the_choices():
    with pytest.raises(ValueError, match="unknown fusion 'dense'"):
        build_model("maffsrn_x2", fusion="dense")
    with pytest.raises(ValueError, match="unknown ESA branch '7x7'"):
        build_model("maffsrn_x2", esa_branch="7x7")
