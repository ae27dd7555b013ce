"""Names a package exports without importing them until first use.

A wing whose modules need TensorFlow or Keras lists them here, so importing the wing (or
one of its light modules) on the runtime install, or before a command line has checked its
flags, imports neither.
"""

import importlib

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.native_logs import filtered, start_tensorflow

TENSORFLOW_INSTALL = 'pip install "maffsrn_tf[tensorflow]"'


class _MissingClass(type):
    """The kind of a class's stand-in on an install without Keras: calling it or reading one
    of its public attributes (``MAFFSRN.from_preset``) raises ``_message``; private ones
    (``__wrapped__``, which introspection probes) are plainly absent."""

    def __call__(cls, *args, **kwargs):
        raise MaffsrnError(cls._message)

    def __getattr__(cls, attribute):
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        raise MaffsrnError(cls._message)


def _needs_tensorflow(name):
    """What a name that needs Keras is on an install without it: a callable that says so
    (a class, for a class's name: its attributes say so too)."""
    message = f"{name} needs TensorFlow and Keras: {TENSORFLOW_INSTALL}"
    if name[:1].isupper():
        return _MissingClass(name, (), {"_message": message, "__module__": __name__})

    def missing(*args, **kwargs):
        raise MaffsrnError(message)

    missing.__name__ = missing.__qualname__ = name
    return missing


def lazy_names(package, names):
    """``(__getattr__, __dir__)`` for ``package``: each of ``names`` (``{name: module}``) is
    imported from its module on first access, then kept in the package's namespace. On the
    light install (no TensorFlow/Keras), a name that needs them is a callable raising
    ``MaffsrnError`` with the install command, not a ``ModuleNotFoundError`` traceback."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            with filtered():  # TensorFlow's start-up lines: not the user's
                module = importlib.import_module(names[name])
                start_tensorflow()
        except ModuleNotFoundError as err:
            if (err.name or "").split(".")[0] in ("keras", "tensorflow"):
                return _needs_tensorflow(name)
            raise
        value = getattr(module, name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted({*namespace, *names})

    return __getattr__, __dir__
