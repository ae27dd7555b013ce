"""The Keras model against the official PyTorch model (golden vectors) and its contracts."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import shared_path

import maffsrn_tf
from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.model import build_model, convolutions, layers, resampling
from maffsrn_tf.model.presets import PRESETS
from maffsrn_tf.model.profiling import profile

GOLDEN = ["x2", "x3", "x4", "l_x2"]


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_parameter_counts(name):
    assert build_model(name).count_params() == PRESETS[name]["params"]


@pytest.mark.parametrize("tag", GOLDEN)
def test_matches_official_pytorch_outputs(tag):
    golden = np.load(shared_path("golden", f"maffsrn_{tag}.npz"))
    meta = json.loads(str(golden["meta"]))
    model = build_model(f"maffsrn_{tag}")
    assert model.count_params() == meta["params"]
    maffsrn_tf.load_pytorch_weights(model, shared_path("golden", f"maffsrn_{tag}.npz"))
    for i in (0, 1):
        lr = golden[f"lr_{i}"]
        head = model.head(lr)
        np.testing.assert_allclose(head, golden[f"act_{i}/head"], atol=1e-5)
        mab = model.body[0].blocks[0](head)
        np.testing.assert_allclose(mab, golden[f"act_{i}/body.0.b0"], atol=1e-5)
        ffg = model.body[0](head)
        np.testing.assert_allclose(ffg, golden[f"act_{i}/body.0"], atol=1e-5)
        body = head
        for group in model.body:
            body = group(body)
        scale = np.abs(golden[f"act_{i}/body"]).max()
        np.testing.assert_allclose(body, golden[f"act_{i}/body"], atol=1e-5 * max(1.0, scale))
        sr = model(lr).numpy()
        assert sr.shape == golden[f"sr_{i}"].shape
        assert np.abs(sr - golden[f"sr_{i}"]).max() <= 1e-4
        assert np.abs(sr - golden[f"sr64_{i}"]).max() <= 1e-4


def test_pt_checkpoint_loads_like_npz():
    pytest.importorskip("torch", reason="torch not installed (pip install 'maffsrn_tf[torch]')")
    golden = np.load(shared_path("golden", "maffsrn_x3.npz"))
    model = maffsrn_tf.load_pytorch_weights(
        build_model("maffsrn_x3"), shared_path("golden", "maffsrn_x3.pt")
    )
    np.testing.assert_allclose(model(golden["lr_1"]), golden["sr_1"], atol=1e-4)


def test_checkpoint_errors_name_the_keys():
    state = {
        k[11:]: v
        for k, v in np.load(shared_path("golden", "maffsrn_x2.npz")).items()
        if k.startswith("state_dict/")
    }
    model = build_model("maffsrn_x4")
    with pytest.raises(ValueError, match=r"^checkpoint is an x2 model's, and maffsrn_x4 is "
                       r"x4: load it into an x2 model \(scale=2\)$"):  # fmt: skip
        maffsrn_tf.load_pytorch_weights(model, state)
    # an x3 tail had loaded into x2 without a word (the pixel-shuffle order picked 12 of its
    # 27 channels), a model 2.2 dB worse on Set5
    from maffsrn_tf.pretrained.porting import pytorch_state_dict

    x3 = pytorch_state_dict(build_model("maffsrn_x3"))
    with pytest.raises(ValueError, match=r"^checkpoint is an x3 model's, and maffsrn_x2 is "
                       r"x2: load it into an x3 model \(scale=3\)$"):  # fmt: skip
        maffsrn_tf.load_pytorch_weights(build_model("maffsrn_x2"), x3)
    x3["body.0.b0.conv00.0.weight"] = x3["body.0.b0.conv00.0.weight"][:, :-1]
    with pytest.raises(ValueError, match=r"mis-shaped keys .*body\.0\.b0\.conv00\.0\.weight "):
        maffsrn_tf.load_pytorch_weights(build_model("maffsrn_x3"), x3)
    broken = dict(state)
    del broken["body.1.b2.conv01.0.weight"]
    broken["extra.weight"] = np.zeros(3)
    with pytest.raises(ValueError) as err:
        maffsrn_tf.load_pytorch_weights(build_model("maffsrn_x2"), broken)
    assert "missing keys: body.1.b2.conv01.0.weight" in str(err.value)
    assert "unexpected keys: extra.weight" in str(err.value)
    with pytest.raises(ValueError) as err:  # one line naming the depths, not 270 keys
        maffsrn_tf.load_pytorch_weights(build_model("maffsrn_l_x2"), state)
    assert str(err.value) == (
        "checkpoint has 4 FFGs (body.0-body.3) and maffsrn_l_x2 has 8: pass a preset of "
        "MAFFSRN (maffsrn_x*)"
    )
    many = {f"extra{i}.weight": np.zeros(1) for i in range(30)}
    with pytest.raises(ValueError) as err:
        maffsrn_tf.load_pytorch_weights(build_model("maffsrn_x2"), {**state, **many})
    assert "unexpected keys: extra0.weight, extra1.weight, " in str(err.value)
    assert " and 22 more." in str(err.value) and len(str(err.value)) < 400
    ours = {f"head/{k}": np.zeros(1) for k in ("v", "g")}  # maffsrn_tf's own variable paths
    with pytest.raises(ValueError, match=r"^checkpoint holds maffsrn_tf's own weights .*: "
                       r"nothing to convert; pass them as weights=FILE where weights are read, "
                       r"or export them with to='pytorch'$"):  # fmt: skip
        maffsrn_tf.load_pytorch_weights(build_model("maffsrn_x2"), ours)


def test_convert_weights_cli(tmp_path):
    from maffsrn_tf.pretrained.porting import convert_checkpoint

    golden = np.load(shared_path("golden", "maffsrn_x2.npz"))
    out = convert_checkpoint(
        shared_path("golden", "maffsrn_x2.npz"), "maffsrn_x2", str(tmp_path / "w.weights.h5")
    )
    model = build_model("maffsrn_x2")
    model.load_weights(out)
    np.testing.assert_allclose(model(golden["lr_0"]), golden["sr_0"], atol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["w.weights.h5"]


@pytest.mark.parametrize("shape", [(2, 13, 20, 3), (1, 31, 17, 3), (3, 64, 48, 3)])
def test_dynamic_sizes_and_batches(shape):
    model = build_model("maffsrn_x3")
    out = model(np.random.default_rng(0).random(shape, np.float32))
    assert out.shape == (shape[0], shape[1] * 3, shape[2] * 3, 3)


def test_small_input_raises_value_error_with_minimum():
    model = build_model("maffsrn_x2")
    with pytest.raises(ValueError, match="minimum of 13"):
        model(np.zeros((1, 12, 40, 3), np.float32))
    with pytest.raises(ValueError, match="minimum of 13"):
        model.predict(np.zeros((1, 40, 8, 3), np.float32), verbose=0)


def test_small_input_of_unknown_size_raises_before_the_network_runs():
    # traced with unknown height/width, the size check runs in the graph: it must come
    # before the ESA pooling/resize (which otherwise failed first, or killed the process)
    model = build_model("maffsrn_x2")
    traced = tf.function(model, input_signature=[tf.TensorSpec([None, None, None, 3])])
    for _ in range(10):
        for shape in [(1, 12, 40, 3), (1, 40, 3, 3), (2, 1, 1, 3)]:
            with pytest.raises(tf.errors.InvalidArgumentError, match="at least 13 pixels"):
                traced(tf.zeros(shape))
    assert traced(tf.zeros((1, 13, 13, 3))).shape == (1, 26, 26, 3)


def test_bicubic_skip_matches_pytorch_formula():
    """The fixed-conv bicubic equals a direct evaluation of PyTorch's formula (a=-0.75)."""
    rng = np.random.default_rng(1)
    x = rng.random((1, 7, 9, 2)).astype(np.float64)
    for s in (2, 3, 4):
        layer = resampling.BicubicUpsample(s)
        got = layer(tf.constant(x, tf.float32)).numpy()[0]

        def axis_weights(n_in, s=s):
            m = np.zeros((n_in * s, n_in))
            for o in range(n_in * s):
                src = (o + 0.5) / s - 0.5
                f = int(np.floor(src))
                t = src - f
                for k in range(-1, 3):
                    d = abs(k - t)
                    a = -0.75
                    w = (
                        ((a + 2) * d - (a + 3)) * d * d + 1
                        if d <= 1
                        else (((a * d - 5 * a) * d + 8 * a) * d - 4 * a)
                    )
                    m[o, min(max(f + k, 0), n_in - 1)] += w
            return m

        want = np.einsum("ah,bw,hwc->abc", axis_weights(7), axis_weights(9), x[0])
        np.testing.assert_allclose(got, want, atol=2e-6)


