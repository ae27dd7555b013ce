"""Names a package exports without importing them until first use.

A wing whose modules need TensorFlow or Keras lists them here, so importing the wing (or
one of its light modules) on the runtime install, or before a command line has checked its
flags, imports neither.
"""

import importlib


def lazy_names(package, names):
    """``(__getattr__, __dir__)`` for ``package``: each of ``names`` (``{name: module}``) is
    imported from its module on first access, then kept in the package's namespace."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted({*namespace, *names})

    return __getattr__, __dir__
