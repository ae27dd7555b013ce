"""Paths compared as the file system sees them: the one test of "is this path that one, or
inside it" behind every refusal of an output that would land on, or in, an input."""

import contextlib
import os


def within(path, folder):
    """Whether ``path`` is ``folder`` or lies inside it, by real paths: links followed,
    ``..`` and ``.`` resolved, however either is spelled (``"$PWD/in"`` and ``in/``)."""
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def name_too_long(path):
    """A sentence when the last part of ``path`` is longer than its file system allows
    (``NAME_MAX``, in bytes, of the nearest folder that exists; 255 where it cannot be
    asked), else ``""``: an output that could never be written, found before any work."""
    name = os.fsencode(os.path.basename(path.rstrip("/" + os.sep)))
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder) and folder != os.path.dirname(folder):
        folder = os.path.dirname(folder)
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # Windows: no pathconf
        limit = 255
    if len(name) <= limit:
        return ""
    return f"its name is {len(name)} bytes, longer than the {limit} its file system allows"


@contextlib.contextmanager
def made_folders(folder):
    """Around the work that writes into ``folder``: the folders of its path that did not
    exist before (``folder`` and missing ancestors) are removed again if they are still
    empty when the block ends, however it ends (a refusal, an error, Ctrl-C, SIGTERM), so a
    run that wrote nothing leaves nothing. Creating them is the block's job."""
    missing, path = [], os.path.abspath(folder)
    while not os.path.exists(path) and path != os.path.dirname(path):
        missing.append(path)  # deepest first
        path = os.path.dirname(path)
    try:
        yield missing
    finally:
        for path in missing:
            try:
                os.rmdir(path)  # only an empty folder goes
            except OSError:
                break