def test_channel_shuffle_matches_official_order():
    x = np.arange(8, dtype=np.float32).reshape(1, 1, 1, 8)
    got = layers.ChannelShuffle(2)(x).numpy().ravel()
    np.testing.assert_array_equal(got, [0, 4, 1, 5, 2, 6, 3, 7])


def test_weight_norm_starts_at_v_and_follows_g():
    layer = convolutions.WeightNormConv2D(4, 3)
    layer.build((None, None, None, 2))
    np.testing.assert_allclose(layer.effective_kernel(), layer.v.numpy(), rtol=1e-5)
    layer.g.assign(2 * layer.g.numpy())
    np.testing.assert_allclose(layer.effective_kernel(), 2 * layer.v.numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    "layer",
    [
        convolutions.WeightNormConv2D(8, 5, use_bias=False),
        layers.Scale(0.25),
        layers.ChannelShuffle(4),
        resampling.PixelShuffle(3),
        resampling.BicubicUpsample(4),
        layers.DilatedESA(16, 4),
        layers.CEA(16),
        layers.MAB(16, 4),
        layers.FFG(16, 4),
        layers.Tail(3, 16, 3),
    ],
)
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["module"] == "maffsrn_tf" or serialized["registered_name"].startswith(
        "maffsrn_tf>"
    )


