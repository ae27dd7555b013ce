"""Subprocess entry points for the distributed tests (TF must be configured before import).

python tests/workers/distributed.py mirrored OUT.npz
TF_CONFIG=... python tests/workers/distributed.py multi_worker OUT.npz
TF_CONFIG=... python tests/workers/distributed.py agree OUT.json BACKUP_DIR STEPS_PER_EPOCH
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

MODE, OUT = sys.argv[1], sys.argv[2]
if MODE == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from maffsrn_tf.model.maffsrn import build_model  # noqa: E402
from maffsrn_tf.train.distribute import make_strategy  # noqa: E402
from maffsrn_tf.train.trainer import compile_model  # noqa: E402

keras.config.disable_traceback_filtering()
GLOBAL_BATCH = 4


def batch(seed=0):
    rng = np.random.default_rng(seed)
    lr = rng.random((GLOBAL_BATCH, 16, 16, 3), np.float32)
    hr = rng.random((GLOBAL_BATCH, 32, 32, 3), np.float32)
    return lr, hr


def build(strategy):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = build_model("maffsrn_x2", n_ffgs=1)
        compile_model(model, "adamp", learning_rate=1e-3)
    return model


def weights(model):
    return {f"w{i}": np.asarray(w) for i, w in enumerate(model.weights)}


if MODE == "mirrored":
    lr, hr = batch()
    results = {}
    for name, strategy in (
        ("one", make_strategy("one_device")),
        ("mirrored", make_strategy("mirrored")),
    ):
        model = build(strategy)
        assert strategy.num_replicas_in_sync == (2 if name == "mirrored" else 1)
        ds = tf.data.Dataset.from_tensor_slices((lr, hr)).batch(GLOBAL_BATCH)
        history = model.fit(ds, epochs=1, verbose=0)
        results[f"{name}_loss"] = np.float32(history.history["loss"][0])
        for key, value in weights(model).items():
            results[f"{name}_{key}"] = value
        results[f"{name}_iterations"] = np.int64(model.optimizer.iterations.numpy())
    np.savez(OUT, **results)
elif MODE == "agree":
    import json

    from maffsrn_tf.train.distribute import agree_on_resume, resume_point

    backup = sys.argv[3]
    agreed = agree_on_resume(make_strategy("multi_worker"), backup, int(sys.argv[4]))
    with open(OUT, "w") as f:
        json.dump({"agreed": agreed, "latest_now": resume_point(backup)}, f)
elif MODE == "multi_worker":
    strategy = make_strategy("multi_worker")
    model = build(strategy)
    init = weights(model)
    lr, hr = batch()
    ds = tf.data.Dataset.from_tensor_slices((lr, hr)).repeat().batch(GLOBAL_BATCH)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    model.fit(ds.with_options(options), epochs=2, steps_per_epoch=3, verbose=0)
    changed = max(np.abs(w - init[k]).max() for k, w in weights(model).items())
    np.savez(
        OUT,
        iterations=np.int64(model.optimizer.iterations.numpy()),
        changed=np.float32(changed),
        **weights(model),
    )
