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
