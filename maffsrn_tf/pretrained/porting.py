"""Official PyTorch MAFFSRN state dicts, both ways: into the Keras model, and out of it.

Reading or writing ``.pt`` files needs PyTorch (``pip install "maffsrn_tf[torch]"``);
``.safetensors`` and ``.npz`` files (the state dict's keys, optionally under a
``state_dict/`` prefix in ``.npz``) need nothing more. Exported state dicts have the
official keys, shapes and layouts (OIHW kernels, weight norm as ``weight_g``/``weight_v``),
so the authors' code and tools that load SR checkpoints by key read them as they are.
"""

import json
import os
import re
import struct

import keras
import numpy as np

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.io.atomic import OutputExists, atomic_output
from maffsrn_tf.io.paths import not_a_file
from maffsrn_tf.model.weight_files import check_values, other_scale


class CheckpointNotFound(MaffsrnError, FileNotFoundError):
    """A checkpoint path that is not a file (both a ``MaffsrnError`` and, as before, a
    ``FileNotFoundError``)."""


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


def _perms(out_perm):
    """(to Keras, to PyTorch) along the output-channel axis."""
    if out_perm is None:
        return (lambda a: a), (lambda a: a)
    inverse = np.argsort(out_perm)
    return (lambda a: a[..., out_perm]), (lambda a: a[..., inverse])


def _conv(prefix, layer, out_perm=None):
    """Entries for a plain conv: ``{torch_key: (variable, to_keras, to_torch)}``."""
    perm, unperm = _perms(out_perm)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return {
            f"{prefix}.weight": (layer.kernel, _depthwise_to_keras, _depthwise_to_keras),
            f"{prefix}.bias": (layer.bias, lambda a: a, lambda a: a),
        }
    return {
        f"{prefix}.weight": (
            layer.kernel,
            lambda a: perm(_oihw_to_hwio(a)),
            lambda a: np.transpose(unperm(a), (3, 2, 0, 1)),
        ),
        f"{prefix}.bias": (layer.bias, perm, unperm),
    }


def _wn_conv(prefix, layer, out_perm=None):
    perm, unperm = _perms(out_perm)
    return {  # torch's weight_norm registers g and v after the bias: the state-dict order
        f"{prefix}.bias": (layer.bias, perm, unperm),
        f"{prefix}.weight_g": (
            layer.g,
            lambda a: perm(a.reshape(-1)),
            lambda a: unperm(a).reshape(-1, 1, 1, 1),
        ),
        f"{prefix}.weight_v": (
            layer.v,
            lambda a: perm(_oihw_to_hwio(a)),
            lambda a: np.transpose(unperm(a), (3, 2, 0, 1)),
        ),
    }


def _scale(prefix, layer):
    return {f"{prefix}.scale": (layer.scale, lambda a: a.reshape(1), lambda a: a.reshape(1))}