@pytest.mark.parametrize("layer", [convolutions.WeightNormConv2D(8, 3), resampling.PixelShuffle(2)])
def test_layers_saved_before_the_module_split_still_load(layer):
    """``.keras`` files written before these layers left ``maffsrn_tf.layers`` name that module."""
    serialized = keras.saving.serialize_keras_object(layer)
    serialized["module"] = "maffsrn_tf.layers"
    loaded = keras.saving.deserialize_keras_object(serialized)
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()


def test_keras_save_and_savedmodel_round_trip(tmp_path):
    model = build_model("maffsrn_x2")
    x = np.random.default_rng(2).random((1, 20, 24, 3), np.float32)
    want = model(x).numpy()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded(x).numpy(), want)
    model.export(str(tmp_path / "saved"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(reloaded.serve(x).numpy(), want, atol=1e-6)


def test_macs_match_official_figures():
    x2 = profile(build_model("maffsrn_x2"), 360, 640)["macs"]
    x4 = profile(build_model("maffsrn_x4"), 256, 256)["macs"]
    assert abs(x2 / 86.07e9 - 1) < 0.005
    assert abs(x4 / 27.05e9 - 1) < 0.005


def test_a_checkpoint_of_nan_or_strings_is_refused_and_nothing_is_assigned():
    """A diverged checkpoint (NaN) converted and evaluated without a word, every output NaN;
    a state dict of strings was cut to floats ('-0.') (fuzz pass 21). Now the first such
    key is named and the model keeps its weights."""
    from maffsrn_tf.pretrained.porting import pytorch_state_dict

    model = build_model("maffsrn_x2")
    before = [w.numpy().copy() for w in model.weights]
    state = pytorch_state_dict(model)
    key = "body.2.b1.conv1.0.weight"
    assert key in state
    nan = {k: v.copy() for k, v in state.items()}
    nan[key][0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError) as err:
        maffsrn_tf.load_pytorch_weights(model, nan)
    assert str(err.value) == (
        f"state dict: {key} holds NaN or infinite values (a diverged run or a damaged file); "
        "use other weights"
    )
    words = {k: v.astype("U3") for k, v in state.items()}
    with pytest.raises(ValueError, match=r"^state dict: \S+ is <U3, not floating point "):
        maffsrn_tf.load_pytorch_weights(model, words)
    for w, old in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), old)


def test_build_model_names_an_unknown_override():
    """Keras' "Unrecognized keyword arguments passed to MAFFSRN" had answered a typo."""
    with pytest.raises(MaffsrnError) as err:
        build_model("maffsrn_x2", n_ffg=2, bogus=1)
    assert str(err.value) == (
        "unknown options of build_model: bogus, n_ffg; it takes scale, n_ffgs, n_feats, "
        "n_colors, fusion, cea, shuffle, esa_branch, dtype"
    )


def test_float64_weights_beyond_float32_are_refused():
    """A float64 value of 1e300 passed the NaN check and became inf in the model (an image of
    0s and 255s, fuzz pass 24)."""
    from maffsrn_tf.model.weight_files import bad_values

    big = np.array([1.0, 1e300])
    assert bad_values([("w", big)]) == ("w", "holds values too large for float32, the model's type")
    assert bad_values([("w", np.array([1.0, np.inf]))]) == ("w", "holds NaN or infinite values")
    assert bad_values([("w", np.array([1.0, 3e38]))]) is None
