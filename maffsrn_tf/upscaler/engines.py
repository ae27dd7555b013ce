"""The engines a MAFFSRN runs on for inference, and the one factory that makes them.

An engine is a callable from a float32 ``1 x H x W x 3`` array in [0, 1] to the model's
output, with ``scale`` and ``fixed_size`` (a fixed-shape TFLite model's input size, else
None). ``KerasEngine`` runs a Keras model (on whichever Keras backend is active),
``TFLiteEngine`` a ``.tflite`` file with ai-edge-litert (no TensorFlow import). Every command
line, tool and benchmark gets its engine from ``make_engine``.
"""

import os
import platform
import sys

import numpy as np

from maffsrn_tf.errors import MaffsrnError, first_line, reraise_signal
from maffsrn_tf.io.paths import not_a_file
from maffsrn_tf.native_logs import filtered, start_tensorflow

# more threads than any machine has cores (tens of thousands crash LiteRT)
MAX_THREADS = 256


def default_num_threads():
    """The CPUs this process may use (its affinity where the OS has one, as in a container
    or under ``taskset``; else all of them), at most ``MAX_THREADS``."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        count = os.cpu_count() or 1
    return max(1, min(count, MAX_THREADS))


# (sys.platform, platform.machine()) where ai-edge-litert 2.x publishes wheels: setup.py's
# marker (LITERT_PLATFORMS) says the same, tests/contracts/test_platforms.py holds them equal
LITERT_WHEELS = {
    ("linux", "x86_64"),
    ("linux", "aarch64"),
    ("darwin", "arm64"),
    ("win32", "AMD64"),
    ("win32", "x86_64"),
}
LITERT_WHEEL_WORDS = "Linux x86-64/aarch64, macOS arm64, Windows x86-64"
PLATFORMS_DOC = "docs/platforms.md"


def missing_runtime_message(system=None, machine=None):
    """What to do when ai-edge-litert cannot be imported, for this platform (``system``:
    ``sys.platform``, ``machine``: ``platform.machine()``): where LiteRT has a wheel, install
    it; on an Intel Mac (no LiteRT 2.x, and no TensorFlow 2.21 either) the last LiteRT wheel
    or Keras on JAX; elsewhere Keras on TensorFlow."""
    system = system or sys.platform
    machine = machine or platform.machine()
    start = "running .tflite models needs the LiteRT runtime"
    if (system, machine) in LITERT_WHEELS:
        return (
            f'{start} (pip install "ai-edge-litert>=2.3,<3"), or TensorFlow '
            "(pip install \"maffsrn_tf[tensorflow]\") and backend='keras'"
        )
    where = {"darwin": "macOS", "win32": "Windows", "linux": "Linux"}.get(system, system)
    if system == "darwin" and machine == "x86_64":
        return (
            f"{start} (ai-edge-litert), which has no 2.x wheel for {where} x86_64 (Intel), "
            'nor has TensorFlow 2.21: on Python 3.10/3.11 pip install "ai-edge-litert==1.0.1" '
            '"numpy<2"; on 3.11+ run Keras on JAX: pip install keras "jax[cpu]==0.4.38", '
            f"then KERAS_BACKEND=jax and backend='keras' ({PLATFORMS_DOC})"
        )
    return (
        f"{start} (ai-edge-litert), which has no wheel for {where} {machine or '?'} (only "
        f"{LITERT_WHEEL_WORDS}): run Keras instead (pip install "
        f"\"maffsrn_tf[tensorflow]\" where TensorFlow has a wheel) with backend='keras' "
        f"({PLATFORMS_DOC})"
    )


# LiteRT opens a model_path with the C library's narrow-character calls; on Windows those
# read the UTF-8 bytes of a path in the ANSI code page, as in many C++ libraries, so a path
# outside ASCII (a user folder named José) may not be found: such a model is passed as bytes
NARROW_PATHS = os.name == "nt"


def _model_source(path):
    """``Interpreter``'s keyword for ``path``: ``model_path``, or the file's bytes as
    ``model_content`` where ``NARROW_PATHS`` cannot name it."""
    if NARROW_PATHS and not os.fspath(path).isascii():
        with open(path, "rb") as f:
            return {"model_content": f.read()}
    return {"model_path": path}


class KerasEngine:
    """Runs a Keras MAFFSRN on float32 ``1 x H x W x 3`` arrays: under TensorFlow as one
    ``tf.function`` traced once for all sizes, under other Keras backends (or with
    ``trace=False``) by calling the model."""

    def __init__(self, model, trace=True):
        try:
            import keras
        except ImportError:
            raise MaffsrnError(
                'the Keras backend needs TensorFlow: pip install "maffsrn_tf[tensorflow]"'
            ) from None

        self.model = model
        self.scale = int(model.scale)
        self.fixed_size = None
        self._fn = None
        if trace and keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # here: the TFLite path never imports TensorFlow

            self._fn = tf.function(
                lambda x: model(x, training=False),
                input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)],
            )

    def __call__(self, x):
        import keras

        x = np.asarray(x, np.float32)
        y = self._fn(x) if self._fn is not None else self.model(x, training=False)
        return np.asarray(keras.ops.convert_to_numpy(y))


class TFLiteEngine:
    """Runs a ``.tflite`` MAFFSRN with ai-edge-litert (dynamic shape resized per input)."""

    def __init__(self, path, num_threads=None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as err:
            reraise_signal(err)  # Ctrl-C during the import is not a missing runtime
            raise MaffsrnError(missing_runtime_message()) from None

        with filtered():  # LiteRT's XNNPACK INFO line: not the user's
            self._load(Interpreter, path, num_threads)

    def _load(self, interpreter, path, num_threads):
        try:
            self.interpreter = interpreter(
                **_model_source(path), num_threads=num_threads or default_num_threads()
            )
        except (ValueError, RuntimeError, OSError) as err:
            first = first_line(err, 200)
            raise MaffsrnError(f"cannot load {path} as a TFLite model ({first})") from None
        self.input = self.interpreter.get_input_details()[0]
        shape, signature = self.input["shape"], self.input["shape_signature"]
        self.fixed_size = None if -1 in signature[1:3] else (int(shape[1]), int(shape[2]))
        if self.fixed_size is None:  # the 1x1 placeholder is below the model's minimum size
            self.interpreter.resize_tensor_input(self.input["index"], [1, 16, 16, 3], strict=False)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._shape = tuple(self.input["shape"])
        # the output's size is only known after a run (it depends on a SHAPE op)
        probe = np.zeros(self._shape, np.float32)
        self.scale = int(self(probe).shape[1] // self._shape[1])

    def __call__(self, x):
        """float32 in [0, 1] in and out, whatever the model's I/O types (uint8 I/O is mapped
        through the tensors' quantization parameters)."""
        x = np.asarray(x, np.float32)
        if tuple(x.shape) != self._shape:
            if self.fixed_size:
                raise MaffsrnError(
                    f"this TFLite model takes {self.fixed_size[0]}x{self.fixed_size[1]} inputs only"
                )
            self.interpreter.resize_tensor_input(self.input["index"], x.shape, strict=False)
            self.interpreter.allocate_tensors()
            self.output = self.interpreter.get_output_details()[0]
            self._shape = tuple(x.shape)
        dtype = self.input["dtype"]
        if dtype != np.float32:
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])
        if y.dtype != np.float32:
            scale, zero = self.output["quantization"]
            y = (y.astype(np.float32) - zero) * np.float32(scale)
        return y


