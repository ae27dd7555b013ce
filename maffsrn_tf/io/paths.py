"""Paths compared as the file system sees them: the one test of "is this path that one, or
inside it" behind every refusal of an output that would land on, or in, an input."""

import os


def within(path, folder):
    """Whether ``path`` is ``folder`` or lies inside it, by real paths: links followed,
    ``..`` and ``.`` resolved, however either is spelled (``"$PWD/in"`` and ``in/``)."""
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)
