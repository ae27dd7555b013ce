"""Atomic file and folder output: a temporary name beside the target, renamed on success,
so a crash or an error never leaves a half-written output; "no overwrite" that holds when
two processes write the same output at once; and the clean-up of temporaries a killed
process left behind (a temporary names its writer's machine and process: a dead writer's is
removed at once, a live one's, another machine's or container's, only when stale; on
Windows each only when stale)."""

import contextlib
import functools
import hashlib
import os
import re
import socket
import sys
import tempfile


class OutputExists(FileExistsError):
    """``atomic_output(path, overwrite=False)`` found ``path`` written in the meantime."""


class NotARegularFile(OutputExists):
    """The output path is a pipe, a device or a folder: never replaced, even with
    ``overwrite`` (``--overwrite`` on ``/dev/null`` would replace the device)."""


def not_a_regular_file(path):
    """Whether ``path`` exists and is something an output must not replace: a FIFO, a
    device, a socket, a folder (a link to a regular file is a regular file)."""
    return os.path.lexists(path) and os.path.exists(path) and not os.path.isfile(path)


@contextlib.contextmanager
def atomic_output(path, overwrite=True):
    """Yield a temporary path beside ``path`` (same suffix); rename it to ``path`` on success.

    On any error the temporary file is removed and ``path`` is left untouched, so a crash
    never leaves a half-written output. ``overwrite=False``: the finished file is linked in
    place only if ``path`` does not exist at that moment (``OutputExists`` otherwise), so of
    two writers of one new output exactly one succeeds.
    """
    path = os.fspath(path)
    if not_a_regular_file(path):
        raise NotARegularFile(f"{path} exists and is not a regular file: name another file")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"output directory does not exist: {directory}")
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"output directory is not writable: {directory}")
    base = os.path.basename(path)
    tmp = None
    try:  # from the temporary's creation on: a signal at any point leaves nothing behind
        fd, tmp = tempfile.mkstemp(
            prefix=own_prefix(), suffix=temporary_suffix(base), dir=directory
        )
        os.close(fd)
        os.unlink(tmp)  # writers (Keras, Pillow) create the file themselves
        yield tmp
        with open(tmp, "rb+") as f:  # on disk before the rename: a crash never leaves junk
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            link_new_file(tmp, path)
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


TEMPORARY_PREFIX = ".tmp-maffsrn-"
STALE_SECONDS = 15 * 60
# the names our writers give temporaries, exactly (tempfile's 8 random characters): what
# ``atomic_output`` writes (``.tmp-maffsrn-{machine}-p{pid}-XXXXXXXX-NAME``), the
# writability probes (``.tmp-maffsrn-probe-XXXXXXXX``) and Beam outputs
# (``.tmp-maffsrn-{32 hex}-NAME``); a user's own file (``.tmp-p1-abcd1234-a.png`` included)
# matches none of them and is never removed
OUR_TEMPORARY = re.compile(
    r"^\.tmp-maffsrn-(?:[0-9a-f]{8}-p\d+-[a-z0-9_]{8}-.|probe-[a-z0-9_]{8}$|[0-9a-f]{32}-.)",
    re.ASCII,  # \d: 0-9 only (not "١٢", which int() reads as 12)
)


NAME_MAX = 255  # bytes in one file name (Linux, macOS, Windows alike)


def temporary_suffix(name, prefix_bytes=40):
    """``-NAME``, the end of a temporary's name (writers pick the format by its extension),
    or only ``-.EXT`` where the whole name would make the temporary's too long for the file
    system (a 250-byte output name is legal; its temporary must be too)."""
    suffix = "-" + name
    if len(os.fsencode(suffix)) + prefix_bytes > NAME_MAX:
        suffix = "-" + os.path.splitext(name)[1][:16]
    return suffix


def probe_writable(directory):
    """Create and remove a probe file in ``directory``: ``OSError`` unless files can really be
    made there (permissions, read-only or pseudo file systems such as /proc), which
    ``os.access`` cannot tell. The probe has our temporaries' name pattern."""
    fd, probe = tempfile.mkstemp(prefix=TEMPORARY_PREFIX + "probe-", dir=directory)
    os.close(fd)
    os.unlink(probe)


