"""AdamP (Heo et al., ICLR 2021) as a Keras 3 optimizer, as used to train MAFFSRN.

AdamP is Adam whose update, for scale-invariant weights, has its radial component removed:
when the gradient is nearly orthogonal to a weight (cosine below ``delta / sqrt(dim)``), the
update is projected onto the tangent space, per output channel first, else for the whole
tensor, and AdamP's own weight decay is scaled by ``wd_ratio``. As in the reference
implementation (``adamp==0.3.0``) every tensor of more than one dimension is a candidate.

Keras layouts differ from PyTorch's, so the per-channel axis is the *output* channel: the last
axis of a conv or dense kernel by default. Layers whose output channel sits elsewhere tag the
variable with ``adamp_channel_axis`` (a depthwise kernel: 2; a weight-norm gain ``g`` stored as
``(O,)``: 0, which makes it behave like PyTorch's ``(O,1,1,1)`` gain).
"""

import math

import keras
from keras import ops


def tag_channel_axis(variable, axis):
    """Mark ``variable``'s output-channel axis for AdamP's projection."""
    variable.adamp_channel_axis = axis
    return variable


class WarmupAverage:
    """Optimizer mixin: the moving average of the weights (``use_ema``) warms up.

    Keras' average uses ``ema_momentum`` from the second step on, so a run that starts from
    far-off weights (a fine-tune's fresh tail) drags them along for many thousand steps:
    0.999 still weighs the first step by 0.61 after 500. Here step ``t`` uses
    ``min(ema_momentum, t / (t + 10))``, the warm-up of timm's ``ModelEmaV3``: the average
    spans about the last tenth of the run until it reaches ``ema_momentum``.
    """

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        t = ops.cast(self.iterations, "float32")
        momentum = ops.minimum(self.ema_momentum, t / (t + 10.0))
        for var, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                m = ops.cast(momentum, var.dtype)
                average.assign(m * average + (1 - m) * var)


@keras.saving.register_keras_serializable(package="maffsrn_tf")
class Adam(WarmupAverage, keras.optimizers.Adam):
    """Keras' Adam with the warmed-up moving average of ``WarmupAverage``."""


@keras.saving.register_keras_serializable(package="maffsrn_tf")
class AdamP(WarmupAverage, keras.optimizers.Optimizer):
    """AdamP with the reference's defaults; ``weight_decay`` is AdamP's own (decoupled) decay.

    Written in ``keras.ops`` only (static variable shapes, no data-dependent Python branches),
    so it runs under the TensorFlow, JAX and PyTorch backends alike.
    """

    def __init__(
        self,
        learning_rate=2e-4,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        delta=0.1,
        wd_ratio=0.1,
        nesterov=False,
        name="adamp",
        **kwargs,
    ):
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.adamp_weight_decay = weight_decay
        self.delta = delta
        self.wd_ratio = wd_ratio
        self.nesterov = nesterov

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        self._channel_axes = []
        for var in var_list:
            axis = getattr(var, "adamp_channel_axis", None)
            if axis is None and len(var.shape) > 1:
                axis = len(var.shape) - 1
            self._channel_axes.append(axis)

    @staticmethod
    def _views(x, axis, shape):
        """``x`` as (channels, -1) and as (1, -1), like the reference's channel/layer views."""
        return ops.reshape(ops.moveaxis(x, axis, 0), (shape[axis], -1)), ops.reshape(x, (1, -1))

    def _projection(self, param, grad, perturb, axis):
        """Projected perturbation and the weight-decay factor (``wd_ratio`` or 1)."""
        eps = self.epsilon
        shape = tuple(param.shape)
        moved_shape = (shape[axis], *(n for i, n in enumerate(shape) if i != axis))
        views = zip(*(self._views(t, axis, shape) for t in (param, grad, perturb)))
        result, factor = perturb, ops.cast(1.0, param.dtype)
        done = ops.convert_to_tensor(False)
        for view, (p, g, u) in enumerate(views):
            p_norm = ops.sqrt(ops.sum(ops.square(p), axis=1, keepdims=True))
            g_norm = ops.sqrt(ops.sum(ops.square(g), axis=1, keepdims=True))
            unit_p = p / ops.maximum(p_norm, eps)
            unit_g = g / ops.maximum(g_norm, eps)
            cos = ops.abs(ops.sum(unit_p * unit_g, axis=1))
            threshold = self.delta / math.sqrt(p.shape[1])
            fire = ops.logical_and(ops.logical_not(done), ops.max(cos) < threshold)
            p_n = p / (p_norm + eps)
            projected = u - p_n * ops.sum(p_n * u, axis=1, keepdims=True)
            if view == 0:  # channel view: back from (C, -1) to the variable's layout
                projected = ops.moveaxis(ops.reshape(projected, moved_shape), 0, axis)
            else:
                projected = ops.reshape(projected, shape)
            result = ops.where(fire, projected, result)
            factor = ops.where(fire, ops.cast(self.wd_ratio, param.dtype), factor)
            done = ops.logical_or(done, fire)
        return result, factor

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        axis = self._channel_axes[index]
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        grad = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        bias1 = 1 - ops.power(ops.cast(self.beta_1, dtype), step)
        bias2 = 1 - ops.power(ops.cast(self.beta_2, dtype), step)
        self.assign(m, self.beta_1 * m + (1 - self.beta_1) * grad)
        self.assign(v, self.beta_2 * v + (1 - self.beta_2) * ops.square(grad))
        m_t, v_t = ops.copy(m), ops.copy(v)  # tensors (a variable has no .ndim under TF)
        denom = ops.sqrt(v_t) / ops.sqrt(bias2) + self.epsilon
        step_size = lr / bias1
        if self.nesterov:
            perturb = (self.beta_1 * m_t + (1 - self.beta_1) * grad) / denom
        else:
            perturb = m_t / denom
        param = ops.copy(variable)
        factor = ops.cast(1.0, dtype)
        if axis is not None:
            perturb, factor = self._projection(param, grad, perturb, axis)
        if self.adamp_weight_decay > 0:
            param = param * (1 - lr * self.adamp_weight_decay * factor)
        self.assign(variable, param - step_size * perturb)

    def get_config(self):
        config = super().get_config()
        config.update(
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            weight_decay=self.adamp_weight_decay,
            delta=self.delta,
            wd_ratio=self.wd_ratio,
            nesterov=self.nesterov,
        )
        return config
