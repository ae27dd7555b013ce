"""The optimizers MAFFSRN trains with: AdamP (Heo et al., ICLR 2021) and Adam, each with a
warmed-up moving average of the weights, the step-decay learning-rate schedule, and the
moving average swapped into the model for validation (``averaged_weights``).

AdamP is Adam whose update, for scale-invariant weights, has its radial component removed:
when the gradient is nearly orthogonal to a weight (cosine below ``delta / sqrt(dim)``), the
update is projected onto the tangent space, per output channel first, else for the whole
tensor, and AdamP's own weight decay is scaled by ``wd_ratio``. As in the reference
implementation (``adamp==0.3.0``) every tensor of more than one dimension is a candidate.

Keras layouts differ from PyTorch's, so the per-channel axis is the *output* channel: the last
axis of a conv or dense kernel by default. Where it sits elsewhere is declared in one place,
``channel_axes(model)``, which AdamP takes as ``channel_axes`` (a depthwise kernel: 2; a
weight-norm gain ``g`` stored as ``(O,)``: 0, which makes it behave like PyTorch's
``(O,1,1,1)`` gain).
"""

import contextlib
import math

import keras
from keras import ops

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.model.convolutions import WeightNormConv2D
from maffsrn_tf.train.keras_compat import sublayers


def channel_axes(model):
    """``{variable.path: axis}`` for the variables whose output channel is not their last
    axis (AdamP's ``channel_axes``): depthwise kernels ``(kh, kw, C, 1)`` and the ``(O,)``
    gains of weight-normed convolutions."""
    axes = {}
    for layer in sublayers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            axes[layer.kernel.path] = 2
        elif isinstance(layer, WeightNormConv2D):
            axes[layer.g.path] = 0
    return axes


@keras.saving.register_keras_serializable(package="maffsrn_tf")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial * factor ** floor(step / decay_steps)`` (the paper: x0.5 every 200 epochs).

    ``max_decays`` limits the number of halvings (the official script's default halves once).
    """

    def __init__(self, initial_learning_rate, decay_steps, factor=0.5, max_decays=None):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.factor = factor
        self.max_decays = max_decays

    def __call__(self, step):
        n = ops.floor(ops.cast(step, "float32") / float(self.decay_steps))
        if self.max_decays is not None:
            n = ops.minimum(n, float(self.max_decays))
        return self.initial_learning_rate * ops.power(float(self.factor), n)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "factor": self.factor,
            "max_decays": self.max_decays,
        }


def make_optimizer(name, schedule, beta_1=0.9, beta_2=0.999, ema_momentum=0.0, axes=None):
    """AdamP (``axes``: its ``channel_axes``) or Adam; ``ema_momentum`` > 0 also keeps an
    exponential moving average of the weights in the optimizer (saved with it in backups,
    warmed up as in ``WarmupAverage``), which validation, the best checkpoint and the final
    weights use (``averaged_weights``)."""
    kwargs = dict(learning_rate=schedule, beta_1=beta_1, beta_2=beta_2)
    if ema_momentum:
        if not 0.0 < ema_momentum < 1.0:
            raise MaffsrnError(f"ema_momentum={ema_momentum} is not in (0, 1)")
        # never copied into the model during training: the model keeps training the raw weights
        kwargs.update(use_ema=True, ema_momentum=ema_momentum, ema_overwrite_frequency=None)
    if name == "adamp":
        return AdamP(channel_axes=axes, **kwargs)
    if name == "adam":
        return Adam(**kwargs)
    raise MaffsrnError(f"optimizer={name!r} is not one of adamp, adam")


def ema_optimizer(model):
    """The model's optimizer when it keeps a moving average of the weights, else None."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # mixed precision's wrapper
    if optimizer is None or not getattr(optimizer, "use_ema", False):
        return None
    return optimizer


@contextlib.contextmanager
def averaged_weights(model):
    """Within the block the model holds the optimizer's moving average of its weights (when it
    keeps one), afterwards the raw weights again; without an average it changes nothing."""
    optimizer = ema_optimizer(model)
    if optimizer is None or not optimizer.built:
        yield model
        return
    variables = optimizer._trainable_variables
    raw = [keras.ops.convert_to_numpy(v) for v in variables]
    for v, average in zip(variables, optimizer._model_variables_moving_average):
        v.assign(average)
    try:
        yield model
    finally:
        for v, value in zip(variables, raw):
            v.assign(value)


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

    ``channel_axes``: ``{variable.path: axis}`` for variables whose output channel is not the
    last axis (``channel_axes(model)``); every other variable of more than one dimension
    projects along its last axis.

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
        channel_axes=None,
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
        self.channel_axes = dict(channel_axes or {})

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        self._channel_axes = []
        for var in var_list:
            axis = self.channel_axes.get(var.path)
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
            channel_axes=self.channel_axes,
        )
        return config
