"""``io.paths.within``: an output refused when it is an input or lies inside one, however
either path is spelled, and a sibling folder (``in2`` beside ``in``) accepted."""

import contextlib
import os

import pytest

from maffsrn_tf.io import atomic
from maffsrn_tf.io.paths import not_found, within


def test_within_compares_real_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in2").mkdir()
    os.symlink("in", tmp_path / "link")
    assert within("in", str(tmp_path / "in") + "/")
    assert within("in/sub/x.png", "in")
    assert within("link/sub", "in") and within("in/sub", "link")
    assert within("in2/../in/sub", "./in")
    assert not within("in2", "in") and not within("in", "in/sub")
    assert not within("in2/x.png", "in")


def test_made_folders_go_again_when_nothing_was_written(tmp_path):
    from maffsrn_tf.io.paths import made_folders, name_too_long

    deep = tmp_path / "a" / "b" / "c"
    try:
        with made_folders(str(deep)) as made:
            assert made == [str(deep), str(deep.parent), str(deep.parent.parent)]
            os.makedirs(deep)
            raise KeyboardInterrupt  # Ctrl-C before the first output
    except KeyboardInterrupt:
        pass
    assert os.listdir(tmp_path) == []
    with made_folders(str(deep)):
        os.makedirs(deep)
        (deep.parent / "kept.png").write_bytes(b"x")
    assert os.listdir(tmp_path / "a" / "b") == ["kept.png"]  # c went, b holds an output
    assert name_too_long(str(tmp_path / ("x" * 255))) == ""
    assert name_too_long(str(tmp_path / "new" / ("x" * 256))) == (
        "its name is 256 bytes, longer than the 255 its file system allows"
    )


def test_made_folders_prunes_the_empty_folders_the_block_made_inside(tmp_path):
    """``prune=True``: a cache's ``lr/KEY/`` made by a run refused before its first image
    goes, deepest first; what existed before, holds a file, or lies behind a link stays."""
    from maffsrn_tf.io.paths import made_folders

    cache = tmp_path / "cache"
    (cache / "old" / "empty").mkdir(parents=True)  # the user's, from before: kept
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", cache / "link")
    try:
        with made_folders(str(cache), prune=True) as made:
            assert made == []  # the cache exists: none of its path is missing
            os.makedirs(cache / "lr" / "k_x2")
            os.makedirs(cache / "decoded" / "k_x2")
            (cache / "decoded" / "k_x2" / "a.npy").write_bytes(b"x")
            os.makedirs(cache / "old" / "empty" / "new")
            os.makedirs(tmp_path / "outside" / "made")  # through the link: not pruned
            raise ValueError("cannot read tr/x.png as an image")
    except ValueError:
        pass
    found = {
        os.path.relpath(os.path.join(path, name), tmp_path)
        for path, dirs, files in os.walk(tmp_path)
        for name in dirs + files
    }
    assert found == {"cache", "cache/old", "cache/old/empty", "cache/decoded",
                     "cache/decoded/k_x2", "cache/decoded/k_x2/a.npy", "cache/link",
                     "outside", "outside/made"}  # fmt: skip


def test_made_folders_prunes_a_cache_it_made_whole(tmp_path):
    from maffsrn_tf.io.paths import made_folders

    cache = tmp_path / "new" / "cache"
    with made_folders(str(cache), prune=True):
        os.makedirs(cache / "lr" / "k_x2")
        os.makedirs(cache / "decoded" / "k_x2")
    assert os.listdir(tmp_path) == []  # no cache/, no new/
    with made_folders(str(cache)):  # without prune: only the chain, which holds lr/ here
        os.makedirs(cache / "lr" / "k_x2")
    assert os.listdir(cache / "lr") == ["k_x2"]


def test_a_killed_folder_write_is_undone_by_the_next_one(tmp_path):
    """``atomic_folder`` killed midway (here: its process leaves with ``os._exit``): the
    next call beside it removes a half-written new folder, and puts back the earlier folder
    it had moved aside between its two renames; a live writer's, and a folder of the
    user's that only looks like one, are left alone."""
    import subprocess
    import sys

    from maffsrn_tf.io import atomic

    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_text("old")
    killed = (
        "import os, sys; from maffsrn_tf.io import atomic\n"
        "real = os.rename\n"
        "def rename(a, b):\n"
        "    real(a, b)\n"
        "    if b.endswith('previous'): os._exit(9)  # between the two renames\n"
        "atomic.os.rename = rename\n"
        "with atomic.atomic_folder(sys.argv[1]) as t:\n"
        "    open(os.path.join(t, 'saved_model.pb'), 'w').write('new')\n"
    )
    run = subprocess.run([sys.executable, "-c", killed, str(tmp_path / "sm")])
    assert run.returncode == 9
    left = sorted(os.listdir(tmp_path))
    assert "sm" not in left and len(left) == 2  # the new one, and the old one holding sm
    mine = tmp_path / ".tmp-maffsrn-0000000a-p1-abcdefgh-old-sm"  # p1: alive, and fresh
    live = tmp_path / f"{atomic.own_prefix()}abcdefgh-new-sm"
    mine.mkdir()
    live.mkdir()
    with atomic.atomic_folder(str(tmp_path / "other")) as t:
        (tmp_path / "x").write_text("")
        open(os.path.join(t, "a"), "w").close()
    os.unlink(tmp_path / "x")
    assert (tmp_path / "sm" / "saved_model.pb").read_text() == "old"  # back in its place
    assert sorted(os.listdir(tmp_path)) == sorted(["sm", "other", mine.name, live.name])


