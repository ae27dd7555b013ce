"""Atomic file and folder output: a temporary name beside the target, renamed on success,
so a crash or an error never leaves a half-written output; and the clean-up of temporaries a
killed process left behind."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside ``path`` (same suffix); rename it to ``path`` on success.

    On any error the temporary file is removed and ``path`` is left untouched, so a crash
    never leaves a half-written output.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"output directory does not exist: {directory}")
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"output directory is not writable: {directory}")
    base = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix="-" + base, dir=directory)
    os.close(fd)
    os.unlink(tmp)  # writers (Keras, Pillow) create the file themselves
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # on disk before the rename: a crash never leaves junk
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


TEMPORARY_PREFIX = ".tmp-"
STALE_SECONDS = 15 * 60


@contextlib.contextmanager
def atomic_folder(path):
    """``atomic_output`` for a folder: yield a temporary folder beside ``path`` (with the
    permissions of any new folder, not ``mkdtemp``'s private 0700); on success it becomes
    ``path``, an existing ``path`` being removed only once the new one is in place. On any
    error the temporary folder is removed and ``path`` is left untouched."""
    import shutil

    path = os.path.normpath(os.fspath(path))
    parent = os.path.dirname(os.path.abspath(path))
    tmp = tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
        old = None
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=parent)
            os.rename(path, os.path.join(old, "previous"))
        os.rename(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temporaries(directory, older_than=STALE_SECONDS):
    """Remove the temporary files ``atomic_output`` (and the writability probes) left in
    ``directory`` when a process was killed mid-write: ours by their name, and stale (not
    modified for ``older_than`` seconds, so another run's file in progress is left alone).
    Returns the names removed."""
    import time

    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        if not name.startswith(TEMPORARY_PREFIX):
            continue
        path = os.path.join(directory, name)
        try:
            if os.path.isfile(path) and now - os.path.getmtime(path) > older_than:
                os.unlink(path)
                removed.append(name)
        except OSError:
            continue
    return removed
