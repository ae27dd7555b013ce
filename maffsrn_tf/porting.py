"""Load official PyTorch MAFFSRN checkpoints (state dicts) into the Keras model.

Reading ``.pt`` files needs PyTorch (``pip install "maffsrn_tf[torch]"``); ``.npz`` files
holding the state dict's keys (optionally under a ``state_dict/`` prefix) need nothing more.
"""

import os

import keras
import numpy as np

from maffsrn_tf.utils import atomic_output

ESA_NAMES = {
    "reduce_channels": "reduce_channels",
    "reduce_spatial_size": "reduce_spatial_size",
    "increase_channels.0": "increase_channels",
    "conv1.0": "conv1",
    "conv2.0": "conv2",
}


def _oihw_to_hwio(w):
    return np.transpose(w, (2, 3, 1, 0))


def _depthwise_to_keras(w):
    return np.transpose(w, (2, 3, 0, 1))  # (O,1,kh,kw) -> (kh,kw,O,1)


def pixel_shuffle_permutation(scale, n_colors=3):
    """Index ``P`` with ``keras_channel k <- torch_channel P[k]`` for depth_to_space order."""
    perm = np.zeros(scale * scale * n_colors, np.int64)
    for i in range(scale):
        for j in range(scale):
            for c in range(n_colors):
                perm[(i * scale + j) * n_colors + c] = c * scale * scale + i * scale + j
    return perm


def _conv(prefix, layer, out_perm=None):
    """Entries for a plain conv: ``{torch_key: (variable, transform)}``."""
    perm = (lambda a: a[..., out_perm]) if out_perm is not None else (lambda a: a)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return {
            f"{prefix}.weight": (layer.kernel, _depthwise_to_keras),
            f"{prefix}.bias": (layer.bias, lambda a: a),
        }
    return {
        f"{prefix}.weight": (layer.kernel, lambda a: perm(_oihw_to_hwio(a))),
        f"{prefix}.bias": (layer.bias, perm),
    }


def _wn_conv(prefix, layer, out_perm=None):
    perm = (lambda a: a[..., out_perm]) if out_perm is not None else (lambda a: a)
    return {
        f"{prefix}.weight_v": (layer.v, lambda a: perm(_oihw_to_hwio(a))),
        f"{prefix}.weight_g": (layer.g, lambda a: perm(a.reshape(-1))),
        f"{prefix}.bias": (layer.bias, perm),
    }


def _scale(prefix, layer):
    return {f"{prefix}.scale": (layer.scale, lambda a: a.reshape(1))}


def torch_name_map(model):
    """Every official state-dict key of ``model``'s configuration -> (variable, transform)."""
    entries = _wn_conv("head.0", model.head)
    for i, ffg in enumerate(model.body):
        for j, mab in enumerate(ffg.blocks):
            p = f"body.{i}.b{j}"
            entries.update(_conv(f"{p}.conv01.0", mab.conv01))
            entries.update(_conv(f"{p}.conv00.0", mab.conv00))
            for torch_name, attr in ESA_NAMES.items():
                entries.update(_conv(f"{p}.{torch_name}", getattr(mab.esa, attr)))
            entries.update(_conv(f"{p}.bottom11.0", mab.cea.bottom11))
            entries.update(_conv(f"{p}.bottom11_dw.0", mab.cea.bottom11_dw))
        for k, reduction in enumerate(ffg.reductions, start=1):
            entries.update(_wn_conv(f"body.{i}.reduction{k}", reduction))
        entries.update(_scale(f"body.{i}.res_scale", ffg.res_scale))
        entries.update(_scale(f"body.{i}.x_scale", ffg.x_scale))
    perm = pixel_shuffle_permutation(model.scale, model.n_colors)
    entries.update(_wn_conv("tail.tail_k3", model.tail.tail_k3, perm))
    entries.update(_wn_conv("tail.tail_k5", model.tail.tail_k5, perm))
    entries.update(_scale("tail.scale_k3", model.tail.scale_k3))
    entries.update(_scale("tail.scale_k5", model.tail.scale_k5))
    return entries


def read_state_dict(path):
    """Read an official state dict from ``.pt``/``.pth`` (needs torch) or ``.npz``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            keys = [k for k in data.files if k.startswith("state_dict/")]
            if keys:
                return {k[len("state_dict/") :]: data[k] for k in keys}
            return {k: data[k] for k in data.files}
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            f"reading {path} needs PyTorch: pip install 'maffsrn_tf[torch]' "
            "(or convert the state dict to .npz elsewhere)"
        ) from err
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "params"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a state dict (found {type(obj).__name__})")
    return {k: v.detach().cpu().numpy() for k, v in obj.items()}


def load_pytorch_weights(model, path_or_state_dict):
    """Copy an official PyTorch state dict into ``model`` (a built MAFFSRN); returns model.

    Raises ``ValueError`` naming every missing, unexpected or mis-shaped key; nothing is
    assigned unless every key matches.
    """
    state = path_or_state_dict
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        state = read_state_dict(os.fspath(path_or_state_dict))
    state = {k.removeprefix("module."): np.asarray(v) for k, v in state.items()}
    entries = torch_name_map(model)
    missing = sorted(set(entries) - set(state))
    unexpected = sorted(set(state) - set(entries))
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected)}")
    values = {}
    mis_shaped = []
    for key, (variable, transform) in entries.items():
        if key not in state:
            continue
        try:
            value = transform(state[key].astype(np.float32))
        except (IndexError, ValueError):
            value = None
        if value is None or tuple(value.shape) != tuple(variable.shape):
            mis_shaped.append(f"{key} {tuple(state[key].shape)}")
            continue
        values[key] = value
    if mis_shaped:
        problems.append(
            f"mis-shaped keys (checkpoint shape; model {model.name}, scale x{model.scale}, "
            f"{model.n_ffgs} FFGs): {', '.join(mis_shaped)}"
        )
    if problems:
        raise ValueError(
            "checkpoint does not match the model: "
            + "; ".join(problems)
            + ". Check --preset / scale (MAFFSRN has 4 FFGs, MAFFSRN-L 8)."
        )
    for key, (variable, _) in entries.items():
        variable.assign(values[key])
    return model


def convert_checkpoint(checkpoint, preset, output):
    """Convert ``checkpoint`` to Keras weights (``.weights.h5``) or a ``.keras`` model."""
    from maffsrn_tf.model import build_model

    if not (output.endswith(".weights.h5") or output.endswith(".keras")):
        raise ValueError(f"--output must end in .weights.h5 or .keras, got {output}")
    model = load_pytorch_weights(build_model(preset), checkpoint)
    with atomic_output(output) as tmp:
        if output.endswith(".keras"):
            model.save(tmp)
        else:
            model.save_weights(tmp)
    return output