def test_a_file_named_with_a_trailing_slash_is_said_to_be_a_file(tmp_path, monkeypatch):
    """``photo.png/`` is not there for the file system (a file is no folder): the line says
    the file is one, with the fix (drop the slash, or: a folder is needed), instead of
    "not found"; anything else missing is "not found"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.png").write_bytes(b"x")
    assert not_found("input", "photo.png/") == (
        "input photo.png/ ends in a slash, which names a folder, but photo.png is a file: "
        "drop the slash"
    )
    assert not_found("--datasets", "photo.png/", folder=True) == (
        "--datasets must be a folder: photo.png is a file"
    )
    assert not_found("input", b"gone.png/") == "input not found: gone.png/"
    assert not_found("input", "gone.png") == "input not found: gone.png"


def test_a_temporary_s_name_with_a_digit_int_cannot_read_is_left_alone(tmp_path):
    """A name of our temporaries' shape whose process number is "²" (a digit to
    ``str.isdigit``, not to ``int``) or Arabic-Indic digits is a user's file: a write into
    its folder neither crashes on it nor touches it."""
    from maffsrn_tf.io import atomic

    names = [f".tmp-maffsrn-{atomic._machine()}-p{pid}-abcdefgh-a.png" for pid in ("²", "١٢")]
    for name in names:
        (tmp_path / name).write_text("mine")
    assert atomic.remove_stale_temporaries(str(tmp_path), older_than=1e9) == []
    with atomic.atomic_output(str(tmp_path / "out.png")) as tmp:
        open(tmp, "w").close()
    with atomic.atomic_folder(str(tmp_path / "sm")) as tmp:
        open(os.path.join(tmp, "f"), "w").close()
    assert sorted(os.listdir(tmp_path)) == sorted([*names, "out.png", "sm"])


def test_a_process_ended_at_once_still_removes_the_empty_folders_it_made(tmp_path):
    """Ctrl-C where Python cannot raise it (inside a TensorFlow callback) ends a command at
    once (``os._exit``): no ``finally`` runs, and an export left its new --output_dir empty.
    The last words remove the empty folders that ``made_folders`` blocks made."""
    import subprocess
    import sys

    code = (
        "import os\n"
        "from maffsrn_tf.cli.common import _last_words\n"
        "from maffsrn_tf.io.paths import made_folders\n"
        "with made_folders('keep'):\n"
        "    os.makedirs('keep'); open('keep/done.txt', 'w').close()\n"
        "    with made_folders('new/sub'):\n"
        "        os.makedirs('new/sub')\n"
        "        _last_words('interrupted', 130)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 130 and run.stderr.endswith("error: interrupted\n"), run.stderr
    assert sorted(os.listdir(tmp_path)) == ["keep"]  # new/sub gone; keep holds a file


def test_an_interrupted_folder_is_removed_even_while_a_thread_still_writes(tmp_path):
    """Ctrl-C while TensorFlow saved a SavedModel had once left the temporary folder: a
    thread of the writer still adding files as one ``rmtree`` ran. The folder is removed
    again until it is gone."""
    import threading
    import time

    stop = threading.Event()

    def writer(folder):
        for i in range(400):  # about 0.4 s of new files, as a slow writer's threads
            if stop.is_set():
                return
            with contextlib.suppress(OSError):
                with open(os.path.join(folder, f"shard{i}"), "w") as f:
                    f.write("x")
            time.sleep(0.001)

    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_folder(str(tmp_path / "sm")) as tmp:
            thread = threading.Thread(target=writer, args=(tmp,))
            thread.start()
            time.sleep(0.05)
            raise KeyboardInterrupt
    stop.set()
    thread.join()
    assert os.listdir(tmp_path) == []


def test_an_output_folder_through_a_broken_or_looping_link_is_named(tmp_path):
    """ "cannot make the folder of bdir/a_x2.png: File exists" had been the OS's words for
    an output folder that is a broken link: the link is named, and what to do."""
    os.symlink("nowhere", tmp_path / "bdir")
    os.symlink("ldir", tmp_path / "ldir")
    for name in ("bdir", "ldir"):
        for folder in (tmp_path / name, tmp_path / name / "sub"):
            assert atomic.folder_problem(str(folder)) == (
                f"it cannot be made: {tmp_path / name} is a broken or looping link; remove it"
            )
    assert atomic.folder_problem(str(tmp_path / "new" / "sub")) is None
