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

import keras
import tensorflow as tf


def tag_channel_axis(variable, axis):
    """Mark ``variable``'s output-channel axis for AdamP's projection."""
    variable.adamp_channel_axis = axis
    return variable


@keras.saving.register_keras_serializable(package="maffsrn_tf")
class AdamP(keras.optimizers.Optimizer):
    """AdamP with the reference's defaults; ``weight_decay`` is AdamP's own (decoupled) decay."""

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
    def _views(x, axis):
        """``x`` as (channels, -1) and as (1, -1), like the reference's channel/layer views."""
        moved = tf.reshape(tf.experimental.numpy.moveaxis(x, axis, 0), [tf.shape(x)[axis], -1])
        return moved, tf.reshape(x, [1, -1])

    def _projection(self, param, grad, perturb, axis):
        """Projected perturbation and the weight-decay factor (``wd_ratio`` or 1)."""
        eps = self.epsilon
        p_views = self._views(param, axis)
        g_views = self._views(grad, axis)
        u_views = self._views(perturb, axis)
        result, factor = perturb, tf.constant(1.0, param.dtype)
        done = tf.constant(False)
        moved_shape = tf.shape(tf.experimental.numpy.moveaxis(param, axis, 0))
        for view, (p, g, u) in enumerate(zip(p_views, g_views, u_views)):
            p_norm = tf.norm(p, axis=1, keepdims=True)
            g_norm = tf.norm(g, axis=1, keepdims=True)
            cos = tf.abs(
                tf.reduce_sum((p / tf.maximum(p_norm, eps)) * (g / tf.maximum(g_norm, eps)), axis=1)
            )
            dim = tf.cast(tf.shape(p)[1], param.dtype)
            fire = tf.logical_and(
                tf.logical_not(done), tf.reduce_max(cos) < self.delta / tf.sqrt(dim)
            )
            p_n = p / (p_norm + eps)
            projected = u - p_n * tf.reduce_sum(p_n * u, axis=1, keepdims=True)
            if view == 0:  # channel view: back from (C, -1) to the variable's layout
                projected = tf.reshape(projected, moved_shape)
                projected = tf.experimental.numpy.moveaxis(projected, 0, axis)
            else:
                projected = tf.reshape(projected, tf.shape(param))
            result = tf.where(fire, projected, result)
            factor = tf.where(fire, tf.constant(self.wd_ratio, param.dtype), factor)
            done = tf.logical_or(done, fire)
        return result, factor

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        axis = self._channel_axes[index]
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        grad = tf.cast(gradient, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        bias1 = 1 - tf.pow(tf.cast(self.beta_1, dtype), step)
        bias2 = 1 - tf.pow(tf.cast(self.beta_2, dtype), step)
        self.assign(m, self.beta_1 * m + (1 - self.beta_1) * grad)
        self.assign(v, self.beta_2 * v + (1 - self.beta_2) * tf.square(grad))
        m_t, v_t = tf.convert_to_tensor(m), tf.convert_to_tensor(v)
        denom = tf.sqrt(v_t) / tf.sqrt(bias2) + self.epsilon
        step_size = lr / bias1
        if self.nesterov:
            perturb = (self.beta_1 * m_t + (1 - self.beta_1) * grad) / denom
        else:
            perturb = m_t / denom
        param = tf.convert_to_tensor(variable)
        factor = tf.constant(1.0, dtype)
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