def folder_problem(directory):
    """Why files cannot be written into ``directory`` once it is made, or None: a folder,
    or one whose nearest existing parent is a writable folder (probed). Nothing is created."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        return "it is a file, not a folder"
    parent = os.path.abspath(directory)
    while not os.path.exists(parent):
        if os.path.lexists(parent):  # a broken or looping link: no folder is made through it
            return f"it cannot be made: {parent} is a broken or looping link; remove it"
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"it cannot be made: {parent} is a file"
    try:
        probe_writable(parent)
    except OSError as err:
        return f"{parent} is not writable ({err.strerror})"
    return None


@functools.lru_cache(maxsize=1)
def _machine():
    """8 hex digits naming where this process's PIDs mean something: this boot of this
    machine and its PID namespace (a container). A temporary written elsewhere (another
    container, another host on a shared folder) is never judged by a PID of ours."""
    parts = [socket.gethostname()]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(os.readlink(source) if source.endswith("/pid") else open(source).read())
        except OSError:
            parts.append("")
    return hashlib.sha1("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:8]


def own_prefix():
    """``.tmp-maffsrn-{machine}-p{pid}-``: the start of the temporary names this process
    writes (its machine and PID: the next run removes them at once if it is gone)."""
    return f"{TEMPORARY_PREFIX}{_machine()}-p{os.getpid()}-"


def link_new_file(tmp, path):
    """Put ``tmp`` at ``path`` unless ``path`` exists: a hard link fails if it does, in one
    step (where links are not supported, an exclusive create claims the name first)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExists(f"output exists: {path}") from None
    except OSError:  # no hard links here (some FUSE and FAT file systems)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise OutputExists(f"output exists: {path}") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _writer_is_gone(name):
    """Whether a temporary's writer (``.tmp-maffsrn-{machine}-p{pid}-...``) is no longer
    running. Never for one written on another machine or in another PID namespace (its PID
    is not ours to probe), nor on Windows, where ``os.kill(pid, 0)`` is no probe (0 is
    ``CTRL_C_EVENT``: it sends Ctrl-C to that process group, pid 0 being everything on this
    console, this run included): those go once stale."""
    if sys.platform == "win32" or not name.startswith(TEMPORARY_PREFIX):
        return False
    machine, _, rest = name[len(TEMPORARY_PREFIX) :].partition("-")
    if machine != _machine() or not rest.startswith("p") or "-" not in rest:
        return False
    pid = rest[1:].split("-", 1)[0]
    if not (pid.isascii() and pid.isdigit()) or int(pid) == os.getpid():  # not "²"
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, someone else's
        return False
    return False


# atomic_folder's temporaries: the new folder being written (new) and the one it replaces
# (old, holding it as previous/), named for their writer and the folder they stand for
_OUR_FOLDER = re.compile(
    r"^\.tmp-maffsrn-[0-9a-f]{8}-p\d+-[a-z0-9_]{8}-(new|old)-(.+)$", re.ASCII | re.DOTALL
)


@contextlib.contextmanager
def atomic_folder(path):
    """``atomic_output`` for a folder: yield a temporary folder beside ``path`` (with the
    permissions of any new folder, not ``mkdtemp``'s private 0700); on success it becomes
    ``path``, an existing ``path`` being removed only once the new one is in place. On any
    error the temporary folder is removed and ``path`` is left untouched.

    The temporaries name their writer: those a killed writer left beside ``path`` are
    removed by the next call, and an earlier folder it had moved aside (killed between the
    two renames) is put back where it was."""
    import shutil

    path = os.path.normpath(os.fspath(path))
    parent = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)  # named in the temporaries' names where it fits
    named = f"-{base}" if len(os.fsencode(base)) + 50 <= NAME_MAX else ""  # else never moved
    _recover_folders(parent)
    tmp = tempfile.mkdtemp(prefix=own_prefix(), suffix=f"-new{named}", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
        old = None
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=own_prefix(), suffix=f"-old{named}", dir=parent)
            os.rename(path, os.path.join(old, "previous"))
        os.rename(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        _remove_tree(tmp)


def _remove_tree(path, tries=10, wait=0.1):
    """Remove the folder ``path`` if it is there, again while it still is: a writer's own
    threads (TensorFlow's, saving a SavedModel) may still add files as an interrupted run
    removes it, which one ``rmtree`` had left behind."""
    import shutil
    import time

    for _ in range(tries):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return
        time.sleep(wait)


def _recover_folders(parent, older_than=STALE_SECONDS):
    """Clean up the folders ``atomic_folder`` calls that were killed left in ``parent``
    (their writer gone, or stale): a new folder half-written is removed; an old one's
    ``previous`` goes back to its place when that is empty, else the old one is removed
    (the new folder was put in place). Returns the names handled."""
    import shutil
    import time

    handled = []
    try:
        names = os.listdir(parent)
    except OSError:
        return handled
    for name in names:
        match = _OUR_FOLDER.match(name)
        folder = os.path.join(parent, name)
        if not match or os.path.islink(folder) or not os.path.isdir(folder):
            continue
        try:
            stale = time.time() - os.path.getmtime(folder) > older_than
        except OSError:
            continue
        if not (stale or _writer_is_gone(name)):
            continue  # a live writer's
        previous, target = os.path.join(folder, "previous"), os.path.join(parent, match[2])
        if match[1] == "old" and os.path.isdir(previous) and not os.path.lexists(target):
            try:
                os.rename(previous, target)
            except OSError:
                continue  # kept as it is: never lose the earlier folder
        shutil.rmtree(folder, ignore_errors=True)
        handled.append(name)
    return handled


def remove_stale_temporaries(directory, older_than=STALE_SECONDS, keep=()):
    """Remove the temporary files ``atomic_output`` (and the writability probes) left in
    ``directory`` when a process was killed mid-write: ours by their exact name pattern
    (``OUR_TEMPORARY``), and either written by a process that is gone or stale (not modified
    for ``older_than`` seconds, so another run's file in progress is left alone); never a
    path of ``keep`` (the inputs). Returns the names removed."""
    import time

    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    kept = {os.path.realpath(p) for p in keep}
    for name in names:
        if not OUR_TEMPORARY.match(name):
            continue
        path = os.path.join(directory, name)
        if os.path.realpath(path) in kept:
            continue
        try:
            stale = now - os.path.getmtime(path) > older_than
            if os.path.isfile(path) and (stale or _writer_is_gone(name)):
                os.unlink(path)
                removed.append(name)
        except OSError:
            continue
    return removed