def make_engine(options, preset=None, scale=None):
    """The engine ``options`` (an ``UpscaleOptions``) ask for: its ``model`` (a Keras model,
    a weights/``.keras``/``.tflite`` path, or None for the shipped model) on its ``runtime``.

    ``auto`` runs TFLite for the shipped weights and ``.tflite`` files (no TensorFlow import;
    float16 TFLite is as accurate as Keras and faster, docs/benchmarks.md) and Keras for
    Keras models and weights files. ``variant`` picks the shipped TFLite file: ``float16`` or
    ``int8`` (faster, a measured drop; tflite/REPORT.md). ``preset``: the architecture a
    weights file is loaded into (default ``maffsrn_x{scale}``). ``scale``: the model's scale
    where the options set an output size instead (``UpscaleOptions.plan``).
    """
    scale, model, runtime = scale or options.scale, options.model, options.runtime
    is_tflite = isinstance(model, str) and model.lower().endswith(".tflite")
    if runtime == "auto":
        runtime = "tflite" if (model is None and preset is None) or is_tflite else "keras"
    elif runtime == "keras" and is_tflite:
        raise MaffsrnError(f"{model} is a TFLite model: use backend='tflite'")
    if runtime == "tflite":
        if model is not None and not is_tflite:
            raise MaffsrnError(
                "backend='tflite' runs .tflite files; pass one as model, or use backend='keras'"
            )
    if isinstance(model, str) and not_a_file(model):
        raise MaffsrnError(f"model {model}: {not_a_file(model).replace('a file', 'a model file')}")
    if runtime == "tflite":
        if model is None:
            from maffsrn_tf.model.shipped import tflite_path

            model = tflite_path(scale, options.variant)
        engine = TFLiteEngine(model, options.num_threads)
    else:
        with filtered():  # TensorFlow's start-up lines, at its import and first model
            if model is None or isinstance(model, str):
                try:
                    from maffsrn_tf.pretrained.loading import load_model_for
                except ImportError as err:
                    reraise_signal(err)
                    raise MaffsrnError(
                        "Keras weights run on the Keras backend, which needs TensorFlow: "
                        'pip install "maffsrn_tf[tensorflow]"'
                    ) from None
                start_tensorflow()
                model = load_model_for(scale, model, preset)
            engine = KerasEngine(model)
    if engine.scale is not None and engine.scale != scale:
        wanted = f"scale={scale}" if options.scale else f"x{scale} for the output size asked"
        other = f", or scale={engine.scale}" if options.scale else ""
        raise MaffsrnError(
            f"the model upscales x{engine.scale}, but {wanted}: give a x{scale} model{other}"
        )
    return engine
