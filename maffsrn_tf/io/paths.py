"""Paths compared as the file system sees them: the one test of "is this path that one, or
inside it" behind every refusal of an output that would land on, or in, an input."""

import contextlib
import errno
import os


def within(path, folder):
    """Whether ``path`` is ``folder`` or lies inside it, by real paths: links followed,
    ``..`` and ``.`` resolved, however either is spelled (``"$PWD/in"`` and ``in/``)."""
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


# the package's own folder: its shipped weights, model cards and samples
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package_file(path):
    """Whether ``path`` lies in the installed package (its shipped files: never an output;
    ``maffsrn-upscale`` with no input reads its sample photo there)."""
    return within(path, PACKAGE_DIR)


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


def not_found(what, path, folder=None):
    """The line for ``path``, which is not there: ``"WHAT not found: PATH"``, or, when a
    trailing slash names a file as a folder (``photo.png/``), that the file is one: ``WHAT
    must be a folder`` (``folder=True``), else drop the slash."""
    text = os.fsdecode(path)
    bare = text.rstrip("/" + os.sep)
    if bare != text and bare and os.path.isfile(bare):
        if folder:
            return f"{what} must be a folder: {bare} is a file"
        return (
            f"{what} {text} ends in a slash, which names a folder, but {bare} is a file: "
            "drop the slash"
        )
    return f"{what} not found: {text}"


def unreadable_entry(path):
    """Why ``path``, an entry that is there, cannot be opened, in a few words: ``"a link
    loop"``, ``"a broken link to X"``, ``"its path is longer than the system allows"``,
    ``"... (strerror)"``; ``""`` when ``os.stat`` reads it."""
    try:
        os.stat(path)
        return ""
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a link loop"
        if err.errno == errno.ENAMETOOLONG:
            return "its path is longer than the system allows"
        if err.errno == errno.ENOENT and os.path.islink(path):
            try:
                return f"a broken link to {os.readlink(path)}"
            except OSError:
                return "a broken link"
        return f"it cannot be read ({err.strerror})"


def same_file_among(path, candidates):
    """The first of ``candidates`` that is the file at ``path`` by device and inode (a hard
    link, which no path comparison finds), or ``""``; nothing when ``path`` is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    for candidate in candidates:
        try:
            other = os.stat(candidate)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            return candidate
    return ""


def not_a_file(path):
    """Why ``path`` is not a regular file to read, in a few words (``"not found"``, ``"a
    folder, not a file"``, ``"not a regular file (a pipe or a device)"``, ``"a link
    loop"``, ``"a broken link to X"``), or ``""`` when it is one."""
    if os.path.isfile(path):
        return ""
    if os.path.lexists(path) and not os.path.exists(path):
        return unreadable_entry(path)
    if not os.path.exists(path):
        return "not found"
    if os.path.isdir(path):
        return "a folder, not a file"
    return "not a regular file (a pipe or a device)"


@contextlib.contextmanager
def made_folders(folder, prune=False):
    """Around the work that writes into ``folder``: the folders of its path that did not
    exist before (``folder`` and missing ancestors) are removed again if they are still
    empty when the block ends, however it ends (a refusal, an error, Ctrl-C, SIGTERM), so a
    run that wrote nothing leaves nothing. Creating them is the block's job.

    ``prune``: also the folders made inside ``folder`` during the block (``folder/lr/key``
    of a cache), removed deepest first when they are still empty; a folder that existed
    before the block, or that holds anything, stays (links are not followed)."""
    missing, path = [], os.path.abspath(folder)
    while not os.path.exists(path) and path != os.path.dirname(path):
        missing.append(path)  # deepest first
        path = os.path.dirname(path)
    root = os.path.abspath(folder)
    before = _folders_under(root) if prune else set()
    _MADE.append(missing)
    try:
        yield missing
    finally:
        if prune:
            _prune(root, before)
        _remove_empty(missing)
        with contextlib.suppress(ValueError):
            _MADE.remove(missing)


# the folders made_folders blocks in progress made: a process ended at once (os._exit, after
# Ctrl-C where Python could not raise it) removes them with remove_made_folders
_MADE = []


def _remove_empty(missing):
    for path in missing:
        try:
            os.rmdir(path)  # only an empty folder goes
        except OSError:
            break


def remove_made_folders():
    """Remove the still-empty folders that ``made_folders`` blocks in progress made: for a
    process about to end without unwinding (``os._exit``), whose ``finally`` never runs."""
    for missing in reversed(_MADE):
        _remove_empty(missing)


def _folders_under(root):
    """The folders under ``root`` (itself included) as walked now, links not followed."""
    found = set()
    for path, _, _ in os.walk(root):  # nothing when root is missing or not a folder
        found.add(path)
    return found


def _prune(root, before):
    """Remove the empty folders under ``root`` that are not in ``before``, deepest first."""
    for path, _, _ in os.walk(root, topdown=False):
        if path in before or path == root:
            continue  # root itself: made_folders' own chain of missing folders
        try:
            os.rmdir(path)  # only an empty folder goes
        except OSError:
            pass


def dotdot_after_link(path):
    """The first symbolic link of ``path`` that a later ``..`` steps out of (``lnk`` in
    ``lnk/../y.png``), else ``""``: the system resolves ``..`` from the link's target, while
    ``os.path`` (and a reader) drops ``lnk/..`` as text, so the two name different files."""
    parts = os.fspath(path).replace(os.sep, "/").split("/")
    prefix = ""
    for i, part in enumerate(parts):
        prefix = part if i == 0 else f"{prefix}/{part}"
        if part not in ("", ".", "..") and os.path.islink(prefix) and ".." in parts[i + 1 :]:
            return prefix
    return ""


def default_cache_root():
    """Where training caches what it makes when no ``cache_dir`` is given
    (``~/.cache/maffsrn_tf``: ``lr/``, ``decoded/``), as ``HOME`` says now."""
    return os.path.join(os.path.expanduser("~"), ".cache", "maffsrn_tf")
