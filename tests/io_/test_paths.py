"""``io.paths.within``: an output refused when it is an input or lies inside one, however
either path is spelled, and a sibling folder (``in2`` beside ``in``) accepted."""

import os

from maffsrn_tf.io.paths import within


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