def torch_name_map(model):
    """Every official state-dict key of ``model`` -> (variable, to_keras, to_torch)."""
    entries = _wn_conv("head.0", model.head)
    for i, ffg in enumerate(model.body):
        for j, mab in enumerate(ffg.blocks):  # in the official module order
            p = f"body.{i}.b{j}"
            esa = mab.esa
            entries.update(_conv(f"{p}.reduce_channels", esa.reduce_channels))
            entries.update(_conv(f"{p}.reduce_spatial_size", esa.reduce_spatial_size))
            entries.update(_conv(f"{p}.increase_channels.0", esa.increase_channels))
            for k, conv in enumerate(esa.convs, 1):
                entries.update(_conv(f"{p}.conv{k}.0", conv))
            entries.update(_conv(f"{p}.conv00.0", mab.conv00))
            entries.update(_conv(f"{p}.conv01.0", mab.conv01))
            if mab.cea is not None:  # the no-CEA ablation variant has none
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
    if not_a_file(path) == "not found":
        raise CheckpointNotFound(f"checkpoint not found: {path}")
    if not_a_file(path):  # a FIFO would block, /dev/zero never end
        raise MaffsrnError(f"checkpoint {path} is {not_a_file(path)}: name a checkpoint file")
    suffix = os.path.splitext(path)[1].lower()  # W.NPZ is an .npz too
    if suffix == ".safetensors":
        with open(path, "rb") as f:
            first = f.read(2)
        if not first.startswith((b"PK", b"\x80")):
            return read_safetensors(path)
        suffix = ".pt"  # a PyTorch file (a zip, or an old pickle) under that name: read as one
    if suffix == ".npz":
        from maffsrn_tf.model.weight_files import npz_headers

        npz_headers(path)  # names, shapes and sizes checked before anything is unpacked
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = [k for k in data.files if k.startswith("state_dict/")]
                if keys:
                    return {k[len("state_dict/") :]: data[k] for k in keys}
                return {k: data[k] for k in data.files}
        except (ValueError, OSError, EOFError) as err:
            raise MaffsrnError(f"{path} is not a readable .npz file ({err})") from None
    with open(path, "rb") as f:
        head, brace = f.read(8), f.read(1)
    if len(head) == 8 and brace == b"{" and struct.unpack("<Q", head)[0] < os.path.getsize(path):
        return read_safetensors(path)  # a .safetensors file by its bytes, whatever its name
    if head == b"\x89HDF\r\n\x1a\n" or (suffix == ".keras" and head.startswith(b"PK")):
        raise MaffsrnError(
            f"{path} holds Keras weights, not a PyTorch checkpoint: Keras weights convert the "
            "other way (to='pytorch' with weights=FILE)"
        )
    if suffix in (".h5", ".keras", ".hdf5"):
        raise MaffsrnError(
            f"{path} is named as Keras weights but is none (no HDF5 or .keras file): give the "
            "official PyTorch state dict (.pt/.pth), .safetensors or .npz"
        )
    if suffix not in (".pt", ".pth", ".bin", ".ckpt", ".tar", "") and not head.startswith(b"PK"):
        raise MaffsrnError(
            f"{path} is no checkpoint this reads: give the official PyTorch state dict "
            "(.pt/.pth), .safetensors or .npz"
        )
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            f"reading {path} needs PyTorch: pip install 'maffsrn_tf[torch]' "
            "(or convert the state dict to .npz elsewhere)"
        ) from err
    try:
        with open(path, "rb") as f:  # by its bytes: torch reads a .safetensors name as one
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, RuntimeError for a non-checkpoint...
        raise MaffsrnError(  # (torch's own text runs to paragraphs: its kind says enough)
            f"{path} is not a weights-only PyTorch checkpoint (torch.load(weights_only=True) "
            f"refused it: {type(err).__name__}); nothing in it was run: give the official "
            "state dict (.pt/.pth), .safetensors or .npz"
        ) from None
    for key in ("state_dict", "model", "params"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise MaffsrnError(f"{path} does not hold a state dict (found {type(obj).__name__})")
    return {k: _tensor_array(k, v, path) for k, v in obj.items()}


def _tensor_array(key, value, path):
    """A state dict's tensor as NumPy: bfloat16 widened to float32 (NumPy has no bfloat16;
    exact), anything that is no tensor named."""
    if not hasattr(value, "detach"):
        raise MaffsrnError(f"{path}: {key} is a {type(value).__name__}, not a tensor")
    value = value.detach().cpu()
    if str(value.dtype) == "torch.bfloat16":
        value = value.float()
    return value.numpy()


def _some(names, shown=8):
    """The first ``shown`` of ``names``, and how many more (a message stays one line)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def load_pytorch_weights(model, path_or_state_dict):
    """Copy an official PyTorch state dict into ``model`` (a built MAFFSRN); returns model.

    Raises ``MaffsrnError`` (a ``ValueError``) naming every missing, unexpected or mis-shaped
    key, or the first value that is not finite floating point (``check_values``); nothing is
    assigned unless every key matches.
    """
    if not hasattr(model, "body") or not hasattr(model, "head"):
        raise MaffsrnError(
            f"model={type(model).__name__} is not a MAFFSRN: build one with "
            "maffsrn_tf.build_model(preset)"
        )
    state = path_or_state_dict
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        state = read_state_dict(os.fspath(path_or_state_dict))
    state = {k.removeprefix("module."): np.asarray(v) for k, v in state.items()}
    if state and all("/" in k for k in state):  # head/v, body.0/...: variable paths
        raise MaffsrnError(
            "checkpoint holds maffsrn_tf's own weights (Keras variable paths such as "
            f"{sorted(state)[0]!r}), not a PyTorch state dict: nothing to convert; pass them as "
            "weights=FILE where weights are read, or export them with to='pytorch'"
        )
    entries = torch_name_map(model)
    missing = sorted(set(entries) - set(state))
    unexpected = sorted(set(state) - set(entries))
    groups = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
    if groups and len(groups) != model.n_ffgs:
        presets = "MAFFSRN-L (maffsrn_l_x*)" if len(groups) == 8 else "MAFFSRN (maffsrn_x*)"
        raise MaffsrnError(
            f"checkpoint has {len(groups)} FFGs (body.{min(groups)}-body.{max(groups)}) and "
            f"{model.name} has {model.n_ffgs}"
            + (f": pass a preset of {presets}" if len(groups) in (4, 8) else "")
        )
    problems = []
    if missing:
        problems.append(f"missing keys: {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_some(unexpected)}")
    source = path_or_state_dict if isinstance(path_or_state_dict, (str, os.PathLike)) else None
    check_values(  # before a string or NaN is turned into a weight
        ((k, state[k]) for k in entries if k in state),
        f"checkpoint {os.fspath(source)}" if source is not None else "state dict",
    )
    values = {}
    mis_shaped = []
    for key, (variable, transform, to_torch) in entries.items():
        if key not in state:
            continue
        # the checkpoint's own shape against the model's in PyTorch's layout: a transform
        # that selects channels (the tail's pixel-shuffle order) would cut an x3 tail's 27
        # outputs to x2's 12 and match
        wanted = to_torch(np.zeros(tuple(variable.shape), np.float32)).shape
        if tuple(state[key].shape) != tuple(wanted):
            mis_shaped.append(f"{key} {tuple(state[key].shape)}")
            continue
        values[key] = transform(state[key].astype(np.float32))
    shape = np.shape(state.get("tail.tail_k3.weight_v", ()))
    other = other_scale(shape[0], model) if shape else None
    if mis_shaped and other and all(k.startswith("tail.") for k in mis_shaped):
        raise MaffsrnError(
            f"checkpoint is an x{other} model's, and {model.name} is x{model.scale}: load it "
            f"into an x{other} model (scale={other})"
        )
    if mis_shaped:
        problems.append(
            f"mis-shaped keys (checkpoint shape; model {model.name}, scale x{model.scale}, "
            f"{model.n_ffgs} FFGs): {_some(mis_shaped)}"
        )
    if problems:
        raise MaffsrnError(
            "checkpoint does not match the model: "
            + "; ".join(problems)
            + ". Check the preset and scale (MAFFSRN has 4 FFGs, MAFFSRN-L 8)."
        )
    for key, (variable, _, _) in entries.items():
        variable.assign(values[key])
    return model


def pytorch_state_dict(model):
    """``model``'s weights as the official state dict: ``{key: float32 NumPy array}``, in
    the official module order."""
    return {
        key: np.ascontiguousarray(to_torch(np.asarray(variable.numpy(), np.float32)))
        for key, (variable, _, to_torch) in torch_name_map(model).items()
    }


def write_safetensors(path, tensors):
    """A ``.safetensors`` file of float32 arrays, written with NumPy alone."""
    header, offset = {}, 0
    for key, value in tensors.items():
        size = value.size * 4
        header[key] = {
            "dtype": "F32",
            "shape": list(value.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the format aligns the data to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for value in tensors.values():
            f.write(np.ascontiguousarray(value, "<f4").tobytes())


def read_safetensors(path):
    """Read a float32 ``.safetensors`` file into NumPy arrays; ``MaffsrnError`` for a file
    that is not one (its header is checked against the file's size before any read)."""
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > size - 8:
                raise ValueError(f"header of {length:,} bytes in a file of {size:,}")
            header = json.loads(f.read(length))
            data = f.read()
        out = {}
        for key, info in header.items():
            if key == "__metadata__":
                continue
            if info["dtype"] != "F32":
                raise MaffsrnError(f"{path}: {key} is {info['dtype']}; only float32 files are read")
            start, end = info["data_offsets"]
            count = int(np.prod(info["shape"], dtype=np.int64))
            if not 0 <= start <= end <= len(data) or end - start != 4 * count:
                raise ValueError(f"{key}: offsets {start}..{end} do not fit its shape")
            out[key] = np.frombuffer(data[start:end], "<f4").reshape(info["shape"]).copy()
    except (struct.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        if isinstance(err, MaffsrnError):
            raise
        raise MaffsrnError(f"{path} is not a readable .safetensors file ({err})") from None
    return out


def _refuse_existing(output, overwrite):
    """``OutputExists`` for an ``output`` that exists, unless ``overwrite``."""
    if not overwrite and os.path.lexists(output):
        raise OutputExists(f"output={output!r} exists: pass overwrite=True to replace it")


def export_pytorch(model, output, overwrite=False):
    """Write ``model``'s weights as the official state dict: ``.pt`` (needs PyTorch) or
    ``.safetensors`` (NumPy only). An existing ``output`` is replaced only with
    ``overwrite=True`` (``OutputExists``, also when another process writes it meanwhile)."""
    output = os.fspath(output)
    if not (output.endswith(".pt") or output.endswith(".safetensors")):
        raise MaffsrnError(f"output={output!r} must end in .pt or .safetensors")
    _refuse_existing(output, overwrite)
    state = pytorch_state_dict(model)
    with atomic_output(output, overwrite) as tmp:
        if output.endswith(".safetensors"):
            write_safetensors(tmp, state)
        else:
            try:
                import torch
            except ImportError as err:
                raise ImportError(
                    "writing .pt needs PyTorch: pip install 'maffsrn_tf[torch]' "
                    "(or write .safetensors, which needs nothing more)"
                ) from err
            from collections import OrderedDict

            torch.save(OrderedDict((k, torch.from_numpy(v)) for k, v in state.items()), tmp)
    return output


def convert_checkpoint(checkpoint, preset, output, overwrite=False):
    """Convert ``checkpoint`` to Keras weights (``.weights.h5``) or a ``.keras`` model. An
    existing ``output`` is replaced only with ``overwrite=True`` (``OutputExists``)."""
    from maffsrn_tf.model.maffsrn import build_model

    output = os.fspath(output)
    if not (output.endswith(".weights.h5") or output.endswith(".keras")):
        raise MaffsrnError(
            f"output={output!r} must end in .weights.h5 or .keras (a checkpoint converts to "
            "Keras weights; to='pytorch' writes .pt or .safetensors from weights=FILE)"
        )
    _refuse_existing(output, overwrite)
    model = load_pytorch_weights(build_model(preset), checkpoint)
    with atomic_output(output, overwrite) as tmp:
        if output.endswith(".keras"):
            model.save(tmp)
        else:
            model.save_weights(tmp)
    return output
