"""Parameters and multiply-accumulates (MACs) of a MAFFSRN model at a given input size.

MACs are counted from the traced TensorFlow graph: every ``Conv2D`` and
``DepthwiseConv2dNative`` op contributes ``output elements x kernel taps x input channels``
(x taps only for depthwise). Biases, activations and element-wise products are not counted,
as in the usual SR FLOPs tables. The fixed bicubic skip (a PyTorch ``interpolate`` call in
the official model, not a convolution there) is reported separately.
"""

import numpy as np
import tensorflow as tf


def _conv_macs(op):
    out = op.outputs[0].shape.as_list()
    kernel = op.inputs[1].shape.as_list()
    if None in out or None in kernel:
        raise ValueError(f"op {op.name} has unknown shape; profile needs a fixed input size")
    if op.type == "Conv2D":
        return int(np.prod(out)) * kernel[0] * kernel[1] * kernel[2]
    return int(np.prod(out)) * kernel[0] * kernel[1]  # depthwise: one input channel per output


def profile(model, height, width):
    """Return ``{"params", "macs", "macs_skip", "per_layer"}`` for one ``height x width`` input.

    ``macs`` are the model's own (learned) convolutions, comparable with the official
    model's numbers; ``macs_skip`` is the fixed bicubic-skip convolution on top of them.
    """
    fn = tf.function(lambda x: model(x, training=False))
    graph = fn.get_concrete_function(tf.TensorSpec([1, height, width, 3], tf.float32)).graph
    per_layer = {}
    macs = skip = 0
    for op in graph.get_operations():
        if op.type not in ("Conv2D", "DepthwiseConv2dNative"):
            continue
        n = _conv_macs(op)
        if "upsample" in op.name:
            skip += n
            continue
        macs += n
        scope = op.name.rsplit("/", 1)[0]
        per_layer[scope] = per_layer.get(scope, 0) + n
    return {"params": model.count_params(), "macs": macs, "macs_skip": skip, "per_layer": per_layer}
